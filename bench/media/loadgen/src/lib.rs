//! What the host meters (`stall-meter`, `wake-meter`) share: running a thread on one CPU, and
//! durations filed by fixed bounds and printed as `key=value` fields.

use std::time::Duration;

/// Runs the calling thread on `cpu` only; panics if the kernel refuses.
pub fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads `size_of` bytes of it.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    assert!(ok, "cannot run on CPU {cpu}");
}

/// Durations counted between ascending bounds (µs), from `floor_us` up, the last bucket
/// open-ended.
pub struct Buckets {
    floor_us: u64,
    bounds_us: &'static [u64],
    counts: Vec<u64>,
    longest: Duration,
}

impl Buckets {
    pub fn new(floor_us: u64, bounds_us: &'static [u64]) -> Buckets {
        Buckets {
            floor_us,
            bounds_us,
            counts: vec![0; bounds_us.len() + 1],
            longest: Duration::ZERO,
        }
    }

    pub fn add(&mut self, d: Duration) {
        let us = d.as_micros() as u64;
        let i = self
            .bounds_us
            .iter()
            .position(|&b| us < b)
            .unwrap_or(self.bounds_us.len());
        self.counts[i] += 1;
        self.longest = self.longest.max(d);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// How many lasted `us` or longer (`us` one of the bounds).
    pub fn at_least(&self, us: u64) -> u64 {
        let from = self
            .bounds_us
            .iter()
            .position(|&b| b == us)
            .map_or(0, |i| i + 1);
        self.counts[from..].iter().sum()
    }

    /// `{prefix}_{lower}_{upper}us=N` per bucket, `{prefix}_over_{lower}us=N` for the last,
    /// then `longest_us`.
    pub fn fields(&self, prefix: &str) -> String {
        let mut out = String::new();
        let mut lower = self.floor_us;
        for (i, n) in self.counts.iter().enumerate() {
            match self.bounds_us.get(i) {
                Some(b) => {
                    out.push_str(&format!("{prefix}_{lower}_{b}us={n} "));
                    lower = *b;
                }
                None => out.push_str(&format!("{prefix}_over_{lower}us={n} ")),
            }
        }
        out.push_str(&format!("longest_us={}", self.longest.as_micros()));
        out
    }
}
