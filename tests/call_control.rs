//! Call control on a virtual clock with the shipped demo dialplans: the caller's path from the
//! trunk INVITE to the call record (greeting, queue, abandon, restriction, rating, reload …).

mod call_harness;

use std::sync::Arc;
use std::time::Duration;

use call_harness::*;
use rexian::call::event::{Arrival, Leg, OperatorEvent};
use rexian::call::line::{resolve, Dialled};
use rexian::call::record::{HangupCause, Rating};
use rexian::call::{Action, Event};
use rexian::pii::Pii;

#[test]
fn greeting_queue_ring_bridge_record_and_wrap_up() {
    let mut h = H::demo();
    h.agent("7001");
    assert_eq!(h.state("7001"), "ready");
    let a = h.call(1, "12345", "+8613800138000");
    assert_eq!(a[0], Action::AnswerCaller { call: 1 });
    assert_eq!(played(&a), vec!["greeting"]);
    assert!(rings(&a).is_empty(), "no agent is rung during the greeting");
    h.wait(6.0);
    let a = h.ev(Event::PlaybackDone { call: 1 });
    assert!(a.contains(&Action::StartMoh {
        call: 1,
        prompt: "moh".into()
    }));
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    let Some(Action::RingAgent { line, caller, .. }) =
        a.iter().find(|x| matches!(x, Action::RingAgent { .. }))
    else {
        unreachable!()
    };
    assert_eq!(line, "12345");
    assert_eq!(caller.expose(), "13800138000");
    h.wait(3.0);
    let a = h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    assert!(a.contains(&Action::Bridge {
        call: 1,
        agent: "7001".into()
    }));
    assert!(a.contains(&Action::StartRecording {
        call: 1,
        path: "2026-11-23/1-12345.wav".into()
    }));
    assert_eq!(h.state("7001"), "talking");
    h.wait(120.0);
    let a = h.ev(Event::CallerHungUp { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: HangupCause::CallerHangup
    }));
    let r = record(&a);
    assert_eq!(r.line, "12345");
    assert_eq!(r.agent.as_deref(), Some("7001"));
    assert_eq!(r.ring_attempts, 1);
    assert_eq!(r.wait_ms, Some(3000));
    assert_eq!(r.arrived_ms, MONDAY_10H);
    assert_eq!(r.answered_ms, Some(MONDAY_10H + 9000));
    assert!(r.service_level_met);
    assert!(!r.abandoned);
    assert_eq!(r.cause, HangupCause::CallerHangup);
    assert_eq!(r.recording.as_deref(), Some("2026-11-23/1-12345.wav"));
    assert_eq!(h.state("7001"), "wrap_up");
    h.queued(2, "12345", "13900139000");
    assert_eq!(
        h.state("7001"),
        "wrap_up",
        "no call is offered during wrap-up"
    );
    let a = h.wait(10.0);
    assert_eq!(rings(&a), vec![(2, "7001".to_string())]);
}

#[test]
fn the_service_level_counts_from_the_trunk_invite_to_the_agents_answer() {
    let mut h = H::demo();
    h.agent("7001");
    h.call(1, "12345", "13800138000");
    h.wait(14.0);
    h.ev(Event::PlaybackDone { call: 1 });
    h.wait(2.0);
    h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    h.ev(Event::AgentHungUp { call: 1 });
    h.ev(Event::PlaybackDone { call: 1 });
    let r = record(&h.wait(8.0));
    assert!(!r.service_level_met, "16 s after the INVITE");
    assert_eq!(r.rating, Some(Rating::NoAnswer));
}

#[test]
fn abandon_while_queued_is_recorded_with_its_wait() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "break".into(),
    });
    h.queued(1, "12345", "13800138000");
    h.wait(42.0);
    let r = record(&h.ev(Event::CallerHungUp { call: 1 }));
    assert!(r.abandoned);
    assert_eq!(r.cause, HangupCause::Abandoned);
    assert_eq!(r.wait_ms, Some(42_000));
    assert_eq!(r.agent, None);
    assert!(!r.service_level_met);
    assert_eq!(h.cc.status(h.now).calls_in_progress, 0);
}

#[test]
fn a_restricted_caller_hears_the_emergency_numbers_and_the_call_ends() {
    let mut h = H::demo();
    h.agent("7001");
    for i in 0..10 {
        let a = h.call(i, "12345", "13800138000");
        assert_eq!(played(&a), vec!["greeting"], "call {i}");
        h.ev(Event::CallerHungUp { call: i });
        h.wait(30.0);
    }
    let a = h.call(10, "12345", "+86 138 0013 8000");
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::RestrictedNotice { call: 10, .. })));
    assert_eq!(played(&a), vec!["restricted"]);
    let a = h.ev(Event::PlaybackDone { call: 10 });
    assert!(a.contains(&Action::Hangup {
        call: 10,
        leg: Leg::Caller,
        cause: HangupCause::Restricted
    }));
    assert_eq!(record(&a).cause, HangupCause::Restricted);
    assert_eq!(h.cc.restrictions(h.now).len(), 1);
    assert_eq!(h.cc.status(h.now).restricted_callers, 1);
    // Expires by itself.
    h.wait(3600.0);
    assert_eq!(
        played(&h.call(11, "12345", "13800138000")),
        vec!["greeting"]
    );
    // Anonymous callers are never lumped into one.
    for i in 20..40 {
        assert_eq!(played(&h.call(i, "12345", "anonymous")), vec!["greeting"]);
        h.ev(Event::CallerHungUp { call: i });
    }
    // A supervisor marks and lifts.
    h.ev(Event::MarkCaller {
        number: "2345678".into(),
        span: Duration::from_secs(600),
        by: "sup".into(),
        note: "test".into(),
    });
    assert_eq!(
        played(&h.call(50, "12345", "03982345678")),
        vec!["restricted"]
    );
    h.ev(Event::LiftRestriction {
        number: "03982345678".into(),
    });
    assert_eq!(
        played(&h.call(51, "12345", "03982345678")),
        vec!["greeting"]
    );
}

#[test]
fn the_caller_rates_the_call_after_the_agent_hangs_up() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = h.ev(Event::AgentHungUp { call: 1 });
    assert_eq!(played(&a), vec!["survey"]);
    assert!(!a.iter().any(|x| matches!(x, Action::CallRecordReady(_))));
    assert_eq!(h.state("7001"), "wrap_up");
    h.ev(Event::PlaybackDone { call: 1 });
    h.ev(Event::Dtmf {
        call: 1,
        digit: '7',
    });
    let a = h.ev(Event::Dtmf {
        call: 1,
        digit: '2',
    });
    assert_eq!(played(&a), vec!["rating_thanks"]);
    let a = h.ev(Event::PlaybackDone { call: 1 });
    let r = record(&a);
    assert_eq!(r.rating, Some(Rating::BasicallySatisfied));
    assert_eq!(r.cause, HangupCause::AgentHangup);
    // The caller hangs up during the survey: no answer.
    h.wait(10.0);
    talking(&mut h, 2, "12345");
    h.ev(Event::AgentHungUp { call: 2 });
    assert_eq!(
        record(&h.ev(Event::CallerHungUp { call: 2 })).rating,
        Some(Rating::NoAnswer)
    );
}

#[test]
fn rating_can_be_switched_off_per_line() {
    let mut plan = demo();
    plan.lines
        .iter_mut()
        .find(|l| l.number == "12300")
        .unwrap()
        .rating = Some(false);
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    talking(&mut h, 1, "12300");
    let a = h.ev(Event::AgentHungUp { call: 1 });
    assert!(played(&a).is_empty());
    let r = record(&a);
    assert_eq!((r.rating, r.line.as_str()), (None, "12300"));
}

#[test]
fn a_reload_changes_new_calls_and_leaves_calls_in_progress_alone() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let mut next = demo();
    for q in &mut next.queues {
        q.rating = false;
        q.wrap_up = Duration::ZERO;
    }
    next.lines.retain(|l| l.number != "12396");
    h.ev(Event::DialplanReloaded(Arc::new(next)));
    // The call in progress keeps its plan: it is still rated.
    assert_eq!(
        played(&h.ev(Event::AgentHungUp { call: 1 })),
        vec!["survey"]
    );
    h.ev(Event::Dtmf {
        call: 1,
        digit: '1',
    });
    h.ev(Event::PlaybackDone { call: 1 });
    h.wait(10.0);
    assert_eq!(h.state("7001"), "ready");
    // New calls follow the new plan: no rating, no wrap-up, 12396 retired.
    talking(&mut h, 2, "12345");
    let a = h.ev(Event::AgentHungUp { call: 2 });
    assert!(played(&a).is_empty());
    assert_eq!(h.state("7001"), "ready");
    assert!(h
        .call(3, "12396", "13800138000")
        .contains(&Action::RejectCaller {
            call: 3,
            status: 404
        }));
}

#[test]
fn no_agent_logged_in_gets_a_clear_prompt() {
    let mut h = H::demo();
    let a = h.queued(1, "12345", "13800138000");
    assert_eq!(played(&a), vec!["no_agent"]);
    let r = record(&h.ev(Event::PlaybackDone { call: 1 }));
    assert_eq!(r.cause, HangupCause::NoAgents);
}

#[test]
fn the_callback_key_and_the_max_wait_leave_a_callback_request() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "training".into(),
    });
    h.queued(1, "12345", "13800138000");
    let a = h.ev(Event::Dtmf {
        call: 1,
        digit: '1',
    });
    assert_eq!(played(&a), vec!["callback_ack"]);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Operator(OperatorEvent::CallbackRequested { call: 1, .. })
    )));
    let r = record(&h.ev(Event::PlaybackDone { call: 1 }));
    assert!(r.callback_requested);
    assert_eq!(r.cause, HangupCause::CallbackRequested);
    h.queued(2, "12345", "13900139000");
    let a = h.wait(600.0);
    assert!(played(&a).contains(&"callback_ack".to_string()), "{a:?}");
}

#[test]
fn position_announcements_interrupt_the_music_at_the_set_interval() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "x".into(),
    });
    h.queued(1, "12345", "13800138000");
    h.queued(2, "12345", "13900139000");
    let a = h.wait(45.0);
    let p = played(&a);
    assert!(
        p.contains(
            &"queue_ahead+digit_0+queue_unit+queue_waiting+queue_expect+digit_3+queue_minutes"
                .to_string()
        ),
        "{p:?}"
    );
    assert!(
        p.contains(
            &"queue_ahead+digit_1+queue_unit+queue_waiting+queue_expect+digit_6+queue_minutes"
                .to_string()
        ),
        "{p:?}"
    );
    let a = h.ev(Event::PlaybackDone { call: 2 });
    assert!(a.contains(&Action::StartMoh {
        call: 2,
        prompt: "moh".into()
    }));
    let st = h.cc.status(h.now);
    let main = st.queues.iter().find(|q| q.name == "main").unwrap();
    assert_eq!(main.waiting, 2);
    assert_eq!(st.longest_wait, Some(Duration::from_secs(45)));
    assert_eq!(st.agents_by_state.get("not_ready"), Some(&1));
}

#[test]
fn hold_plays_music_and_unhold_bridges_again() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    assert_eq!(
        h.ev(Event::Hold { call: 1, on: true }),
        vec![Action::StartMoh {
            call: 1,
            prompt: "moh".into()
        }]
    );
    assert_eq!(
        h.ev(Event::Hold { call: 1, on: false }),
        vec![Action::Bridge {
            call: 1,
            agent: "7001".into()
        }]
    );
}

#[test]
fn a_redirected_retired_number_keeps_its_line_tag() {
    let plan = demo();
    let d = |ru: &str, div: &[&str], hi: &[&str], pcp: Option<&str>| Dialled {
        request_user: ru.into(),
        diversion: div.iter().map(|s| s.to_string()).collect(),
        history_info: hi.iter().map(|s| s.to_string()).collect(),
        p_called_party_id: pcp.map(str::to_string),
    };
    let line = |x: Dialled| resolve(&plan, &x).map(|l| l.number.clone());
    assert_eq!(line(d("12345", &[], &[], None)), Some("12345".into()));
    assert_eq!(
        line(d("+86039812345", &[], &[], None)),
        Some("12345".into())
    );
    assert_eq!(line(d("039812320", &[], &[], None)), Some("12320".into()));
    assert_eq!(line(d("12300", &[], &[], None)), Some("12300".into()));
    assert_eq!(
        line(d(
            "12345",
            &[
                "<sip:12345@gw;user=phone>;reason=unconditional",
                "<sip:039812300@gw>;reason=unconditional;counter=1"
            ],
            &[],
            None
        )),
        Some("12300".into())
    );
    assert_eq!(
        line(d(
            "12345",
            &["<sip:12345@gw>, <tel:+86-398-12301>;reason=unknown"],
            &[],
            None
        )),
        Some("12301".into())
    );
    assert_eq!(
        line(d(
            "12345",
            &[],
            &[
                "<sip:12345@rexian>;index=1.1",
                "\"Old, line\" <sip:12393@gw>;index=1"
            ],
            None
        )),
        Some("12393".into())
    );
    assert_eq!(
        line(d("12345", &[], &[], Some("<tel:12385>"))),
        Some("12385".into())
    );
    assert_eq!(line(d("99999", &[], &[], None)), None);
    // The carrier's redirect puts 12345 in the Request-URI.
    let mut h = H::demo();
    h.agent("7001");
    h.cc.handle(
        Event::CallArrived(Arrival {
            call: 9,
            trunk: None,
            dialled: d(
                "12345",
                &["<sip:12349@carrier>;reason=unconditional"],
                &[],
                None,
            ),
            caller: Pii::new("13800138000".into()),
            privacy: false,
        }),
        h.now,
    );
    h.drain();
    let a = h.ev(Event::PlaybackDone { call: 9 });
    assert!(a.iter().any(|x| matches!(x, Action::RingAgent { line, line_name, .. } if line == "12349" && line_name == "民政")));
}

#[test]
fn a_trunk_keeps_its_emergency_reserve_and_delivers_only_its_numbers() {
    let mut plan = demo();
    let t = &mut plan.trunks[0];
    t.max_calls = 3;
    t.emergency_reserved = 1;
    t.numbers = Some(vec!["12345".into(), "12320".into()]);
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    assert_eq!(
        h.call(1, "12345", "13800138001")[0],
        Action::AnswerCaller { call: 1 }
    );
    assert_eq!(
        h.call(2, "12320", "13800138002")[0],
        Action::AnswerCaller { call: 2 }
    );
    assert_eq!(
        h.call(3, "12345", "13800138003"),
        vec![Action::RejectCaller {
            call: 3,
            status: 503
        }]
    );
    h.ev(Event::CallerHungUp { call: 1 });
    assert_eq!(
        h.call(4, "12345", "13800138004")[0],
        Action::AnswerCaller { call: 4 }
    );
    h.ev(Event::CallerHungUp { call: 4 });
    assert_eq!(
        h.call(5, "12300", "13800138005"),
        vec![Action::RejectCaller {
            call: 5,
            status: 404
        }]
    );
    // The same call announced twice is one call.
    assert!(h.call(2, "12320", "13800138002").is_empty());
}

#[test]
fn a_full_queue_gives_new_callers_its_overflow_at_once() {
    let mut plan = demo();
    for q in &mut plan.queues {
        q.max_length = Some(2);
        q.on_max_wait = rexian::call::plan::Overflow::Hangup;
    }
    let mut h = H::new(plan, MONDAY_10H);
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "x".into(),
    });
    h.queued(1, "12345", "13800138001");
    h.queued(2, "12300", "13800138002");
    assert_eq!(
        played(&h.queued(3, "12345", "13800138003")),
        vec!["all_busy"]
    );
    let r = record(&h.ev(Event::PlaybackDone { call: 3 }));
    assert_eq!(r.cause, HangupCause::QueueFull);
    // The dual-number queue is another queue.
    assert!(played(&h.queued(4, "12320", "13800138004")).is_empty());
}

#[test]
fn the_max_wait_while_ringing_cancels_the_ring_and_leaves_a_callback_request() {
    let mut h = H::demo();
    h.agent("7001");
    h.ev(Event::AgentNotReady {
        agent: "7001".into(),
        reason: "x".into(),
    });
    h.queued(1, "12345", "13800138000");
    h.wait(595.0);
    let a = h.ev(Event::AgentReady {
        agent: "7001".into(),
    });
    assert_eq!(rings(&a), vec![(1, "7001".to_string())]);
    let a = h.wait(5.0);
    assert!(a.contains(&Action::CancelRing {
        call: 1,
        agent: "7001".into()
    }));
    assert_eq!(played(&a), vec!["callback_ack"]);
    assert_eq!(
        h.state("7001"),
        "ready",
        "a cancelled ring is not the agent's fault"
    );
    // The agent's 200 OK crossed the CANCEL: its leg is released.
    let a = h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    assert!(matches!(
        &a[..],
        [Action::Hangup {
            call: 1,
            leg: Leg::Agent(_),
            ..
        }]
    ));
    assert!(record(&h.ev(Event::PlaybackDone { call: 1 })).callback_requested);
}

#[test]
fn a_trunk_failure_and_a_supervisors_forced_hangup_end_calls_cleanly() {
    let mut h = H::demo();
    h.agent("7001");
    talking(&mut h, 1, "12345");
    let a = h.ev(Event::CallerFailed { call: 1 });
    assert!(a.contains(&Action::Hangup {
        call: 1,
        leg: Leg::Agent("7001".into()),
        cause: HangupCause::CallerFailed
    }));
    assert_eq!(record(&a).cause, HangupCause::CallerFailed);
    h.wait(10.0);
    talking(&mut h, 2, "12345");
    let a = h.ev(Event::ForceHangup { call: 2 });
    assert!(a.contains(&Action::Hangup {
        call: 2,
        leg: Leg::Agent("7001".into()),
        cause: HangupCause::Operator
    }));
    assert!(a.contains(&Action::Hangup {
        call: 2,
        leg: Leg::Caller,
        cause: HangupCause::Operator
    }));
    assert_eq!(record(&a).cause, HangupCause::Operator);
    assert_eq!(h.state("7001"), "wrap_up");
    // Queued calls too.
    h.queued(3, "12345", "13900139000");
    let a = h.ev(Event::ForceHangup { call: 3 });
    assert_eq!(record(&a).cause, HangupCause::Operator);
    assert_eq!(h.cc.status(h.now).calls_in_progress, 0);
}
