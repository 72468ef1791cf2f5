//! The one interface every SMS provider implements, and what providers report back.

use std::future::Future;
use std::pin::Pin;

use super::outbox::DlrStatus;
use crate::pii::Pii;

/// A message on its way to the gateway.
#[derive(Clone, Debug)]
pub struct OutgoingSms {
    /// The outbox id; passed to the gateway so repeats can be recognised there.
    pub id: String,
    /// 11-digit mobile number.
    pub to: Pii<String>,
    pub text: String,
}

/// The gateway took the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The gateway's own id for it (SMPP message_id), when it gives one.
    pub gateway_ref: Option<String>,
}

/// Why a submission failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The gateway is down, slow or busy: try again later.
    #[error("transient: {0}")]
    Transient(String),
    /// The gateway refused this message; sending it again will not help.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What a provider learns from the network without being asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundEvent {
    /// A text from a handset (a survey answer, or anything else).
    Reply { from: Pii<String>, text: String },
    /// A delivery receipt naming the gateway's id for the message.
    Receipt {
        gateway_ref: String,
        status: DlrStatus,
    },
}

/// A boxed future, so providers can sit behind `dyn`.
pub type SubmitFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Submitted, SubmitError>> + Send + 'a>>;

/// An SMS gateway.
pub trait SmsProvider: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// Hands one message to the gateway. Must not return `Ok` unless the gateway accepted it.
    fn submit<'a>(&'a self, msg: &'a OutgoingSms) -> SubmitFuture<'a>;
}
