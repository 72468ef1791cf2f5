//! Agent selection cost: how long call control takes, with hundreds of agents and queued
//! calls, from "an agent becomes ready" to the `RingAgent` for the oldest call it may take,
//! and from "a caller enters the queue" to the `RingAgent` for the longest-idle agent.
//!
//! `cargo bench --bench acd` prints p50/p99/max per scenario. Plain timing loop (no harness):
//! each sample is one `handle` call measured with `Instant`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rexian::call::event::Arrival;
use rexian::call::line::Dialled;
use rexian::call::plan::{AgentConf, Role};
use rexian::call::{Action, CallControl, Event, WallClock};
use rexian::pii::Pii;

const AGENTS: usize = 500;
const QUEUED: u64 = 1000;
const SAMPLES: usize = 10_000;
const LINES: [&str; 5] = ["12345", "12300", "12320", "12333", "12366"];

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        p(0.5),
        p(0.99),
        v[v.len() - 1]
    );
}

fn arrive(cc: &mut CallControl, call: u64, now: Instant) {
    let number = LINES[call as usize % LINES.len()];
    cc.handle(
        Event::CallArrived(Arrival {
            call,
            trunk: None,
            dialled: Dialled {
                request_user: number.into(),
                ..Dialled::default()
            },
            // Distinct callers so abuse limits stay out of the way.
            caller: Pii::new(format!("138{call:08}")),
            privacy: false,
        }),
        now,
    );
}

fn rang(cc: &mut CallControl) -> Option<(u64, String)> {
    let mut found = None;
    while let Some(a) = cc.poll_action() {
        if let Action::RingAgent { call, agent, .. } = a {
            found = Some((call, agent));
        }
    }
    found
}

fn main() {
    let mut plan = rexian::dialplan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans"))
        .expect("demo dialplans");
    // A fifth of the agents also serve the dual-number lines 12320 and 12333.
    for i in (0..AGENTS).step_by(5) {
        let id = format!("a{i}");
        let conf = AgentConf {
            id: id.clone(),
            name: None,
            role: Role::Agent,
            lines: vec!["12320".into(), "12333".into(), "12345".into()],
            ready_on_register: true,
        };
        plan.agents.listed.insert(id, conf);
    }
    plan.abuse.enabled = false;
    let t0 = Instant::now();
    let mut now = t0;
    let mut cc = CallControl::new(
        Arc::new(plan),
        WallClock {
            at: t0,
            unix_ms: 1_795_000_000_000,
        },
    );

    // Scenario 1: every agent busy (not ready), QUEUED calls waiting; one agent becomes ready.
    for i in 0..AGENTS {
        let agent = format!("a{i}");
        cc.handle(
            Event::AgentRegistered {
                agent: agent.clone(),
            },
            now,
        );
        cc.handle(
            Event::AgentNotReady {
                agent,
                reason: "bench".into(),
            },
            now,
        );
    }
    let mut next_call = 0u64;
    for _ in 0..QUEUED {
        arrive(&mut cc, next_call, now);
        cc.handle(Event::PlaybackDone { call: next_call }, now);
        next_call += 1;
    }
    while cc.poll_action().is_some() {}
    let mut ready_samples = Vec::with_capacity(SAMPLES);
    for s in 0..SAMPLES {
        now += Duration::from_millis(1);
        let agent = format!("a{}", (s * 7) % AGENTS);
        let start = Instant::now();
        cc.handle(
            Event::AgentReady {
                agent: agent.clone(),
            },
            now,
        );
        ready_samples.push(start.elapsed());
        let (call, who) = rang(&mut cc).expect("a waiting call for the ready agent");
        assert_eq!(who, agent);
        // Keep the queue full: the call is answered and ends, a new one on the same line
        // queues (so every agent always finds a call it may take).
        cc.handle(
            Event::AgentAnswered {
                call,
                agent: agent.clone(),
            },
            now,
        );
        cc.handle(Event::CallerHungUp { call }, now);
        cc.handle(
            Event::AgentNotReady {
                agent,
                reason: "bench".into(),
            },
            now,
        );
        let fresh = next_call * LINES.len() as u64 + call % LINES.len() as u64;
        arrive(&mut cc, fresh, now);
        cc.handle(Event::PlaybackDone { call: fresh }, now);
        next_call += 1;
        while cc.poll_action().is_some() {}
    }
    summary(
        &format!("agent ready -> ring ({AGENTS} agents, {QUEUED} queued calls)"),
        ready_samples,
    );

    // Scenario 2: every agent ready, a caller leaves the greeting and enters the queue.
    let t1 = now;
    let mut cc2 = {
        let plan = cc.plan().clone();
        CallControl::new(
            plan,
            WallClock {
                at: t1,
                unix_ms: 1_795_000_000_000,
            },
        )
    };
    for i in 0..AGENTS {
        cc2.handle(
            Event::AgentRegistered {
                agent: format!("a{i}"),
            },
            now,
        );
        now += Duration::from_millis(1);
    }
    while cc2.poll_action().is_some() {}
    let mut queue_samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        now += Duration::from_millis(1);
        // A 12345 call: any ready agent may take it.
        let call = next_call * LINES.len() as u64;
        next_call += 1;
        arrive(&mut cc2, call, now);
        while cc2.poll_action().is_some() {}
        let start = Instant::now();
        cc2.handle(Event::PlaybackDone { call }, now);
        queue_samples.push(start.elapsed());
        let (call, agent) = rang(&mut cc2).expect("a ready agent");
        cc2.handle(
            Event::AgentAnswered {
                call,
                agent: agent.clone(),
            },
            now,
        );
        cc2.handle(Event::CallerHungUp { call }, now);
        cc2.handle(Event::AgentReady { agent }, now);
        while cc2.poll_action().is_some() {}
    }
    summary(
        &format!("caller queued -> ring ({AGENTS} ready agents)"),
        queue_samples,
    );
}
