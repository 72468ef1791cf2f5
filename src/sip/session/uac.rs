//! The outbound leg: an INVITE rexian sends (ringing an agent's phone, calling an expert seat,
//! a sub-centre or an emergency centre over a trunk).
//!
//! rexian anchors the media, so it always offers in the INVITE. Life: `Calling` → `Early`
//! (a 1xx with a To tag: ringing or early media; reliable ones are PRACKed) → `Up` (2xx,
//! ACKed at once, re-ACKed on retransmission) → `Ended`. [`UacSession::hangup`] before the
//! answer sends CANCEL and the leg ends when the INVITE's final response arrives; a 2xx that
//! crosses the CANCEL is ACKed and ended with BYE, so the far phone never keeps ringing or
//! stays connected to nobody. Only the first dialog is followed: rexian sends to one contact.
//! A call with credentials (a trunk with `[trunk.auth]`) answers one 401/407 by sending the
//! INVITE again with them (new branch, next CSeq, same Call-ID and From tag); a second
//! challenge ends the leg as `Rejected(401|407)`.

use std::time::Instant;

use bytes::Bytes;

use super::core::{contact_of, is_sdp, with_sdp, DialogCore, LegConfig};
use super::{EndCause, SessionError, SessionEvent};
use crate::sip::dialog::{Dialog, DialogId};
use crate::sip::digest_client::{authorize, ClientCredentials};
use crate::sip::header::parse_name_addr_list;
use crate::sip::message::{CSeq, Headers, Method, NameAddr, Request, Response, Uri};
use crate::sip::offer_answer::{Carrier, OfferAnswer, SdpRole};
use crate::sip::peer::Peer;
use crate::sip::reliable::{build_prack, ReliableUac};
use crate::sip::session_timer::{uac_accept, uac_offer, SessionTimer};
use crate::sip::transaction::{TransactionLayer, TxId};

/// What to call.
#[derive(Clone, Debug)]
pub struct OutboundCall {
    /// The Request-URI (a registered contact, or a number at a trunk).
    pub target: Uri,
    /// Where to send it: a binding's source hop (NAT), or the trunk's address.
    pub peer: Peer,
    /// Our identity; the leg adds its tag.
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    /// Our offer.
    pub sdp: Bytes,
    /// Extra headers (P-Asserted-Identity, Diversion, the caller's context …).
    pub headers: Vec<(String, String)>,
    /// Answer one digest challenge with these (a trunk's account at the carrier).
    pub credentials: Option<ClientCredentials>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Calling,
    Early,
    Up,
    Ended,
}

#[derive(Debug)]
pub struct UacSession {
    cfg: LegConfig,
    peer: Peer,
    invite: Request,
    invite_tx: TxId,
    /// Before the first dialog-creating response, offer/answer lives here.
    oa: Option<OfferAnswer>,
    core: Option<DialogCore>,
    reliable: ReliableUac,
    /// The ACK of the 2xx, sent again when the 2xx is retransmitted.
    ack: Option<Request>,
    cancelled: bool,
    phase: Phase,
    /// Events raised before the dialog exists.
    early_events: Vec<SessionEvent>,
    /// Boxed: most legs (agents' phones) have none, and every leg pays for the field.
    credentials: Option<Box<ClientCredentials>>,
    /// The INVITE was already sent again with credentials: a new challenge is final.
    authenticated: bool,
}

fn record_routes(headers: &Headers) -> Vec<NameAddr> {
    headers
        .get_all("Record-Route")
        .filter_map(|v| parse_name_addr_list(v).ok())
        .flatten()
        .collect()
}

impl UacSession {
    /// Builds the INVITE and sends it through the transaction layer.
    pub fn start(
        now: Instant,
        txl: &mut TransactionLayer,
        call: OutboundCall,
        local_tag: &str,
        cfg: LegConfig,
    ) -> Result<UacSession, SessionError> {
        let mut from = call.from;
        from.set_tag(local_tag);
        let mut headers = Headers::new();
        headers.push("Contact", cfg.local_contact.to_string());
        headers.push("Allow", cfg.allow.clone());
        headers.push("Supported", cfg.supported.clone());
        for (n, v) in &call.headers {
            headers.push(n.clone(), v.clone());
        }
        let mut invite = Request {
            method: Method::Invite,
            uri: call.target,
            via: vec![cfg.via.clone()],
            from,
            to: call.to,
            call_id: call.call_id,
            cseq: CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: Some(70),
            headers,
            body: Bytes::new(),
        };
        uac_offer(
            &mut invite,
            cfg.session_timer.interval,
            cfg.session_timer.min_se,
        );
        with_sdp(&mut invite.headers, &mut invite.body, &call.sdp);
        let mut oa = OfferAnswer::new();
        let _ = oa.local_sdp(Carrier::Invite);
        let invite_tx = txl
            .send_request(now, invite.clone(), call.peer)
            .map_err(|e| SessionError::Transaction(e.to_string()))?;
        // The layer chose the branch; keep the INVITE as sent, for the dialog.
        if let Some(sent) = txl.invite(invite_tx) {
            invite = sent.clone();
        }
        Ok(UacSession {
            cfg,
            peer: call.peer,
            invite,
            invite_tx,
            oa: Some(oa),
            core: None,
            reliable: ReliableUac::new(),
            ack: None,
            cancelled: false,
            phase: Phase::Calling,
            early_events: Vec::new(),
            credentials: call.credentials.map(Box::new),
            authenticated: false,
        })
    }

    pub fn invite_tx(&self) -> TxId {
        self.invite_tx
    }

    pub fn phase(&self) -> Phase {
        if self.core.as_ref().is_some_and(|c| c.ended) {
            Phase::Ended
        } else {
            self.phase
        }
    }

    /// The dialog, once the far end has put a tag in its To.
    pub fn dialog_id(&self) -> Option<&DialogId> {
        self.core.as_ref().map(|c| &c.dialog.id)
    }

    pub fn invite(&self) -> &Request {
        &self.invite
    }

    fn end(&mut self, cause: EndCause) {
        self.phase = Phase::Ended;
        match self.core.as_mut() {
            Some(c) => c.end(cause),
            None => self.early_events.push(SessionEvent::Ended { cause }),
        }
    }

    /// The dialog from a 1xx with a To tag or the 2xx; later ones confirm or refresh it.
    fn dialog_from(&mut self, resp: &Response) -> bool {
        let rr = record_routes(&resp.headers);
        let contact = contact_of(&resp.headers);
        if let Some(core) = self.core.as_mut() {
            if Some(core.dialog.id.remote_tag.as_str()) != resp.to.tag() {
                return false; // a second fork: not followed
            }
            if resp.status >= 200 {
                core.dialog.confirm_uac(&rr, contact.as_ref());
            }
            return true;
        }
        let Ok(dialog) = Dialog::new_uac(
            &self.invite,
            resp,
            &rr,
            contact.as_ref(),
            self.cfg.local_contact.clone(),
        ) else {
            return false;
        };
        let oa = self.oa.take().unwrap_or_default();
        let mut core = DialogCore::new(self.cfg.clone(), dialog, oa, self.peer);
        core.last_local_sdp = Some(self.invite.body.clone());
        core.events.extend(self.early_events.drain(..));
        self.core = Some(core);
        true
    }

    /// A response on a client transaction of this leg.
    pub fn on_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        resp: &Response,
    ) {
        if tx != self.invite_tx {
            if let Some(core) = self.core.as_mut() {
                core.on_refresh_response(now, txl, tx, resp);
            }
            return;
        }
        match resp.status {
            100 => {}
            101..=199 => self.on_provisional(now, txl, resp),
            200..=299 => self.on_2xx(now, txl, resp),
            401 | 407 if self.retry_with_credentials(now, txl, resp) => {}
            _ => {
                let cause = if self.cancelled {
                    EndCause::Local
                } else {
                    EndCause::Rejected(resp.status)
                };
                self.end(cause);
            }
        }
    }

    /// Sends the INVITE again answering the challenge in `resp`; false when it cannot or
    /// must not (no credentials, already answered once, cancelled, an unusable challenge).
    fn retry_with_credentials(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        resp: &Response,
    ) -> bool {
        if self.cancelled || self.authenticated || self.phase != Phase::Calling {
            return false;
        }
        let Some(creds) = self.credentials.as_ref() else {
            return false;
        };
        let mut invite = self.invite.clone();
        invite.via = vec![self.cfg.via.clone()];
        invite.cseq.seq += 1;
        let cnonce = txl.new_tag();
        if let Err(e) = authorize(&mut invite, resp, creds, &cnonce) {
            tracing::debug!(error = %e, "cannot answer the far end's challenge");
            return false;
        }
        let Ok(tx) = txl.send_request(now, invite.clone(), self.peer) else {
            return false;
        };
        self.authenticated = true;
        self.invite_tx = tx;
        self.invite = txl.invite(tx).cloned().unwrap_or(invite);
        true
    }

    fn on_provisional(&mut self, now: Instant, txl: &mut TransactionLayer, resp: &Response) {
        if self.phase != Phase::Calling && self.phase != Phase::Early {
            return;
        }
        if resp.to.tag().is_none() || !self.dialog_from(resp) {
            self.push(SessionEvent::Progress {
                status: resp.status,
                sdp: None,
            });
            return;
        }
        self.phase = Phase::Early;
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let mut sdp = None;
        if let Ok(Some(rack)) = self.reliable.on_provisional(resp) {
            if is_sdp(&resp.headers, &resp.body)
                && core.oa.remote_sdp(Carrier::ReliableProvisional) == Ok(SdpRole::Answer)
            {
                sdp = Some(resp.body.clone());
            }
            if let Ok(prack) = build_prack(&mut core.dialog, &rack, self.cfg.via.clone()) {
                let _ = txl.send_request(now, prack, self.peer);
            }
        } else if is_sdp(&resp.headers, &resp.body) {
            // Unreliable early media: a preview of the answer, not offer/answer.
            sdp = Some(resp.body.clone());
        }
        core.events.push_back(SessionEvent::Progress {
            status: resp.status,
            sdp,
        });
    }

    fn on_2xx(&mut self, now: Instant, txl: &mut TransactionLayer, resp: &Response) {
        if self.phase == Phase::Up || self.phase() == Phase::Ended {
            // A retransmitted 2xx: our ACK was lost.
            if let Some(ack) = &self.ack {
                if resp.to.tag() == Some(ack.to.tag().unwrap_or_default()) {
                    txl.send_ack(ack, self.peer);
                }
            }
            return;
        }
        if !self.dialog_from(resp) {
            return;
        }
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let mut via = self.cfg.via.clone();
        via.set_param("branch", Some(txl.new_branch()));
        let ack = core.dialog.ack_for_2xx(resp.cseq.seq, via);
        txl.send_ack(&ack, self.peer);
        self.ack = Some(ack);
        self.phase = Phase::Up;
        if self.cancelled {
            // The answer crossed our CANCEL: acknowledge it, then end the call.
            core.send_bye(now, txl);
            core.end(EndCause::Local);
            return;
        }
        core.peer_allows_update = resp.headers.has_token("Allow", "UPDATE");
        if let Ok(Some(se)) = uac_accept(resp) {
            core.timer = Some(SessionTimer::new(now, se, true));
        }
        let mut sdp = None;
        if is_sdp(&resp.headers, &resp.body)
            && core.oa.remote_sdp(Carrier::InviteOk) == Ok(SdpRole::Answer)
        {
            sdp = Some(resp.body.clone());
        }
        core.events.push_back(SessionEvent::Answered { sdp });
    }

    fn push(&mut self, event: SessionEvent) {
        match self.core.as_mut() {
            Some(c) => c.events.push_back(event),
            None => self.early_events.push(event),
        }
    }

    /// The INVITE got no final response (Timer B) or could not be sent.
    pub fn on_invite_failed(&mut self, transport: bool) {
        if matches!(self.phase, Phase::Calling | Phase::Early) {
            self.end(if transport {
                EndCause::TransportFailure
            } else if self.cancelled {
                EndCause::Local
            } else {
                EndCause::NoResponse
            });
        }
    }

    /// See [`DialogCore::notify_refer`] (only once the dialog exists).
    pub fn notify_refer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
        reason: &str,
        done: bool,
    ) {
        if let Some(core) = self.core.as_mut() {
            core.notify_refer(now, txl, status, reason, done);
        }
    }

    /// Ends the leg from our side: CANCEL before the answer (the leg ends when the INVITE
    /// does), BYE after it.
    pub fn hangup(&mut self, now: Instant, txl: &mut TransactionLayer) {
        match self.phase() {
            Phase::Calling | Phase::Early => {
                if !self.cancelled {
                    self.cancelled = true;
                    if txl.cancel(now, self.invite_tx).is_err() {
                        // The INVITE is already final or gone.
                        self.end(EndCause::Local);
                    }
                }
            }
            Phase::Up => {
                if let Some(core) = self.core.as_mut() {
                    core.send_bye(now, txl);
                    core.end(EndCause::Local);
                }
                self.phase = Phase::Ended;
            }
            Phase::Ended => {}
        }
    }

    /// An in-dialog request from the called party; see [`UasSession::on_request`].
    ///
    /// [`UasSession::on_request`]: super::uas::UasSession::on_request
    pub fn on_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
    ) -> Option<(TxId, Request)> {
        let up = self.phase() == Phase::Up;
        match self.core.as_mut() {
            Some(core) => core.on_request(now, txl, tx, req, up),
            None => {
                DialogCore::respond(now, txl, tx, req.response(481));
                None
            }
        }
    }

    pub fn accept_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        sdp: Bytes,
    ) -> Result<(), SessionError> {
        let core = self.core.as_mut().ok_or(SessionError::NoPendingOffer)?;
        core.accept_offer(now, txl, sdp)
    }

    pub fn reject_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        let core = self.core.as_mut().ok_or(SessionError::NoPendingOffer)?;
        core.reject_offer(now, txl, status)
    }

    /// The ACK for a 2xx we sent to the called party's re-INVITE.
    pub fn on_ack(&mut self, ack: &Request) {
        if let Some(core) = self.core.as_mut() {
            core.on_ack(ack);
        }
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        if let Some(core) = self.core.as_mut() {
            return core.events.pop_front();
        }
        if self.early_events.is_empty() {
            None
        } else {
            Some(self.early_events.remove(0))
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.as_ref().and_then(|c| c.poll_timeout())
    }

    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer) {
        let up = self.phase() == Phase::Up;
        if let Some(core) = self.core.as_mut() {
            core.handle_timeout(now, txl, up);
        }
    }
}
