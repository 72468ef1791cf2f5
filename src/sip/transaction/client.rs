//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! States: Trying → Proceeding (1xx) → Completed (final) → Terminated. Timer E retransmits the
//! request on UDP, doubling from T1 up to T2 (and every T2 once a provisional arrived); Timer F
//! gives up after 64*T1; Timer K absorbs retransmitted finals for T4 on UDP.

use std::time::{Duration, Instant};

use super::timers::TimerConfig;
use super::{Outputs, TxEvent, TxId};
use crate::sip::message::Response;
use crate::sip::peer::Peer;

/// Where a non-INVITE client transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

pub(crate) struct ClientNonInvite {
    id: TxId,
    peer: Peer,
    bytes: Vec<u8>,
    state: ClientState,
    timer_e: Option<(Instant, Duration)>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInvite {
    /// Sends the request and starts Timers E and F.
    pub(crate) fn start(
        id: TxId,
        now: Instant,
        bytes: Vec<u8>,
        peer: Peer,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) -> ClientNonInvite {
        out.send(peer, bytes.clone());
        let reliable = peer.transport.is_reliable();
        ClientNonInvite {
            id,
            peer,
            bytes,
            state: ClientState::Trying,
            timer_e: cfg.timer_e(reliable).map(|d| (now + d, d)),
            timer_f: Some(now + cfg.timer_f()),
            timer_k: None,
        }
    }

    pub(crate) fn state(&self) -> ClientState {
        self.state
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        [self.timer_e.map(|(t, _)| t), self.timer_f, self.timer_k]
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
        use ClientState::*;
        match (self.state, resp.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (Trying | Proceeding, _) => {
                self.timer_e = None;
                self.timer_f = None;
                out.event(TxEvent::Response { tx: self.id, resp });
                let k = cfg.timer_k(self.peer.transport.is_reliable());
                if k.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_k = Some(now + k);
                }
            }
            // Retransmitted finals in Completed are absorbed.
            _ => {}
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Outputs) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timer_f) {
            self.timer_e = None;
            self.timer_f = None;
            self.state = ClientState::Terminated;
            out.event(TxEvent::Timeout { tx: self.id });
            return;
        }
        if let Some((at, interval)) = self.timer_e {
            if at <= now {
                out.send(self.peer, self.bytes.clone());
                let next = match self.state {
                    ClientState::Proceeding => cfg.t2,
                    _ => cfg.backoff_capped(interval),
                };
                self.timer_e = Some((at + next, next));
            }
        }
        if due(self.timer_k) {
            self.timer_k = None;
            self.state = ClientState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) {
        if matches!(self.state, ClientState::Trying | ClientState::Proceeding) {
            out.event(TxEvent::TransportError { tx: self.id });
        }
        self.state = ClientState::Terminated;
    }
}
