//! The SIP protocol layer (RFC 3261 and the extensions trunks and phones use).
//!
//! Sans-IO: nothing here opens a socket, spawns a task or reads a clock. Bytes and the current
//! time (`std::time::Instant`) come in as arguments; messages to send, events and the next
//! timer deadline come out as values. The tokio shell in `crate::shell` drives it.
//!
//! Rooms:
//! - [`message`]: typed requests and responses, and their wire form.
//! - [`peer`]: transports, addresses and connections of a hop.
//! - [`transaction`]: the RFC 3261 §17 transaction layer (four state machines, timers,
//!   retransmission absorption, CANCEL matching) behind one demultiplexer.
//! - [`dialog`]: RFC 3261 §12 dialogs: ids, route sets, remote targets, CSeq, in-dialog requests.
//! - [`reliable`]: RFC 3262 reliable provisionals (RSeq, retransmission, PRACK/RAck).
//! - [`session_timer`]: RFC 4028 session-interval negotiation and refresh/expiry deadlines.
//! - [`offer_answer`]: who owes an SDP offer or answer, glare (491) and pending offers (500).

pub mod dialog;
pub mod message;
pub mod offer_answer;
pub mod peer;
pub mod reliable;
pub mod session_timer;
pub mod transaction;
