//! Waiting calls: one FIFO per skill (the main number, and each dual-number line), ordered
//! by (priority, arrival sequence) so a call that goes back after a failed ring keeps its
//! place. A dual-number call may also be taken from the main agents' side once its overflow
//! instant has passed.

use std::collections::BTreeMap;
use std::time::Instant;

use super::agent::CallId;

/// Order in a list: lower priority value first, then the arrival sequence.
pub type Key = (u8, u64);

/// A waiting call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    pub call: CallId,
    pub entered: Instant,
    /// When 12345 agents may take this dual-number call too.
    pub overflow_at: Option<Instant>,
}

/// All waiting lists.
#[derive(Debug, Default)]
pub struct Waiting {
    lists: BTreeMap<String, BTreeMap<Key, Waiter>>,
}

impl Waiting {
    pub fn insert(&mut self, skill: &str, key: Key, w: Waiter) {
        self.lists
            .entry(skill.to_string())
            .or_default()
            .insert(key, w);
    }

    pub fn remove(&mut self, skill: &str, key: Key) -> Option<Waiter> {
        self.lists.get_mut(skill)?.remove(&key)
    }

    /// The first waiting call of a skill.
    pub fn head(&self, skill: &str) -> Option<(Key, &Waiter)> {
        self.lists.get(skill)?.iter().next().map(|(k, w)| (*k, w))
    }

    /// A skill's waiting calls in order.
    pub fn iter(&self, skill: &str) -> impl Iterator<Item = (Key, &Waiter)> {
        self.lists
            .get(skill)
            .into_iter()
            .flat_map(|l| l.iter().map(|(k, w)| (*k, w)))
    }

    /// Every skill's head, with the skill.
    pub fn heads(&self) -> impl Iterator<Item = (&str, Key, &Waiter)> {
        self.lists
            .iter()
            .filter_map(|(s, l)| l.iter().next().map(|(k, w)| (s.as_str(), *k, w)))
    }

    /// Calls ahead of `key` in its list (for position announcements).
    pub fn ahead(&self, skill: &str, key: Key) -> usize {
        self.lists.get(skill).map_or(0, |l| l.range(..key).count())
    }

    pub fn len(&self) -> usize {
        self.lists.values().map(|l| l.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_put_back_keeps_its_place() {
        let t = Instant::now();
        let mut w = Waiting::default();
        for (seq, call) in [(1, 10), (2, 20), (3, 30)] {
            w.insert(
                "12345",
                (0, seq),
                Waiter {
                    call,
                    entered: t,
                    overflow_at: None,
                },
            );
        }
        let first = w.remove("12345", (0, 1)).unwrap();
        assert_eq!(w.head("12345").unwrap().1.call, 20);
        w.insert("12345", (0, 1), first);
        assert_eq!(w.head("12345").unwrap().1.call, 10);
        assert_eq!(w.ahead("12345", (0, 3)), 2);
        assert_eq!(w.len(), 3);
    }
}
