//! The SMS sender: drains the outbox through the configured provider.
//!
//! One message at a time, at most `rate_per_sec` per second: claim (`sending`), submit, record
//! (`submitted`, or back to the queue with backoff, or `failed` when the gateway refuses it for
//! good). At start, a message a killed predecessor left `sending` is queued again — the one
//! message that may be repeated. Delivery receipts and replies the provider receives (SMPP
//! `deliver_sm`) are recorded here too. On shutdown the message in flight is finished (the
//! gateway timeout bounds it) and the task returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::sms::config::SmsConfig;
use crate::sms::outbox::{self, DlrKey, OutboxMessage};
use crate::sms::provider::{InboundEvent, OutgoingSms, SmsProvider, SubmitError};
use crate::sms::survey;
use crate::store::{unix_now, Store};

/// Longest sleep when nothing is due: new messages are found within this.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Builds the provider from the config and runs the sender until `stop` turns true.
pub async fn run(cfg: SmsConfig, store: Store, stop: watch::Receiver<bool>) {
    let (events_tx, events_rx) = mpsc::channel(1024);
    let provider: Arc<dyn SmsProvider> = match (&cfg.http, &cfg.smpp) {
        (Some(h), _) => match crate::sms::http_gateway::HttpGateway::new(h.clone()) {
            Ok(g) => Arc::new(g),
            Err(e) => {
                tracing::error!(error = %e, "SMS gateway not usable; SMS stays queued");
                return;
            }
        },
        (None, Some(s)) => Arc::new(crate::sms::smpp::SmppClient::start(
            s.clone(),
            events_tx,
            stop.clone(),
        )),
        (None, None) => return,
    };
    Sender::new(cfg, store, provider).run(events_rx, stop).await;
}

/// The send loop, separate from provider setup so tests can hand in any provider.
pub struct Sender {
    cfg: SmsConfig,
    store: Store,
    provider: Arc<dyn SmsProvider>,
    gap: Duration,
    next_slot: Instant,
}

impl Sender {
    pub fn new(cfg: SmsConfig, store: Store, provider: Arc<dyn SmsProvider>) -> Sender {
        let gap = Duration::from_secs(1) / cfg.rate_per_sec.max(1);
        Sender {
            cfg,
            store,
            provider,
            gap,
            next_slot: Instant::now(),
        }
    }

    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<InboundEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        match outbox::recover_interrupted(self.store.pool(), unix_now()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(n, "SMS left in flight by the last run queued again"),
            Err(e) => tracing::error!(error = %e, "cannot recover SMS in flight"),
        }
        tracing::info!(
            provider = self.provider.name(),
            rate = self.cfg.rate_per_sec,
            "SMS sender running"
        );
        let mut events_open = true;
        while !*stop.borrow() {
            let batch = match outbox::due(self.store.pool(), unix_now(), 64).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the SMS outbox");
                    Vec::new()
                }
            };
            let idle = batch.is_empty();
            for m in batch {
                if *stop.borrow() {
                    break;
                }
                while let Ok(ev) = events.try_recv() {
                    self.on_event(ev).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(self.next_slot) => {}
                    _ = stop.changed() => break,
                }
                self.next_slot = Instant::now() + self.gap;
                if !self.send_one(m).await {
                    // The gateway is down: give it a breath before the next message.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(self.cfg.retry_base_secs)) => {}
                        _ = stop.changed() => {}
                    }
                    break;
                }
            }
            if idle {
                let wait = self.idle_wait().await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                    ev = events.recv(), if events_open => match ev {
                        Some(ev) => self.on_event(ev).await,
                        None => events_open = false,
                    },
                }
            }
        }
        tracing::info!("SMS sender stopped");
    }

    /// Until the next retry falls due, at most [`IDLE_POLL`].
    async fn idle_wait(&self) -> Duration {
        match outbox::next_due_at(self.store.pool()).await {
            Ok(Some(at)) => {
                let secs = at.saturating_sub(unix_now()).max(0) as u64;
                Duration::from_secs(secs).clamp(Duration::from_millis(50), IDLE_POLL)
            }
            _ => IDLE_POLL,
        }
    }

    /// Sends one message; false when the gateway failed transiently.
    async fn send_one(&self, m: OutboxMessage) -> bool {
        let pool = self.store.pool();
        match outbox::begin_send(pool, &m.id).await {
            Ok(true) => {}
            Ok(false) => return true,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim an SMS");
                return false;
            }
        }
        let msg = OutgoingSms {
            id: m.id.clone(),
            to: m.phone.clone(),
            text: m.body,
        };
        let result = self.provider.submit(&msg).await;
        let now = unix_now();
        let (recorded, ok) = match &result {
            Ok(s) => {
                tracing::debug!(id = %m.id, to = %m.phone, "SMS submitted");
                (
                    outbox::mark_submitted(pool, &m.id, s.gateway_ref.as_deref(), now).await,
                    true,
                )
            }
            Err(SubmitError::Transient(e)) => {
                tracing::warn!(id = %m.id, to = %m.phone, error = %e, "SMS gateway failed; will retry");
                let r = outbox::mark_retry(pool, &m.id, e, now, &self.cfg.retry_policy()).await;
                if let Ok(outbox::RetryOutcome::GaveUp) = r {
                    tracing::error!(id = %m.id, "SMS given up after the maximum attempts");
                }
                (r.map(|_| ()), false)
            }
            Err(SubmitError::Permanent(e)) => {
                tracing::error!(id = %m.id, to = %m.phone, error = %e, "SMS refused by the gateway");
                (outbox::mark_failed(pool, &m.id, e).await, true)
            }
        };
        if let Err(e) = recorded {
            tracing::error!(id = %m.id, error = %e, "cannot record an SMS result");
            return false;
        }
        ok
    }

    async fn on_event(&self, ev: InboundEvent) {
        let pool = self.store.pool();
        let now = unix_now();
        match ev {
            InboundEvent::Receipt {
                gateway_ref,
                status,
            } => {
                match outbox::record_dlr(pool, DlrKey::GatewayRef(&gateway_ref), status, now).await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(%gateway_ref, "delivery receipt for no known SMS"),
                    Err(e) => tracing::error!(error = %e, "cannot record a delivery receipt"),
                }
            }
            InboundEvent::Reply { from, text } => {
                if let Err(e) = survey::handle_reply(
                    pool,
                    &from,
                    &text,
                    "smpp",
                    now,
                    survey::SURVEY_WINDOW_SECS,
                )
                .await
                {
                    tracing::error!(error = %e, from = %from, "cannot record an SMS reply");
                }
            }
        }
    }
}
