//! Call control: queues, agents, bridging, transfers. Sans-IO: it takes events and the current
//! time, and returns commands for the SIP and media layers.
//!
//! - [`plan`]: the validated dialplan as plain values.
//! - [`caller`], [`line`](mod@line): who is calling, and which number they dialled.
//! - [`agent`], [`queue`], [`acd`]: agent states, waiting calls, and choosing who takes what.
//! - [`abuse`]: short-term restriction of callers who dial again and again.
//! - [`control`]: the [`CallControl`] state machine; [`event`]: the events in and actions out;
//!   [`record`]: the call record it emits when a call ends; [`status`]: the live snapshot.

pub mod abuse;
pub mod acd;
pub mod agent;
pub mod caller;
pub mod control;
pub mod event;
pub mod line;
pub mod plan;
pub mod queue;
pub mod record;
pub mod status;

pub use control::{CallControl, WallClock};
pub use event::{Action, Event};
