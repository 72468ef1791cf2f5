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

pub(crate) mod fields;
pub mod framing;
pub mod header;
pub mod lex;
pub mod message;
pub mod parse;
pub mod peer;
pub mod uri;
pub mod validate;
