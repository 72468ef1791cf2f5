//! What an INVITE session does the same whichever side opened it: requests inside the dialog
//! (BYE, UPDATE and re-INVITE offers, INFO DTMF), answering or refusing the peer's offers,
//! the 2xx-until-ACK schedule of a (re-)INVITE we answered, session refreshes and expiry.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::info::dtmf_from_info;
use super::{EndCause, SessionError, SessionEvent};
use crate::sip::dialog::{reject, Dialog};
use crate::sip::header::{parse_contact, Contact};
use crate::sip::message::{Method, NameAddr, Request, Response, Via};
use crate::sip::offer_answer::{Carrier, OaState, OfferAnswer, SdpRole};
use crate::sip::peer::Peer;
use crate::sip::session_timer::{
    uac_offer, uas_negotiate, SessionExpires, SessionTimer, SessionTimerAction, SessionTimerConfig,
    UasDecision,
};
use crate::sip::transaction::{
    Retransmit2xx, Retransmit2xxAction, TimerConfig, TransactionLayer, TxId,
};

/// How this endpoint presents itself on a leg.
#[derive(Clone, Debug)]
pub struct LegConfig {
    /// Our Contact in requests and responses.
    pub local_contact: NameAddr,
    /// Our Via for requests we send; the transaction layer adds the branch.
    pub via: Via,
    pub session_timer: SessionTimerConfig,
    pub timers: TimerConfig,
    /// Use reliable provisionals (RFC 3262) when the peer supports them.
    pub use_100rel: bool,
    /// `Allow` and `Supported` values we send.
    pub allow: String,
    pub supported: String,
}

/// A 2xx to an INVITE (initial or re-INVITE) waiting for its ACK.
#[derive(Debug)]
pub(crate) struct PendingOk {
    pub tx: TxId,
    pub resp: Response,
    pub schedule: Retransmit2xx,
}

pub(crate) fn contact_of(headers: &crate::sip::message::Headers) -> Option<NameAddr> {
    match parse_contact(headers.get("Contact")?) {
        Ok(Contact::Addrs(mut list)) if !list.is_empty() => Some(list.swap_remove(0)),
        _ => None,
    }
}

pub(crate) fn is_sdp(headers: &crate::sip::message::Headers, body: &Bytes) -> bool {
    !body.is_empty()
        && headers.get("Content-Type").is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/sdp")
        })
}

pub(crate) fn with_sdp(headers: &mut crate::sip::message::Headers, body: &mut Bytes, sdp: &Bytes) {
    headers.set("Content-Type", "application/sdp");
    *body = sdp.clone();
}

fn retry_later(req: &Request, status: u16) -> Response {
    let mut r = req.response(status);
    if status == 500 {
        r.headers.push("Retry-After", "1");
    }
    r
}

/// The dialog-level half of a leg.
#[derive(Debug)]
pub(crate) struct DialogCore {
    pub cfg: LegConfig,
    pub dialog: Dialog,
    pub oa: OfferAnswer,
    pub peer: Peer,
    /// The peer listed UPDATE in its Allow.
    pub peer_allows_update: bool,
    pub timer: Option<SessionTimer>,
    pub ok: Option<PendingOk>,
    pub last_local_sdp: Option<Bytes>,
    pending_offer: Option<(TxId, Request)>,
    refresh_tx: Option<(TxId, Method)>,
    pub events: VecDeque<SessionEvent>,
    pub ended: bool,
}

impl DialogCore {
    pub fn new(cfg: LegConfig, dialog: Dialog, oa: OfferAnswer, peer: Peer) -> DialogCore {
        DialogCore {
            cfg,
            dialog,
            oa,
            peer,
            peer_allows_update: false,
            timer: None,
            ok: None,
            last_local_sdp: None,
            pending_offer: None,
            refresh_tx: None,
            events: VecDeque::new(),
            ended: false,
        }
    }

    pub fn respond(now: Instant, txl: &mut TransactionLayer, tx: TxId, resp: Response) {
        // A refusal means the transaction is already gone: nothing is left to answer.
        let _ = txl.respond(now, tx, resp);
    }

    pub fn end(&mut self, cause: EndCause) {
        if !self.ended {
            self.ended = true;
            self.ok = None;
            self.timer = None;
            self.pending_offer = None;
            self.events.push_back(SessionEvent::Ended { cause });
        }
    }

    /// Tells the peer how the transfer it asked for (REFER) goes, as RFC 3515 says: a NOTIFY
    /// with a `message/sipfrag` status line; `done` ends the implicit subscription.
    pub fn notify_refer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
        reason: &str,
        done: bool,
    ) {
        let Ok(mut req) = self
            .dialog
            .new_request(Method::Notify, self.cfg.via.clone())
        else {
            return;
        };
        req.headers.push("Event", "refer");
        let state = if done {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        req.headers.push("Subscription-State", state);
        req.headers
            .push("Content-Type", "message/sipfrag;version=2.0");
        req.body = bytes::Bytes::from(format!("SIP/2.0 {status} {reason}\r\n"));
        let _ = txl.send_request(now, req, self.peer);
    }

    pub fn send_bye(&mut self, now: Instant, txl: &mut TransactionLayer) {
        if let Ok(req) = self.dialog.new_request(Method::Bye, self.cfg.via.clone()) {
            let _ = txl.send_request(now, req, self.peer);
        }
    }

    /// Starts the 2xx-until-ACK schedule for a 2xx we just sent on `tx`.
    pub fn await_ack(&mut self, now: Instant, tx: TxId, resp: Response) {
        self.ok = Some(PendingOk {
            tx,
            resp,
            schedule: Retransmit2xx::new(now, &self.cfg.timers, self.peer.transport.is_reliable()),
        });
    }

    /// An in-dialog request. `up` is false while the initial INVITE is still unanswered or
    /// unacknowledged (a re-INVITE is then refused). Returns requests the leg does not handle
    /// itself.
    pub fn on_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
        up: bool,
    ) -> Option<(TxId, Request)> {
        if self.ended {
            Self::respond(now, txl, tx, req.response(481));
            return None;
        }
        let contact = contact_of(&req.headers);
        if let Err(e) = self.dialog.receive_request(&req, contact.as_ref()) {
            Self::respond(now, txl, tx, reject(&req, &e));
            return None;
        }
        match req.method {
            Method::Bye => {
                Self::respond(now, txl, tx, req.response(200));
                self.end(EndCause::RemoteBye);
            }
            Method::Update | Method::Invite => self.on_offering_request(now, txl, tx, req, up),
            Method::Refer => {
                let target = req
                    .headers
                    .get("Refer-To")
                    .and_then(|v| crate::sip::uri::parse_name_addr(v).ok())
                    .map(|na| na.uri);
                let Some(uri) = target else {
                    let resp = req.response_with_reason(400, "Bad Request (Refer-To)");
                    Self::respond(now, txl, tx, resp);
                    return None;
                };
                let replaces = uri.headers.as_deref().and_then(|h| {
                    h.split('&').find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        // `Replaces=call-id%3Bto-tag%3D…`: escaped inside the URI.
                        k.eq_ignore_ascii_case("Replaces").then(|| {
                            String::from_utf8_lossy(&crate::sip::uri::unescape(v)).into_owned()
                        })
                    })
                });
                let target = uri.user.clone().unwrap_or_default();
                Self::respond(now, txl, tx, req.response(202));
                self.events
                    .push_back(SessionEvent::Refer { target, replaces });
            }
            Method::Info => {
                let ct = req.headers.get("Content-Type").unwrap_or_default();
                if let Some((digit, duration_ms)) = dtmf_from_info(ct, &req.body) {
                    self.events
                        .push_back(SessionEvent::Dtmf { digit, duration_ms });
                }
                Self::respond(now, txl, tx, req.response(200));
            }
            _ => return Some((tx, req)),
        }
        None
    }

    fn on_offering_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
        up: bool,
    ) {
        let is_invite = req.method == Method::Invite;
        if (is_invite && !up) || self.pending_offer.is_some() || (is_invite && self.ok.is_some()) {
            // RFC 3261 §14.2: one INVITE at a time; one offer at a time.
            return Self::respond(now, txl, tx, retry_later(&req, 500));
        }
        if is_sdp(&req.headers, &req.body) {
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
                Ok(SdpRole::Answer) => Self::respond(now, txl, tx, req.response(488)),
                Err(e) => Self::respond(now, txl, tx, retry_later(&req, e.status())),
            }
            return;
        }
        // No SDP: a session refresh (UPDATE), or a re-INVITE asking for our offer, which we
        // make with the session as it stands; the answer comes in the ACK.
        let mut resp = req.response(200);
        resp.headers
            .push("Contact", self.cfg.local_contact.to_string());
        if is_invite {
            if let Some(sdp) = self.last_local_sdp.clone() {
                self.oa.offerless_invite();
                let _ = self.oa.local_sdp(Carrier::InviteOk);
                with_sdp(&mut resp.headers, &mut resp.body, &sdp);
            }
        }
        self.refresh_on_request(now, &req, &mut resp);
        Self::respond(now, txl, tx, resp.clone());
        if is_invite {
            self.await_ack(now, tx, resp);
        }
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
        let is_invite = req.method == Method::Invite;
        let _ = self.oa.local_sdp(if is_invite {
            Carrier::InviteOk
        } else {
            Carrier::UpdateOk
        });
        let mut resp = req.response(200);
        resp.headers
            .push("Contact", self.cfg.local_contact.to_string());
        with_sdp(&mut resp.headers, &mut resp.body, &sdp);
        self.last_local_sdp = Some(sdp);
        self.refresh_on_request(now, &req, &mut resp);
        Self::respond(now, txl, tx, resp.clone());
        if is_invite {
            self.await_ack(now, tx, resp);
        }
        Ok(())
    }

    pub fn reject_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        if !(300..=699).contains(&status) {
            return Err(SessionError::BadStatus(status));
        }
        let (tx, req) = self
            .pending_offer
            .take()
            .ok_or(SessionError::NoPendingOffer)?;
        self.oa.rollback();
        Self::respond(now, txl, tx, req.response(status));
        Ok(())
    }

    /// The ACK for one of our 2xx responses; true when it was the one awaited.
    pub fn on_ack(&mut self, ack: &Request) -> bool {
        let Some(ok) = &self.ok else { return false };
        if ack.cseq.seq != ok.resp.cseq.seq {
            return false;
        }
        self.ok = None;
        if is_sdp(&ack.headers, &ack.body)
            && matches!(self.oa.state(), OaState::LocalOffer(Carrier::InviteOk))
        {
            if let Ok(SdpRole::Answer) = self.oa.remote_sdp(Carrier::Ack) {
                self.events.push_back(SessionEvent::Answer {
                    sdp: ack.body.clone(),
                });
            }
        }
        true
    }

    /// A final response to a request of ours; true when it was our refresh.
    pub fn on_refresh_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        resp: &Response,
    ) -> bool {
        let Some((rtx, method)) = self.refresh_tx.clone() else {
            return false;
        };
        if rtx != tx || resp.status < 200 {
            return rtx == tx;
        }
        self.refresh_tx = None;
        if (200..300).contains(&resp.status) {
            if method == Method::Invite {
                let mut via = self.cfg.via.clone();
                via.set_param("branch", Some(txl.new_branch()));
                let ack = self.dialog.ack_for_2xx(resp.cseq.seq, via);
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
        true
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ok.as_ref().and_then(|o| o.schedule.poll_timeout()),
            self.timer.as_ref().and_then(|t| t.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// 2xx retransmission and session-timer deadlines; `up` as for [`Self::on_request`].
    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer, up: bool) {
        if let Some(ok) = self.ok.as_mut() {
            match ok.schedule.handle_timeout(now) {
                Retransmit2xxAction::Wait => {}
                Retransmit2xxAction::Resend => {
                    let (tx, resp) = (ok.tx, ok.resp.clone());
                    Self::respond(now, txl, tx, resp);
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
            SessionTimerAction::Refresh if up => self.send_refresh(now, txl),
            SessionTimerAction::Refresh => {}
            SessionTimerAction::Expire => {
                self.send_bye(now, txl);
                self.end(EndCause::SessionExpired);
            }
        }
    }

    /// We are the refresher: UPDATE without SDP when the peer allows UPDATE, else a
    /// re-INVITE with the session as it stands.
    fn send_refresh(&mut self, now: Instant, txl: &mut TransactionLayer) {
        if self.refresh_tx.is_some() {
            return;
        }
        let method = if self.peer_allows_update || self.last_local_sdp.is_none() {
            Method::Update
        } else {
            Method::Invite
        };
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
                with_sdp(&mut req.headers, &mut req.body, &sdp);
            }
        }
        if let Ok(tx) = txl.send_request(now, req, self.peer) {
            self.refresh_tx = Some((tx, method));
        }
    }
}
