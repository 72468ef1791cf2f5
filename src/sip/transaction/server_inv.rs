//! The INVITE server transaction (RFC 3261 §17.2.1 as amended by RFC 6026 §7.1), and
//! [`Retransmit2xx`], the 2xx retransmission schedule the transaction user runs itself.
//!
//! States: Proceeding → Completed (3xx–6xx sent) → Confirmed (ACK received) → Terminated, or
//! Proceeding → Accepted (2xx sent) → Terminated. Timers: G (retransmit the non-2xx final on
//! UDP, T1 doubling up to T2), H (give up waiting for the ACK after 64*T1), I (absorb ACK
//! retransmissions for T4 on UDP), L (stay Accepted for 64*T1 so retransmitted INVITEs are
//! absorbed and the TU can re-send its 2xx).
//!
//! Per RFC 6026 the transaction does not retransmit a 2xx: the TU does, by calling
//! `TransactionLayer::respond` again with the same 2xx on each [`Retransmit2xx`] deadline,
//! until the ACK arrives (as `TxEvent::AckFor2xx`) or the schedule gives up.

use std::time::{Duration, Instant};

use super::timers::TimerConfig;
use super::{Outputs, TxError, TxEvent, TxId};
use crate::sip::message::{Request, Response};
use crate::sip::peer::Peer;

/// Where an INVITE server transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerInviteState {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

pub(crate) struct ServerInvite {
    id: TxId,
    peer: Peer,
    request: Request,
    state: ServerInviteState,
    last: Option<Vec<u8>>,
    to_tag: Option<String>,
    timer_g: Option<(Instant, Duration)>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl ServerInvite {
    /// Creates the transaction for a new INVITE, sending `100 Trying` at once when asked.
    pub(crate) fn start(
        id: TxId,
        request: Request,
        peer: Peer,
        send_trying: bool,
        out: &mut Outputs,
    ) -> ServerInvite {
        let mut last = None;
        if send_trying {
            let mut trying = request.response(100);
            if let Some(ts) = request.headers.get("Timestamp") {
                trying.headers.push("Timestamp", ts);
            }
            let bytes = trying.to_bytes();
            out.send(peer, bytes.clone());
            last = Some(bytes);
        }
        ServerInvite {
            id,
            peer,
            request,
            state: ServerInviteState::Proceeding,
            last,
            to_tag: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    pub(crate) fn state(&self) -> ServerInviteState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    /// The To tag of the last response that carried one.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.timer_g.map(|(t, _)| t),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A retransmitted INVITE: re-send the last provisional or non-2xx final; absorbed when
    /// Accepted or Confirmed.
    pub(crate) fn on_retransmit(&mut self, out: &mut Outputs) {
        if matches!(
            self.state,
            ServerInviteState::Proceeding | ServerInviteState::Completed
        ) {
            if let Some(last) = &self.last {
                out.send(self.peer, last.clone());
            }
        }
    }

    /// An ACK with this transaction's branch: confirms a non-2xx; when Accepted it is the ACK
    /// for the 2xx (from a UA that reused the branch) and goes to the TU.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        ack: Request,
        from: Peer,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) {
        match self.state {
            ServerInviteState::Completed => {
                self.timer_g = None;
                self.timer_h = None;
                let i = cfg.timer_i(self.peer.transport.is_reliable());
                if i.is_zero() {
                    self.state = ServerInviteState::Terminated;
                } else {
                    self.state = ServerInviteState::Confirmed;
                    self.timer_i = Some(now + i);
                }
            }
            ServerInviteState::Accepted => out.event(TxEvent::AckFor2xx { ack, from }),
            _ => {}
        }
    }

    pub(crate) fn respond(
        &mut self,
        now: Instant,
        resp: &Response,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) -> Result<(), TxError> {
        use ServerInviteState::*;
        let status = resp.status;
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        match (self.state, status) {
            (Proceeding, _) | (Accepted, 200..=299) => {}
            _ => {
                return Err(TxError::WrongState {
                    tx: self.id,
                    status,
                })
            }
        }
        if let Some(tag) = resp.to.tag() {
            if self.to_tag.as_deref() != Some(tag) {
                self.to_tag = Some(tag.to_string());
            }
        }
        let bytes = resp.to_bytes();
        match status {
            100..=199 => {
                out.send(self.peer, bytes.clone());
                self.last = Some(bytes);
            }
            200..=299 => {
                out.send(self.peer, bytes);
                if self.state == Proceeding {
                    self.state = Accepted;
                    self.last = None;
                    self.timer_l = Some(now + cfg.timer_l());
                }
            }
            _ => {
                out.send(self.peer, bytes.clone());
                self.last = Some(bytes);
                self.state = Completed;
                let reliable = self.peer.transport.is_reliable();
                self.timer_g = cfg.timer_g(reliable).map(|d| (now + d, d));
                self.timer_h = Some(now + cfg.timer_h());
            }
        }
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Outputs) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timer_h) {
            self.timer_g = None;
            self.timer_h = None;
            self.state = ServerInviteState::Terminated;
            out.event(TxEvent::Timeout { tx: self.id });
            return;
        }
        if let Some((at, interval)) = self.timer_g {
            if at <= now {
                if let Some(last) = &self.last {
                    out.send(self.peer, last.clone());
                }
                let next = cfg.backoff_capped(interval);
                self.timer_g = Some((at + next, next));
            }
        }
        if due(self.timer_i) || due(self.timer_l) {
            self.timer_i = None;
            self.timer_l = None;
            self.state = ServerInviteState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) {
        if self.state != ServerInviteState::Terminated {
            out.event(TxEvent::TransportError { tx: self.id });
        }
        self.state = ServerInviteState::Terminated;
    }
}

/// What the TU should do on a [`Retransmit2xx`] deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retransmit2xxAction {
    /// Nothing is due yet.
    Wait,
    /// Send the 2xx again.
    Resend,
    /// 64*T1 passed without an ACK: confirm the dialog and end the session with a BYE
    /// (RFC 3261 §13.3.1.4).
    GiveUp,
}

/// The UAS core's 2xx retransmission schedule (RFC 3261 §13.3.1.4): every T1, doubling up to
/// T2, until the ACK arrives or 64*T1 passes. On reliable transports nothing is re-sent but
/// the 64*T1 give-up still applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retransmit2xx {
    next: Option<(Instant, Duration)>,
    give_up: Option<Instant>,
    t2: Duration,
}

impl Retransmit2xx {
    /// Starts the schedule when the 2xx is first sent at `now`.
    pub fn new(now: Instant, cfg: &TimerConfig, reliable: bool) -> Retransmit2xx {
        Retransmit2xx {
            next: (!reliable).then_some((now + cfg.t1, cfg.t1)),
            give_up: Some(now + cfg.t1x64()),
            t2: cfg.t2,
        }
    }

    /// The next deadline, `None` once the ACK arrived or the schedule gave up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next.map(|(t, _)| t), self.give_up]
            .into_iter()
            .flatten()
            .min()
    }

    /// Call at (or after) a deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Retransmit2xxAction {
        if self.give_up.is_some_and(|t| t <= now) {
            self.next = None;
            self.give_up = None;
            return Retransmit2xxAction::GiveUp;
        }
        match self.next {
            Some((at, interval)) if at <= now => {
                let next = (interval * 2).min(self.t2);
                self.next = Some((at + next, next));
                Retransmit2xxAction::Resend
            }
            _ => Retransmit2xxAction::Wait,
        }
    }

    /// The ACK for the 2xx arrived: stop.
    pub fn ack_received(&mut self) {
        self.next = None;
        self.give_up = None;
    }

    pub fn is_done(&self) -> bool {
        self.give_up.is_none()
    }
}
