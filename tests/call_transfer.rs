//! Call control on a virtual clock with the shipped demo dialplans: three-way calls, blind
//! transfers and emergency hand-offs — what is dialled, over which trunk, presenting which
//! number, and where the caller ends up when the third party answers, fails or hangs up.

mod call_harness;

use call_harness::*;
use rexian::call::event::{
    AgentRequest, Dest, HandoffOutcome, Leg, OperatorEvent, RingFailure, ThirdKind,
};
use rexian::call::plan::Dialplan;
use rexian::call::{Action, Event};

/// The agent types `keys` on the phone's keypad during call 1.
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

fn dials(actions: &[Action]) -> Vec<(Dest, String, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial {
                dest,
                present,
                emergency,
                ..
            } => Some((dest.clone(), present.expose().clone(), *emergency)),
            _ => None,
        })
        .collect()
}

fn handoffs(actions: &[Action]) -> Vec<(Option<HandoffOutcome>, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Operator(OperatorEvent::Handoff { handoff, alarm }) => {
                Some((handoff.outcome, *alarm))
            }
            _ => None,
        })
        .collect()
}

fn trunk(name: &str, number: &str) -> Dest {
    Dest::Trunk {
        trunk: name.into(),
        number: number.into(),
    }
}

fn refused(actions: &[Action]) -> Option<&'static str> {
    actions.iter().find_map(|a| match a {
        Action::Operator(OperatorEvent::FeatureRefused { reason, .. }) => Some(*reason),
        _ => None,
    })
}

/// The demo plan with a second trunk, `backup`, after `loopback` for every outbound use.
fn two_trunks() -> Dialplan {
    let mut plan = demo();
    let mut backup = plan.trunks[0].clone();
    backup.name = "backup".into();
    backup.acl.clear();
    backup.address = Some("127.0.0.1:5082".into());
    plan.trunks.push(backup);
    plan.emergency.trunks = vec!["loopback".into(), "backup".into()];
    plan.outbound.trunks = vec!["loopback".into(), "backup".into()];
    plan
}

#[test]
fn emergency_keys_dial_110_with_the_citizens_number_then_three_talk_and_the_agent_leaves() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    // `*0110` completes on its last digit: no `#`, no pause.
    assert!(dials(&keys(&mut h, "*011")).is_empty());
    let a = keys(&mut h, "0");
    assert_eq!(
        dials(&a),
        vec![(trunk("loopback", "110"), "13800138000".into(), true)],
        "the centre sees the citizen's own number (号码透传 on the demo trunk)"
    );
    assert_eq!(
        handoffs(&a),
        vec![(None, false)],
        "supervisors hear at once"
    );
    assert_eq!(h.state("7001"), "talking", "three-way: the agent stays");
    h.ev(Event::ThirdRinging { call: 1 });
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(a.contains(&Action::Conference {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(handoffs(&a), vec![(Some(HandoffOutcome::Connected), false)]);
    // The agent briefs the operator, then hangs up: caller and 110 stay connected.
    let a = h.ev(Event::AgentHungUp { call: 1 });
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
    assert_eq!(h.state("7001"), "wrap_up");
    assert!(!a.iter().any(|x| matches!(x, Action::CallRecordReady(_))));
    // The operator ends the call: the caller's leg goes too, one record for everything.
    let a = h.ev(Event::ThirdHungUp { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Caller,
        cause: rexian::call::record::HangupCause::ThirdHangup,
    }));
    let r = record(&a);
    assert_eq!(r.agent.as_deref(), Some("7001"));
    assert_eq!(r.cause.as_str(), "third_hangup");
    let done = handoffs(&a);
    assert_eq!(done, vec![(Some(HandoffOutcome::Connected), false)]);
}

#[test]
fn a_caller_who_hangs_up_before_the_centre_answers_raises_an_alarm() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    keys(&mut h, "*0120");
    let a = h.ev(Event::CallerHungUp { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Third,
        cause: rexian::call::record::HangupCause::CallerHangup,
    }));
    assert_eq!(
        handoffs(&a),
        vec![(Some(HandoffOutcome::CallerHungUp), true)]
    );
}

#[test]
fn a_failing_trunk_gives_way_to_the_next_and_emergency_calls_may_use_the_reserve() {
    let mut plan = two_trunks();
    // loopback: 2 calls, 1 of them kept for emergencies; the citizen's call takes the other.
    plan.trunks[0].max_calls = 2;
    plan.trunks[0].emergency_reserved = 1;
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    talking(&mut h, 1, "12345");
    // An ordinary number may not use the reserve: it goes over the backup trunk.
    let a = keys(&mut h, "*313912345678#");
    assert_eq!(
        dials(&a),
        vec![(trunk("backup", "13912345678"), "12345".into(), false)],
        "ordinary calls present the hotline's number"
    );
    h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Busy,
    });
    // 110 may: loopback first; it fails as a trunk (503), so backup is tried.
    let a = keys(&mut h, "*0110");
    assert_eq!(dials(&a)[0].0, trunk("loopback", "110"));
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Other(503),
    });
    assert_eq!(dials(&a)[0].0, trunk("backup", "110"));
    assert!(handoffs(&a).is_empty(), "not over yet");
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Unreachable,
    });
    assert!(dials(&a).is_empty());
    assert_eq!(handoffs(&a), vec![(Some(HandoffOutcome::Failed), true)]);
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::Operator(OperatorEvent::TransferFailed { .. }))));
    assert_eq!(
        h.state("7001"),
        "talking",
        "the agent is still with the caller"
    );
}

#[test]
fn a_failed_blind_transfer_gives_the_caller_back_to_the_same_agent() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = keys(&mut h, "##13912345678#");
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: rexian::call::record::HangupCause::AgentHangup,
    }));
    assert_eq!(played(&a), vec!["transferring"]);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Operator(OperatorEvent::TransferStarted {
            kind: ThirdKind::Blind,
            ..
        })
    )));
    assert_eq!(h.state("7001"), "wrap_up");
    let a = h.ev(Event::PlaybackDone { call: 1 });
    assert!(matches!(&a[..], [Action::StartMoh { .. }]));
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Busy,
    });
    assert_eq!(played(&a), vec!["transfer_failed"]);
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    assert_eq!(h.state("7001"), "talking");
}

#[test]
fn a_failed_blind_transfer_puts_the_caller_at_the_head_of_the_queue_when_the_agent_is_gone() {
    let mut h = H::demo();
    h.agent("7001");
    h.agent("7002");
    talking(&mut h, 1, "12345");
    // 7002 takes another call; a third caller waits.
    h.queued(2, "12345", "13900139000");
    h.ev(Event::AgentAnswered {
        call: 2,
        agent: "7002".into(),
    });
    h.queued(3, "12345", "13700137000");
    keys(&mut h, "##13912345678#");
    h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: None,
        digits: "*22".into(),
    });
    assert_eq!(h.state("7001"), "logged_out");
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Unreachable,
    });
    assert_eq!(played(&a), vec!["transfer_failed"]);
    assert!(rings(&a).is_empty());
    // The first agent free takes call 1, ahead of call 3 that waited in the queue.
    h.ev(Event::CallerHungUp { call: 2 });
    let a = h.wait(16.0);
    assert_eq!(rings(&a), vec![(1, "7002".to_string())]);
}

#[test]
fn a_blind_transfer_that_answers_connects_caller_and_third_party() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = keys(&mut h, "##12366#");
    assert_eq!(
        dials(&a),
        vec![(trunk("loopback", "12366"), "12345".into(), false)],
        "the sub-centre line is dialled over the outbound trunks"
    );
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
    let a = h.ev(Event::CallerHungUp { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Third,
        cause: rexian::call::record::HangupCause::CallerHangup,
    }));
    assert_eq!(record(&a).cause.as_str(), "caller_hangup");
}

#[test]
fn three_way_with_an_expert_seat_needs_the_seat_registered_and_open() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = keys(&mut h, "*312320#");
    assert_eq!(refused(&a), Some("no expert seat free for this line"));
    h.agent("8320");
    let a = keys(&mut h, "*312320#");
    assert_eq!(dials(&a)[0].0, Dest::Account("8320".into()));
    // The expert leaves: agent and caller go on together.
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = h.ev(Event::ThirdHungUp { call: 1 });
    assert!(a.contains(&Action::Bridge {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(h.state("7001"), "talking");
    // After hours (20:00) the seat is closed.
    h.wait(10.0 * 3600.0);
    let a = keys(&mut h, "*38320#");
    assert_eq!(refused(&a), Some("the expert seat is closed now"));
}

#[test]
fn a_number_typed_without_hash_is_dialled_after_a_pause() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    assert!(dials(&keys(&mut h, "*313912345678")).is_empty());
    let a = h.wait(3.5);
    assert_eq!(dials(&a)[0].0, trunk("loopback", "13912345678"));
    // Keys that are no code are refused; plain digits outside a code are ignored.
    assert!(keys(&mut h, "5").is_empty());
    let a = keys(&mut h, "*9");
    assert_eq!(refused(&a), Some("unknown feature code"));
}

#[test]
fn the_api_can_ask_for_a_blind_emergency_hand_off_and_only_on_the_agents_own_call() {
    let mut h = H::demo();
    h.agent("7001");
    h.agent("7002");
    let a = h.ev(Event::AgentRequest {
        agent: "7002".into(),
        request: AgentRequest::Emergency {
            number: "119".into(),
            three_way: Some(false),
            reason: "fire".into(),
        },
    });
    assert_eq!(refused(&a), Some("needs a call in progress"));
    talking(&mut h, 1, "12345");
    let a = h.ev(Event::AgentRequest {
        agent: "7001".into(),
        request: AgentRequest::Emergency {
            number: "119".into(),
            three_way: Some(false),
            reason: "fire".into(),
        },
    });
    assert_eq!(dials(&a)[0].0, trunk("loopback", "119"));
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: rexian::call::record::HangupCause::AgentHangup,
    }));
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
}

#[test]
fn an_agent_who_hangs_up_while_the_expert_still_rings_leaves_the_caller_waiting_for_them() {
    let mut h = H::demo();
    h.agent("7001");
    h.agent("8320");
    talking(&mut h, 1, "12345");
    keys(&mut h, "*312320#");
    let a = h.ev(Event::AgentHungUp { call: 1 });
    assert_eq!(played(&a), vec!["transferring"], "the caller is told");
    assert_eq!(h.state("7001"), "wrap_up");
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
    // The expert was busy with this call: another three-way cannot take the seat meanwhile.
    h.agent("7002");
    h.queued(2, "12345", "13900139000");
    h.ev(Event::AgentAnswered {
        call: 2,
        agent: "7002".into(),
    });
    let a = h.ev(Event::FeatureCode {
        agent: "7002".into(),
        call: Some(2),
        digits: "*38320".into(),
    });
    assert_eq!(refused(&a), Some("the expert seat is busy"));
}

#[test]
fn the_api_drops_the_third_party_or_lets_the_agent_leave_the_three_way_call() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let leave = |h: &mut H| {
        h.ev(Event::AgentRequest {
            agent: "7001".into(),
            request: AgentRequest::Leave,
        })
    };
    assert_eq!(refused(&leave(&mut h)), Some("no three-way call to leave"));
    keys(&mut h, "*312366#");
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = h.ev(Event::AgentRequest {
        agent: "7001".into(),
        request: AgentRequest::DropThird,
    });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Third,
        cause: rexian::call::record::HangupCause::AgentHangup,
    }));
    assert!(a.contains(&Action::Bridge {
        call: 1,
        agent: "7001".into()
    }));
    keys(&mut h, "*312366#");
    let a = h.ev(Event::AgentRequest {
        agent: "7001".into(),
        request: AgentRequest::ThreeWay {
            target: "12366".into(),
        },
    });
    assert_eq!(refused(&a), Some("a third party is already on the call"));
    h.ev(Event::ThirdAnswered { call: 1 });
    let a = leave(&mut h);
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: rexian::call::record::HangupCause::AgentHangup,
    }));
    assert!(a.contains(&Action::BridgeThird { call: 1 }));
    assert_eq!(h.state("7001"), "wrap_up");
}

#[test]
fn a_supervisor_listens_whispers_and_barges_on_one_call_and_leaves_it_as_it_was() {
    use rexian::call::event::MonitorMode;
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let ask = |h: &mut H, who: &str, mode| {
        h.ev(Event::Monitor {
            mode,
            call: 1,
            supervisor: who.into(),
        })
    };
    let monitor = |mode| Action::Monitor {
        call: 1,
        agent: "7001".into(),
        mode,
    };
    let a = ask(&mut h, "9001", MonitorMode::Listen);
    assert_eq!(dials(&a)[0].0, Dest::Account("9001".into()));
    let a = h.ev(Event::ThirdAnswered { call: 1 });
    assert!(a.contains(&monitor(MonitorMode::Listen)), "{a:?}");
    // The same supervisor switches mode on the call it is on: no second call.
    let a = ask(&mut h, "9001", MonitorMode::Whisper);
    assert!(dials(&a).is_empty() && a.contains(&monitor(MonitorMode::Whisper)));
    let a = ask(&mut h, "9001", MonitorMode::Barge);
    assert!(a.contains(&monitor(MonitorMode::Barge)));
    let a = ask(&mut h, "9002", MonitorMode::Barge);
    assert_eq!(refused(&a), Some("a third party is already on the call"));
    let a = h.ev(Event::ThirdHungUp { call: 1 });
    assert!(a.contains(&Action::Bridge {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(h.state("7001"), "talking");
}

#[test]
fn a_trunk_whose_health_check_fails_is_skipped_until_it_answers_again() {
    let mut h = H::new(two_trunks(), MONDAY_10H);
    h.agent("7001");
    talking(&mut h, 1, "12345");
    h.ev(Event::TrunkState {
        trunk: "loopback".into(),
        up: false,
    });
    let a = keys(&mut h, "*0110");
    assert_eq!(dials(&a)[0].0, trunk("backup", "110"), "loopback is down");
    // Backup fails too: nothing is left (the down trunk is not tried).
    let a = h.ev(Event::ThirdFailed {
        call: 1,
        cause: RingFailure::Unreachable,
    });
    assert!(dials(&a).is_empty());
    assert_eq!(handoffs(&a), vec![(Some(HandoffOutcome::Failed), true)]);
    // Loopback answers its pings again: the next hand-off goes over it first.
    h.ev(Event::TrunkState {
        trunk: "loopback".into(),
        up: true,
    });
    let a = keys(&mut h, "*0110");
    assert_eq!(dials(&a)[0].0, trunk("loopback", "110"));
}
