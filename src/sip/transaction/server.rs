//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! States: Trying → Proceeding (1xx sent) → Completed (final sent) → Terminated. A
//! retransmitted request is absorbed while Trying and answered with the last response
//! afterwards. Timer J keeps the Completed state for 64*T1 on UDP; on reliable transports the
//! transaction ends as soon as the final response is sent.

use std::time::Instant;

use super::timers::TimerConfig;
use super::{Outputs, TxError, TxId};
use crate::sip::message::Response;
use crate::sip::peer::Peer;

/// Where a non-INVITE server transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

pub(crate) struct ServerNonInvite {
    id: TxId,
    peer: Peer,
    state: ServerState,
    last: Option<Vec<u8>>,
    timer_j: Option<Instant>,
}

impl ServerNonInvite {
    pub(crate) fn start(id: TxId, peer: Peer) -> ServerNonInvite {
        ServerNonInvite {
            id,
            peer,
            state: ServerState::Trying,
            last: None,
            timer_j: None,
        }
    }

    pub(crate) fn state(&self) -> ServerState {
        self.state
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timer_j
    }

    pub(crate) fn on_retransmit(&mut self, out: &mut Outputs) {
        if let Some(last) = &self.last {
            out.send(self.peer, last.clone());
        }
    }

    pub(crate) fn respond(
        &mut self,
        now: Instant,
        resp: &Response,
        cfg: &TimerConfig,
        out: &mut Outputs,
    ) -> Result<(), TxError> {
        let status = resp.status;
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if !matches!(self.state, ServerState::Trying | ServerState::Proceeding) {
            return Err(TxError::WrongState {
                tx: self.id,
                status,
            });
        }
        let bytes = resp.to_bytes();
        if status < 200 {
            out.send(self.peer, bytes.clone());
            self.last = Some(bytes);
            self.state = ServerState::Proceeding;
            return Ok(());
        }
        let j = cfg.timer_j(self.peer.transport.is_reliable());
        if j.is_zero() {
            out.send(self.peer, bytes);
            self.last = None;
            self.state = ServerState::Terminated;
        } else {
            out.send(self.peer, bytes.clone());
            self.last = Some(bytes);
            self.state = ServerState::Completed;
            self.timer_j = Some(now + j);
        }
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if self.timer_j.is_some_and(|t| t <= now) {
            self.timer_j = None;
            self.last = None;
            self.state = ServerState::Terminated;
        }
    }

    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) {
        if self.state != ServerState::Terminated {
            out.event(super::TxEvent::TransportError { tx: self.id });
        }
        self.state = ServerState::Terminated;
    }
}
