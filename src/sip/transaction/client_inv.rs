//! The INVITE client transaction (RFC 3261 §17.1.1 as amended by RFC 6026 §7.2).
//!
//! States: Calling → Proceeding → Completed (3xx–6xx, ACK built and sent here) or Accepted
//! (2xx; the transaction user sends the ACK, see `crate::sip::dialog`) → Terminated.
//! Timers: A (retransmit the INVITE on UDP, doubling without cap), B (give up while Calling),
//! D (absorb retransmitted finals after the ACK), M (pass retransmitted or forked 2xx to the
//! TU). Once a CANCEL has been sent for this INVITE, a 64*T1 guard ends a transaction whose
//! peer never sends a final response (RFC 3261 §9.1).

use std::time::{Duration, Instant};

use super::timers::TimerConfig;
use super::{Outputs, TxEvent, TxId};
use crate::sip::message::{CSeq, Headers, Method, Request, Response};
use crate::sip::peer::Peer;

/// Where an INVITE client transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientInviteState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

pub(crate) struct ClientInvite {
    id: TxId,
    peer: Peer,
    request: Request,
    bytes: Vec<u8>,
    state: ClientInviteState,
    /// Next retransmission and the interval that led to it.
    timer_a: Option<(Instant, Duration)>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
    cancel_guard: Option<Instant>,
    ack: Option<Vec<u8>>,
}

impl ClientInvite {
    /// Sends the INVITE and starts Timers A and B.
    pub(crate) fn start(
        id: TxId,
        now: Instant,
        request: Request,
        peer: Peer,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) -> ClientInvite {
        let bytes = request.to_bytes();
        out.send(peer, bytes.clone());
        let reliable = peer.transport.is_reliable();
        ClientInvite {
            id,
            peer,
            request,
            bytes,
            state: ClientInviteState::Calling,
            timer_a: cfg.timer_a(reliable).map(|d| (now + d, d)),
            timer_b: Some(now + cfg.timer_b()),
            timer_d: None,
            timer_m: None,
            cancel_guard: None,
            ack: None,
        }
    }

    pub(crate) fn state(&self) -> ClientInviteState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    /// A CANCEL for this INVITE went out: arm the §9.1 guard.
    pub(crate) fn cancel_sent(&mut self, now: Instant, cfg: &TimerConfig) {
        if self.cancel_guard.is_none() {
            self.cancel_guard = Some(now + cfg.t1x64());
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.timer_a.map(|(t, _)| t),
            self.timer_b,
            self.timer_d,
            self.timer_m,
            self.cancel_guard,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        resp: Response,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) {
        use ClientInviteState::*;
        let reliable = self.peer.transport.is_reliable();
        match (self.state, resp.status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.stop_calling_timers();
                self.timer_m = Some(now + cfg.timer_m());
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (Calling | Proceeding, _) => {
                self.stop_calling_timers();
                let ack = build_ack_for_non2xx(&self.request, &resp).to_bytes();
                out.send(self.peer, ack.clone());
                self.ack = Some(ack);
                out.event(TxEvent::Response { tx: self.id, resp });
                let d = cfg.timer_d(reliable);
                if d.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_d = Some(now + d);
                }
            }
            (Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    out.send(self.peer, ack.clone());
                }
            }
            (Accepted, 200..=299) => out.event(TxEvent::Response { tx: self.id, resp }),
            // Late provisionals, or a non-2xx after a 2xx: nothing to do.
            _ => {}
        }
    }

    fn stop_calling_timers(&mut self) {
        self.timer_a = None;
        self.timer_b = None;
        self.cancel_guard = None;
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outputs) {
        use ClientInviteState::*;
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timer_b) || due(self.cancel_guard) {
            self.timer_a = None;
            self.timer_b = None;
            self.cancel_guard = None;
            self.state = Terminated;
            out.event(TxEvent::Timeout { tx: self.id });
            return;
        }
        if let Some((at, interval)) = self.timer_a {
            if at <= now && self.state == Calling {
                out.send(self.peer, self.bytes.clone());
                let next = interval * 2;
                self.timer_a = Some((at + next, next));
            }
        }
        if due(self.timer_d) || due(self.timer_m) {
            self.timer_d = None;
            self.timer_m = None;
            self.state = Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            out.event(TxEvent::TransportError { tx: self.id });
        }
        self.state = ClientInviteState::Terminated;
    }
}

/// Copies every Route header of `from` into `to`, in order.
fn copy_routes(from: &Headers, to: &mut Headers) {
    for route in from.get_all("Route") {
        to.push("Route", route);
    }
}

/// The ACK for a 3xx–6xx answer to `invite` (RFC 3261 §17.1.1.3): same Request-URI, Call-ID,
/// From, CSeq number and top Via (so the same branch) as the INVITE, To from the response,
/// the INVITE's Route headers.
pub fn build_ack_for_non2xx(invite: &Request, resp: &Response) -> Request {
    let mut headers = Headers::new();
    copy_routes(&invite.headers, &mut headers);
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        via: invite.via.iter().take(1).cloned().collect(),
        from: invite.from.clone(),
        to: resp.to.clone(),
        call_id: invite.call_id.clone(),
        cseq: CSeq {
            seq: invite.cseq.seq,
            method: Method::Ack,
        },
        max_forwards: Some(70),
        headers,
        body: Default::default(),
    }
}

/// The CANCEL for `request` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, CSeq number
/// and top Via as the request being cancelled, its Route headers, no body.
pub fn build_cancel(request: &Request) -> Request {
    let mut headers = Headers::new();
    copy_routes(&request.headers, &mut headers);
    Request {
        method: Method::Cancel,
        uri: request.uri.clone(),
        via: request.via.iter().take(1).cloned().collect(),
        from: request.from.clone(),
        to: request.to.clone(),
        call_id: request.call_id.clone(),
        cseq: CSeq {
            seq: request.cseq.seq,
            method: Method::Cancel,
        },
        max_forwards: Some(70),
        headers,
        body: Default::default(),
    }
}
