//! Brute-force lockout: repeated authentication failures for one (source IP, username) pair
//! within a window lock that pair out for a while (fail2ban-like defaults: 5 failures in
//! 10 minutes → 15 minutes). Trunk addresses are exempt. Locks expire by time alone.
//!
//! Memory is bounded: at most `max_entries` pairs are tracked; the least recently touched one
//! is forgotten first, so an attacker cycling usernames cannot exhaust memory.
//!
//! [`SecurityEvent`]s describe failures and lockouts for the shell to log; the username in
//! them is a [`Pii`], masked in `Debug` and `Display`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::pii::Pii;

/// Lockout settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failures within `find_time` that lock a pair out.
    pub max_failures: u32,
    pub find_time: Duration,
    pub ban_time: Duration,
    /// Pairs tracked at most.
    pub max_entries: usize,
    /// Sources never locked out (carriers' trunks).
    pub exempt: Vec<IpAddr>,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            max_failures: 5,
            find_time: Duration::from_secs(600),
            ban_time: Duration::from_secs(900),
            max_entries: 10_000,
            exempt: Vec::new(),
        }
    }
}

/// What happened, for the security log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityEventKind {
    /// Credentials were refused.
    AuthFailure,
    /// The pair is now locked out.
    LockedOut,
}

/// One security-relevant happening. The username never prints in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub kind: SecurityEventKind,
    pub source: IpAddr,
    pub user: Pii<String>,
    pub at: Instant,
}

impl fmt::Display for SecurityEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SecurityEventKind::AuthFailure => "authentication failure",
            SecurityEventKind::LockedOut => "locked out",
        };
        write!(f, "{what}: source {} user {}", self.source, self.user)
    }
}

/// The result of recording one failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many failures lie within the window.
    Counted(u32),
    /// This failure locked the pair out until the given time.
    LockedOut { until: Instant },
    /// The pair was already locked out (nothing changed).
    AlreadyLocked { until: Instant },
    /// The source is exempt.
    Exempt,
}

type Key = (IpAddr, String);

struct Entry {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// Position in `Lockout::order`.
    touched: (Instant, u64),
}

/// Failure counts and locks per (source IP, username).
pub struct Lockout {
    cfg: LockoutConfig,
    entries: HashMap<Key, Entry>,
    /// Least recently touched first.
    order: BTreeMap<(Instant, u64), Key>,
    seq: u64,
}

impl fmt::Debug for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("cfg", &self.cfg)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// Usernames differing only in case count as one, so case games don't reset the count.
fn key(source: IpAddr, user: &str) -> Key {
    (source, user.to_lowercase())
}

impl Lockout {
    pub fn new(cfg: LockoutConfig) -> Lockout {
        Lockout {
            cfg,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
        }
    }

    pub fn config(&self) -> &LockoutConfig {
        &self.cfg
    }

    pub fn is_exempt(&self, source: IpAddr) -> bool {
        self.cfg.exempt.contains(&source)
    }

    /// When the pair is locked out at `now`, the time the lock ends.
    pub fn locked_until(&self, now: Instant, source: IpAddr, user: &str) -> Option<Instant> {
        if self.is_exempt(source) {
            return None;
        }
        self.entries
            .get(&key(source, user))
            .and_then(|e| e.locked_until)
            .filter(|until| *until > now)
    }

    pub fn is_locked(&self, now: Instant, source: IpAddr, user: &str) -> bool {
        self.locked_until(now, source, user).is_some()
    }

    /// Records a failed authentication.
    pub fn record_failure(&mut self, now: Instant, source: IpAddr, user: &str) -> FailureOutcome {
        if self.is_exempt(source) || self.cfg.max_entries == 0 {
            return FailureOutcome::Exempt;
        }
        let k = key(source, user);
        if !self.entries.contains_key(&k) {
            while self.entries.len() >= self.cfg.max_entries {
                let Some((_, old)) = self.order.pop_first() else {
                    break;
                };
                self.entries.remove(&old);
            }
        }
        self.seq += 1;
        let touched = (now, self.seq);
        let entry = self.entries.entry(k.clone()).or_insert_with(|| Entry {
            failures: VecDeque::new(),
            locked_until: None,
            touched,
        });
        self.order.remove(&entry.touched);
        entry.touched = touched;
        self.order.insert(touched, k);

        match entry.locked_until {
            Some(until) if until > now => return FailureOutcome::AlreadyLocked { until },
            Some(_) => entry.locked_until = None,
            None => {}
        }
        while entry
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.cfg.find_time)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        let count = u32::try_from(entry.failures.len()).unwrap_or(u32::MAX);
        if count >= self.cfg.max_failures {
            // Clamped so a huge configured ban cannot overflow `Instant`.
            let ban = self.cfg.ban_time.min(Duration::from_secs(366 * 86_400));
            let until = now.checked_add(ban).unwrap_or(now);
            entry.failures.clear();
            entry.locked_until = Some(until);
            FailureOutcome::LockedOut { until }
        } else {
            FailureOutcome::Counted(count)
        }
    }

    /// A successful authentication forgets the pair's failures (not an active lock, which
    /// is checked before credentials are looked at).
    pub fn record_success(&mut self, now: Instant, source: IpAddr, user: &str) {
        let k = key(source, user);
        let clear = self
            .entries
            .get(&k)
            .is_some_and(|e| e.locked_until.is_none_or(|u| u <= now));
        if clear {
            if let Some(e) = self.entries.remove(&k) {
                self.order.remove(&e.touched);
            }
        }
    }

    /// Forgets pairs whose failures and lock have all run out.
    pub fn purge(&mut self, now: Instant) {
        let keep_for = self.cfg.find_time.max(self.cfg.ban_time);
        while let Some((&(at, seq), _)) = self.order.first_key_value() {
            if now.saturating_duration_since(at) < keep_for {
                break;
            }
            if let Some(k) = self.order.remove(&(at, seq)) {
                self.entries.remove(&k);
            }
        }
    }

    /// Pairs tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sip::digest::test_origin as origin;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn five_failures_in_window_lock_the_pair_and_lock_expires() {
        let t0 = origin();
        let mut l = Lockout::new(LockoutConfig::default());
        let src = ip("203.0.113.9");
        for i in 1..5 {
            let t = t0 + MIN * i;
            assert_eq!(l.record_failure(t, src, "1001"), FailureOutcome::Counted(i));
            assert!(!l.is_locked(t, src, "1001"));
        }
        let t5 = t0 + MIN * 5;
        assert_eq!(
            l.record_failure(t5, src, "1001"),
            FailureOutcome::LockedOut {
                until: t5 + MIN * 15
            }
        );
        assert!(l.is_locked(t5, src, "1001"));
        assert!(l.is_locked(t5, src, "1001".to_uppercase().as_str()));
        // Other users from that address and that user from elsewhere are unaffected.
        assert!(!l.is_locked(t5, src, "1002"));
        assert!(!l.is_locked(t5, ip("198.51.100.1"), "1001"));
        assert!(matches!(
            l.record_failure(t5 + MIN, src, "1001"),
            FailureOutcome::AlreadyLocked { .. }
        ));
        assert!(l.is_locked(t5 + MIN * 15 - Duration::from_secs(1), src, "1001"));
        assert!(!l.is_locked(t5 + MIN * 15, src, "1001"));
        // After release the count starts afresh.
        assert_eq!(
            l.record_failure(t5 + MIN * 16, src, "1001"),
            FailureOutcome::Counted(1)
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock() {
        let t0 = origin();
        let mut l = Lockout::new(LockoutConfig::default());
        let src = ip("203.0.113.9");
        for i in 0..20 {
            let out = l.record_failure(t0 + MIN * 3 * i, src, "1001");
            assert!(
                matches!(out, FailureOutcome::Counted(n) if n <= 4),
                "{out:?}"
            );
        }
    }

    #[test]
    fn trunk_addresses_are_exempt() {
        let t0 = origin();
        let trunk = ip("10.1.1.1");
        let mut l = Lockout::new(LockoutConfig {
            exempt: vec![trunk],
            ..LockoutConfig::default()
        });
        for i in 0..50 {
            assert_eq!(
                l.record_failure(t0 + Duration::from_secs(i), trunk, "trunk"),
                FailureOutcome::Exempt
            );
        }
        assert!(!l.is_locked(t0 + MIN, trunk, "trunk"));
        assert!(l.is_empty());
    }

    #[test]
    fn success_forgets_failures() {
        let t0 = origin();
        let mut l = Lockout::new(LockoutConfig::default());
        let src = ip("203.0.113.9");
        for _ in 0..4 {
            l.record_failure(t0, src, "1001");
        }
        l.record_success(t0, src, "1001");
        assert_eq!(
            l.record_failure(t0, src, "1001"),
            FailureOutcome::Counted(1)
        );
    }

    #[test]
    fn memory_stays_bounded_under_many_usernames() {
        let t0 = origin();
        let mut l = Lockout::new(LockoutConfig {
            max_entries: 100,
            ..LockoutConfig::default()
        });
        let src = ip("203.0.113.9");
        for i in 0..10_000u32 {
            l.record_failure(t0 + Duration::from_millis(i.into()), src, &format!("u{i}"));
            assert!(l.len() <= 100);
        }
        assert_eq!(l.len(), 100);
        assert_eq!(l.order.len(), 100);
        l.purge(t0 + MIN * 16);
        assert!(l.is_empty() && l.order.is_empty());
    }

    #[test]
    fn security_event_masks_the_username() {
        let e = SecurityEvent {
            kind: SecurityEventKind::LockedOut,
            source: ip("203.0.113.9"),
            user: Pii::new("13800138000".to_string()),
            at: origin(),
        };
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("13800138000"), "{shown}");
        assert!(shown.contains("*********00") && shown.contains("203.0.113.9"));
    }
}
