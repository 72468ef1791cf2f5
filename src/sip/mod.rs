//! The SIP protocol layer (RFC 3261 and the extensions trunks and phones use).
//!
//! Sans-IO: nothing here opens a socket, spawns a task or reads a clock. Bytes and the current
//! time (`std::time::Instant`) come in as arguments; messages to send, events and the next
//! timer deadline come out as values. The tokio shell in `crate::shell` drives it.
//!
//! Rooms:
//! - [`message`]: typed requests and responses, and their wire form.
//! - [`peer`]: transports, addresses and connections of a hop.
//! - [`digest`]: digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): challenges,
//!   stateless nonces, credential parsing and verification against stored HA1 hashes.
//! - [`lockout`]: brute-force lockout per (source IP, username) and security events.
//! - [`registrar`]: REGISTER handling (RFC 3261 §10.3): authentication, bindings per
//!   address-of-record with the source hop kept for NAT, expiry and metrics.

pub mod message;
pub mod peer;

pub mod digest;
pub mod lockout;
pub mod registrar;
