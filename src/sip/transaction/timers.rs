//! Transaction timer values (RFC 3261 §17 and Table 4, RFC 6026 §8).
//!
//! T1 (round-trip estimate), T2 (retransmission cap for non-INVITE requests and INVITE
//! responses) and T4 (how long a message lingers in the network) are configurable; every other
//! timer is derived from them. On reliable transports (TCP, TLS) the retransmission timers
//! (A, E, G) never run and the "wait for stragglers" timers (D, I, J, K) are zero, so the
//! transaction ends at once.

use std::time::Duration;

/// The three base values every transaction timer derives from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate, default 500 ms.
    pub t1: Duration,
    /// Cap on the retransmission interval of non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: the transaction timeout (Timers B, F, H, J on UDP, L, M).
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer A (INVITE request retransmission), first interval; `None` on reliable transports.
    pub fn timer_a(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer B: INVITE client transaction timeout while Calling.
    pub fn timer_b(&self) -> Duration {
        self.t1x64()
    }

    /// Timer D: how long a client INVITE transaction absorbs retransmitted final responses
    /// after sending the ACK. At least 32 s on UDP, zero on reliable transports.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }

    /// Timer E (non-INVITE request retransmission), first interval; `None` on reliable transports.
    pub fn timer_e(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer F: non-INVITE client transaction timeout.
    pub fn timer_f(&self) -> Duration {
        self.t1x64()
    }

    /// Timer G (INVITE final-response retransmission), first interval; `None` when reliable.
    pub fn timer_g(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer H: how long a server INVITE transaction waits for the ACK of a non-2xx final.
    pub fn timer_h(&self) -> Duration {
        self.t1x64()
    }

    /// Timer I: how long the Confirmed state absorbs ACK retransmissions.
    pub fn timer_i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: how long a non-INVITE server transaction absorbs request retransmissions.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }

    /// Timer K: how long a non-INVITE client transaction absorbs response retransmissions.
    pub fn timer_k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer L (RFC 6026): how long a server INVITE transaction stays Accepted after a 2xx.
    pub fn timer_l(&self) -> Duration {
        self.t1x64()
    }

    /// Timer M (RFC 6026): how long a client INVITE transaction stays Accepted after a 2xx,
    /// passing retransmitted or forked 2xx responses to the transaction user.
    pub fn timer_m(&self) -> Duration {
        self.t1x64()
    }

    /// The next retransmission interval for non-INVITE requests and INVITE responses:
    /// doubled, but never above T2.
    pub fn backoff_capped(&self, interval: Duration) -> Duration {
        (interval * 2).min(self.t2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_rfc3261_table_4() {
        let c = TimerConfig::default();
        assert_eq!(c.timer_b(), Duration::from_secs(32));
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_i(false), Duration::from_secs(5));
        assert_eq!(c.timer_k(false), Duration::from_secs(5));
        assert_eq!(c.timer_l(), Duration::from_secs(32));
    }

    #[test]
    fn reliable_transports_zero_wait_timers_and_skip_retransmits() {
        let c = TimerConfig::default();
        assert_eq!(c.timer_a(true), None);
        assert_eq!(c.timer_e(true), None);
        assert_eq!(c.timer_g(true), None);
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.timer_i(true), Duration::ZERO);
        assert_eq!(c.timer_j(true), Duration::ZERO);
        assert_eq!(c.timer_k(true), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_up_to_t2() {
        let c = TimerConfig::default();
        assert_eq!(
            c.backoff_capped(Duration::from_secs(1)),
            Duration::from_secs(2)
        );
        assert_eq!(
            c.backoff_capped(Duration::from_secs(2)),
            Duration::from_secs(4)
        );
        assert_eq!(
            c.backoff_capped(Duration::from_secs(4)),
            Duration::from_secs(4)
        );
    }
}
