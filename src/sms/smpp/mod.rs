//! SMPP 3.4 provider: one transceiver session to the SMSC.
//!
//! A background task connects, sends `bind_transceiver`, and then multiplexes: `submit_sm`
//! for each message (UCS-2 text, our outbox id in the vendor TLV 0x1400, a delivery receipt
//! requested), `submit_sm_resp` matched by sequence number and handed back to the waiting
//! [`SmsProvider::submit`], `enquire_link` every `enquire_link_secs`, and `deliver_sm` from
//! the SMSC — delivery receipts (esm_class 0x04, matched later by the SMSC's message_id kept
//! as the outbox's `gateway_ref`) and replies from handsets — passed on as
//! [`InboundEvent`]s after a `deliver_sm_resp`. When the link drops it reconnects with a
//! growing pause; submissions in flight fail as transient and are retried by the outbox.
//!
//! The codec ([`pdu`]) is sans-IO and tested on bytes.

pub mod pdu;

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::config::SmppConfig;
use super::outbox::DlrStatus;
use super::provider::{
    InboundEvent, OutgoingSms, SmsProvider, SubmitError, SubmitFuture, Submitted,
};
use crate::pii::Pii;
use pdu::{Body, Frame, ShortMessage};

type Reply = oneshot::Sender<Result<Submitted, SubmitError>>;

/// The provider handle; the session runs in its own task.
pub struct SmppClient {
    requests: mpsc::Sender<(OutgoingSms, Reply)>,
    timeout: Duration,
}

impl SmppClient {
    /// Starts the session task; it runs until `stop` turns true.
    pub fn start(
        cfg: SmppConfig,
        events: mpsc::Sender<InboundEvent>,
        stop: watch::Receiver<bool>,
    ) -> SmppClient {
        let (tx, rx) = mpsc::channel(16);
        let timeout = Duration::from_secs(cfg.response_timeout_secs.max(1));
        tokio::spawn(session_loop(cfg, rx, events, stop));
        SmppClient {
            requests: tx,
            timeout,
        }
    }
}

impl SmsProvider for SmppClient {
    fn name(&self) -> &'static str {
        "smpp"
    }

    fn submit<'a>(&'a self, msg: &'a OutgoingSms) -> SubmitFuture<'a> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let wait = async {
                self.requests
                    .send((msg.clone(), tx))
                    .await
                    .map_err(|_| SubmitError::Transient("SMPP session stopped".into()))?;
                rx.await
                    .map_err(|_| SubmitError::Transient("SMPP link dropped".into()))?
            };
            tokio::time::timeout(self.timeout * 2, wait)
                .await
                .map_err(|_| SubmitError::Transient("SMPP: no submit_sm_resp in time".into()))?
        })
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad PDU: {0}")]
    Pdu(#[from] pdu::PduError),
    #[error("bind refused with status {0:#x}")]
    BindRefused(u32),
    #[error("the SMSC closed the link")]
    Closed,
    #[error("no answer to enquire_link")]
    Silent,
    #[error("stopping")]
    Stopping,
}

async fn session_loop(
    cfg: SmppConfig,
    mut requests: mpsc::Receiver<(OutgoingSms, Reply)>,
    events: mpsc::Sender<InboundEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pause = Duration::from_millis(500);
    while !*stop.borrow() {
        match Session::open(&cfg).await {
            Ok(mut s) => {
                tracing::info!(addr = %cfg.addr, "SMPP bound as transceiver");
                pause = Duration::from_millis(500);
                match s.run(&cfg, &mut requests, &events, &mut stop).await {
                    Err(SessionError::Stopping) => break,
                    Err(e) => tracing::warn!(addr = %cfg.addr, error = %e, "SMPP session ended"),
                    Ok(()) => {}
                }
            }
            Err(e) => tracing::warn!(addr = %cfg.addr, error = %e, "SMPP connect failed"),
        }
        // Messages asked for while down fail fast; the outbox retries them.
        while let Ok((_, reply)) = requests.try_recv() {
            let _ = reply.send(Err(SubmitError::Transient("SMPP link down".into())));
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

struct Session {
    stream: TcpStream,
    buf: Vec<u8>,
    sequence: u32,
}

impl Session {
    async fn open(cfg: &SmppConfig) -> Result<Session, SessionError> {
        let timeout = Duration::from_secs(cfg.response_timeout_secs.max(1));
        let stream = tokio::time::timeout(timeout, TcpStream::connect(cfg.addr))
            .await
            .map_err(|_| SessionError::Silent)??;
        let _ = stream.set_nodelay(true);
        let mut s = Session {
            stream,
            buf: Vec::new(),
            sequence: 0,
        };
        let seq = s.next_seq();
        s.send(&Frame::new(
            seq,
            Body::BindTransceiver {
                system_id: cfg.system_id.clone(),
                password: cfg.password.clone(),
                system_type: cfg.system_type.clone(),
            },
        ))
        .await?;
        loop {
            let f = tokio::time::timeout(timeout, s.read_frame())
                .await
                .map_err(|_| SessionError::Silent)??;
            if let Body::BindTransceiverResp { .. } = f.body {
                if f.status != 0 {
                    return Err(SessionError::BindRefused(f.status));
                }
                return Ok(s);
            }
            if f.body == Body::GenericNack {
                return Err(SessionError::BindRefused(f.status));
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        // Sequence numbers run 1..=0x7FFFFFFF.
        self.sequence = if self.sequence >= 0x7FFF_FFFF {
            1
        } else {
            self.sequence + 1
        };
        self.sequence
    }

    async fn send(&mut self, f: &Frame) -> Result<(), SessionError> {
        self.stream.write_all(&f.encode()).await?;
        Ok(())
    }

    async fn read_frame(&mut self) -> Result<Frame, SessionError> {
        loop {
            if let Some((f, used)) = pdu::decode(&self.buf)? {
                self.buf.drain(..used);
                return Ok(f);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(SessionError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn run(
        &mut self,
        cfg: &SmppConfig,
        requests: &mut mpsc::Receiver<(OutgoingSms, Reply)>,
        events: &mpsc::Sender<InboundEvent>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), SessionError> {
        let mut pending: HashMap<u32, Reply> = HashMap::new();
        let period = Duration::from_secs(cfg.enquire_link_secs.max(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut unanswered_links = 0u32;
        let result = loop {
            tokio::select! {
                _ = stop.changed() => {
                    let seq = self.next_seq();
                    let _ = self.send(&Frame::new(seq, Body::Unbind)).await;
                    break Err(SessionError::Stopping);
                }
                req = requests.recv() => {
                    let Some((msg, reply)) = req else { break Err(SessionError::Stopping) };
                    let seq = self.next_seq();
                    let frame = Frame::new(seq, Body::SubmitSm(submit_sm(cfg, &msg)));
                    if let Err(e) = self.send(&frame).await {
                        let _ = reply.send(Err(SubmitError::Transient(format!("SMPP write: {e}"))));
                        break Err(e);
                    }
                    pending.insert(seq, reply);
                }
                _ = ticker.tick() => {
                    if unanswered_links >= 3 {
                        break Err(SessionError::Silent);
                    }
                    unanswered_links += 1;
                    let seq = self.next_seq();
                    if let Err(e) = self.send(&Frame::new(seq, Body::EnquireLink)).await {
                        break Err(e);
                    }
                }
                frame = self.read_frame() => {
                    let f = match frame {
                        Ok(f) => f,
                        Err(e) => break Err(e),
                    };
                    unanswered_links = 0;
                    if let Err(e) = self.on_frame(f, &mut pending, events).await {
                        break Err(e);
                    }
                }
            }
        };
        for (_, reply) in pending.drain() {
            let _ = reply.send(Err(SubmitError::Transient("SMPP link dropped".into())));
        }
        result
    }

    async fn on_frame(
        &mut self,
        f: Frame,
        pending: &mut HashMap<u32, Reply>,
        events: &mpsc::Sender<InboundEvent>,
    ) -> Result<(), SessionError> {
        match f.body {
            Body::SubmitSmResp { message_id } => {
                if let Some(reply) = pending.remove(&f.sequence) {
                    let r = match f.status {
                        0 => Ok(Submitted {
                            gateway_ref: (!message_id.is_empty()).then_some(message_id),
                        }),
                        // ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR: try again later.
                        0x58 | 0x14 | 0x08 => Err(SubmitError::Transient(format!(
                            "SMSC busy (status {:#x})",
                            f.status
                        ))),
                        s => Err(SubmitError::Permanent(format!(
                            "SMSC refused with status {s:#x}"
                        ))),
                    };
                    let _ = reply.send(r);
                }
            }
            Body::GenericNack => {
                if let Some(reply) = pending.remove(&f.sequence) {
                    let _ = reply.send(Err(SubmitError::Transient(format!(
                        "generic_nack status {:#x}",
                        f.status
                    ))));
                }
            }
            Body::DeliverSm(m) => {
                self.send(&Frame::new(f.sequence, Body::DeliverSmResp))
                    .await?;
                if let Some(ev) = inbound_event(&m) {
                    let _ = events.send(ev).await;
                }
            }
            Body::EnquireLink => {
                self.send(&Frame::new(f.sequence, Body::EnquireLinkResp))
                    .await?;
            }
            Body::Unbind => {
                self.send(&Frame::new(f.sequence, Body::UnbindResp)).await?;
                return Err(SessionError::Closed);
            }
            Body::Other { .. } => {
                let mut nack = Frame::new(f.sequence, Body::GenericNack);
                nack.status = 0x03; // ESME_RINVCMDID
                self.send(&nack).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The submit_sm for one message.
pub fn submit_sm(cfg: &SmppConfig, msg: &OutgoingSms) -> ShortMessage {
    let mut m = ShortMessage {
        source_addr: cfg.source_addr.clone(),
        source_ton: 0,
        source_npi: 1,
        dest_ton: 1,
        dest_npi: 1,
        destination_addr: format!("86{}", msg.to.expose()),
        registered_delivery: u8::from(cfg.delivery_receipts),
        tlvs: vec![(pdu::tag::REXIAN_MESSAGE_ID, msg.id.as_bytes().to_vec())],
        ..ShortMessage::default()
    };
    m.set_text(&msg.text);
    m
}

/// What a deliver_sm tells: a receipt (esm_class bit 0x04) or a reply from a handset.
pub fn inbound_event(m: &ShortMessage) -> Option<InboundEvent> {
    if m.esm_class & 0x3C == 0x04 {
        let (id, stat) = pdu::receipt_fields(m)?;
        let status = DlrStatus::from_smpp_stat(&stat)?;
        Some(InboundEvent::Receipt {
            gateway_ref: id,
            status,
        })
    } else {
        Some(InboundEvent::Reply {
            from: Pii::new(m.source_addr.clone()),
            text: m.text(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_and_replies_are_told_apart() {
        let receipt = ShortMessage {
            esm_class: 0x04,
            short_message: b"id:abc sub:001 dlvrd:001 stat:DELIVRD err:000".to_vec(),
            ..ShortMessage::default()
        };
        assert_eq!(
            inbound_event(&receipt),
            Some(InboundEvent::Receipt {
                gateway_ref: "abc".into(),
                status: DlrStatus::Delivered
            })
        );
        let mut reply = ShortMessage {
            source_addr: "8613800138000".into(),
            ..ShortMessage::default()
        };
        reply.set_text("３");
        assert_eq!(
            inbound_event(&reply),
            Some(InboundEvent::Reply {
                from: Pii::new("8613800138000".into()),
                text: "３".into()
            })
        );
    }
}
