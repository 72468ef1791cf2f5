//! Agents' own outbound calls on a virtual clock with the shipped demo dialplans: which
//! numbers are dialled and which refused, over which trunk presenting which number, what the
//! phone is told when the far end is busy or does not answer, and the agent's state during
//! and after the call.

mod call_harness;

use call_harness::*;
use rexian::call::control::outbound::{
    Origin, OutboundAction, OutboundEvent, OutboundRecord, AGENT_RING, NO_ANSWER,
};
use rexian::call::event::{OperatorEvent, RingFailure};
use rexian::call::plan::Dialplan;
use rexian::call::{Action, Event};
use rexian::pii::Pii;

fn ask(h: &mut H, call: u64, agent: &str, number: &str, origin: Origin) -> Vec<Action> {
    h.ev(Event::Outbound(OutboundEvent::Asked {
        call,
        agent: agent.into(),
        number: Pii::new(number.into()),
        ticket: Some("T-1".into()),
        origin,
    }))
}

fn out(h: &mut H, e: OutboundEvent) -> Vec<Action> {
    h.ev(Event::Outbound(e))
}

fn outs(actions: &[Action]) -> Vec<OutboundAction> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Outbound(o) if !matches!(o, OutboundAction::Record(_)) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn dial(call: u64, trunk: &str, number: &str) -> OutboundAction {
    OutboundAction::Dial {
        call,
        trunk: trunk.into(),
        number: Pii::new(number.into()),
        present: "12345".into(),
    }
}

fn out_record(actions: &[Action]) -> OutboundRecord {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Outbound(OutboundAction::Record(r)) => Some((**r).clone()),
            _ => None,
        })
        .expect("an outbound record")
}

/// The demo plan with a second outbound trunk, `backup`, after `loopback`.
fn two_trunks() -> Dialplan {
    let mut plan = demo();
    let mut backup = plan.trunks[0].clone();
    backup.name = "backup".into();
    backup.acl.clear();
    plan.trunks.push(backup);
    plan.outbound.trunks = vec!["loopback".into(), "backup".into()];
    plan
}

#[test]
fn an_agent_dials_an_allowed_mobile_from_the_phone_talks_and_goes_to_wrap_up() {
    let mut h = H::demo();
    h.agent("7001");
    assert_eq!(h.state("7001"), "ready");
    let a = ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    assert_eq!(outs(&a), vec![dial(50, "loopback", "13800138000")]);
    assert_eq!(h.state("7001"), "talking", "busy from the first INVITE");
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Operator(OperatorEvent::Outbound {
            state: "started",
            ..
        })
    )));
    // A citizen calls meanwhile: the agent is not offered the call.
    let a = h.queued(1, "12345", "13900139000");
    assert!(
        rings(&a).is_empty(),
        "no queue call for an agent on an outbound call"
    );
    let a = out(&mut h, OutboundEvent::FarRinging { call: 50 });
    assert_eq!(outs(&a), vec![OutboundAction::Ringing { call: 50 }]);
    h.wait(5.0);
    let a = out(&mut h, OutboundEvent::FarAnswered { call: 50 });
    assert_eq!(outs(&a), vec![OutboundAction::Connect { call: 50 }]);
    h.wait(30.0);
    let a = out(&mut h, OutboundEvent::AgentGone { call: 50 });
    assert_eq!(outs(&a), vec![OutboundAction::HangupFar { call: 50 }]);
    let r = out_record(&a);
    assert_eq!(r.cause, "agent_hangup");
    assert_eq!(r.trunk.as_deref(), Some("loopback"));
    assert_eq!(r.ticket.as_deref(), Some("T-1"));
    assert_eq!(r.present, "12345");
    assert_eq!(r.answered_ms, Some(MONDAY_10H + 5_000));
    assert_eq!(r.ended_ms, MONDAY_10H + 35_000);
    assert_eq!(
        h.state("7001"),
        "wrap_up",
        "wrap-up after the call, as after any call"
    );
    // After the 12345 queue's wrap-up the agent is ready and takes the waiting citizen.
    let a = h.wait(10.0);
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
}

#[test]
fn numbers_no_dialplan_allows_are_refused_with_403_and_a_security_event() {
    let mut h = H::demo();
    h.agent("7001");
    for number in [
        "999",
        "0012125550100",
        "13800138000;x",
        "",
        "+8613800138000",
    ] {
        let a = ask(&mut h, 60, "7001", number, Origin::Phone);
        assert_eq!(
            outs(&a),
            vec![OutboundAction::Refused {
                call: 60,
                status: 403,
                reason: "number not allowed by the dialplans",
                security: true,
            }],
            "{number}"
        );
        assert_eq!(h.state("7001"), "ready", "nothing changed for {number}");
    }
    // The demo's patterns: mobiles and 三门峡 landlines; emergency numbers are always allowed.
    let a = ask(&mut h, 61, "7001", "03982345678", Origin::Phone);
    assert_eq!(outs(&a), vec![dial(61, "loopback", "03982345678")]);
}

#[test]
fn an_agent_on_a_call_or_being_offered_one_cannot_dial_out() {
    let mut h = H::demo();
    h.agent("7001");
    h.queued(1, "12345", "13900139000");
    assert_eq!(h.state("7001"), "ringing");
    let a = ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    assert!(matches!(
        outs(&a)[..],
        [OutboundAction::Refused {
            status: 486,
            security: false,
            ..
        }]
    ));
    h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    // Consultation from the phone is to come; for now a talking agent is refused.
    let a = ask(&mut h, 51, "7001", "13800138000", Origin::Phone);
    assert!(matches!(
        outs(&a)[..],
        [OutboundAction::Refused {
            status: 403,
            security: false,
            ..
        }]
    ));
    assert_eq!(h.state("7001"), "talking");
}

#[test]
fn a_failing_trunk_gives_way_to_the_next_and_a_busy_far_end_is_final() {
    let mut h = H::new(two_trunks(), MONDAY_10H);
    h.agent("7001");
    ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    let a = out(
        &mut h,
        OutboundEvent::FarFailed {
            call: 50,
            cause: RingFailure::Other(503),
        },
    );
    assert_eq!(outs(&a), vec![dial(50, "backup", "13800138000")]);
    let a = out(
        &mut h,
        OutboundEvent::FarFailed {
            call: 50,
            cause: RingFailure::Busy,
        },
    );
    assert_eq!(
        outs(&a),
        vec![OutboundAction::HangupAgent {
            call: 50,
            status: 486
        }],
        "the phone hears busy"
    );
    let r = out_record(&a);
    assert_eq!(
        (r.cause, r.trunk.as_deref(), r.answered_ms),
        ("busy", Some("backup"), None)
    );
    assert_eq!(
        h.state("7001"),
        "ready",
        "no wrap-up after a call that never connected"
    );
}

#[test]
fn trunk_limits_and_trunks_that_are_down_are_respected() {
    let mut plan = two_trunks();
    // loopback: 2 calls, 1 kept for emergencies.
    plan.trunks[0].max_calls = 2;
    plan.trunks[0].emergency_reserved = 1;
    plan.trunks[1].max_calls = 1;
    plan.trunks[1].emergency_reserved = 0;
    let mut h = H::new(plan, MONDAY_10H);
    for a in ["7001", "7002", "7003"] {
        h.agent(a);
    }
    let a = ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    assert_eq!(outs(&a), vec![dial(50, "loopback", "13800138000")]);
    let a = ask(&mut h, 51, "7002", "13800138001", Origin::Phone);
    assert_eq!(
        outs(&a),
        vec![dial(51, "backup", "13800138001")],
        "the reserve is kept"
    );
    let a = ask(&mut h, 52, "7003", "13800138002", Origin::Phone);
    assert_eq!(
        outs(&a),
        vec![OutboundAction::HangupAgent {
            call: 52,
            status: 503
        }],
        "no trunk has room"
    );
    assert_eq!(out_record(&a).cause, "no_trunk");
    // The first call ends: its trunk has room again.
    out(&mut h, OutboundEvent::AgentGone { call: 50 });
    h.ev(Event::TrunkState {
        trunk: "backup".into(),
        up: false,
    });
    let a = ask(&mut h, 53, "7003", "13800138002", Origin::Phone);
    assert_eq!(outs(&a), vec![dial(53, "loopback", "13800138002")]);
}

#[test]
fn a_far_end_that_does_not_answer_is_given_up_and_the_phone_hears_480() {
    let mut h = H::demo();
    h.agent("7001");
    ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    out(&mut h, OutboundEvent::FarRinging { call: 50 });
    let a = h.wait(NO_ANSWER.as_secs_f64());
    assert_eq!(
        outs(&a),
        vec![
            OutboundAction::HangupFar { call: 50 },
            OutboundAction::HangupAgent {
                call: 50,
                status: 480
            }
        ]
    );
    assert_eq!(out_record(&a).cause, "no_answer");
    // A late answer after that does nothing.
    assert!(outs(&out(&mut h, OutboundEvent::FarAnswered { call: 50 })).is_empty());
}

#[test]
fn an_agent_not_ready_goes_back_to_not_ready_with_its_reason_after_wrap_up() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "回访".into(),
    });
    ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    out(&mut h, OutboundEvent::FarAnswered { call: 50 });
    let a = out(&mut h, OutboundEvent::FarHungUp { call: 50 });
    assert_eq!(
        outs(&a),
        vec![OutboundAction::HangupAgent {
            call: 50,
            status: 200
        }]
    );
    assert_eq!(out_record(&a).cause, "far_hangup");
    assert_eq!(h.state("7001"), "wrap_up");
    h.wait(10.0);
    assert_eq!(h.state("7001"), "not_ready");
}

#[test]
fn click_to_dial_rings_the_agents_phone_first_then_dials() {
    let mut h = H::demo();
    // Not registered: refused before anything rings.
    let a = ask(&mut h, 70, "7001", "13800138000", Origin::Desk);
    assert!(matches!(
        outs(&a)[..],
        [OutboundAction::Refused { status: 480, .. }]
    ));
    h.agent("7001");
    let a = ask(&mut h, 71, "7001", "13800138000", Origin::Desk);
    assert_eq!(
        outs(&a),
        vec![OutboundAction::RingAgent {
            call: 71,
            agent: "7001".into(),
            number: Pii::new("13800138000".into())
        }]
    );
    assert_eq!(h.state("7001"), "talking");
    let a = out(&mut h, OutboundEvent::AgentAnswered { call: 71 });
    assert_eq!(outs(&a), vec![dial(71, "loopback", "13800138000")]);
    let a = out(&mut h, OutboundEvent::FarRinging { call: 71 });
    assert!(
        outs(&a).is_empty(),
        "no 180 to send: the agent's phone is answered"
    );
    out(&mut h, OutboundEvent::FarAnswered { call: 71 });
    let r = out_record(&out(&mut h, OutboundEvent::FarHungUp { call: 71 }));
    assert_eq!((r.origin, r.ticket.as_deref()), (Origin::Desk, Some("T-1")));

    // The agent does not pick up: given up after a while, nothing was dialled.
    h.wait(10.0);
    let a = ask(&mut h, 72, "7001", "13800138000", Origin::Desk);
    assert_eq!(outs(&a).len(), 1);
    let a = h.wait(AGENT_RING.as_secs_f64());
    assert_eq!(
        outs(&a),
        vec![OutboundAction::HangupAgent {
            call: 72,
            status: 480
        }]
    );
    assert_eq!(out_record(&a).cause, "agent_no_answer");
    assert_eq!(h.state("7001"), "ready");
}

#[test]
fn a_supervisor_can_end_an_outbound_call() {
    let mut h = H::demo();
    h.agent("7001");
    ask(&mut h, 50, "7001", "13800138000", Origin::Phone);
    out(&mut h, OutboundEvent::FarAnswered { call: 50 });
    assert!(h.cc.has_call(50));
    let a = h.ev(Event::ForceHangup { call: 50 });
    assert_eq!(
        outs(&a),
        vec![
            OutboundAction::HangupFar { call: 50 },
            OutboundAction::HangupAgent {
                call: 50,
                status: 480
            }
        ]
    );
    assert_eq!(out_record(&a).cause, "operator");
    assert!(!h.cc.has_call(50));
    assert_eq!(h.state("7001"), "wrap_up");
}
