//! Call control on a virtual clock with the shipped demo dialplans: the agents' side — who is
//! rung, in which order, and what happens to an agent (ring timeout, overflow, leader windows,
//! priority callers, feature codes, registration).

mod call_harness;

use call_harness::*;
use rexian::call::event::{OperatorEvent, RingFailure};
use rexian::call::{Action, Event};

#[test]
fn abandon_while_ringing_cancels_and_the_agent_keeps_its_turn() {
    let mut h = H::demo();
    h.agent("7001");
    h.wait(1.0);
    h.agent("7002");
    h.queued(1, "12345", "13800138000");
    let a = h.ev(Event::CallerHungUp { call: 1 });
    assert!(a.contains(&Action::CancelRing {
        call: 1,
        agent: "7001".into()
    }));
    assert!(record(&a).abandoned);
    assert_eq!(h.state("7001"), "ready");
    let a = h.queued(2, "12345", "13900139000");
    assert_eq!(
        rings(&a),
        vec![(2, "7001".to_string())],
        "still the longest idle"
    );
}

#[test]
fn ring_timeout_moves_to_the_next_agent_and_sets_the_first_not_ready() {
    let mut h = H::demo();
    h.agent("7001");
    h.wait(1.0);
    h.agent("7002");
    let a = h.queued(1, "12345", "13800138000");
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    let a = h.wait(15.0);
    assert!(a.contains(&Action::CancelRing {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(rings(&a), vec![(1, "7002".to_string())]);
    let st = h.cc.status(h.now);
    let a1 = st.agents.iter().find(|a| a.id == "7001").unwrap();
    assert_eq!(
        (a1.state, a1.reason.as_deref()),
        ("not_ready", Some("no answer"))
    );
    let a = h.ev(Event::AgentRingFailed {
        call: 1,
        agent: "7002".into(),
        cause: RingFailure::Busy,
    });
    assert!(rings(&a).is_empty());
    assert_eq!(h.state("7002"), "not_ready");
    let a = h.ev(Event::AgentReady {
        agent: "7001".into(),
    });
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    let r = record(&h.ev(Event::CallerHungUp { call: 1 }));
    assert_eq!(r.ring_attempts, 3);
}

#[test]
fn a_dual_number_call_goes_to_its_own_seats_then_overflows_to_12345_agents() {
    let mut h = H::demo();
    h.agent("7001"); // no entry: 12345 only
    let a = h.queued(1, "12320", "13800138000");
    assert!(
        rings(&a).is_empty(),
        "12345 agents wait for the overflow time"
    );
    let a = h.wait(29.0);
    assert!(rings(&a).is_empty());
    let a = h.wait(1.0);
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    // With the line's own seat ready, it goes there first even if a 12345 agent idled longer.
    let mut h = H::demo();
    h.agent("7001");
    h.wait(5.0);
    h.agent("7201");
    let a = h.queued(2, "12320", "13800138000");
    assert_eq!(rings(&a), vec![(2, "7201".to_string())]);
    let a = h.queued(3, "12345", "13900139000");
    assert_eq!(rings(&a), vec![(3, "7001".to_string())]);
}

#[test]
fn a_leader_in_the_window_gets_the_first_offer() {
    let mut h = H::new(demo(), LEADER_DAY);
    h.agent("7001");
    h.wait(1.0);
    h.agent("9001");
    let a = h.queued(1, "12345", "13800138000");
    assert_eq!(rings(&a), vec![(1, "9001".to_string())]);
    let a = h.ev(Event::AgentRingFailed {
        call: 1,
        agent: "9001".into(),
        cause: RingFailure::Declined,
    });
    assert_eq!(
        rings(&a),
        vec![(1, "7001".to_string())],
        "then the usual rotation"
    );
    // Outside the window the leader seat takes no queue calls.
    let mut h = H::demo();
    h.agent("9001");
    h.agent("7001");
    let a = h.queued(2, "12345", "13800138000");
    assert_eq!(rings(&a), vec![(2, "7001".to_string())]);
    // A whole-merge line is not in this window's lines.
    let mut h = H::new(demo(), LEADER_DAY);
    h.agent("9001");
    h.agent("7001");
    let a = h.queued(3, "12300", "13800138000");
    assert_eq!(rings(&a), vec![(3, "7001".to_string())]);
}

#[test]
fn a_leader_who_becomes_ready_in_the_window_takes_the_oldest_call() {
    let mut h = H::new(demo(), LEADER_DAY);
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "meeting".into(),
    });
    h.ev(Event::AgentRegistered {
        agent: "9001".into(),
    });
    h.ev(Event::AgentNotReady {
        agent: "9001".into(),
        reason: "arriving".into(),
    });
    h.queued(1, "12345", "13800138000");
    let a = h.ev(Event::AgentReady {
        agent: "9001".into(),
    });
    assert_eq!(rings(&a), vec![(1, "9001".to_string())]);
}

#[test]
fn feature_codes_log_in_out_and_refuse_targets_the_plan_does_not_allow() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: None,
        digits: "*22".into(),
    });
    assert_eq!(h.state("7001"), "logged_out");
    h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: None,
        digits: "*21".into(),
    });
    assert_eq!(h.state("7001"), "ready");
    talking(&mut h, 1, "12345");
    let a = h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: Some(1),
        digits: "*0999".into(),
    });
    assert!(matches!(
        &a[0],
        Action::Operator(OperatorEvent::FeatureRefused { reason, .. }) if reason.contains("emergency")
    ));
    let a = h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: Some(1),
        digits: "##0012125550100".into(),
    });
    assert!(
        matches!(&a[0], Action::Operator(OperatorEvent::FeatureRefused { reason, .. }) if reason.contains("not allowed"))
    );
    // Logging out during a call takes effect when it ends.
    h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: Some(1),
        digits: "*22".into(),
    });
    assert_eq!(h.state("7001"), "talking");
    h.ev(Event::CallerHungUp { call: 1 });
    assert_eq!(h.state("7001"), "logged_out");
}

#[test]
fn an_agent_not_ready_on_register_waits_for_login() {
    let mut plan = demo();
    plan.agents.default_ready_on_register = false;
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    assert_eq!(h.state("7001"), "logged_out");
    h.ev(Event::AgentLogin {
        agent: "7001".into(),
    });
    assert_eq!(h.state("7001"), "ready");
    h.ev(Event::AgentUnregistered {
        agent: "7001".into(),
    });
    assert_eq!(h.state("7001"), "logged_out");
}

#[test]
fn listed_priority_callers_go_ahead_in_the_queue() {
    let mut plan = demo();
    plan.priority_callers = vec!["13700137000".into()];
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "x".into(),
    });
    h.queued(1, "12345", "13800138000");
    h.wait(20.0);
    h.queued(2, "12345", "+8613700137000");
    let a = h.ev(Event::AgentReady {
        agent: "7001".into(),
    });
    assert_eq!(rings(&a), vec![(2, "7001".to_string())]);
}

#[test]
fn an_agent_whose_phone_unregisters_mid_call_is_logged_out_after_it() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    h.ev(Event::AgentUnregistered {
        agent: "7001".into(),
    });
    assert_eq!(h.state("7001"), "talking");
    h.ev(Event::CallerHungUp { call: 1 });
    assert_eq!(h.state("7001"), "logged_out");
    h.agent("7001");
    assert_eq!(h.state("7001"), "ready");
}

#[test]
fn a_leader_becoming_ready_skips_calls_outside_its_window_lines() {
    let mut h = H::new(demo(), LEADER_DAY);
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "x".into(),
    });
    h.ev(Event::AgentRegistered {
        agent: "9001".into(),
    });
    h.ev(Event::AgentNotReady {
        agent: "9001".into(),
        reason: "x".into(),
    });
    h.queued(1, "12300", "13800138001"); // whole-merge: same 12345 list, not in the window
    h.queued(2, "12345", "13800138002");
    let a = h.ev(Event::AgentReady {
        agent: "9001".into(),
    });
    assert_eq!(rings(&a), vec![(2, "9001".to_string())]);
    let a = h.ev(Event::AgentReady {
        agent: "7001".into(),
    });
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
}

#[test]
fn an_agent_that_unregisters_while_ringing_passes_the_call_on() {
    let mut h = H::demo();
    h.agent("7001");
    h.wait(1.0);
    h.agent("7002");
    h.queued(1, "12345", "13800138000");
    let a = h.ev(Event::AgentUnregistered {
        agent: "7001".into(),
    });
    assert!(a.contains(&Action::CancelRing {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(rings(&a), vec![(1, "7002".to_string())]);
    assert_eq!(h.state("7001"), "logged_out");
}
