//! How long the engine holds a packet: from the kernel's receipt of the datagram (its
//! `SO_TIMESTAMPNS` stamp) to the end of the engine's handling of it, forwarded copies sent.
//! The time spent queued in the socket while the engine was busy elsewhere is included; the
//! network on either side is not. Kept as a fixed histogram, cheap enough for every packet.

use std::time::Duration;

/// Bucket upper bounds above the fine range, in µs.
const COARSE_US: [u64; 9] = [
    2_000,
    3_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    1_000_000,
    u64::MAX,
];
/// Fine buckets of 25 µs up to 1 ms.
const FINE_STEP_US: u64 = 25;
const FINE: usize = 40;
const BUCKETS: usize = FINE + COARSE_US.len();

/// A histogram of per-packet holding times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayHistogram {
    counts: [u64; BUCKETS],
}

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram {
            counts: [0; BUCKETS],
        }
    }
}

impl DelayHistogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = if us < FINE as u64 * FINE_STEP_US {
            (us / FINE_STEP_US) as usize
        } else {
            FINE + COARSE_US
                .iter()
                .position(|&b| us < b)
                .unwrap_or(COARSE_US.len() - 1)
        };
        self.counts[i] += 1;
    }

    pub fn merge(&mut self, other: &DelayHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// Packets recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound (µs) of the bucket holding the `q` quantile (0.0–1.0); `None` when
    /// nothing was recorded, `Some(u64::MAX)` when it lies beyond 1 s.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(if i < FINE {
                    (i as u64 + 1) * FINE_STEP_US
                } else {
                    COARSE_US[i - FINE]
                });
            }
        }
        Some(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_name_the_bucket_bound() {
        let mut h = DelayHistogram::default();
        assert_eq!(h.quantile_us(0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(30));
        }
        h.record(Duration::from_micros(1_500));
        h.record(Duration::from_secs(3));
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_us(0.5), Some(50));
        assert_eq!(h.quantile_us(0.98), Some(50));
        assert_eq!(h.quantile_us(0.99), Some(2_000));
        assert_eq!(h.quantile_us(1.0), Some(u64::MAX));
        let mut sum = DelayHistogram::default();
        sum.merge(&h);
        sum.merge(&h);
        assert_eq!(sum.count(), 200);
        assert_eq!(sum.quantile_us(0.5), Some(50));
    }

    #[test]
    fn bucket_edges() {
        let mut h = DelayHistogram::default();
        h.record(Duration::from_micros(24));
        assert_eq!(h.quantile_us(1.0), Some(25));
        let mut h = DelayHistogram::default();
        h.record(Duration::from_micros(25));
        assert_eq!(h.quantile_us(1.0), Some(50));
        let mut h = DelayHistogram::default();
        h.record(Duration::from_micros(999));
        assert_eq!(h.quantile_us(1.0), Some(1_000));
        let mut h = DelayHistogram::default();
        h.record(Duration::from_micros(1_000));
        assert_eq!(h.quantile_us(1.0), Some(2_000));
    }
}
