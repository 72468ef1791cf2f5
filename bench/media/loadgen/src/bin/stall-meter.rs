//! How often this machine takes a running thread off its CPU, and for how long: a floor under
//! any delay tail measured here. One thread per listed CPU spins reading the monotonic clock;
//! a gap between two reads longer than 20 µs is time the thread did not run (an interrupt,
//! another task, or — in a VM — the host running something else on the physical CPU). All
//! CPUs spin at once, as the engine and the generator do in a benchmark, since a host that
//! packs virtual CPUs onto fewer physical ones shows it only when both are busy.
//!
//! `stall-meter [SECONDS] [CPU...]` (default 5 s on CPUs 0 and 1) prints one `key=value`
//! line per CPU: gaps by length, the longest, the share of time lost in gaps, and the share
//! of a steady packet stream that a gap would hold back more than 1 ms
//! (`late_1ms_pct`: Σ max(0, gap − 1 ms) / time, for packets arriving at random).

use std::time::{Duration, Instant};

const BOUNDS_US: [u64; 7] = [100, 250, 500, 1_000, 2_000, 5_000, 10_000];

struct Gaps {
    cpu: usize,
    counts: [u64; BOUNDS_US.len() + 1],
    longest: Duration,
    lost: Duration,
    late_1ms: Duration,
    spun: Duration,
}

fn pin(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads `size_of` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

fn spin(cpu: usize, secs: f64) -> Gaps {
    let pinned = pin(cpu);
    assert!(pinned, "cannot run on CPU {cpu}");
    let mut g = Gaps {
        cpu,
        counts: [0; BOUNDS_US.len() + 1],
        longest: Duration::ZERO,
        lost: Duration::ZERO,
        late_1ms: Duration::ZERO,
        spun: Duration::from_secs_f64(secs),
    };
    let start = Instant::now();
    let end = start + g.spun;
    let mut last = start;
    loop {
        let now = Instant::now();
        let gap = now - last;
        last = now;
        if now >= end {
            break;
        }
        if gap > Duration::from_micros(20) {
            let us = gap.as_micros() as u64;
            let bucket = BOUNDS_US.iter().position(|&b| us < b).unwrap_or(BOUNDS_US.len());
            g.counts[bucket] += 1;
            g.longest = g.longest.max(gap);
            g.lost += gap;
            g.late_1ms += gap.saturating_sub(Duration::from_millis(1));
        }
    }
    g
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let mut cpus: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if cpus.is_empty() {
        cpus = vec![0, 1];
    }
    let threads: Vec<_> = cpus
        .into_iter()
        .map(|cpu| std::thread::spawn(move || spin(cpu, secs)))
        .collect();
    for t in threads {
        let g = t.join().expect("spinning thread");
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / g.spun.as_secs_f64();
        let mut buckets = String::new();
        let mut lower = 20;
        for (i, n) in g.counts.iter().enumerate() {
            match BOUNDS_US.get(i) {
                Some(b) => buckets.push_str(&format!("gaps_{lower}_{b}us={n} ")),
                None => buckets.push_str(&format!("gaps_over_{lower}us={n} ")),
            }
            lower = BOUNDS_US.get(i).copied().unwrap_or(lower);
        }
        println!(
            "cpu={} {buckets}longest_us={} lost_pct={:.2} late_1ms_pct={:.3}",
            g.cpu,
            g.longest.as_micros(),
            pct(g.lost),
            pct(g.late_1ms)
        );
    }
}
