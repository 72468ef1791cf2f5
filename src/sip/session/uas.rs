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
//! - Session timers: negotiated on the INVITE (422 when the interval is too small); see
//!   [`super::core`] for refreshes.
//! - In-dialog requests rexian does not handle itself (REFER, NOTIFY, …) come back to the
//!   caller of [`UasSession::on_request`] to answer.

use std::time::Instant;

use bytes::Bytes;

use super::core::{contact_of, is_sdp, with_sdp, DialogCore, LegConfig};
use super::{EndCause, SessionError, SessionEvent};
use crate::sip::dialog::{reject, Dialog, DialogId, DialogState};
use crate::sip::header::parse_name_addr_list;
use crate::sip::message::{Method, NameAddr, Request, Response};
use crate::sip::offer_answer::{Carrier, OfferAnswer, Requirement, SdpRole};
use crate::sip::peer::Peer;
use crate::sip::reliable::{
    peer_requires_100rel, peer_supports_100rel, ReliableAction, ReliableUas,
};
use crate::sip::session_timer::{uas_negotiate, SessionTimer, UasDecision};
use crate::sip::transaction::{TransactionLayer, TxId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Proceeding,
    AwaitingAck,
    Up,
    Ended,
}

#[derive(Debug)]
pub struct UasSession {
    core: DialogCore,
    tx: TxId,
    invite: Request,
    local_tag: String,
    initial_offer: Option<Bytes>,
    reliable: Option<ReliableUas>,
    must_be_reliable: bool,
    last_reliable: Option<Response>,
    timer_decision: UasDecision,
    phase: Phase,
}

fn record_routes(req: &Request) -> Vec<NameAddr> {
    req.headers
        .get_all("Record-Route")
        .filter_map(|v| parse_name_addr_list(v).ok())
        .flatten()
        .collect()
}

impl UasSession {
    /// Takes a new INVITE (server transaction `tx`, from `peer`) and the To tag to answer
    /// with. `Err` is the final response to send instead (no Contact, a session interval
    /// too small, an offer that is not SDP).
    pub fn new(
        tx: TxId,
        invite: Request,
        peer: Peer,
        local_tag: String,
        rseq_seed: u32,
        cfg: LegConfig,
    ) -> Result<UasSession, Box<Response>> {
        let refuse = |status: u16, reason: &str| {
            let mut r = invite.response_with_reason(status, reason);
            r.to.set_tag(&local_tag);
            Box::new(r)
        };
        let Some(contact) = contact_of(&invite.headers) else {
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
        let initial_offer = if is_sdp(&invite.headers, &invite.body) {
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
        let mut core = DialogCore::new(cfg, dialog, oa, peer);
        core.peer_allows_update = invite.headers.has_token("Allow", "UPDATE");
        Ok(UasSession {
            core,
            tx,
            invite,
            local_tag,
            initial_offer,
            reliable,
            must_be_reliable,
            last_reliable: None,
            timer_decision: decision,
            phase: Phase::Proceeding,
        })
    }

    /// The INVITE server transaction that opened the leg.
    pub fn invite_tx(&self) -> TxId {
        self.tx
    }

    pub fn phase(&self) -> Phase {
        if self.core.ended {
            Phase::Ended
        } else {
            self.phase
        }
    }

    pub fn dialog_id(&self) -> &DialogId {
        &self.core.dialog.id
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
        self.core.peer
    }

    fn base_response(&self, status: u16) -> Response {
        let mut r = self.invite.response(status);
        r.to.set_tag(&self.local_tag);
        r.headers
            .push("Contact", self.core.cfg.local_contact.to_string());
        r
    }

    fn end(&mut self, cause: EndCause) {
        if let Some(r) = self.reliable.as_mut() {
            r.finish();
        }
        self.core.end(cause);
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
        if self.phase() != Phase::Proceeding {
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
                let oa = &mut self.core.oa;
                if oa.requirement(Carrier::ReliableProvisional) != Requirement::Nothing
                    && oa.local_sdp(Carrier::ReliableProvisional).is_ok()
                {
                    with_sdp(&mut resp.headers, &mut resp.body, sdp);
                    self.core.last_local_sdp = Some(sdp.clone());
                }
            }
            if let Some(r) = self.reliable.as_mut() {
                r.prepare(now, &mut resp)
                    .map_err(|e| SessionError::Transaction(e.to_string()))?;
            }
            self.last_reliable = Some(resp.clone());
        } else if let Some(sdp) = &sdp {
            // Early media preview (RFC 3261 §13.3.1.1): not part of offer/answer.
            with_sdp(&mut resp.headers, &mut resp.body, sdp);
        }
        DialogCore::respond(now, txl, self.tx, resp);
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
        if self.phase() != Phase::Proceeding {
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
        match self.core.oa.requirement(Carrier::InviteOk) {
            Requirement::Answer | Requirement::Offer => {
                let sdp = sdp.ok_or(SessionError::SdpRequired)?;
                let _ = self.core.oa.local_sdp(Carrier::InviteOk);
                with_sdp(&mut resp.headers, &mut resp.body, &sdp);
                self.core.last_local_sdp = Some(sdp);
            }
            Requirement::MayOffer | Requirement::Nothing => {}
        }
        resp.headers.push("Allow", self.core.cfg.allow.clone());
        resp.headers
            .push("Supported", self.core.cfg.supported.clone());
        self.timer_decision.apply(&mut resp);
        if let Some(r) = self.reliable.as_mut() {
            r.finish();
        }
        DialogCore::respond(now, txl, self.tx, resp.clone());
        self.core.await_ack(now, self.tx, resp);
        self.core.dialog.state = DialogState::Confirmed;
        if let UasDecision::Accept {
            session_expires, ..
        } = self.timer_decision
        {
            self.core.timer = Some(SessionTimer::new(now, session_expires, false));
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
        if self.phase() != Phase::Proceeding {
            return Err(SessionError::NotRinging);
        }
        if !(300..=699).contains(&status) {
            return Err(SessionError::BadStatus(status));
        }
        let mut resp = self.invite.response(status);
        resp.to.set_tag(&self.local_tag);
        DialogCore::respond(now, txl, self.tx, resp);
        self.end(EndCause::Local);
        Ok(())
    }

    /// Refuses the call with a response built elsewhere (a 407 challenge, say).
    pub fn reject_with(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        resp: Response,
    ) -> Result<(), SessionError> {
        if self.phase() != Phase::Proceeding {
            return Err(SessionError::NotRinging);
        }
        if !(300..=699).contains(&resp.status) {
            return Err(SessionError::BadStatus(resp.status));
        }
        DialogCore::respond(now, txl, self.tx, resp);
        self.end(EndCause::Local);
        Ok(())
    }

    /// Ends the leg from our side: 480 before the answer, BYE after it.
    pub fn hangup(&mut self, now: Instant, txl: &mut TransactionLayer) {
        match self.phase() {
            Phase::Proceeding => {
                let _ = self.reject(now, txl, 480);
            }
            Phase::AwaitingAck | Phase::Up => {
                self.core.send_bye(now, txl);
                self.end(EndCause::Local);
            }
            Phase::Ended => {}
        }
    }

    /// Answers the peer's pending offer (UPDATE or re-INVITE) with `sdp`.
    pub fn accept_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        sdp: Bytes,
    ) -> Result<(), SessionError> {
        self.core.accept_offer(now, txl, sdp)
    }

    /// Refuses the peer's pending offer (488 when the media cannot be served); the session
    /// stays as it was.
    pub fn reject_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        self.core.reject_offer(now, txl, status)
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
        if req.method == Method::Prack && !self.core.ended {
            self.on_prack(now, txl, tx, req);
            return None;
        }
        let up = self.phase() == Phase::Up;
        let rest = self.core.on_request(now, txl, tx, req, up);
        if self.core.ended {
            self.end(EndCause::RemoteBye);
        }
        rest
    }

    fn on_prack(&mut self, now: Instant, txl: &mut TransactionLayer, tx: TxId, req: Request) {
        let contact = contact_of(&req.headers);
        if let Err(e) = self.core.dialog.receive_request(&req, contact.as_ref()) {
            return DialogCore::respond(now, txl, tx, reject(&req, &e));
        }
        let Some(rel) = self.reliable.as_mut() else {
            return DialogCore::respond(now, txl, tx, req.response(481));
        };
        if let Err(e) = rel.on_prack(&req) {
            return DialogCore::respond(now, txl, tx, req.response(e.status()));
        }
        if is_sdp(&req.headers, &req.body) {
            if let Ok(SdpRole::Answer) = self.core.oa.remote_sdp(Carrier::Prack) {
                self.core.events.push_back(SessionEvent::Answer {
                    sdp: req.body.clone(),
                });
            }
        }
        DialogCore::respond(now, txl, tx, req.response(200));
    }

    /// The ACK for one of our 2xx responses (`TxEvent::AckFor2xx` matched to this dialog).
    pub fn on_ack(&mut self, _now: Instant, ack: &Request) {
        if self.core.on_ack(ack) && self.phase == Phase::AwaitingAck {
            self.phase = Phase::Up;
            self.core.events.push_back(SessionEvent::Confirmed);
        }
    }

    /// The caller's CANCEL matched our INVITE (the transaction layer answered it and the
    /// INVITE with 487).
    pub fn on_cancelled(&mut self) {
        if self.phase() == Phase::Proceeding {
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
        self.core.on_refresh_response(now, txl, tx, resp);
    }

    /// See [`DialogCore::notify_refer`].
    pub fn notify_refer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
        reason: &str,
        done: bool,
    ) {
        self.core.notify_refer(now, txl, status, reason, done);
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.core.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.reliable.as_ref().and_then(|r| r.poll_timeout()),
            self.core.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer) {
        let action = self
            .reliable
            .as_mut()
            .map_or(ReliableAction::Wait, |r| r.handle_timeout(now));
        match action {
            ReliableAction::Wait => {}
            ReliableAction::Resend => {
                if let Some(r) = self.last_reliable.clone() {
                    DialogCore::respond(now, txl, self.tx, r);
                }
            }
            ReliableAction::GiveUp if self.phase() == Phase::Proceeding => {
                let mut resp = self.invite.response_with_reason(
                    500,
                    "Server Internal Error (no PRACK for a reliable provisional)",
                );
                resp.to.set_tag(&self.local_tag);
                DialogCore::respond(now, txl, self.tx, resp);
                self.end(EndCause::NoPrack);
            }
            ReliableAction::GiveUp => {}
        }
        let up = self.phase() == Phase::Up;
        self.core.handle_timeout(now, txl, up);
    }
}
