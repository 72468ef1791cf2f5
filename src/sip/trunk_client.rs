//! rexian as a client of its carriers' trunks: REGISTER where a carrier requires it, and
//! OPTIONS pings that tell call control which trunks are up.
//!
//! One [`TrunkClients`] holds a small state machine per trunk. Sans-IO like the rest of
//! `sip`: every call takes `now`; requests go out as non-INVITE client transactions of the
//! endpoint's [`TransactionLayer`] (retransmissions, Timer F); the endpoint hands back the
//! responses, timeouts and transport errors of the transactions this module owns
//! ([`TrunkClients::owns`]); changes come out as [`TrunkEvent`]s.
//!
//! Registration (RFC 3261 §10.2): at start, REGISTER with the trunk's account; a 401/407 is
//! answered once with digest credentials; a 2xx makes the trunk registered until the granted
//! expiry and schedules the refresh at half of it; a failure (refusal, second challenge,
//! timeout, transport error) is retried after 5 s, doubling up to 5 min, and the trunk stays
//! registered until the last granted expiry passes. [`TrunkClients::unregister_all`] sends
//! `Expires: 0` at shutdown, best effort. A 423 is answered with the `Min-Expires` asked for.
//!
//! Health: each trunk with an interval is pinged with OPTIONS every interval (a quarter of
//! it, at least a second, while it is down). Any final answer means up — even 404 or 405:
//! something SIP answered at that address — except a 5xx; a 5xx, a transport error or no
//! answer within [`TrunkTiming::ping_timeout`] means down.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::sip::digest_client::{authorize, ClientCredentials};
use crate::sip::header::{parse_contact, Contact};
use crate::sip::message::{CSeq, Headers, Method, NameAddr, Request, Response, Uri, Via};
use crate::sip::peer::Peer;
use crate::sip::transaction::{TransactionLayer, TxId};

/// One trunk as the client side needs it (addresses already resolved by the shell).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkSpec {
    pub name: String,
    /// Where requests go.
    pub peer: Peer,
    /// The carrier's host and port as configured (Request-URI and To of a REGISTER).
    pub host: String,
    pub port: u16,
    /// Our address as the carrier reaches it (Via, Contact).
    pub local: SocketAddr,
    pub credentials: Option<ClientCredentials>,
    pub register: bool,
    /// OPTIONS ping interval; `None`: no health checks, the trunk counts as up.
    pub options_interval: Option<Duration>,
}

/// Timing shared by all trunks.
#[derive(Clone, Copy, Debug)]
pub struct TrunkTiming {
    /// The registration lifetime asked for.
    pub expires: u32,
    /// First retry after a failed registration; doubles per failure…
    pub retry_base: Duration,
    /// …up to this.
    pub retry_max: Duration,
    /// An OPTIONS unanswered this long marks the trunk down.
    pub ping_timeout: Duration,
}

impl Default for TrunkTiming {
    fn default() -> TrunkTiming {
        TrunkTiming {
            expires: 3600,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            ping_timeout: Duration::from_secs(5),
        }
    }
}

/// What the shell acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrunkEvent {
    /// The trunk answered (up) or stopped answering (down) OPTIONS.
    Health { trunk: String, up: bool },
    /// The carrier accepted our registration, or it lapsed.
    Registration { trunk: String, registered: bool },
}

/// One trunk's state for status views and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkStatus {
    pub name: String,
    /// `None` before the first answer or without health checks.
    pub up: Option<bool>,
    /// `None` when the trunk does not register.
    pub registered: Option<bool>,
    /// Seconds until the registration expires.
    pub expires_in: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Register { trunk: usize, authenticated: bool },
    Options { trunk: usize },
}

#[derive(Debug)]
struct Registration {
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    /// When the next REGISTER goes (`None` while one is out or after un-REGISTER).
    next_at: Option<Instant>,
    until: Option<Instant>,
    failures: u32,
    stopping: bool,
}

#[derive(Debug)]
struct Health {
    interval: Duration,
    up: Option<bool>,
    next_at: Instant,
    /// The OPTIONS out now and when it counts as unanswered.
    pending: Option<(TxId, Instant)>,
}

#[derive(Debug)]
struct Client {
    spec: TrunkSpec,
    reg: Option<Registration>,
    health: Option<Health>,
}

/// Every trunk's client side.
#[derive(Debug, Default)]
pub struct TrunkClients {
    timing: TrunkTiming,
    trunks: Vec<Client>,
    owned: HashMap<TxId, Owner>,
    events: VecDeque<TrunkEvent>,
}

impl TrunkClients {
    pub fn new(timing: TrunkTiming) -> TrunkClients {
        TrunkClients {
            timing,
            ..TrunkClients::default()
        }
    }

    /// Sets the trunks (at start and after a reload). A trunk whose spec did not change
    /// keeps its state; a new or changed one registers and is pinged at once.
    pub fn set_trunks(&mut self, now: Instant, txl: &mut TransactionLayer, specs: Vec<TrunkSpec>) {
        let mut old: Vec<Client> = std::mem::take(&mut self.trunks);
        for spec in specs {
            let client = match old.iter().position(|c| c.spec == spec) {
                Some(i) => old.swap_remove(i),
                None => Client {
                    reg: (spec.register && spec.credentials.is_some()).then(|| Registration {
                        call_id: format!("{}-reg@{}", txl.new_tag(), spec.local.ip()),
                        from_tag: txl.new_tag(),
                        cseq: 0,
                        expires: self.timing.expires,
                        next_at: Some(now),
                        until: None,
                        failures: 0,
                        stopping: false,
                    }),
                    health: spec.options_interval.map(|interval| Health {
                        interval: interval.max(Duration::from_secs(1)),
                        up: None,
                        next_at: now,
                        pending: None,
                    }),
                    spec,
                },
            };
            self.trunks.push(client);
        }
        // Trunk indices moved: keep tracking the pings out now; a REGISTER that was out is
        // sent again rather than matched to its old index.
        self.owned.clear();
        for (i, c) in self.trunks.iter_mut().enumerate() {
            if let Some((tx, _)) = c.health.as_ref().and_then(|h| h.pending) {
                self.owned.insert(tx, Owner::Options { trunk: i });
            }
            if let Some(r) = c.reg.as_mut() {
                if r.next_at.is_none() && !r.stopping {
                    r.next_at = Some(now);
                }
            }
        }
    }

    /// Whether `tx` is one of ours (the endpoint then hands its outcome here).
    pub fn owns(&self, tx: TxId) -> bool {
        self.owned.contains_key(&tx)
    }

    /// Our client transactions still waiting for a final answer (a draining daemon does not
    /// wait for them).
    pub fn outstanding(&self) -> usize {
        self.owned.len()
    }

    pub fn poll_event(&mut self) -> Option<TrunkEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trunks
            .iter()
            .flat_map(|c| {
                let reg = c.reg.as_ref();
                [
                    reg.and_then(|r| r.next_at),
                    reg.and_then(|r| r.until),
                    c.health.as_ref().map(|h| h.next_at),
                    c.health.as_ref().and_then(|h| h.pending.map(|p| p.1)),
                ]
            })
            .flatten()
            .min()
    }

    /// Sends what is due and notices what expired.
    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer) {
        for i in 0..self.trunks.len() {
            let lapsed = self.trunks[i]
                .reg
                .as_mut()
                .and_then(|r| r.until.take_if(|u| *u <= now))
                .is_some();
            if lapsed {
                self.registration(i, false);
            }
            let due = self.trunks[i]
                .reg
                .as_ref()
                .and_then(|r| r.next_at)
                .is_some_and(|t| t <= now);
            if due {
                self.send_register(now, txl, i, None);
            }
            let unanswered = self.trunks[i]
                .health
                .as_mut()
                .and_then(|h| h.pending.take_if(|p| p.1 <= now));
            if let Some((tx, _)) = unanswered {
                // The transaction may still end later; its outcome no longer counts.
                self.owned.remove(&tx);
                self.health(i, false);
            }
            let ping = self.trunks[i]
                .health
                .as_ref()
                .is_some_and(|h| h.pending.is_none() && h.next_at <= now);
            if ping {
                self.send_options(now, txl, i);
            }
        }
    }

    /// A response on one of our transactions.
    pub fn on_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        resp: &Response,
    ) {
        if resp.status < 200 {
            return;
        }
        let Some(owner) = self.owned.remove(&tx) else {
            return;
        };
        match owner {
            Owner::Options { trunk } => {
                if let Some(h) = self.trunks.get_mut(trunk).and_then(|c| c.health.as_mut()) {
                    h.pending = None;
                }
                self.health(trunk, !(500..600).contains(&resp.status));
            }
            Owner::Register {
                trunk,
                authenticated,
            } => self.on_register_response(now, txl, trunk, authenticated, resp),
        }
    }

    /// One of our transactions timed out (`transport == false`) or could not be sent.
    pub fn on_failure(&mut self, now: Instant, tx: TxId, _transport: bool) {
        match self.owned.remove(&tx) {
            Some(Owner::Options { trunk }) => {
                if let Some(h) = self.trunks.get_mut(trunk).and_then(|c| c.health.as_mut()) {
                    h.pending = None;
                }
                self.health(trunk, false);
            }
            Some(Owner::Register { trunk, .. }) => self.register_failed(now, trunk),
            None => {}
        }
    }

    /// Un-REGISTERs every registered trunk (shutdown) and stops all further requests.
    pub fn unregister_all(&mut self, now: Instant, txl: &mut TransactionLayer) {
        for i in 0..self.trunks.len() {
            self.trunks[i].health = None;
            let Some(r) = self.trunks[i].reg.as_mut() else {
                continue;
            };
            r.stopping = true;
            r.next_at = None;
            if r.until.is_some_and(|u| u > now) {
                r.expires = 0;
                self.send_register(now, txl, i, None);
            }
        }
    }

    /// Every trunk's state, in configuration order.
    pub fn status(&self, now: Instant) -> Vec<TrunkStatus> {
        self.trunks
            .iter()
            .map(|c| {
                let until = c.reg.as_ref().and_then(|r| r.until).filter(|u| *u > now);
                TrunkStatus {
                    name: c.spec.name.clone(),
                    up: c.health.as_ref().and_then(|h| h.up),
                    registered: c.reg.as_ref().map(|_| until.is_some()),
                    expires_in: until.map(|u| (u - now).as_secs()),
                }
            })
            .collect()
    }

    fn health(&mut self, i: usize, up: bool) {
        let Some(c) = self.trunks.get_mut(i) else {
            return;
        };
        let Some(h) = c.health.as_mut() else {
            return;
        };
        if h.up != Some(up) {
            h.up = Some(up);
            if !up {
                // Look again sooner while down: the ping was sent an interval before `next_at`.
                let fast = (h.interval / 4).max(Duration::from_secs(1));
                if let Some(sent) = h.next_at.checked_sub(h.interval) {
                    h.next_at = h.next_at.min(sent + fast);
                }
            }
            self.events.push_back(TrunkEvent::Health {
                trunk: c.spec.name.clone(),
                up,
            });
        }
    }

    fn registration(&mut self, i: usize, registered: bool) {
        if let Some(c) = self.trunks.get(i) {
            self.events.push_back(TrunkEvent::Registration {
                trunk: c.spec.name.clone(),
                registered,
            });
        }
    }

    fn interval_now(h: &Health) -> Duration {
        if h.up == Some(false) {
            (h.interval / 4).max(Duration::from_secs(1))
        } else {
            h.interval
        }
    }

    fn via(spec: &TrunkSpec) -> Via {
        let mut via = Via {
            transport: "UDP".into(),
            host: spec.local.ip().to_string(),
            port: Some(spec.local.port()),
            params: Vec::new(),
        };
        via.set_param("rport", None);
        via
    }

    fn send_options(&mut self, now: Instant, txl: &mut TransactionLayer, i: usize) {
        let c = &mut self.trunks[i];
        let Some(h) = c.health.as_mut() else {
            return;
        };
        let local = c.spec.local;
        let mut from = NameAddr::new(Uri::sip(
            Some("rexian"),
            &local.ip().to_string(),
            Some(local.port()),
        ));
        from.set_tag(&txl.new_tag());
        let target = Uri::sip(None, &c.spec.host, Some(c.spec.port));
        let mut headers = Headers::new();
        headers.push("Accept", "application/sdp");
        let req = Request {
            method: Method::Options,
            uri: target.clone(),
            via: vec![Self::via(&c.spec)],
            from,
            to: NameAddr::new(target),
            call_id: format!("{}-ping@{}", txl.new_tag(), local.ip()),
            cseq: CSeq {
                seq: 1,
                method: Method::Options,
            },
            max_forwards: Some(70),
            headers,
            body: Bytes::new(),
        };
        h.next_at = now + Self::interval_now(h);
        match txl.send_request(now, req, c.spec.peer) {
            Ok(tx) => {
                h.pending = Some((tx, now + self.timing.ping_timeout));
                self.owned.insert(tx, Owner::Options { trunk: i });
            }
            Err(e) => {
                tracing::debug!(trunk = %c.spec.name, error = %e, "OPTIONS not sent");
                self.health(i, false);
            }
        }
    }

    /// Sends a REGISTER; with `challenge`, answering it with the trunk's credentials.
    fn send_register(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        i: usize,
        challenge: Option<&Response>,
    ) {
        let c = &mut self.trunks[i];
        let Some(r) = c.reg.as_mut() else {
            return;
        };
        let Some(creds) = c.spec.credentials.as_ref() else {
            return;
        };
        r.next_at = None;
        r.cseq += 1;
        let aor = Uri::sip(Some(&creds.username), &c.spec.host, Some(c.spec.port));
        let mut from = NameAddr::new(aor.clone());
        from.set_tag(&r.from_tag);
        let contact = Uri::sip(
            Some(&creds.username),
            &c.spec.local.ip().to_string(),
            Some(c.spec.local.port()),
        );
        let mut headers = Headers::new();
        headers.push("Contact", format!("<{contact}>"));
        headers.push("Expires", r.expires.to_string());
        let mut req = Request {
            method: Method::Register,
            uri: Uri::sip(None, &c.spec.host, Some(c.spec.port)),
            via: vec![Self::via(&c.spec)],
            from,
            to: NameAddr::new(aor),
            call_id: r.call_id.clone(),
            cseq: CSeq {
                seq: r.cseq,
                method: Method::Register,
            },
            max_forwards: Some(70),
            headers,
            body: Bytes::new(),
        };
        if let Some(ch) = challenge {
            let cnonce = txl.new_tag();
            if let Err(e) = authorize(&mut req, ch, creds, &cnonce) {
                tracing::warn!(trunk = %c.spec.name, error = %e, "carrier's challenge not answerable");
                return self.register_failed(now, i);
            }
        }
        match txl.send_request(now, req, c.spec.peer) {
            Ok(tx) => {
                self.owned.insert(
                    tx,
                    Owner::Register {
                        trunk: i,
                        authenticated: challenge.is_some(),
                    },
                );
            }
            Err(e) => {
                tracing::debug!(trunk = %c.spec.name, error = %e, "REGISTER not sent");
                self.register_failed(now, i);
            }
        }
    }

    fn on_register_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        i: usize,
        authenticated: bool,
        resp: &Response,
    ) {
        match resp.status {
            200..=299 => {
                let Some(c) = self.trunks.get_mut(i) else {
                    return;
                };
                let Some(r) = c.reg.as_mut() else {
                    return;
                };
                if r.stopping {
                    r.until = None;
                    return;
                }
                let granted = granted_expires(resp, &c.spec).unwrap_or(r.expires);
                if granted == 0 {
                    return self.register_failed(now, i);
                }
                let was = r.until.is_some_and(|u| u > now);
                r.until = Some(now + Duration::from_secs(granted.into()));
                r.next_at = Some(now + Duration::from_secs(u64::from(granted).div_ceil(2)));
                r.failures = 0;
                if !was {
                    self.registration(i, true);
                }
            }
            401 | 407 if !authenticated => self.send_register(now, txl, i, Some(resp)),
            423 => {
                let min = resp
                    .headers
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let Some(r) = self.trunks.get_mut(i).and_then(|c| c.reg.as_mut()) else {
                    return;
                };
                match min {
                    Some(m) if m > r.expires && !r.stopping => {
                        r.expires = m;
                        self.send_register(now, txl, i, None);
                    }
                    _ => self.register_failed(now, i),
                }
            }
            _ => self.register_failed(now, i),
        }
    }

    fn register_failed(&mut self, now: Instant, i: usize) {
        let Some(c) = self.trunks.get_mut(i) else {
            return;
        };
        let Some(r) = c.reg.as_mut() else {
            return;
        };
        if r.stopping {
            return;
        }
        r.failures = r.failures.saturating_add(1);
        let doublings = r.failures.saturating_sub(1).min(16);
        let wait = self
            .timing
            .retry_base
            .saturating_mul(1 << doublings)
            .min(self.timing.retry_max);
        r.next_at = Some(now + wait);
        tracing::warn!(trunk = %c.spec.name, failures = r.failures, retry_in = ?wait, "registration to the carrier failed");
    }
}

/// The lifetime the registrar granted our contact: its `expires` param, else `Expires`.
fn granted_expires(resp: &Response, spec: &TrunkSpec) -> Option<u32> {
    let ip = spec.local.ip().to_string();
    for value in resp.headers.get_all("Contact") {
        if let Ok(Contact::Addrs(list)) = parse_contact(value) {
            for na in list {
                let ours = na.uri.host.trim_matches(['[', ']']) == ip
                    && na.uri.port.unwrap_or(5060) == spec.local.port();
                if ours {
                    if let Some(v) = na.param("expires").and_then(|p| p.value.as_deref()) {
                        return v.trim().parse().ok();
                    }
                }
            }
        }
    }
    resp.headers
        .get("Expires")
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests;
