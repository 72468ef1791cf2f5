//! The inbound leg: an INVITE rexian answers (a trunk's caller, or a phone calling in).
//!
//! Life: `Proceeding` (call control rings or plays early media with [`UasSession::ring`]) →
//! `AwaitingAck` after [`UasSession::answer`] → `Up` on the ACK → `Ended`. On the way:
//! - 100rel: when the caller supports it, a provisional with SDP (or every provisional, when
//!   it requires 100rel) goes reliably; it is retransmitted until PRACKed, and the INVITE gets
//!   a 5xx if no PRACK comes within 64*T1.
//! - Offer/answer: an offer in the INVITE is answered in the first reliable provisional or
//!   the 2xx; an INVITE without SDP gets our offer in the 2xx and the answer in the ACK; later
//!   offers arrive in UPDATE or re-INVITE as [`SessionEvent::Offer`].
//! - The 2xx is retransmitted until the ACK arrives (RFC 6026 leaves that to us); without an
//!   ACK within 64*T1 the leg sends BYE and ends.
//! - Session timers: negotiated on the INVITE (422 when the interval is too small); when we
//!   refresh, we send UPDATE (or a re-INVITE if the caller does not allow UPDATE); when no
//!   refresh comes, BYE.
//! - In-dialog requests rexian does not handle itself (REFER, NOTIFY, …) come back to the
//!   caller of [`UasSession::on_request`] to answer.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::info::dtmf_from_info;
use super::{EndCause, SessionError, SessionEvent};
use crate::sip::dialog::{reject, Dialog, DialogId, DialogState};
use crate::sip::header::{parse_contact, parse_name_addr_list, Contact};
use crate::sip::message::{Method, NameAddr, Request, Response, Via};
use crate::sip::offer_answer::{Carrier, OaState, OfferAnswer, Requirement, SdpRole};
use crate::sip::peer::Peer;
use crate::sip::reliable::{
    peer_requires_100rel, peer_supports_100rel, ReliableAction, ReliableUas,
};
use crate::sip::session_timer::{
    uac_offer, uas_negotiate, SessionExpires, SessionTimer, SessionTimerAction, SessionTimerConfig,
    UasDecision,
};
use crate::sip::transaction::{
    Retransmit2xx, Retransmit2xxAction, TimerConfig, TransactionLayer, TxId,
};

/// How this endpoint presents itself on inbound legs.
#[derive(Clone, Debug)]
pub struct UasConfig {
    /// Our Contact in responses and in-dialog requests.
    pub local_contact: NameAddr,
    /// Our Via for requests we send in the dialog; the branch is added per request.
    pub via: Via,
    pub session_timer: SessionTimerConfig,
    pub timers: TimerConfig,
    /// Send provisionals with SDP reliably when the caller supports 100rel (always when it
    /// requires it).
    pub use_100rel: bool,
    /// `Allow` and `Supported` values for our responses.
    pub allow: String,
    pub supported: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Proceeding,
    AwaitingAck,
    Up,
    Ended,
}

/// A 2xx to an INVITE (initial or re-INVITE) waiting for its ACK.
#[derive(Debug)]
struct PendingOk {
    tx: TxId,
    resp: Response,
    schedule: Retransmit2xx,
}

#[derive(Debug)]
pub struct UasSession {
    cfg: UasConfig,
    tx: TxId,
    invite: Request,
    peer: Peer,
    local_tag: String,
    dialog: Dialog,
    oa: OfferAnswer,
    initial_offer: Option<Bytes>,
    reliable: Option<ReliableUas>,
    must_be_reliable: bool,
    last_reliable: Option<Response>,
    ok: Option<PendingOk>,
    timer_decision: UasDecision,
    timer: Option<SessionTimer>,
    pending_offer: Option<(TxId, Request)>,
    last_local_sdp: Option<Bytes>,
    refresh_tx: Option<(TxId, Method)>,
    phase: Phase,
    events: VecDeque<SessionEvent>,
}

fn contact_of(req: &Request) -> Option<NameAddr> {
    match parse_contact(req.headers.get("Contact")?) {
        Ok(Contact::Addrs(mut list)) if !list.is_empty() => Some(list.swap_remove(0)),
        _ => None,
    }
}

fn record_routes(req: &Request) -> Vec<NameAddr> {
    req.headers
        .get_all("Record-Route")
        .filter_map(|v| parse_name_addr_list(v).ok())
        .flatten()
        .collect()
}

fn is_sdp(req: &Request) -> bool {
    !req.body.is_empty()
        && req.headers.get("Content-Type").is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/sdp")
        })
}

fn with_sdp(resp: &mut Response, sdp: &Bytes) {
    resp.headers.set("Content-Type", "application/sdp");
    resp.body = sdp.clone();
}

impl UasSession {
    /// Takes a new INVITE (server transaction `tx`, from `peer`) and the To tag to answer
    /// with. `Err` is the final response to send instead (no Contact, a session interval
    /// too small, an offer that is not SDP).
    pub fn new(
        now: Instant,
        tx: TxId,
        invite: Request,
        peer: Peer,
        local_tag: String,
        rseq_seed: u32,
        cfg: UasConfig,
    ) -> Result<UasSession, Box<Response>> {
        let refuse = |status: u16, reason: &str| {
            let mut r = invite.response_with_reason(status, reason);
            r.to.set_tag(&local_tag);
            Box::new(r)
        };
        let Some(contact) = contact_of(&invite) else {
            return Err(refuse(400, "Bad Request (missing or bad Contact)"));
        };
        let decision = match uas_negotiate(&invite, &cfg.session_timer) {
            Ok(d) => d,
            Err(_) => return Err(refuse(400, "Bad Request (bad Session-Expires)")),
        };
        if decision.is_too_small() {
            let mut r = refuse(422, "Session Interval Too Small");
            decision.apply(&mut r);
            return Err(r);
        }
        let mut oa = OfferAnswer::new();
        let initial_offer = if is_sdp(&invite) {
            let _ = oa.remote_sdp(Carrier::Invite);
            Some(invite.body.clone())
        } else if invite.body.is_empty() {
            oa.offerless_invite();
            None
        } else {
            let mut r = refuse(415, "Unsupported Media Type");
            r.headers.push("Accept", "application/sdp");
            return Err(r);
        };
        let dialog = Dialog::new_uas(
            &invite,
            &local_tag,
            &record_routes(&invite),
            Some(&contact),
            cfg.local_contact.clone(),
            DialogState::Early,
        )
        .map_err(|e| Box::new(reject(&invite, &e)))?;
        let must_be_reliable = peer_requires_100rel(&invite);
        let reliable = (must_be_reliable || (cfg.use_100rel && peer_supports_100rel(&invite)))
            .then(|| ReliableUas::new(rseq_seed, cfg.timers, peer.transport.is_reliable()));
        let _ = now;
        Ok(UasSession {
            cfg,
            tx,
            invite,
            peer,
            local_tag,
            dialog,
            oa,
            initial_offer,
            reliable,
            must_be_reliable,
            last_reliable: None,
            ok: None,
            timer_decision: decision,
            timer: None,
            pending_offer: None,
            last_local_sdp: None,
            refresh_tx: None,
            phase: Phase::Proceeding,
            events: VecDeque::new(),
        })
    }

    /// The INVITE server transaction that opened the leg.
    pub fn invite_tx(&self) -> TxId {
        self.tx
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn dialog_id(&self) -> &DialogId {
        &self.dialog.id
    }

    /// The INVITE that opened the leg (Request-URI, From, Diversion … for call control).
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// The caller's offer, `None` for a late-offer INVITE.
    pub fn initial_offer(&self) -> Option<&Bytes> {
        self.initial_offer.as_ref()
    }

    /// Where requests to the caller go: the address (and connection) its INVITE came from,
    /// which is right behind NAT and reuses a TCP connection.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    fn base_response(&self, status: u16) -> Response {
        let mut r = self.invite.response(status);
        r.to.set_tag(&self.local_tag);
        r.headers
            .push("Contact", self.cfg.local_contact.to_string());
        r
    }

    fn respond(&mut self, now: Instant, txl: &mut TransactionLayer, tx: TxId, resp: Response) {
        // A refusal here means the transaction is already gone; nothing is left to answer.
        let _ = txl.respond(now, tx, resp);
    }

    fn end(&mut self, cause: EndCause) {
        if self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            if let Some(r) = self.reliable.as_mut() {
                r.finish();
            }
            self.ok = None;
            self.timer = None;
            self.events.push_back(SessionEvent::Ended { cause });
        }
    }

    /// A 1xx (180 ringing, 183 with early media). With `sdp`, the caller hears it before the
    /// answer; sent reliably when 100rel is in use.
    pub fn ring(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Proceeding {
            return Err(SessionError::NotRinging);
        }
        if !(101..=199).contains(&status) {
            return Err(SessionError::BadStatus(status));
        }
        let mut resp = self.base_response(status);
        let reliable = self.reliable.is_some() && (self.must_be_reliable || sdp.is_some());
        if reliable {
            if self.reliable.as_ref().is_some_and(|r| r.is_outstanding()) {
                return Err(SessionError::PrackPending);
            }
            if let Some(sdp) = &sdp {
                if self.oa.requirement(Carrier::ReliableProvisional) != Requirement::Nothing
                    && self.oa.local_sdp(Carrier::ReliableProvisional).is_ok()
                {
                    with_sdp(&mut resp, sdp);
                    self.last_local_sdp = Some(sdp.clone());
                }
            }
            if let Some(r) = self.reliable.as_mut() {
                r.prepare(now, &mut resp)
                    .map_err(|e| SessionError::Transaction(e.to_string()))?;
            }
            self.last_reliable = Some(resp.clone());
        } else if let Some(sdp) = &sdp {
            // Early media preview (RFC 3261 §13.3.1.1): not part of offer/answer.
            with_sdp(&mut resp, sdp);
        }
        let tx = self.tx;
        self.respond(now, txl, tx, resp);
        Ok(())
    }

    /// The 200 OK. `sdp` is the answer to the caller's offer, or our offer when the INVITE
    /// had none; it may be `None` only when a reliable provisional already answered.
    pub fn answer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        sdp: Option<Bytes>,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Proceeding {
            return Err(SessionError::NotRinging);
        }
        if let Some(r) = &self.reliable {
            let with_body = self
                .last_reliable
                .as_ref()
                .is_some_and(|p| !p.body.is_empty());
            if r.is_outstanding() && with_body {
                return Err(SessionError::PrackPending);
            }
        }
        let mut resp = self.base_response(200);
        match self.oa.requirement(Carrier::InviteOk) {
            Requirement::Answer | Requirement::Offer => {
                let sdp = sdp.ok_or(SessionError::SdpRequired)?;
                let _ = self.oa.local_sdp(Carrier::InviteOk);
                with_sdp(&mut resp, &sdp);
                self.last_local_sdp = Some(sdp);
            }
            Requirement::MayOffer | Requirement::Nothing => {}
        }
        resp.headers.push("Allow", self.cfg.allow.clone());
        resp.headers.push("Supported", self.cfg.supported.clone());
        self.timer_decision.apply(&mut resp);
        if let Some(r) = self.reliable.as_mut() {
            r.finish();
        }
        let tx = self.tx;
        self.respond(now, txl, tx, resp.clone());
        self.ok = Some(PendingOk {
            tx,
            resp,
            schedule: Retransmit2xx::new(now, &self.cfg.timers, self.peer.transport.is_reliable()),
        });
        self.dialog.state = DialogState::Confirmed;
        if let UasDecision::Accept {
            session_expires, ..
        } = self.timer_decision
        {
            self.timer = Some(SessionTimer::new(now, session_expires, false));
        }
        self.phase = Phase::AwaitingAck;
        Ok(())
    }

    /// Refuses the call before the answer (busy, unavailable, forbidden …).
    pub fn reject(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Proceeding {
            return Err(SessionError::NotRinging);
        }
        if !(300..=699).contains(&status) {
            return Err(SessionError::BadStatus(status));
        }
        let mut resp = self.invite.response(status);
        resp.to.set_tag(&self.local_tag);
        let tx = self.tx;
        self.respond(now, txl, tx, resp);
        self.end(EndCause::Local);
        Ok(())
    }

    /// Ends the leg from our side: 480 before the answer, BYE after it.
    pub fn hangup(&mut self, now: Instant, txl: &mut TransactionLayer) {
        match self.phase {
            Phase::Proceeding => {
                let _ = self.reject(now, txl, 480);
            }
            Phase::AwaitingAck | Phase::Up => {
                self.send_bye(now, txl);
                self.end(EndCause::Local);
            }
            Phase::Ended => {}
        }
    }

    fn send_bye(&mut self, now: Instant, txl: &mut TransactionLayer) {
        if let Ok(req) = self.dialog.new_request(Method::Bye, self.cfg.via.clone()) {
            let _ = txl.send_request(now, req, self.peer);
        }
    }

    /// Answers the peer's pending offer (UPDATE or re-INVITE) with `sdp`.
    pub fn accept_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        sdp: Bytes,
    ) -> Result<(), SessionError> {
        let (tx, req) = self
            .pending_offer
            .take()
            .ok_or(SessionError::NoPendingOffer)?;
        let carrier = if req.method == Method::Invite {
            Carrier::InviteOk
        } else {
            Carrier::UpdateOk
        };
        let _ = self.oa.local_sdp(carrier);
        let mut resp = req.response(200);
        resp.headers
            .push("Contact", self.cfg.local_contact.to_string());
        with_sdp(&mut resp, &sdp);
        self.last_local_sdp = Some(sdp);
        self.refresh_on_request(now, &req, &mut resp);
        self.respond(now, txl, tx, resp.clone());
        if req.method == Method::Invite {
            self.ok = Some(PendingOk {
                tx,
                resp,
                schedule: Retransmit2xx::new(
                    now,
                    &self.cfg.timers,
                    self.peer.transport.is_reliable(),
                ),
            });
        }
        Ok(())
    }

    /// Refuses the peer's pending offer (488 when the media cannot be served); the session
    /// stays as it was.
    pub fn reject_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        let (tx, req) = self
            .pending_offer
            .take()
            .ok_or(SessionError::NoPendingOffer)?;
        if !(300..=699).contains(&status) {
            self.pending_offer = Some((tx, req));
            return Err(SessionError::BadStatus(status));
        }
        self.oa.rollback();
        let resp = req.response(status);
        self.respond(now, txl, tx, resp);
        Ok(())
    }

    /// A session-refreshing request from the peer was accepted: write our Session-Expires
    /// and restart the timer.
    fn refresh_on_request(&mut self, now: Instant, req: &Request, resp: &mut Response) {
        if self.timer.is_none() {
            return;
        }
        if let Ok(
            d @ UasDecision::Accept {
                session_expires, ..
            },
        ) = uas_negotiate(req, &self.cfg.session_timer)
        {
            d.apply(resp);
            self.timer = Some(SessionTimer::new(now, session_expires, false));
        }
    }

    /// An in-dialog request for this leg (matched by dialog id). Returns the request when it
    /// is one the leg does not handle itself (REFER, NOTIFY, MESSAGE …), for the caller to
    /// answer on `tx`.
    pub fn on_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
    ) -> Option<(TxId, Request)> {
        if self.phase == Phase::Ended {
            self.respond(now, txl, tx, req.response(481));
            return None;
        }
        let contact = contact_of(&req);
        if let Err(e) = self.dialog.receive_request(&req, contact.as_ref()) {
            self.respond(now, txl, tx, reject(&req, &e));
            return None;
        }
        match req.method {
            Method::Bye => {
                self.respond(now, txl, tx, req.response(200));
                self.end(EndCause::RemoteBye);
            }
            Method::Prack => self.on_prack(now, txl, tx, req),
            Method::Update | Method::Invite => self.on_offering_request(now, txl, tx, req),
            Method::Info => {
                let ct = req.headers.get("Content-Type").unwrap_or_default();
                if let Some((digit, duration_ms)) = dtmf_from_info(ct, &req.body) {
                    self.events
                        .push_back(SessionEvent::Dtmf { digit, duration_ms });
                }
                self.respond(now, txl, tx, req.response(200));
            }
            _ => return Some((tx, req)),
        }
        None
    }

    fn on_prack(&mut self, now: Instant, txl: &mut TransactionLayer, tx: TxId, req: Request) {
        let Some(rel) = self.reliable.as_mut() else {
            self.respond(now, txl, tx, req.response(481));
            return;
        };
        if let Err(e) = rel.on_prack(&req) {
            self.respond(now, txl, tx, req.response(e.status()));
            return;
        }
        if is_sdp(&req) {
            if let Ok(SdpRole::Answer) = self.oa.remote_sdp(Carrier::Prack) {
                self.events.push_back(SessionEvent::Answer {
                    sdp: req.body.clone(),
                });
            }
        }
        self.respond(now, txl, tx, req.response(200));
    }

    fn on_offering_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
    ) {
        let is_invite = req.method == Method::Invite;
        if is_invite && self.phase != Phase::Up {
            // A re-INVITE before our 2xx is acknowledged (RFC 3261 §14.2).
            let mut r = req.response(500);
            r.headers.push("Retry-After", "1");
            self.respond(now, txl, tx, r);
            return;
        }
        if self.pending_offer.is_some() {
            let mut r = req.response(500);
            r.headers.push("Retry-After", "1");
            self.respond(now, txl, tx, r);
            return;
        }
        if is_sdp(&req) {
            let carrier = if is_invite {
                Carrier::Invite
            } else {
                Carrier::Update
            };
            match self.oa.remote_sdp(carrier) {
                Ok(SdpRole::Offer) => {
                    self.events.push_back(SessionEvent::Offer {
                        sdp: req.body.clone(),
                    });
                    self.pending_offer = Some((tx, req));
                }
                Ok(SdpRole::Answer) => self.respond(now, txl, tx, req.response(488)),
                Err(e) => {
                    let mut r = req.response(e.status());
                    if e.status() == 500 {
                        r.headers.push("Retry-After", "1");
                    }
                    self.respond(now, txl, tx, r);
                }
            }
            return;
        }
        // No SDP: a session refresh (UPDATE), or a re-INVITE asking for our offer, which we
        // make with the session as it stands.
        let mut resp = req.response(200);
        resp.headers
            .push("Contact", self.cfg.local_contact.to_string());
        if is_invite {
            if let Some(sdp) = self.last_local_sdp.clone() {
                self.oa.offerless_invite();
                let _ = self.oa.local_sdp(Carrier::InviteOk);
                with_sdp(&mut resp, &sdp);
            }
        }
        self.refresh_on_request(now, &req, &mut resp);
        self.respond(now, txl, tx, resp.clone());
        if is_invite {
            self.ok = Some(PendingOk {
                tx,
                resp,
                schedule: Retransmit2xx::new(
                    now,
                    &self.cfg.timers,
                    self.peer.transport.is_reliable(),
                ),
            });
        }
    }

    /// The ACK for one of our 2xx responses (`TxEvent::AckFor2xx` matched to this dialog).
    pub fn on_ack(&mut self, _now: Instant, ack: &Request) {
        let Some(ok) = &self.ok else { return };
        if ack.cseq.seq != ok.resp.cseq.seq {
            return;
        }
        self.ok = None;
        if is_sdp(ack) && matches!(self.oa.state(), OaState::LocalOffer(Carrier::InviteOk)) {
            if let Ok(SdpRole::Answer) = self.oa.remote_sdp(Carrier::Ack) {
                self.events.push_back(SessionEvent::Answer {
                    sdp: ack.body.clone(),
                });
            }
        }
        if self.phase == Phase::AwaitingAck {
            self.phase = Phase::Up;
            self.events.push_back(SessionEvent::Confirmed);
        }
    }

    /// The caller's CANCEL matched our INVITE (the transaction layer answered it and the
    /// INVITE with 487).
    pub fn on_cancelled(&mut self) {
        if self.phase == Phase::Proceeding {
            self.end(EndCause::Cancelled);
        }
    }

    /// The transport reported the caller unreachable.
    pub fn on_transport_error(&mut self) {
        self.end(EndCause::TransportFailure);
    }

    /// A response to a request this leg sent (its refreshes; BYE answers need nothing).
    pub fn on_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        resp: &Response,
    ) {
        let Some((rtx, method)) = self.refresh_tx.clone() else {
            return;
        };
        if rtx != tx || resp.status < 200 {
            return;
        }
        self.refresh_tx = None;
        if (200..300).contains(&resp.status) {
            if method == Method::Invite {
                let ack = self.dialog.ack_for_2xx(resp.cseq.seq, self.fresh_via(txl));
                txl.send_ack(&ack, self.peer);
            }
            let se = resp
                .headers
                .get("Session-Expires")
                .and_then(|v| SessionExpires::parse(v).ok());
            if let (Some(t), Some(se)) = (self.timer.as_mut(), se) {
                t.refreshed(now, se, true);
            }
        } else if matches!(resp.status, 408 | 481) {
            // The dialog is gone at the far end (RFC 5057).
            self.send_bye(now, txl);
            self.end(EndCause::SessionExpired);
        }
    }

    fn fresh_via(&self, txl: &mut TransactionLayer) -> Via {
        let mut via = self.cfg.via.clone();
        via.set_param("branch", Some(txl.new_branch()));
        via
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.reliable.as_ref().and_then(|r| r.poll_timeout()),
            self.ok.as_ref().and_then(|o| o.schedule.poll_timeout()),
            self.timer.as_ref().and_then(|t| t.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer) {
        if let Some(rel) = self.reliable.as_mut() {
            match rel.handle_timeout(now) {
                ReliableAction::Wait => {}
                ReliableAction::Resend => {
                    if let Some(r) = self.last_reliable.clone() {
                        let tx = self.tx;
                        self.respond(now, txl, tx, r);
                    }
                }
                ReliableAction::GiveUp => {
                    if self.phase == Phase::Proceeding {
                        let mut resp = self.invite.response_with_reason(
                            500,
                            "Server Internal Error (no PRACK for a reliable provisional)",
                        );
                        resp.to.set_tag(&self.local_tag);
                        let tx = self.tx;
                        self.respond(now, txl, tx, resp);
                        self.end(EndCause::NoPrack);
                    }
                }
            }
        }
        if let Some(ok) = self.ok.as_mut() {
            match ok.schedule.handle_timeout(now) {
                Retransmit2xxAction::Wait => {}
                Retransmit2xxAction::Resend => {
                    let (tx, resp) = (ok.tx, ok.resp.clone());
                    self.respond(now, txl, tx, resp);
                }
                Retransmit2xxAction::GiveUp => {
                    self.ok = None;
                    self.send_bye(now, txl);
                    self.end(EndCause::NoAck);
                }
            }
        }
        let action = self
            .timer
            .as_mut()
            .map_or(SessionTimerAction::Wait, |t| t.handle_timeout(now));
        match action {
            SessionTimerAction::Wait => {}
            SessionTimerAction::Refresh => self.send_refresh(now, txl),
            SessionTimerAction::Expire => {
                self.send_bye(now, txl);
                self.end(EndCause::SessionExpired);
            }
        }
    }

    /// We are the refresher: UPDATE without SDP when the caller allows UPDATE, else a
    /// re-INVITE with the session as it stands.
    fn send_refresh(&mut self, now: Instant, txl: &mut TransactionLayer) {
        if self.phase != Phase::Up || self.refresh_tx.is_some() {
            return;
        }
        let allows_update = self.invite.headers.has_token("Allow", "UPDATE");
        let method = if allows_update || self.last_local_sdp.is_none() {
            Method::Update
        } else {
            Method::Invite
        };
        // The transaction layer gives the request its branch, with a loop token.
        let Ok(mut req) = self
            .dialog
            .new_request(method.clone(), self.cfg.via.clone())
        else {
            return;
        };
        let interval = self
            .timer
            .as_ref()
            .map_or(self.cfg.session_timer.interval, |t| {
                t.interval().as_secs() as u32
            });
        uac_offer(&mut req, interval, self.cfg.session_timer.min_se);
        if let Some(v) = req.headers.get("Session-Expires").map(str::to_string) {
            req.headers
                .set("Session-Expires", format!("{v};refresher=uac"));
        }
        if method == Method::Invite {
            if let Some(sdp) = self.last_local_sdp.clone() {
                req.headers.set("Content-Type", "application/sdp");
                req.body = sdp;
            }
        }
        if let Ok(tx) = txl.send_request(now, req, self.peer) {
            self.refresh_tx = Some((tx, method));
        }
    }
}
