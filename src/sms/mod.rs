//! SMS: reminders to handling units, ticket numbers and satisfaction surveys to callers.
//!
//! Messages are written to a durable outbox ([`outbox`]) in the same transaction as the event
//! that causes them; a worker in the shell (`shell::sms_worker`) sends them through one
//! [`provider::SmsProvider`] — a generic HTTP gateway ([`http_gateway`], which also speaks
//! Kannel's `sendsms`) or SMPP 3.4 ([`smpp`]) — with retries, backoff and a rate limit.
//! Replies to surveys come back on an HTTP webhook or as SMPP `deliver_sm` and are matched in
//! [`survey`]. Texts are Chinese templates from the `[sms]` config section ([`config`],
//! [`template`]).
//!
//! Phone numbers are personal data: they live in the store and travel as
//! [`crate::pii::Pii`]; logs see only a mask.

pub mod config;
pub mod http_gateway;
pub mod outbox;
pub mod phone;
pub mod provider;
pub mod smpp;
pub mod survey;
pub mod template;

pub use outbox::{enqueue, NewSms, SmsError, SmsId, SmsKind};
