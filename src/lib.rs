//! rexian (热线): a SIP daemon that runs a 12345 government-service hotline.
//!
//! The crate is split into rooms that never reach into each other's I/O:
//!
//! - [`sip`]: SIP messages, transactions, dialogs, digest auth and registrar logic. Sans-IO:
//!   time comes in as an argument, datagrams come in and go out as values.
//! - [`media`]: SDP, RTP relay, G.711, prompts, DTMF, recording and mixing. Sans-IO.
//! - [`call`]: call control (queues, agents, bridging, transfers). Sans-IO.
//! - [`workflow`]: tickets, the working-day calendar and deadlines. Sans-IO.
//! - [`dialplan`]: loading and validating the admin-edited TOML under `dialplans/`.
//! - [`store`]: persistence through sqlx on SQLite or PostgreSQL.
//! - [`shell`]: the tokio runtime around the cores — sockets, timers, tasks, signals.
//! - [`http`]: the admin and operator HTTP API (axum).
//!
//! See `ARCHITECTURE.md` for the map and the invariants.

pub mod call;
pub mod cli;
pub mod cli_live;

mod cli_deadline;
pub mod config;
pub mod dialplan;
pub mod http;
pub mod media;
pub mod metrics;
pub mod pii;
pub mod shell;
pub mod sip;
pub mod sms;
pub mod store;
pub mod workflow;
