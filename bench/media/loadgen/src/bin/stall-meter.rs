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

use media_loadgen::{pin, Buckets};

const FLOOR: Duration = Duration::from_micros(20);
const BOUNDS_US: [u64; 7] = [100, 250, 500, 1_000, 2_000, 5_000, 10_000];

struct Gaps {
    cpu: usize,
    gaps: Buckets,
    lost: Duration,
    late_1ms: Duration,
}

fn spin(cpu: usize, spun: Duration) -> Gaps {
    pin(cpu);
    let mut g = Gaps {
        cpu,
        gaps: Buckets::new(FLOOR.as_micros() as u64, &BOUNDS_US),
        lost: Duration::ZERO,
        late_1ms: Duration::ZERO,
    };
    let end = Instant::now() + spun;
    let mut last = Instant::now();
    loop {
        let now = Instant::now();
        let gap = now - last;
        last = now;
        if now >= end {
            break;
        }
        if gap > FLOOR {
            g.gaps.add(gap);
            g.lost += gap;
            g.late_1ms += gap.saturating_sub(Duration::from_millis(1));
        }
    }
    g
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let spun = Duration::from_secs_f64(secs);
    let mut cpus: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if cpus.is_empty() {
        cpus = vec![0, 1];
    }
    let threads: Vec<_> = cpus
        .into_iter()
        .map(|cpu| std::thread::spawn(move || spin(cpu, spun)))
        .collect();
    for t in threads {
        let g = t.join().expect("spinning thread");
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / spun.as_secs_f64();
        println!(
            "cpu={} {} lost_pct={:.2} late_1ms_pct={:.3}",
            g.cpu,
            g.gaps.fields("gaps"),
            pct(g.lost),
            pct(g.late_1ms)
        );
    }
}
