//! The endpoint's live call legs: lookup by id, by dialog and by INVITE transaction, and one
//! timer queue for all of them, so the endpoint's next deadline is found without visiting
//! every call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use bytes::Bytes;

use crate::sip::dialog::DialogId;
use crate::sip::message::{Request, Response};
use crate::sip::session::uac::UacSession;
use crate::sip::session::uas::UasSession;
use crate::sip::session::{SessionError, SessionEvent};
use crate::sip::transaction::{TransactionLayer, TxId};

/// One call leg of either direction. The variants differ in size, but legs live in one map
/// and are moved only when created, so boxing one would buy an allocation and nothing else.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Leg {
    /// An INVITE we received and answer.
    In(UasSession),
    /// An INVITE we sent.
    Out(UacSession),
}

impl Leg {
    pub fn dialog_id(&self) -> Option<&DialogId> {
        match self {
            Leg::In(l) => Some(l.dialog_id()),
            Leg::Out(l) => l.dialog_id(),
        }
    }

    pub fn invite_tx(&self) -> TxId {
        match self {
            Leg::In(l) => l.invite_tx(),
            Leg::Out(l) => l.invite_tx(),
        }
    }

    /// The INVITE that opened the leg (received or sent).
    pub fn invite(&self) -> &Request {
        match self {
            Leg::In(l) => l.invite(),
            Leg::Out(l) => l.invite(),
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Leg::In(l) => l.poll_timeout(),
            Leg::Out(l) => l.poll_timeout(),
        }
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        match self {
            Leg::In(l) => l.poll_event(),
            Leg::Out(l) => l.poll_event(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, txl: &mut TransactionLayer) {
        match self {
            Leg::In(l) => l.handle_timeout(now, txl),
            Leg::Out(l) => l.handle_timeout(now, txl),
        }
    }

    pub fn on_request(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        req: Request,
    ) -> Option<(TxId, Request)> {
        match self {
            Leg::In(l) => l.on_request(now, txl, tx, req),
            Leg::Out(l) => l.on_request(now, txl, tx, req),
        }
    }

    pub fn on_ack(&mut self, now: Instant, ack: &Request) {
        match self {
            Leg::In(l) => l.on_ack(now, ack),
            Leg::Out(l) => l.on_ack(ack),
        }
    }

    pub fn on_response(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: TxId,
        resp: &Response,
    ) {
        match self {
            Leg::In(l) => l.on_response(now, txl, tx, resp),
            Leg::Out(l) => l.on_response(now, txl, tx, resp),
        }
    }

    /// Reports a REFER's progress to the peer (NOTIFY with a sipfrag).
    pub fn notify_refer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
        reason: &str,
        done: bool,
    ) {
        match self {
            Leg::In(l) => l.notify_refer(now, txl, status, reason, done),
            Leg::Out(l) => l.notify_refer(now, txl, status, reason, done),
        }
    }

    pub fn hangup(&mut self, now: Instant, txl: &mut TransactionLayer) {
        match self {
            Leg::In(l) => l.hangup(now, txl),
            Leg::Out(l) => l.hangup(now, txl),
        }
    }

    pub fn accept_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        sdp: Bytes,
    ) -> Result<(), SessionError> {
        match self {
            Leg::In(l) => l.accept_offer(now, txl, sdp),
            Leg::Out(l) => l.accept_offer(now, txl, sdp),
        }
    }

    pub fn reject_offer(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        status: u16,
    ) -> Result<(), SessionError> {
        match self {
            Leg::In(l) => l.reject_offer(now, txl, status),
            Leg::Out(l) => l.reject_offer(now, txl, status),
        }
    }
}

/// A call leg, numbered by the endpoint; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

#[derive(Default)]
pub struct Legs {
    next: u64,
    legs: HashMap<LegId, Leg>,
    by_dialog: HashMap<DialogId, LegId>,
    by_invite: HashMap<TxId, LegId>,
    /// Deadlines as legs last reported them; an entry may be stale (the leg moved its
    /// deadline or ended), which costs one wasted check, never a missed one.
    timers: BinaryHeap<Reverse<(Instant, LegId)>>,
}

impl Legs {
    pub fn insert(&mut self, leg: Leg) -> LegId {
        self.next += 1;
        let id = LegId(self.next);
        self.by_invite.insert(leg.invite_tx(), id);
        self.legs.insert(id, leg);
        self.rearm(id);
        id
    }

    pub fn get(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(&id)
    }

    pub fn get_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(&id)
    }

    pub fn by_dialog(&self, id: &DialogId) -> Option<LegId> {
        self.by_dialog.get(id).copied()
    }

    pub fn by_invite(&self, tx: TxId) -> Option<LegId> {
        self.by_invite.get(&tx).copied()
    }

    /// Call after every interaction with a leg: its deadline may have moved, and an
    /// outbound leg gets its dialog with the first tagged response.
    pub fn rearm(&mut self, id: LegId) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if let Some(at) = leg.poll_timeout() {
            self.timers.push(Reverse((at, id)));
        }
        let tx = leg.invite_tx();
        if self.by_invite.get(&tx) != Some(&id) {
            // The INVITE went again (with credentials) in a new transaction: rare, so a scan
            // for the old entry costs nothing that matters.
            self.by_invite.retain(|_, l| *l != id);
            self.by_invite.insert(tx, id);
        }
        if let Some(d) = leg.dialog_id() {
            if !self.by_dialog.contains_key(d) {
                self.by_dialog.insert(d.clone(), id);
            }
        }
    }

    /// The earliest deadline of any leg (possibly a stale one: harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Legs whose deadline is due at `now` (each once), for the endpoint to call.
    pub fn due(&mut self, now: Instant) -> Vec<LegId> {
        let mut out = Vec::new();
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.legs.contains_key(&id) && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    pub fn remove(&mut self, id: LegId) -> Option<Leg> {
        let leg = self.legs.remove(&id)?;
        if let Some(d) = leg.dialog_id() {
            self.by_dialog.remove(d);
        }
        self.by_invite.remove(&leg.invite_tx());
        Some(leg)
    }

    /// Every live leg's id (for hanging all up at shutdown).
    pub fn ids(&self) -> Vec<LegId> {
        self.legs.keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }
}
