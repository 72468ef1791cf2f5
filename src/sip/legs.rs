//! The endpoint's live call legs: lookup by id, by dialog and by INVITE transaction, and one
//! timer queue for all of them, so the endpoint's next deadline is found without visiting
//! every call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::sip::dialog::DialogId;
use crate::sip::session::uas::UasSession;
use crate::sip::transaction::TxId;

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
    legs: HashMap<LegId, UasSession>,
    by_dialog: HashMap<DialogId, LegId>,
    by_invite: HashMap<TxId, LegId>,
    /// Deadlines as legs last reported them; an entry may be stale (the leg moved its
    /// deadline or ended), which costs one wasted check, never a missed one.
    timers: BinaryHeap<Reverse<(Instant, LegId)>>,
}

impl Legs {
    pub fn insert(&mut self, invite_tx: TxId, leg: UasSession) -> LegId {
        self.next += 1;
        let id = LegId(self.next);
        self.by_dialog.insert(leg.dialog_id().clone(), id);
        self.by_invite.insert(invite_tx, id);
        if let Some(at) = leg.poll_timeout() {
            self.timers.push(Reverse((at, id)));
        }
        self.legs.insert(id, leg);
        id
    }

    pub fn get(&self, id: LegId) -> Option<&UasSession> {
        self.legs.get(&id)
    }

    pub fn get_mut(&mut self, id: LegId) -> Option<&mut UasSession> {
        self.legs.get_mut(&id)
    }

    pub fn by_dialog(&self, id: &DialogId) -> Option<LegId> {
        self.by_dialog.get(id).copied()
    }

    pub fn by_invite(&self, tx: TxId) -> Option<LegId> {
        self.by_invite.get(&tx).copied()
    }

    /// Call after every interaction with a leg: its deadline may have moved.
    pub fn rearm(&mut self, id: LegId) {
        if let Some(at) = self.legs.get(&id).and_then(|l| l.poll_timeout()) {
            self.timers.push(Reverse((at, id)));
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

    pub fn remove(&mut self, id: LegId) -> Option<UasSession> {
        let leg = self.legs.remove(&id)?;
        self.by_dialog.remove(leg.dialog_id());
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
