//! The SIP event loop: feeds inbound bytes and timer expiries to the sans-IO
//! [`Endpoint`](crate::sip::endpoint::Endpoint), sends what it emits, keeps its account cache
//! fresh from the store, and logs its security events (masked) and stores them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::transport::{Inbound, Transports};
use crate::config::Config;
use crate::http::{LiveState, RegistrationView};
use crate::metrics::Metrics;
use crate::sip::digest::{AccountCredentials, WallAnchor};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::http::calls::{ControlRequest, ControlSender};
use crate::shell::calls::Calls;
use crate::shell::media::MediaEvent;
use crate::sip::endpoint::{Endpoint, EndpointConfig, EndpointEvent};
use crate::sip::trunk_client::TrunkEvent;
use crate::store::security::SecurityEvent as StoredEvent;
use crate::store::Store;

/// How often the account cache is reloaded from the store (so `rexian agent add` takes
/// effect while the daemon runs).
const ACCOUNT_REFRESH: Duration = Duration::from_secs(2);
/// The longest the task waits for transactions in flight at shutdown (Timer B/F: 32 s).
const DRAIN_LIMIT: Duration = Duration::from_secs(32);

/// The registrations as last published by the SIP task, for the HTTP API.
#[derive(Default)]
struct LiveRegistrations(
    Mutex<Vec<RegistrationView>>,
    Option<ControlSender>,
    Option<crate::shell::calls::EventSender>,
);

impl LiveState for LiveRegistrations {
    fn registrations(&self) -> Vec<RegistrationView> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn control(&self) -> Option<ControlSender> {
        self.1.clone()
    }

    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<String>>> {
        self.2.as_ref().map(|tx| tx.subscribe())
    }
}

pub struct SipTask {
    endpoint: Endpoint,
    transports: Transports,
    store: Store,
    metrics: Arc<Metrics>,
    live: Arc<LiveRegistrations>,
    /// Call handling; `None` runs a registrar only (every INVITE gets 480).
    calls: Option<Calls>,
    media_events: Option<UnboundedReceiver<MediaEvent>>,
    control: Option<mpsc::Receiver<ControlRequest>>,
    dialplans: std::path::PathBuf,
    /// Our SIP address (the carriers' client side presents it).
    sip_addr: SocketAddr,
}

impl SipTask {
    pub fn new(
        config: &Config,
        sip_addr: SocketAddr,
        tls_addr: Option<SocketAddr>,
        store: Store,
        metrics: Arc<Metrics>,
        transports: Transports,
    ) -> SipTask {
        let now = Instant::now();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut cfg = EndpointConfig::new(
            &config.realm,
            sip_addr,
            WallAnchor {
                instant: now,
                unix_secs: unix,
            },
        );
        cfg.tls_addr = tls_addr;
        cfg.secret = load_or_create_secret(&config.data);
        cfg.rng_seed = rand::random();
        cfg.max_message = config.max_message_bytes;
        cfg.nonce_ttl = Duration::from_secs(config.auth.nonce_ttl_secs);
        cfg.lockout.max_failures = config.auth.lockout_failures;
        cfg.lockout.find_time = Duration::from_secs(config.auth.lockout_window_secs);
        cfg.lockout.ban_time = Duration::from_secs(config.auth.lockout_secs);
        cfg.lockout.exempt = config.auth.exempt.clone();
        cfg.min_expires = config.auth.min_expires;
        cfg.max_expires = config.auth.max_expires;
        cfg.algorithms = config.auth.digest_algorithms();
        SipTask {
            endpoint: Endpoint::new(cfg),
            transports,
            store,
            metrics,
            live: Arc::new(LiveRegistrations::default()),
            calls: None,
            media_events: None,
            control: None,
            dialplans: config.dialplans.clone(),
            sip_addr,
        }
    }

    /// Attaches call handling and the media engine's events. The returned sender asks the
    /// task for status and reloads (the HTTP API and SIGHUP use it).
    pub fn with_calls(
        mut self,
        calls: Calls,
        media_events: UnboundedReceiver<MediaEvent>,
    ) -> (Self, ControlSender) {
        let (tx, rx) = mpsc::channel(16);
        let events = calls.events();
        self.calls = Some(calls);
        self.media_events = Some(media_events);
        self.control = Some(rx);
        self.live = Arc::new(LiveRegistrations(
            Mutex::default(),
            Some(tx.clone()),
            Some(events),
        ));
        (self, tx)
    }

    async fn on_control(&mut self, req: ControlRequest) {
        let now = Instant::now();
        match req {
            ControlRequest::Status(reply) => {
                let mut view = self
                    .calls
                    .as_ref()
                    .map(|c| c.status_view(now))
                    .unwrap_or_default();
                view.trunks = super::trunks::views(&self.endpoint.trunk_status(now));
                let _ = reply.send(view);
            }
            ControlRequest::Reload(reply) => {
                // The working-day calendar and deadline policy are reloaded with the plan:
                // both validate or neither is replaced.
                let loaded = crate::dialplan::load::load(&self.dialplans).and_then(|plan| {
                    super::lights::load_rules(&self.dialplans).map(|rules| (plan, rules))
                });
                let result = match loaded {
                    Ok((plan, rules)) => {
                        super::lights::reload(rules);
                        let summary = format!(
                            "{} lines, {} queues, {} trunks",
                            plan.lines.len(),
                            plan.queues.len(),
                            plan.trunks.len()
                        );
                        let plan = Arc::new(plan);
                        if let Some(c) = self.calls.as_mut() {
                            c.reload(&mut self.endpoint, plan.clone(), now).await;
                        }
                        let specs = super::trunks::specs(&plan, self.sip_addr).await;
                        self.endpoint.set_trunks(Instant::now(), specs);
                        tracing::info!(%summary, "dialplans, calendar and policy reloaded");
                        Ok(summary)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "dialplans refused; the old plan, calendar and policy stay");
                        Err(e.to_string())
                    }
                };
                let _ = reply.send(result);
            }
            ControlRequest::Restrictions(reply) => {
                let list = self.calls.as_ref().map(|c| c.restrictions(now));
                let _ = reply.send(list.unwrap_or_default());
            }
            ControlRequest::Restrict { mark, by, reply } => {
                let list = match self.calls.as_mut() {
                    Some(c) => c.restrict(&mut self.endpoint, mark, by, now).await,
                    None => Vec::new(),
                };
                let _ = reply.send(list);
            }
            ControlRequest::Agent {
                agent,
                change,
                reply,
            } => {
                let view = match self.calls.as_mut() {
                    Some(c) => c.change_agent(&mut self.endpoint, agent, change, now).await,
                    None => None,
                };
                let _ = reply.send(view);
            }
            ControlRequest::AgentCall {
                agent,
                request,
                ticket,
                reply,
            } => {
                let answer = match self.calls.as_mut() {
                    Some(c) => {
                        c.agent_call(&mut self.endpoint, agent, request, ticket, now)
                            .await
                    }
                    None => Err("call handling is not running".into()),
                };
                let _ = reply.send(answer);
            }
            ControlRequest::Monitor {
                call,
                supervisor,
                mode,
                reply,
            } => {
                let answer = match self.calls.as_mut() {
                    Some(c) => {
                        c.monitor(&mut self.endpoint, call, supervisor, mode, now)
                            .await
                    }
                    None => Err("call handling is not running".into()),
                };
                let _ = reply.send(answer);
            }
            ControlRequest::Dial {
                agent,
                number,
                ticket,
                reply,
            } => {
                let answer = match self.calls.as_mut() {
                    Some(c) => c.dial(&mut self.endpoint, agent, number, ticket, now).await,
                    None => Err((409, "call handling is not running".into())),
                };
                let _ = reply.send(answer);
            }
            ControlRequest::Hangup { call, by, reply } => {
                let done = match self.calls.as_mut() {
                    Some(c) => c.force_hangup(&mut self.endpoint, call, &by, now).await,
                    None => false,
                };
                let _ = reply.send(done);
            }
            ControlRequest::LiveCall { id, reply } => {
                let _ = reply.send(self.calls.as_ref().and_then(|c| c.live_call(&id)));
            }
            ControlRequest::Lift { number, reply } => {
                let list = match self.calls.as_mut() {
                    Some(c) => c.lift(&mut self.endpoint, number, now).await,
                    None => Vec::new(),
                };
                let _ = reply.send(list);
            }
        }
    }

    pub fn live_view(&self) -> Arc<dyn LiveState> {
        self.live.clone()
    }

    async fn refresh_accounts(&mut self) {
        match self.store.accounts().await {
            Ok(list) => {
                let map: HashMap<String, AccountCredentials> = list
                    .into_iter()
                    .map(|a| {
                        (
                            a.id,
                            AccountCredentials {
                                ha1_md5: a.ha1_md5,
                                ha1_sha256: a.ha1_sha256,
                            },
                        )
                    })
                    .collect();
                self.endpoint.set_accounts(map);
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload accounts; keeping the cached ones"),
        }
    }

    /// Runs until `stop` turns true and the work in flight is done (or the drain limit passes).
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.refresh_accounts().await;
        if let Some(plan) = self.calls.as_ref().map(|c| c.plan().clone()) {
            let specs = super::trunks::specs(&plan, self.sip_addr).await;
            self.endpoint.set_trunks(Instant::now(), specs);
        }
        let mut refresh = tokio::time::interval(ACCOUNT_REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining_since: Option<Instant> = None;
        let mut inbound_closed = false;
        loop {
            let deadline = [
                self.endpoint.poll_timeout(),
                self.calls.as_ref().and_then(|c| c.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            let control = self.control.as_mut();
            let control_req = async move {
                match control {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let media_events = self.media_events.as_mut();
            let media_event = async move {
                match media_events {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Keep reading while draining: answers to our requests still arrive, and new
                // requests get 503 instead of silence.
                m = inbound.recv(), if !inbound_closed => match m {
                    Some(m) => {
                        self.on_inbound(m);
                        // Take whatever else is already queued before sending: one wake-up,
                        // many datagrams.
                        for _ in 0..256 {
                            match inbound.try_recv() {
                                Ok(m) => self.on_inbound(m),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        inbound_closed = true;
                        draining_since.get_or_insert_with(Instant::now);
                    }
                },
                _ = sleep => {
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    if let Some(c) = self.calls.as_mut() {
                        c.handle_timeout(&mut self.endpoint, now).await;
                    }
                }
                Some(req) = control_req => self.on_control(req).await,
                Some(ev) = media_event => {
                    if let Some(c) = self.calls.as_mut() {
                        c.media_event(&mut self.endpoint, ev, Instant::now()).await;
                    }
                }
                _ = refresh.tick() => {
                    self.refresh_accounts().await;
                    self.publish_registrations(Instant::now());
                    if let Some(c) = self.calls.as_ref() {
                        c.publish_gauges(&self.metrics, Instant::now());
                    }
                    super::trunks::publish(&self.metrics, &self.endpoint.trunk_status(Instant::now()));
                }
                _ = stop.changed(), if draining_since.is_none() => {
                    draining_since = Some(Instant::now());
                    self.endpoint.start_draining();
                    self.endpoint.unregister_trunks(Instant::now());
                }
            }
            self.flush().await;
            if let Some(since) = draining_since {
                if self.endpoint.is_idle() {
                    return;
                }
                if since.elapsed() >= DRAIN_LIMIT {
                    // Calls still up when the grace period ends are hung up properly.
                    self.endpoint.hangup_all(Instant::now());
                    self.flush().await;
                    return;
                }
            }
        }
    }

    fn on_inbound(&mut self, m: Inbound) {
        let now = Instant::now();
        match m {
            Inbound::Message { peer, bytes } => self.endpoint.receive(now, &bytes, peer),
            Inbound::Closed { conn } => self.endpoint.connection_closed(now, conn),
        }
    }

    async fn flush(&mut self) {
        // Events may make more messages to send (a call rejected), and sending may not make
        // events, so this ends once both queues are empty.
        loop {
            let mut busy = false;
            while let Some(t) = self.endpoint.poll_transmit() {
                busy = true;
                if let Err(e) = self.transports.send(t).await {
                    tracing::debug!(error = %e, "send failed");
                }
            }
            while let Some(ev) = self.endpoint.poll_event() {
                busy = true;
                self.on_event(ev).await;
            }
            if !busy {
                break;
            }
        }
    }

    async fn on_event(&mut self, ev: EndpointEvent) {
        match ev {
            EndpointEvent::Metric { name, labels } => self.metrics.inc(name, &labels),
            EndpointEvent::Security(ev) => {
                tracing::warn!(target: "rexian::security", "{ev}");
                let stored = StoredEvent {
                    at: crate::store::unix_now(),
                    kind: ev.kind_str().to_string(),
                    source: ev.source.to_string(),
                    detail: ev.to_string(),
                };
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.record_security_event(&stored).await {
                        tracing::warn!(error = %e, "cannot store a security event");
                    }
                });
            }
            EndpointEvent::RegistrationsChanged => {
                let now = Instant::now();
                self.publish_registrations(now);
                if let Some(c) = self.calls.as_mut() {
                    c.registrations_changed(&mut self.endpoint, now).await;
                }
            }
            EndpointEvent::IncomingCall { leg } => match self.calls.as_mut() {
                Some(c) => c.incoming(&mut self.endpoint, leg, Instant::now()).await,
                // No call handling attached: nobody can take the call.
                None => {
                    let _ = self.endpoint.reject(Instant::now(), leg, 480);
                }
            },
            EndpointEvent::Trunk(ev) => {
                super::trunks::on_event(&self.metrics, &ev);
                if let (TrunkEvent::Health { trunk, up }, Some(c)) = (ev, self.calls.as_mut()) {
                    c.trunk_state(&mut self.endpoint, trunk, up, Instant::now())
                        .await;
                }
            }
            EndpointEvent::Leg { leg, event } => {
                if let Some(c) = self.calls.as_mut() {
                    c.leg_event(&mut self.endpoint, leg, event, Instant::now())
                        .await;
                }
            }
        }
    }

    fn publish_registrations(&mut self, now: Instant) {
        let views = self.endpoint.registrations(now);
        self.metrics
            .set("rexian_registrations", "", views.len() as f64);
        *self.live.0.lock().unwrap_or_else(|p| p.into_inner()) = views;
        self.metrics.set(
            "rexian_sip_transactions",
            "",
            self.endpoint.transactions() as f64,
        );
    }
}

/// The nonce key: kept in the data directory so nonces survive a restart.
fn load_or_create_secret(data: &std::path::Path) -> Vec<u8> {
    let path = data.join("nonce.key");
    if let Ok(b) = std::fs::read(&path) {
        if b.len() >= 32 {
            return b;
        }
    }
    let key: [u8; 32] = rand::random();
    if let Err(e) = std::fs::write(&path, key) {
        tracing::warn!(error = %e, "cannot keep the nonce key; nonces will not survive a restart");
    }
    key.to_vec()
}
