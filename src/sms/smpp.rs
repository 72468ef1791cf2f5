//! SMPP 3.4 (placeholder while the codec is written).
use super::config::SmppConfig;
use super::provider::{InboundEvent, OutgoingSms, SmsProvider, SubmitError, SubmitFuture};
use tokio::sync::{mpsc, watch};
pub struct SmppClient;
impl SmppClient {
    pub fn start(
        _cfg: SmppConfig,
        _events: mpsc::Sender<InboundEvent>,
        _stop: watch::Receiver<bool>,
    ) -> SmppClient {
        SmppClient
    }
}
impl SmsProvider for SmppClient {
    fn name(&self) -> &'static str {
        "smpp"
    }
    fn submit<'a>(&'a self, _msg: &'a OutgoingSms) -> SubmitFuture<'a> {
        Box::pin(async { Err(SubmitError::Transient("not yet".into())) })
    }
}
