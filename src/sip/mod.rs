//! The SIP protocol layer (RFC 3261 and the extensions trunks and phones use).
//!
//! Sans-IO: nothing here opens a socket, spawns a task or reads a clock. Bytes and the current
//! time (`std::time::Instant`) come in as arguments; messages to send, events and the next
//! timer deadline come out as values. The tokio shell in `crate::shell` drives it.
//!
//! Rooms:
//! - [`message`]: typed requests and responses, and their wire form.
//! - [`peer`]: transports, addresses and connections of a hop.
//! - [`lex`]: tokens, quoted strings, comma lists and parameters shared by the parsers.
//! - [`uri`]: SIP/SIPS/tel URIs, name-addr / addr-spec, and URI comparison (§19.1.4).
//! - [`header`]: typed header values (Via, CSeq, Contact, Content-Type, RAck, Session-Expires,
//!   auth params, …) and the compact-name table.
//! - [`parse`]: bytes to [`message::SipMessage`], with status-bearing errors (header section
//!   handled in `fields`).
//! - [`framing`]: cutting messages and CRLF keep-alives out of TCP/TLS streams.
//! - [`validate`]: UAS checks on a parsed request (405/501, 416, 420, 415, 483, 482).
//! - [`transaction`]: the RFC 3261 §17 transaction layer (four state machines, timers,
//!   retransmission absorption, CANCEL matching) behind one demultiplexer.
//! - [`dialog`]: RFC 3261 §12 dialogs: ids, route sets, remote targets, CSeq, in-dialog requests.
//! - [`reliable`]: RFC 3262 reliable provisionals (RSeq, retransmission, PRACK/RAck).
//! - [`session_timer`]: RFC 4028 session-interval negotiation and refresh/expiry deadlines.
//! - [`offer_answer`]: who owes an SDP offer or answer, glare (491) and pending offers (500).
//! - [`endpoint`]: parse → validate → transactions → OPTIONS and REGISTER; what the shell drives.
//! - [`digest`]: digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): challenges,
//!   stateless nonces, credential parsing and verification against stored HA1 hashes.
//! - [`digest_client`]: the client side: answering a carrier's 401/407.
//! - [`trunk_client`]: registration to carriers and OPTIONS health checks of trunks.
//! - [`lockout`]: brute-force lockout per (source IP, username) and security events.
//! - [`registrar`]: REGISTER handling (RFC 3261 §10.3): authentication, bindings per
//!   address-of-record with the source hop kept for NAT, expiry and metrics.

pub(crate) mod fields;

pub mod dialog;
pub mod digest;
pub mod digest_client;
pub mod endpoint;
pub mod framing;
pub mod header;
pub mod legs;
pub mod lex;
pub mod lockout;
pub mod message;
pub mod offer_answer;
pub mod parse;
pub mod peer;
pub mod registrar;
pub mod reliable;
pub mod session;
pub mod session_timer;
pub mod transaction;
pub mod trunk_client;
pub mod uri;
pub mod validate;
