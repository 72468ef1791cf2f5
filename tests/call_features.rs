//! Feature codes an agent sends as DTMF during a call, on a virtual clock: keys arrive one
//! event each and are collected into a code, which is decoded by the dialplan the call arrived
//! under — a reload in the middle of a call changes the codes only for calls that arrive after
//! it.

mod call_harness;

use std::sync::Arc;

use call_harness::*;
use rexian::call::control::DIGIT_TIMEOUT;
use rexian::call::event::OperatorEvent;
use rexian::call::{Action, Event};

/// The agent presses `keys` on `call`, one event per key, `gap` seconds apart; all actions.
fn press(h: &mut H, agent: &str, call: u64, keys: &str, gap: f64) -> Vec<Action> {
    let mut all = Vec::new();
    for (i, k) in keys.chars().enumerate() {
        if i > 0 {
            all.extend(h.wait(gap));
        }
        all.extend(h.ev(Event::FeatureCode {
            agent: agent.into(),
            call: Some(call),
            digits: k.to_string(),
        }));
    }
    all
}

fn refused(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Operator(OperatorEvent::FeatureRefused { digits, .. }) => Some(digits.clone()),
            _ => None,
        })
        .collect()
}

/// The demo plan with its agent-state codes renumbered: `*91`…`*94` for `*21`…`*24`.
fn renumbered() -> rexian::call::plan::Dialplan {
    let mut plan = demo();
    plan.features.login = "*91".into();
    plan.features.logout = "*92".into();
    plan.features.ready = "*93".into();
    plan.features.not_ready = "*94".into();
    plan
}

/// The caller of `call` hangs up and the agent's wrap-up (10 s on the demo queue) passes.
fn end_call(h: &mut H, call: u64) {
    h.ev(Event::CallerHungUp { call });
    h.wait(30.0);
}

#[test]
fn keys_one_at_a_time_make_a_code_while_the_agent_keeps_typing() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    // *24 (not ready) typed with pauses shorter than the digit timeout.
    let gap = DIGIT_TIMEOUT.as_secs_f64() - 1.0;
    let a = press(&mut h, "7001", 1, "*24", gap);
    assert!(refused(&a).is_empty(), "{a:?}");
    end_call(&mut h, 1);
    assert_eq!(
        h.state("7001"),
        "not_ready",
        "*24 took effect after the call"
    );
}

#[test]
fn a_pause_longer_than_the_digit_timeout_ends_what_was_typed() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = press(&mut h, "7001", 1, "*2", 0.5);
    assert!(a.is_empty(), "*2 may still become *21 … *24: {a:?}");
    let a = h.wait(DIGIT_TIMEOUT.as_secs_f64() + 0.5);
    assert_eq!(refused(&a), vec!["*2".to_string()]);
    // The 4 after the pause starts nothing; the agent stays ready after the call.
    press(&mut h, "7001", 1, "4", 0.0);
    end_call(&mut h, 1);
    assert_eq!(h.state("7001"), "ready");
}

#[test]
fn codes_sent_during_a_call_follow_the_plan_the_call_arrived_under() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    h.agent("7002");
    // The admins renumber the codes while call 1 is in progress.
    h.ev(Event::DialplanReloaded(Arc::new(renumbered())));

    // Call 1 keeps the codes it arrived under: *94 is nothing there, *24 is not ready.
    let a = press(&mut h, "7001", 1, "*94", 0.2);
    assert_eq!(
        refused(&a),
        vec!["*9".to_string()],
        "no code of call 1 starts *9"
    );
    let a = press(&mut h, "7001", 1, "*24", 0.2);
    assert!(refused(&a).is_empty(), "{a:?}");
    end_call(&mut h, 1);
    assert_eq!(h.state("7001"), "not_ready", "call 1's *24");

    // A call that arrives after the reload speaks the new codes.
    h.queued(2, "12345", "13900139000");
    h.ev(Event::AgentAnswered {
        call: 2,
        agent: "7002".into(),
    });
    let a = press(&mut h, "7002", 2, "*24", 0.2);
    assert_eq!(
        refused(&a),
        vec!["*2".to_string()],
        "no code of call 2 starts *2"
    );
    let a = press(&mut h, "7002", 2, "*94", 0.2);
    assert!(refused(&a).is_empty(), "{a:?}");
    end_call(&mut h, 2);
    assert_eq!(h.state("7002"), "not_ready", "call 2's *94");
}
