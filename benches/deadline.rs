//! Deadline computations per second: when a step is due, with the shipped 2026 calendar and
//! policy, for every ticket type and step, from start times spread over the year (weekends,
//! holidays and make-up working days all met), and for each kind of limit — working days,
//! clock hours and working hours.
//!
//! `cargo bench --bench deadline` prints computations/s and ns per computation per case.
//! Plain timing loop (no harness): each case runs its inputs round after round for about a
//! second; the sum of the due times keeps the work from being optimised away.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone};
use rexian::workflow::{deadline_for, due, shanghai, Limit, Step, TicketType};

const INPUTS: usize = 100_000;

fn starts() -> Vec<DateTime<FixedOffset>> {
    // 2026-01-01 00:00 +08:00, then every 307 s (not a divisor of a day, so times of day vary)
    // until the inputs fill most of the year.
    let first = shanghai()
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date");
    (0..INPUTS)
        .map(|i| first + chrono::Duration::seconds(i as i64 * 307))
        .collect()
}

fn report(name: &str, n: u64, took: Duration, check: i64) {
    let per_s = n as f64 / took.as_secs_f64();
    println!(
        "{name:<42} {per_s:>14.0} computations/s {:>8.1} ns each  (checksum {check})",
        1e9 / per_s
    );
}

/// Runs `f` over the inputs until about a second has passed.
fn run(name: &str, mut f: impl FnMut(usize) -> i64) {
    let started = Instant::now();
    let (mut n, mut check) = (0u64, 0i64);
    while started.elapsed() < Duration::from_secs(1) {
        for i in 0..INPUTS {
            check = check.wrapping_add(black_box(f(i)));
        }
        n += INPUTS as u64;
    }
    report(name, n, started.elapsed(), check);
}

fn main() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    let calendar = rexian::dialplan::calendar::load(&plans).expect("the shipped calendar");
    let policy = rexian::dialplan::policy::load(&plans).expect("the shipped policy");
    let starts = starts();
    let steps = [Step::Handle, Step::Sign, Step::Return];
    println!(
        "{INPUTS} start times from {} to {}",
        starts[0],
        starts[INPUTS - 1]
    );

    // What the daemon and `rexian deadline` do: the policy's limit for a type and step.
    run("policy: every type and step", |i| {
        let ty = TicketType::ALL[i % 7];
        let step = steps[(i / 7) % 3];
        deadline_for(&calendar, &policy, ty, step, starts[i])
            .map(|d| d.at.timestamp())
            .unwrap_or(0)
    });
    let hours = &policy.working_hours;
    for (name, limit) in [
        ("15 working days", Limit::WorkingDays(15)),
        ("1 working day", Limit::WorkingDays(1)),
        ("60 working days", Limit::WorkingDays(60)),
        ("4 clock hours", Limit::Hours(4)),
        ("1 working hour", Limit::WorkingHours(1)),
        ("8 working hours", Limit::WorkingHours(8)),
    ] {
        run(name, |i| {
            due(&calendar, hours, starts[i], limit)
                .map(|d| d.at.timestamp())
                .unwrap_or(0)
        });
    }
}
