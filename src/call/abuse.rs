//! 系统短期限制使用: a caller who dials more than `max_calls` times within `window`, or whom a
//! supervisor marks, is restricted for a set time. Restrictions expire by themselves; they can
//! be listed and lifted. Callers without a number (anonymous, withheld, unavailable) have no
//! key and are never counted, so they are never lumped into one restricted "caller".

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::caller::Caller;
use super::plan::AbusePolicy;
use crate::pii::Pii;

/// Why a caller is restricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Too many calls in the window.
    Automatic { calls: u32 },
    /// Marked by a supervisor.
    Supervisor { by: String, note: String },
}

/// One restriction in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub caller: Pii<String>,
    pub since: Instant,
    pub until: Instant,
    pub reason: Reason,
}

/// Counts calls per caller and keeps the restrictions.
#[derive(Debug, Default)]
pub struct AbuseTracker {
    recent: HashMap<String, VecDeque<Instant>>,
    restricted: HashMap<String, Restriction>,
}

impl AbuseTracker {
    /// Counts a new call and says whether the caller is (now) restricted.
    pub fn on_call(
        &mut self,
        policy: &AbusePolicy,
        caller: &Caller,
        now: Instant,
    ) -> Option<&Restriction> {
        let key = caller.abuse_key()?.to_string();
        if self.restricted.get(&key).is_some_and(|r| r.until <= now) {
            self.restricted.remove(&key);
        }
        if self.restricted.contains_key(&key) {
            return self.restricted.get(&key);
        }
        if !policy.enabled || policy.exempt.contains(&key) {
            return None;
        }
        let q = self.recent.entry(key.clone()).or_default();
        while q
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= policy.window)
        {
            q.pop_front();
        }
        q.push_back(now);
        let calls = q.len() as u32;
        if calls > policy.max_calls {
            self.recent.remove(&key);
            let r = Restriction {
                caller: Pii::new(key.clone()),
                since: now,
                until: now + policy.restrict,
                reason: Reason::Automatic { calls },
            };
            self.restricted.insert(key.clone(), r);
            return self.restricted.get(&key);
        }
        None
    }

    /// A supervisor restricts `number` (normalised) for `span`.
    pub fn mark(&mut self, number: &str, span: Duration, by: &str, note: &str, now: Instant) {
        self.restricted.insert(
            number.to_string(),
            Restriction {
                caller: Pii::new(number.to_string()),
                since: now,
                until: now + span,
                reason: Reason::Supervisor {
                    by: by.to_string(),
                    note: note.to_string(),
                },
            },
        );
    }

    /// Lifts a restriction; `false` if there was none.
    pub fn lift(&mut self, number: &str) -> bool {
        self.recent.remove(number);
        self.restricted.remove(number).is_some()
    }

    /// Restrictions still in force, soonest to expire first.
    pub fn list(&self, now: Instant) -> Vec<&Restriction> {
        let mut v: Vec<&Restriction> = self.restricted.values().filter(|r| r.until > now).collect();
        v.sort_by_key(|r| r.until);
        v
    }

    /// Forgets expired restrictions and old counts (call now and then).
    pub fn purge(&mut self, policy: &AbusePolicy, now: Instant) {
        self.restricted.retain(|_, r| r.until > now);
        self.recent.retain(|_, q| {
            q.back()
                .is_some_and(|&t| now.saturating_duration_since(t) < policy.window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::caller::normalise;

    fn policy() -> AbusePolicy {
        AbusePolicy {
            enabled: true,
            max_calls: 3,
            window: Duration::from_secs(600),
            restrict: Duration::from_secs(3600),
            exempt: vec!["13900139000".into()],
        }
    }

    #[test]
    fn more_than_n_calls_in_the_window_restricts_until_it_expires() {
        let (p, t) = (policy(), Instant::now());
        let mut a = AbuseTracker::default();
        let c = normalise("+8613800138000", false, "0398");
        for i in 0..3 {
            assert!(a.on_call(&p, &c, t + Duration::from_secs(i)).is_none());
        }
        let r = a
            .on_call(&p, &c, t + Duration::from_secs(3))
            .unwrap()
            .clone();
        assert_eq!(r.reason, Reason::Automatic { calls: 4 });
        assert_eq!(a.list(t + Duration::from_secs(4)).len(), 1);
        assert!(a.on_call(&p, &c, t + Duration::from_secs(100)).is_some());
        let after = t + Duration::from_secs(3) + p.restrict;
        assert!(a.list(after).is_empty());
        assert!(a.on_call(&p, &c, after).is_none());
    }

    #[test]
    fn calls_spread_beyond_the_window_are_not_counted_together() {
        let (p, t) = (policy(), Instant::now());
        let mut a = AbuseTracker::default();
        let c = normalise("13800138000", false, "0398");
        for i in 0..10u64 {
            assert!(
                a.on_call(&p, &c, t + Duration::from_secs(i * 300))
                    .is_none(),
                "{i}"
            );
        }
    }

    #[test]
    fn anonymous_callers_are_never_lumped_together() {
        let (p, t) = (policy(), Instant::now());
        let mut a = AbuseTracker::default();
        for raw in [
            "anonymous",
            "restricted",
            "",
            "anonymous",
            "anonymous",
            "anonymous",
            "anonymous",
        ] {
            assert!(a.on_call(&p, &normalise(raw, false, "0398"), t).is_none());
        }
        let withheld = normalise("13800138000", true, "0398");
        for _ in 0..10 {
            assert!(a.on_call(&p, &withheld, t).is_none());
        }
    }

    #[test]
    fn exempt_numbers_and_a_disabled_policy_never_restrict() {
        let (mut p, t) = (policy(), Instant::now());
        let mut a = AbuseTracker::default();
        let c = normalise("13900139000", false, "0398");
        for _ in 0..10 {
            assert!(a.on_call(&p, &c, t).is_none());
        }
        p.enabled = false;
        let d = normalise("13700137000", false, "0398");
        for _ in 0..10 {
            assert!(a.on_call(&p, &d, t).is_none());
        }
    }

    #[test]
    fn a_supervisor_marks_and_lifts() {
        let (p, t) = (policy(), Instant::now());
        let mut a = AbuseTracker::default();
        a.mark("03982345678", Duration::from_secs(60), "sup1", "骚扰", t);
        let c = normalise("2345678", false, "0398");
        assert!(matches!(
            a.on_call(&p, &c, t).unwrap().reason,
            Reason::Supervisor { .. }
        ));
        assert!(a.lift("03982345678"));
        assert!(!a.lift("03982345678"));
        assert!(a.on_call(&p, &c, t).is_none());
    }
}
