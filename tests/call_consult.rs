//! Attended transfer (咨询转接) on a virtual clock with the shipped demo dialplans: the caller
//! hears music while the agent consults an expert seat, then the agent completes the
//! transfer, turns it into a three-way call, or goes back to the caller — by feature code
//! (`*4` number `#`, `*5`, `*6`) or the API.

mod call_harness;

use call_harness::*;
use rexian::call::event::{AgentRequest, Dest, Leg, OperatorEvent, RingFailure};
use rexian::call::record::HangupCause;
use rexian::call::{Action, Event};

fn keys(h: &mut H, keys: &str) -> Vec<Action> {
    let mut out = Vec::new();
    for k in keys.chars() {
        out.extend(h.ev(Event::FeatureCode {
            agent: "7001".into(),
            call: Some(1),
            digits: k.to_string(),
        }));
    }
    out
}

fn ask(h: &mut H, request: AgentRequest) -> Vec<Action> {
    h.ev(Event::AgentRequest {
        agent: "7001".into(),
        request,
    })
}

fn refused(actions: &[Action]) -> Option<&'static str> {
    actions.iter().find_map(|a| match a {
        Action::Operator(OperatorEvent::FeatureRefused { reason, .. }) => Some(*reason),
        _ => None,
    })
}

fn consulting(a: &[Action]) -> bool {
    a.contains(&Action::Consult {
        call: 1,
        agent: "7001".into(),
    })
}

fn music(a: &[Action]) -> bool {
    a.iter()
        .any(|x| matches!(x, Action::StartMoh { call: 1, .. }))
}

fn bridged_back(a: &[Action]) -> bool {
    a.contains(&Action::Bridge {
        call: 1,
        agent: "7001".into(),
    })
}

/// Agent 7001 talks with a caller on 12345; the 12320 expert seat 8320 is registered.
fn with_expert() -> H {
    let mut h = H::demo();
    h.agent("7001");
    h.agent("8320");
    talking(&mut h, 1, "12345");
    h
}

#[test]
fn the_caller_hears_music_while_the_agent_consults_then_complete_hands_them_over() {
    let mut h = with_expert();
    let a = keys(&mut h, "*412320#");
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Dial { dest: Dest::Account(s), .. } if s == "8320"
    )));
    assert!(
        consulting(&a) && music(&a),
        "caller on music, agent apart: {a:?}"
    );
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(consulting(&a), "agent and expert talk alone: {a:?}");
    assert!(!a.iter().any(|x| matches!(x, Action::Conference { .. })));
    assert_eq!(h.state("7001"), "talking");
    let a = keys(&mut h, "*5");
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: HangupCause::AgentHangup,
    }));
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
    assert_eq!(h.state("7001"), "wrap_up");
    let a = h.ev(Event::CallerHungUp { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Third,
        cause: HangupCause::CallerHangup,
    }));
    let r = record(&a);
    assert_eq!(r.cause.as_str(), "caller_hangup");
    assert_eq!(r.agent.as_deref(), Some("7001"));
}

#[test]
fn back_to_the_caller_ends_the_consultation() {
    let mut h = with_expert();
    keys(&mut h, "*412320#");
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = keys(&mut h, "*6");
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Third,
        cause: HangupCause::AgentHangup,
    }));
    assert!(bridged_back(&a), "caller and agent together again: {a:?}");
    // The seat is free for the next consultation.
    let a = ask(
        &mut h,
        AgentRequest::Consult {
            target: "12320".into(),
        },
    );
    assert!(consulting(&a));
}

#[test]
fn a_consultation_that_fails_gives_the_agent_the_caller_back_with_the_cause() {
    let mut h = with_expert();
    keys(&mut h, "*412320#");
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Busy,
    });
    assert!(bridged_back(&a), "{a:?}");
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Operator(OperatorEvent::TransferFailed { agent, .. }) if agent == "7001"
    )));
    assert_eq!(h.state("7001"), "talking");
}

#[test]
fn the_expert_hanging_up_during_the_consultation_returns_the_caller() {
    let mut h = with_expert();
    keys(&mut h, "*412320#");
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = h.ev(Event::ThirdHungUp { call: 1 });
    assert!(bridged_back(&a), "{a:?}");
    assert_eq!(h.state("7001"), "talking");
}

#[test]
fn completing_while_the_expert_still_rings_leaves_the_caller_waiting_and_a_failure_comes_back() {
    let mut h = with_expert();
    keys(&mut h, "*412320#");
    h.ev(Event::ThirdRinging { call: 1 });
    let a = ask(&mut h, AgentRequest::Complete);
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: HangupCause::AgentHangup,
    }));
    assert!(
        a.iter().any(|x| matches!(x, Action::Play { call: 1, .. })),
        "the caller is told they are being put through: {a:?}"
    );
    // The seat never answers: the caller is offered back to the same agent.
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Unreachable,
    });
    assert!(
        a.iter().any(|x| matches!(
            x,
            Action::RingAgent { call: 1, agent, .. } if agent == "7001"
        )),
        "{a:?}"
    );
}

#[test]
fn join_turns_the_consultation_into_a_three_way_call() {
    let mut h = with_expert();
    let a = ask(&mut h, AgentRequest::Join);
    assert_eq!(refused(&a), Some("no consultation to join"));
    keys(&mut h, "*412320#");
    let a = ask(&mut h, AgentRequest::Join);
    assert_eq!(refused(&a), Some("no answered consultation to join"));
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = ask(&mut h, AgentRequest::Join);
    assert!(a.contains(&Action::Conference {
        call: 1,
        agent: "7001".into()
    }));
    // Now an ordinary three-way call: the expert's hang-up leaves agent and caller talking.
    let a = h.ev(Event::ThirdHungUp { call: 1 });
    assert!(bridged_back(&a));
}

#[test]
fn nothing_to_complete_and_a_queue_is_no_consultation_target() {
    let mut h = with_expert();
    let a = keys(&mut h, "*5");
    assert_eq!(refused(&a), Some("no transfer to complete"));
    let a = keys(&mut h, "*412345#");
    assert_eq!(
        refused(&a),
        Some("a three-way call or consultation needs a seat or a number")
    );
    let a = keys(&mut h, "*413800138000#");
    assert!(
        a.iter().any(|x| matches!(x, Action::Dial { dest: Dest::Trunk { number, .. }, .. } if number == "13800138000")),
        "an allowed number is consulted over the outbound trunk: {a:?}"
    );
}
