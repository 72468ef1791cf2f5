//! The SIP endpoint: everything between "bytes arrived from a peer" and "bytes to send".
//!
//! It parses (answering unparsable but identifiable requests with the parser's status and
//! reason, `received`/`rport` stamped as RFC 3581 asks; the transaction layer stamps the
//! rest), runs the UAS checks, feeds
//! the transaction layer, and serves what this room serves itself: OPTIONS and REGISTER.
//! It is also the carriers' client: REGISTER to trunks that require it and OPTIONS health
//! checks ([`crate::sip::trunk_client`]), over client transactions of the same layer.
//! Other methods get the answer RFC 3261 names until call control takes them. Sans-IO: the
//! shell passes `now` and drains `poll_transmit`/`poll_event`/`poll_timeout`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::http::RegistrationView;
use crate::sip::dialog::DialogId;
use crate::sip::digest::{AccountCredentials, Algorithm, DigestAuth, DigestConfig, WallAnchor};
use crate::sip::header::{parse_contact, Contact};
use crate::sip::legs::{Leg, LegId, Legs};
use crate::sip::lockout::{Lockout, LockoutConfig, SecurityEvent, SecurityEventKind};
use crate::sip::message::{Method, NameAddr, Param, Request, Response, SipMessage, Uri, Via};
use crate::sip::parse::{parse, Limits};
use crate::sip::peer::{ConnId, Peer, Transmit, Transport};
use crate::sip::registrar::{Challenge, ContactEntry, ContactSpec, Registrar, RegistrarConfig};
use crate::sip::session::uac::{OutboundCall, UacSession};
use crate::sip::session::uas::UasSession;
use crate::sip::session::{LegConfig, SessionError, SessionEvent};
use crate::sip::session_timer::SessionTimerConfig;
use crate::sip::transaction::{TransactionConfig, TransactionLayer, TxEvent, TxId};
use crate::sip::trunk_client::{TrunkClients, TrunkEvent, TrunkSpec, TrunkStatus, TrunkTiming};
use crate::sip::validate::{reject_response, validate, Capabilities};

/// Settings of one endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    pub realm: String,
    pub sip_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub secret: Vec<u8>,
    pub rng_seed: [u8; 32],
    pub anchor: WallAnchor,
    pub nonce_ttl: Duration,
    pub max_message: usize,
    pub lockout: LockoutConfig,
    pub min_expires: u32,
    pub max_expires: u32,
    /// Digest algorithms challenged with, most preferred first.
    pub algorithms: Vec<Algorithm>,
}

impl EndpointConfig {
    pub fn new(realm: &str, sip_addr: SocketAddr, anchor: WallAnchor) -> EndpointConfig {
        EndpointConfig {
            realm: realm.to_string(),
            sip_addr,
            tls_addr: None,
            secret: vec![0; 32],
            rng_seed: [0; 32],
            anchor,
            nonce_ttl: Duration::from_secs(300),
            max_message: 65_535,
            lockout: LockoutConfig::default(),
            min_expires: 60,
            max_expires: 3600,
            algorithms: vec![Algorithm::Md5],
        }
    }
}

/// What the shell must act on besides transmits.
#[derive(Debug)]
pub enum EndpointEvent {
    /// Count one occurrence of a metric family with these labels.
    Metric { name: &'static str, labels: String },
    /// Log (masked) and store.
    Security(SecurityEvent),
    /// Bindings were added, refreshed or removed.
    RegistrationsChanged,
    /// A new INVITE opened an inbound leg: call control must ring, answer or reject it.
    IncomingCall { leg: LegId },
    /// Something happened on a leg (answer, offer, DTMF, end).
    Leg { leg: LegId, event: SessionEvent },
    /// A trunk went up or down, or its registration to the carrier changed.
    Trunk(TrunkEvent),
}

impl SecurityEvent {
    /// A stable name for the store.
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            SecurityEventKind::AuthFailure => "auth_failure",
            SecurityEventKind::LockedOut => "locked_out",
        }
    }
}

/// Methods this daemon allows (sent in `Allow`).
const ALLOWED: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Register,
    Method::Prack,
    Method::Update,
    Method::Info,
    Method::Refer,
    Method::Notify,
];

pub struct Endpoint {
    txl: TransactionLayer,
    registrar: Registrar,
    caps: Capabilities,
    limits: Limits,
    accounts: HashMap<String, AccountCredentials>,
    events: VecDeque<EndpointEvent>,
    draining: bool,
    legs: Legs,
    sip_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    /// Seeds the first RSeq of each leg (RFC 3262 wants it random); advanced per leg.
    rseq_seed: u32,
    /// Registration to carriers and trunk health checks.
    trunks: TrunkClients,
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig) -> Endpoint {
        let mut dcfg = DigestConfig::new(&cfg.realm, &cfg.secret, cfg.anchor, cfg.rng_seed);
        dcfg.nonce_ttl = cfg.nonce_ttl;
        dcfg.algorithms = cfg.algorithms.clone();
        let rcfg = RegistrarConfig {
            min_expires: cfg.min_expires,
            max_expires: cfg.max_expires,
            default_expires: cfg.max_expires,
            ..RegistrarConfig::default()
        };
        let registrar = Registrar::new(
            rcfg,
            DigestAuth::new(dcfg),
            Lockout::new(cfg.lockout.clone()),
        );
        let mut local = vec![(cfg.sip_addr.ip().to_string(), Some(cfg.sip_addr.port()))];
        if let Some(t) = cfg.tls_addr {
            local.push((t.ip().to_string(), Some(t.port())));
        }
        let caps = Capabilities {
            allowed: ALLOWED.to_vec(),
            known_extensions: Vec::new(),
            supported: vec![
                "100rel".into(),
                "timer".into(),
                "replaces".into(),
                "path".into(),
            ],
            accept: vec!["application/sdp".into()],
            local,
            domains: Vec::new(),
        };
        Endpoint {
            txl: TransactionLayer::new(TransactionConfig::default()),
            registrar,
            caps,
            limits: Limits {
                max_message: cfg.max_message,
                ..Limits::default()
            },
            accounts: HashMap::new(),
            events: VecDeque::new(),
            draining: false,
            legs: Legs::default(),
            sip_addr: cfg.sip_addr,
            tls_addr: cfg.tls_addr,
            rseq_seed: u32::from_le_bytes([
                cfg.rng_seed[0],
                cfg.rng_seed[1],
                cfg.rng_seed[2],
                cfg.rng_seed[3],
            ]),
            trunks: TrunkClients::new(TrunkTiming::default()),
        }
    }

    /// The carriers' trunks to register to and ping (at start and after a reload); see
    /// [`TrunkClients::set_trunks`].
    pub fn set_trunks(&mut self, now: Instant, specs: Vec<TrunkSpec>) {
        self.trunks.set_trunks(now, &mut self.txl, specs);
        self.trunks.handle_timeout(now, &mut self.txl);
        self.process(now);
    }

    /// Every trunk's health and registration.
    pub fn trunk_status(&self, now: Instant) -> Vec<TrunkStatus> {
        self.trunks.status(now)
    }

    /// Shutdown: un-REGISTER from the carriers (best effort) and stop pinging.
    pub fn unregister_trunks(&mut self, now: Instant) {
        self.trunks.unregister_all(now, &mut self.txl);
        self.process(now);
    }

    /// Replaces the account cache (the shell reloads it from the store).
    pub fn set_accounts(&mut self, accounts: HashMap<String, AccountCredentials>) {
        self.accounts = accounts;
    }

    fn metric(&mut self, name: &'static str, labels: String) {
        self.events
            .push_back(EndpointEvent::Metric { name, labels });
    }

    /// One datagram or framed stream message from `from`.
    pub fn receive(&mut self, now: Instant, bytes: &[u8], from: Peer) {
        match parse(bytes, &self.limits) {
            Err(e) => {
                self.metric(
                    "rexian_sip_parse_errors_total",
                    format!("status=\"{}\"", e.status),
                );
                if let Some(mut resp) = e.response() {
                    stamp_received(&mut resp.via, from);
                    self.txl.send_stateless(&resp, from);
                    self.count_out(&resp);
                }
            }
            Ok(SipMessage::Request(req)) => {
                self.metric(
                    "rexian_sip_messages_in_total",
                    format!("kind=\"request\",method=\"{}\"", req.method),
                );
                // REGISTER creates no dialog, so a To tag (some phones keep the one of the
                // last 200) does not make it an in-dialog request.
                if req.method == Method::Register {
                    return self.answer_stateless(req, from, |ep, req| ep.register(now, req, from));
                }
                if req.method == Method::Options && req.to.tag().is_none() {
                    return self.answer_stateless(req, from, |ep, req| ep.options(req));
                }
                self.txl.receive(now, SipMessage::Request(req), from);
            }
            Ok(SipMessage::Response(resp)) => {
                self.metric(
                    "rexian_sip_messages_in_total",
                    format!("kind=\"response\",status=\"{}\"", resp.status),
                );
                self.txl.receive(now, SipMessage::Response(resp), from);
            }
        }
        self.process(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.txl.handle_timeout(now);
        self.trunks.handle_timeout(now, &mut self.txl);
        for id in self.legs.due(now) {
            if let Some(leg) = self.legs.get_mut(id) {
                leg.handle_timeout(now, &mut self.txl);
            }
            self.after_leg(id);
        }
        if !self.registrar.expire(now).is_empty() {
            self.events.push_back(EndpointEvent::RegistrationsChanged);
        }
        self.process(now);
    }

    /// A stream connection closed: bindings that could only be reached over it go.
    pub fn connection_closed(&mut self, _now: Instant, conn: ConnId) {
        if !self.registrar.drop_connection(conn).is_empty() {
            self.events.push_back(EndpointEvent::RegistrationsChanged);
        }
    }

    /// Stop taking new work: new requests get 503 from now on.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// No call is up and nothing waits for a final response: a draining daemon may stop.
    /// Requests to carriers (pings, the un-REGISTER) are not waited for.
    pub fn is_idle(&self) -> bool {
        self.txl.in_flight() <= self.trunks.outstanding() && self.legs.is_empty()
    }

    /// Ends every call (BYE, or 480 before the answer): the last step of a shutdown.
    pub fn hangup_all(&mut self, now: Instant) {
        for id in self.legs.ids() {
            self.hangup(now, id);
        }
    }

    pub fn calls(&self) -> usize {
        self.legs.len()
    }

    /// A live leg, for call control to read its INVITE and offer.
    pub fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(id)
    }

    fn with_leg<T>(
        &mut self,
        id: LegId,
        f: impl FnOnce(&mut Leg, &mut TransactionLayer) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        let leg = self.legs.get_mut(id).ok_or(SessionError::UnknownLeg)?;
        let out = f(leg, &mut self.txl);
        self.after_leg(id);
        out
    }

    fn with_inbound<T>(
        &mut self,
        id: LegId,
        f: impl FnOnce(&mut UasSession, &mut TransactionLayer) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        self.with_leg(id, |leg, txl| match leg {
            Leg::In(l) => f(l, txl),
            Leg::Out(_) => Err(SessionError::NotRinging),
        })
    }

    /// Whether an account with this ID exists (an agent's phone, not a citizen).
    pub fn has_account(&self, id: &str) -> bool {
        self.accounts.contains_key(id)
    }

    /// Digest-authenticates the caller of an inbound leg (an agent's phone calling a feature
    /// code or an outside number; trunks are trusted by address instead). `Some(account)` when
    /// the INVITE carries valid credentials; otherwise the leg has been answered with a 407
    /// challenge (or 403 when locked out) and ends, and the phone will send a new INVITE.
    pub fn authenticate_caller(&mut self, now: Instant, id: LegId) -> Option<String> {
        let (req, peer) = match self.legs.get(id) {
            Some(Leg::In(l)) => (l.invite().clone(), l.peer()),
            _ => return None,
        };
        let account = self
            .registrar
            .auth_username_for(&req, Challenge::Proxy)
            .and_then(|u| self.accounts.get(&u).cloned());
        let verdict =
            self.registrar
                .authenticate(now, &req, peer, account.as_ref(), Challenge::Proxy);
        self.drain_security_events();
        match verdict {
            Ok(user) => Some(user),
            Err(resp) => {
                let _ = self.with_inbound(id, |l, txl| l.reject_with(now, txl, *resp));
                None
            }
        }
    }

    /// Places an outbound call (an agent's phone, an expert seat, a trunk). `local_ip` is the
    /// address of ours the far end can reach (the shell asks the routing table).
    pub fn call(
        &mut self,
        now: Instant,
        call: OutboundCall,
        local_ip: std::net::IpAddr,
    ) -> Result<LegId, SessionError> {
        let cfg = self.leg_config(local_ip.to_string(), call.peer.transport);
        let tag = self.txl.new_tag();
        let leg = UacSession::start(now, &mut self.txl, call, &tag, cfg)?;
        self.metric("rexian_calls_total", "direction=\"outbound\"".to_string());
        let id = self.legs.insert(Leg::Out(leg));
        self.after_leg(id);
        Ok(id)
    }

    /// Sends a 1xx on an inbound leg (180, or 183 with early-media SDP).
    pub fn ring(
        &mut self,
        now: Instant,
        id: LegId,
        status: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), SessionError> {
        self.with_inbound(id, |l, txl| l.ring(now, txl, status, sdp))
    }

    /// Answers an inbound leg with 200 OK.
    pub fn answer(
        &mut self,
        now: Instant,
        id: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), SessionError> {
        self.with_inbound(id, |l, txl| l.answer(now, txl, sdp))
    }

    /// Rejects an inbound leg before the answer.
    pub fn reject(&mut self, now: Instant, id: LegId, status: u16) -> Result<(), SessionError> {
        self.with_inbound(id, |l, txl| l.reject(now, txl, status))
    }

    /// Ends a leg from our side.
    pub fn hangup(&mut self, now: Instant, id: LegId) {
        let _ = self.with_leg(id, |l, txl| {
            l.hangup(now, txl);
            Ok(())
        });
    }

    /// Tells the phone that asked for a transfer (REFER) how it went.
    pub fn notify_refer(&mut self, now: Instant, id: LegId, status: u16, reason: &str, done: bool) {
        let _ = self.with_leg(id, |l, txl| {
            l.notify_refer(now, txl, status, reason, done);
            Ok(())
        });
    }

    pub fn accept_offer(
        &mut self,
        now: Instant,
        id: LegId,
        sdp: Bytes,
    ) -> Result<(), SessionError> {
        self.with_leg(id, |l, txl| l.accept_offer(now, txl, sdp))
    }

    pub fn reject_offer(
        &mut self,
        now: Instant,
        id: LegId,
        status: u16,
    ) -> Result<(), SessionError> {
        self.with_leg(id, |l, txl| l.reject_offer(now, txl, status))
    }

    /// Collects a leg's events, re-arms its timer, and forgets it once it ended.
    fn after_leg(&mut self, id: LegId) {
        let mut ended = false;
        if let Some(leg) = self.legs.get_mut(id) {
            while let Some(event) = leg.poll_event() {
                ended |= matches!(event, SessionEvent::Ended { .. });
                self.events.push_back(EndpointEvent::Leg { leg: id, event });
            }
        }
        if ended {
            self.legs.remove(id);
        } else {
            self.legs.rearm(id);
        }
    }

    pub fn transactions(&self) -> usize {
        self.txl.len()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.txl.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.txl.poll_timeout(),
            self.registrar.next_expiry(),
            self.legs.poll_timeout(),
            self.trunks.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Where to reach an account now: each live binding's contact and the hop to send to
    /// (see `Binding::target`: the REGISTER's source behind NAT, the connection over TCP),
    /// preferred (highest q) first.
    pub fn contacts(&self, aor: &str, now: Instant) -> Vec<(Uri, Peer)> {
        let mut list = self.registrar.contacts_for(aor, now);
        list.sort_by_key(|b| std::cmp::Reverse(b.q));
        list.into_iter()
            .map(|b| (b.target(), b.contact))
            .map(|(p, c)| (c, p))
            .collect()
    }

    /// Accounts with at least one live binding.
    pub fn registered_accounts(&self, now: Instant) -> Vec<String> {
        self.registrar
            .aors()
            .filter(|aor| !self.registrar.contacts_for(aor, now).is_empty())
            .map(|aor| aor.to_string())
            .collect()
    }

    /// The current bindings, for the API.
    pub fn registrations(&self, now: Instant) -> Vec<RegistrationView> {
        let mut out = Vec::new();
        for aor in self.registrar.aors() {
            for b in self.registrar.contacts_for(aor, now) {
                out.push(RegistrationView {
                    account: aor.to_string(),
                    contact: b.contact.to_string(),
                    source: b.peer.addr.to_string(),
                    transport: b.peer.transport.to_string(),
                    expires_in: b.remaining_secs(now),
                });
            }
        }
        out
    }

    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.txl.poll_event() {
            match ev {
                TxEvent::Request { tx, req, from } => self.on_request(now, tx, req, from),
                TxEvent::TransportError { tx } | TxEvent::Timeout { tx } => {
                    let transport = matches!(ev, TxEvent::TransportError { .. });
                    if self.trunks.owns(tx) {
                        self.trunks.on_failure(now, tx, transport);
                    } else if let Some(id) = self.legs.by_invite(tx) {
                        let _ = self.with_leg(id, |l, _| {
                            match l {
                                Leg::In(l) if transport => l.on_transport_error(),
                                Leg::In(_) => {}
                                Leg::Out(l) => l.on_invite_failed(transport),
                            }
                            Ok(())
                        });
                    }
                }
                TxEvent::Response { tx, resp } if self.trunks.owns(tx) => {
                    self.trunks.on_response(now, &mut self.txl, tx, &resp);
                }
                TxEvent::Response { tx, resp } => {
                    let leg = self.legs.by_invite(tx).or_else(|| {
                        DialogId::of_incoming_response(&resp).and_then(|d| self.legs.by_dialog(&d))
                    });
                    if let Some(id) = leg {
                        let _ = self.with_leg(id, |l, txl| {
                            l.on_response(now, txl, tx, &resp);
                            Ok(())
                        });
                    }
                }
                TxEvent::Cancelled { invite_tx, .. } => {
                    if let Some(id) = self.legs.by_invite(invite_tx) {
                        let _ = self.with_inbound(id, |l, _| {
                            l.on_cancelled();
                            Ok(())
                        });
                    }
                }
                TxEvent::AckFor2xx { ack, .. } => {
                    let leg =
                        DialogId::of_incoming_request(&ack).and_then(|d| self.legs.by_dialog(&d));
                    if let Some(id) = leg {
                        let _ = self.with_leg(id, |l, _| {
                            l.on_ack(now, &ack);
                            Ok(())
                        });
                    }
                }
                TxEvent::StrayResponse { .. } | TxEvent::Terminated { .. } => {}
            }
        }
        while let Some(ev) = self.trunks.poll_event() {
            self.events.push_back(EndpointEvent::Trunk(ev));
        }
        self.drain_security_events();
    }

    fn drain_security_events(&mut self) {
        for ev in self.registrar.drain_events() {
            if ev.kind == SecurityEventKind::LockedOut {
                self.metric("rexian_auth_lockouts_total", String::new());
            } else {
                self.metric("rexian_auth_failures_total", String::new());
            }
            self.events.push_back(EndpointEvent::Security(ev));
        }
    }

    fn respond(&mut self, now: Instant, tx: TxId, resp: Response) {
        self.count_out(&resp);
        if let Err(e) = self.txl.respond(now, tx, resp) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    fn count_out(&mut self, resp: &Response) {
        self.metric(
            "rexian_sip_messages_out_total",
            format!("kind=\"response\",status=\"{}\"", resp.status),
        );
    }

    fn on_request(&mut self, now: Instant, tx: TxId, req: Request, from: Peer) {
        self.metric(
            "rexian_sip_transactions_total",
            "side=\"server\"".to_string(),
        );
        if let Err(rej) = validate(&req, &self.caps) {
            let resp = reject_response(&req, &rej);
            return self.respond(now, tx, resp);
        }
        if self.draining {
            let mut resp = req.response(503);
            resp.headers.push("Retry-After", "5");
            return self.respond(now, tx, resp);
        }
        if req.to.tag().is_some() {
            return self.in_dialog(now, tx, req);
        }
        // OPTIONS outside a dialog and REGISTER never reach the transaction layer (see
        // `receive`), so they are not among these.
        let resp = match req.method {
            Method::Invite => return self.new_call(now, tx, req, from),
            Method::Bye
            | Method::Prack
            | Method::Update
            | Method::Info
            | Method::Refer
            | Method::Notify => req.response(481),
            _ => {
                let mut r = req.response(405);
                r.headers.push("Allow", allow_value());
                r
            }
        };
        let resp = with_to_tag(&mut self.txl, &req, resp);
        self.respond(now, tx, resp);
    }

    /// A request inside a dialog: to its leg, or 481 when there is none.
    fn in_dialog(&mut self, now: Instant, tx: TxId, req: Request) {
        let leg = DialogId::of_incoming_request(&req).and_then(|d| self.legs.by_dialog(&d));
        let Some(id) = leg else {
            let resp = req.response(481);
            return self.respond(now, tx, resp);
        };
        let rest = self.with_leg(id, |l, txl| Ok(l.on_request(now, txl, tx, req)));
        if let Ok(Some((tx, req))) = rest {
            let resp = match req.method {
                Method::Options => self.options(&req),
                // NOTIFY, MESSAGE … on a call: not carried out (REFER is, by the leg).
                _ => req.response(501),
            };
            self.respond(now, tx, resp);
        }
    }

    /// A new INVITE: an inbound leg for call control to decide on.
    fn new_call(&mut self, now: Instant, tx: TxId, req: Request, from: Peer) {
        let host = if self.listen_addr(from.transport).ip().is_unspecified() {
            req.uri.host.clone()
        } else {
            self.listen_addr(from.transport).ip().to_string()
        };
        let cfg = self.leg_config(host, from.transport);
        let tag = self.txl.new_tag();
        self.rseq_seed = self
            .rseq_seed
            .wrapping_mul(1_103_515_245)
            .wrapping_add(12_345);
        let rseq = (self.rseq_seed >> 1).max(1);
        match UasSession::new(tx, req, from, tag, rseq, cfg) {
            Ok(leg) => {
                let id = self.legs.insert(Leg::In(leg));
                self.metric("rexian_calls_total", "direction=\"inbound\"".to_string());
                self.events
                    .push_back(EndpointEvent::IncomingCall { leg: id });
            }
            Err(resp) => self.respond(now, tx, *resp),
        }
    }

    fn listen_addr(&self, transport: Transport) -> SocketAddr {
        match (transport, self.tls_addr) {
            (Transport::Tls, Some(t)) => t,
            _ => self.sip_addr,
        }
    }

    /// How we present ourselves on a leg: `host` (the address the peer reaches us at; for
    /// an inbound call, the Request-URI's host when we listen on every interface) over the
    /// leg's transport.
    fn leg_config(&self, host: String, transport: Transport) -> LegConfig {
        let listen = self.listen_addr(transport);
        let mut contact = Uri::sip(Some("rexian"), &host, Some(listen.port()));
        if transport != Transport::Udp {
            contact.params.push(Param::new(
                "transport",
                Some(transport.as_via_token().to_ascii_lowercase()),
            ));
        }
        let mut via = Via {
            transport: transport.as_via_token().to_string(),
            host,
            port: Some(listen.port()),
            params: Vec::new(),
        };
        via.set_param("rport", None);
        LegConfig {
            local_contact: NameAddr::new(contact),
            via,
            session_timer: SessionTimerConfig::default(),
            timers: self.txl.config().timers,
            use_100rel: true,
            allow: allow_value(),
            supported: self.caps.supported.join(", "),
        }
    }

    /// Answers a request without a transaction, as Kamailio's `sl` does. Used for OPTIONS
    /// outside a dialog (a keep-alive and capability query, idempotent, sent by phones every
    /// few seconds) and for REGISTER (a challenge carries no state — the nonce authenticates
    /// itself — and a binding update is idempotent). Keeping 32 s of transaction state for
    /// each of these was what capped the clean rate. A retransmission is answered again: the
    /// same OPTIONS answer, a fresh challenge, or — for an authenticated REGISTER reusing its
    /// `nc` — `stale=true`, which the phone answers with the new nonce.
    fn answer_stateless(
        &mut self,
        mut req: Request,
        from: Peer,
        answer: impl FnOnce(&mut Self, &Request) -> Response,
    ) {
        stamp_received(&mut req.via, from);
        let mut resp = match validate(&req, &self.caps) {
            Err(rej) => reject_response(&req, &rej),
            Ok(()) if self.draining => {
                let mut r = req.response(503);
                r.headers.push("Retry-After", "5");
                r
            }
            Ok(()) => answer(self, &req),
        };
        if resp.to.tag().is_none() {
            // The same tag for every retransmission (RFC 3261 §8.2.6.2).
            resp.to.set_tag(&stateless_tag(&req));
        }
        self.count_out(&resp);
        self.txl.send_stateless(&resp, from);
        self.drain_security_events();
    }

    fn options(&self, req: &Request) -> Response {
        let mut r = req.response(200);
        r.headers.push("Allow", allow_value());
        r.headers.push("Accept", "application/sdp");
        r.headers.push("Supported", self.caps.supported.join(", "));
        r
    }

    fn register(&mut self, now: Instant, req: &Request, from: Peer) -> Response {
        let mut contacts = Vec::new();
        for value in req.headers.get_all("Contact") {
            match parse_contact(value) {
                Ok(Contact::Star) => contacts.push(ContactEntry::Star),
                Ok(Contact::Addrs(list)) => {
                    for na in &list {
                        match ContactSpec::from_name_addr(na) {
                            Ok(c) => contacts.push(ContactEntry::Contact(c)),
                            Err(e) => {
                                return req.response_with_reason(400, &format!("Bad Request ({e})"))
                            }
                        }
                    }
                }
                Err(_) => return req.response_with_reason(400, "Bad Request (bad Contact)"),
            }
        }
        let account = self
            .registrar
            .auth_username(req)
            .and_then(|u| self.accounts.get(&u).cloned());
        let before = self.registrar.binding_count();
        let resp = self
            .registrar
            .handle_register(now, req, from, &contacts, account.as_ref());
        if resp.status == 200 {
            self.metric("rexian_registrations_total", String::new());
            // Only a binding that comes or goes is news: a refresh changes no one's
            // reachability, and the shell rebuilds the registration view every few seconds
            // anyway. Announcing every refresh would cost a walk over all bindings per REGISTER.
            if before != self.registrar.binding_count() {
                self.events.push_back(EndpointEvent::RegistrationsChanged);
            }
        }
        resp
    }
}

fn allow_value() -> String {
    ALLOWED
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A To tag that is the same for every retransmission of a request (RFC 3261 §8.2.6.2 asks
/// a stateless UAS for exactly that).
fn stateless_tag(req: &Request) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.call_id.hash(&mut h);
    req.from.tag().unwrap_or("").hash(&mut h);
    req.cseq.seq.hash(&mut h);
    format!("sl{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// A final response from a UAS carries a To tag (RFC 3261 §8.2.6.2).
fn with_to_tag(txl: &mut TransactionLayer, req: &Request, mut resp: Response) -> Response {
    if resp.status >= 200 && resp.to.tag().is_none() && req.to.tag().is_none() {
        resp.to.set_tag(&txl.new_tag());
    }
    resp
}

/// RFC 3261 §18.2.1 and RFC 3581: note where the request really came from.
fn stamp_received(via: &mut [crate::sip::message::Via], from: Peer) {
    let Some(top) = via.first_mut() else { return };
    let ip = from.addr.ip().to_string();
    if top.host != ip {
        top.set_param("received", Some(ip.clone()));
    }
    if top.rport().is_some() {
        top.set_param("received", Some(ip));
        top.set_param("rport", Some(from.addr.port().to_string()));
    }
}
