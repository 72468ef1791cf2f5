//! Call control on a virtual clock with the shipped demo dialplans: every path of a call from
//! the trunk INVITE to the call record.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rexian::call::event::{AgentRequest, Arrival, Leg, OperatorEvent, RingFailure};
use rexian::call::line::{resolve, Dialled};
use rexian::call::plan::Dialplan;
use rexian::call::record::{CallRecord, HangupCause, Rating};
use rexian::call::{Action, CallControl, Event, WallClock};
use rexian::pii::Pii;

/// 2026-11-23 (a Monday) 10:00 in Beijing, as Unix ms.
const MONDAY_10H: i64 = (20780 * 86_400 + 2 * 3600) * 1000;
/// 2026-12-01 09:30 Beijing: inside the demo leader window.
const LEADER_DAY: i64 = (20788 * 86_400 + 3600 + 1800) * 1000;

fn demo() -> Dialplan {
    rexian::dialplan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans")).unwrap()
}

struct H {
    cc: CallControl,
    now: Instant,
}

impl H {
    fn new(plan: Dialplan, unix_ms: i64) -> H {
        let now = Instant::now();
        H {
            cc: CallControl::new(Arc::new(plan), WallClock { at: now, unix_ms }),
            now,
        }
    }
    fn demo() -> H {
        H::new(demo(), MONDAY_10H)
    }
    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.cc.handle(e, self.now);
        self.drain()
    }
    fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.cc.poll_action()).collect()
    }
    /// Moves the clock on, firing timers on the way.
    fn wait(&mut self, secs: f64) -> Vec<Action> {
        let end = self.now + Duration::from_secs_f64(secs);
        while let Some(t) = self.cc.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.cc.handle_timeout(self.now);
        }
        self.now = end;
        self.drain()
    }
    fn agent(&mut self, id: &str) -> Vec<Action> {
        self.ev(Event::AgentRegistered { agent: id.into() })
    }
    fn call(&mut self, call: u64, number: &str, caller: &str) -> Vec<Action> {
        self.ev(Event::CallArrived(Arrival {
            call,
            trunk: Some("loopback".into()),
            dialled: Dialled {
                request_user: number.into(),
                ..Dialled::default()
            },
            caller: Pii::new(caller.into()),
            privacy: false,
        }))
    }
    /// A call that has heard its greeting and is queued (or ringing).
    fn queued(&mut self, call: u64, number: &str, caller: &str) -> Vec<Action> {
        self.call(call, number, caller);
        self.ev(Event::PlaybackDone { call })
    }
    fn state(&self, agent: &str) -> &'static str {
        self.cc
            .status(self.now)
            .agents
            .iter()
            .find(|a| a.id == agent)
            .map(|a| a.state)
            .unwrap()
    }
}

fn rings(actions: &[Action]) -> Vec<(u64, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RingAgent { call, agent, .. } => Some((*call, agent.clone())),
            _ => None,
        })
        .collect()
}

fn record(actions: &[Action]) -> CallRecord {
    actions
        .iter()
        .find_map(|a| match a {
            Action::CallRecordReady(r) => Some((**r).clone()),
            _ => None,
        })
        .expect("a call record")
}

fn played(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(prompts.join("+")),
            _ => None,
        })
        .collect()
}

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

fn talking(h: &mut H, call: u64, number: &str) {
    h.queued(call, number, "13800138000");
    h.ev(Event::AgentAnswered {
        call,
        agent: "7001".into(),
    });
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
        p.contains(&"queue_ahead+digit_0+queue_unit+queue_waiting".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"queue_ahead+digit_1+queue_unit+queue_waiting".to_string()),
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
fn feature_codes_log_in_out_and_ask_for_hand_offs() {
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
        digits: "*0110".into(),
    });
    assert_eq!(
        a,
        vec![Action::AgentRequest {
            agent: "7001".into(),
            call: Some(1),
            request: AgentRequest::Emergency {
                number: "110".into(),
                name: "报警".into(),
                three_way: true
            },
        }]
    );
    let a = h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: Some(1),
        digits: "*312320".into(),
    });
    assert!(
        matches!(&a[0], Action::AgentRequest { request: AgentRequest::ThreeWay { target }, .. } if target == "12320")
    );
    let a = h.ev(Event::FeatureCode {
        agent: "7001".into(),
        call: Some(1),
        digits: "*0999".into(),
    });
    assert!(matches!(
        &a[0],
        Action::Operator(OperatorEvent::FeatureRefused { .. })
    ));
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
