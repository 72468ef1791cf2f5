//! Callbacks (回拨) in call control on a virtual clock with the demo dialplans: the request
//! keeps the caller's place, an agent is reserved while the citizen is dialled over a trunk
//! presenting 12345, the answered citizen is put through to that agent, failed attempts
//! release the agent and are retried by the queue's policy, and the last one gives up.

mod call_harness;

use call_harness::*;
use rexian::call::control::callback::{CallbackReport, CallbackStep, CALLBACK_IDS, CALLBACK_RING};
use rexian::call::event::{Leg, OperatorEvent, RingFailure};
use rexian::call::record::HangupCause;
use rexian::call::{Action, Event};

const REQ: u64 = CALLBACK_IDS + 1;

fn not_ready(h: &mut H, agent: &str) {
    h.ev(Event::AgentNotReady {
        agent: agent.into(),
        reason: "training".into(),
    });
}

fn ready(h: &mut H, agent: &str) -> Vec<Action> {
    h.ev(Event::AgentReady {
        agent: agent.into(),
    })
}

/// (call, trunk, number, present) of every `CallBack`.
fn callbacks(actions: &[Action]) -> Vec<(u64, String, String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CallBack {
                call,
                trunk,
                number,
                present,
                ..
            } => Some((
                *call,
                trunk.clone(),
                number.expose().clone(),
                present.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn reports(actions: &[Action]) -> Vec<CallbackReport> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Operator(OperatorEvent::Callback(r)) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

fn steps(actions: &[Action]) -> Vec<(CallbackStep, u32)> {
    reports(actions)
        .iter()
        .map(|r| (r.step, r.attempt))
        .collect()
}

fn waiting(h: &H) -> usize {
    h.cc.status(h.now)
        .queues
        .iter()
        .find(|q| q.name == "main")
        .map_or(0, |q| q.waiting)
}

/// Agent 7001 busy elsewhere; calls 1 and 2 queued on 12345; call 1 presses the key and
/// hangs up after the acknowledgement.
fn one_request(h: &mut H) {
    h.agent("7001");
    not_ready(h, "7001");
    h.queued(1, "12345", "13800138001");
    h.queued(2, "12345", "13800138002");
    let a = h.ev(Event::Dtmf {
        call: 1,
        digit: '1',
    });
    assert_eq!(played(&a), vec!["callback_ack"]);
    assert_eq!(steps(&a), vec![(CallbackStep::Placed, 0)]);
    let r = record(&h.ev(Event::PlaybackDone { call: 1 }));
    assert!(r.callback_requested);
    assert_eq!(r.cause, HangupCause::CallbackRequested);
}

#[test]
fn the_request_keeps_the_callers_place_and_reserves_the_agent_while_the_citizen_is_dialled() {
    let mut h = H::demo();
    one_request(&mut h);
    h.queued(3, "12345", "13800138003");
    assert_eq!(
        waiting(&h),
        3,
        "the request counts in the queue like the caller did"
    );
    assert_eq!(h.cc.pending_callbacks(), 1);
    // The agent comes back: the request was ahead of calls 2 and 3.
    let a = ready(&mut h, "7001");
    assert!(
        rings(&a).is_empty(),
        "the agent's phone waits for the citizen"
    );
    assert_eq!(
        callbacks(&a),
        vec![(REQ, "loopback".into(), "13800138001".into(), "12345".into())],
        "over the outbound trunk, to the caller's number, presenting the hotline's"
    );
    assert_eq!(steps(&a), vec![(CallbackStep::Dialing, 1)]);
    assert_eq!(reports(&a)[0].agent.as_deref(), Some("7001"));
    assert_eq!(
        h.state("7001"),
        "ringing",
        "reserved: nothing else is offered"
    );
    // Another agent takes call 2 meanwhile; the reserved one is not offered it.
    let a = h.agent("7002");
    assert_eq!(rings(&a), vec![(2, "7002".to_string())]);
    // The citizen answers: put through, then the reserved agent's phone rings.
    let a = h.ev(Event::CallbackAnswered { call: REQ });
    assert_eq!(steps(&a), vec![(CallbackStep::Answered, 1)]);
    assert_eq!(reports(&a)[0].agent.as_deref(), Some("7001"));
    assert_eq!(rings(&a), vec![(REQ, "7001".to_string())]);
    let a = h.ev(Event::AgentAnswered {
        call: REQ,
        agent: "7001".into(),
    });
    assert!(a.contains(&Action::Bridge {
        call: REQ,
        agent: "7001".into()
    }));
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::StartRecording { call: REQ, .. })));
    h.wait(60.0);
    let a = h.ev(Event::CallerHungUp { call: REQ });
    let r = record(&a);
    assert_eq!(r.caller.expose(), "13800138001");
    assert_eq!(r.agent.as_deref(), Some("7001"));
    assert_eq!(r.trunk.as_deref(), Some("loopback"));
    assert_eq!(r.cause, HangupCause::CallerHangup);
    assert_eq!(h.cc.pending_callbacks(), 0);
    assert_eq!(h.state("7001"), "wrap_up");
}

#[test]
fn busy_and_unanswered_attempts_release_the_agent_retry_at_the_old_place_then_give_up() {
    let mut h = H::demo();
    one_request(&mut h);
    let a = ready(&mut h, "7001");
    assert_eq!(callbacks(&a).len(), 1);
    // Busy: the agent is free at once and takes the next caller.
    let a = h.ev(Event::CallbackFailed {
        call: REQ,
        cause: RingFailure::Busy,
    });
    let r = reports(&a);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].step, r[0].attempt), (CallbackStep::Failed, 1));
    assert_eq!(r[0].cause.as_deref(), Some("busy"));
    assert_eq!(
        r[0].next_ms,
        Some(MONDAY_10H + 300_000),
        "retry after 300 s"
    );
    assert_eq!(rings(&a), vec![(2, "7001".to_string())]);
    // Call 2 is served; meanwhile call 4 queues behind the request's old place.
    h.ev(Event::AgentAnswered {
        call: 2,
        agent: "7001".into(),
    });
    h.queued(4, "12345", "13800138004");
    assert!(callbacks(&h.wait(299.0)).is_empty());
    assert_eq!(
        waiting(&h),
        1,
        "between attempts the request waits outside the queue"
    );
    let a = h.wait(1.0);
    assert!(callbacks(&a).is_empty(), "no agent free yet");
    assert_eq!(waiting(&h), 2);
    // Call 2 ends; after wrap-up (10 s) the agent takes the request before call 4.
    h.ev(Event::CallerHungUp { call: 2 });
    let a = h.wait(10.0);
    assert_eq!(callbacks(&a).len(), 1, "{a:?}");
    assert!(rings(&a).is_empty());
    assert_eq!(steps(&a), vec![(CallbackStep::Dialing, 2)]);
    // No answer within the ring time: the INVITE is cancelled.
    let a = h.wait(CALLBACK_RING.as_secs_f64());
    assert!(a.contains(&Action::Hangup {
        call: REQ,
        leg: Leg::Caller,
        cause: HangupCause::Abandoned
    }));
    let r = reports(&a);
    assert_eq!(
        (r[0].step, r[0].cause.as_deref()),
        (CallbackStep::Failed, Some("no answer"))
    );
    assert_eq!(
        rings(&a),
        vec![(4, "7001".to_string())],
        "released to call 4"
    );
    h.ev(Event::CallerHungUp { call: 4 });
    // Third and last attempt: declined. The request is given up.
    let a = h.wait(300.0);
    assert_eq!(steps(&a), vec![(CallbackStep::Dialing, 3)], "{a:?}");
    let a = h.ev(Event::CallbackFailed {
        call: REQ,
        cause: RingFailure::Declined,
    });
    assert_eq!(
        steps(&a),
        vec![(CallbackStep::Failed, 3), (CallbackStep::GaveUp, 3)]
    );
    assert!(reports(&a)[0].next_ms.is_none());
    assert_eq!(h.state("7001"), "ready");
    assert_eq!(h.cc.pending_callbacks(), 0);
    assert!(callbacks(&h.wait(3600.0)).is_empty());
    assert!(!h.cc.has_call(REQ));
}

#[test]
fn a_trunk_fault_moves_the_same_attempt_to_the_next_trunk() {
    let mut plan = demo();
    let mut backup = plan.trunks[0].clone();
    backup.name = "backup".into();
    backup.acl.clear();
    backup.address = Some("127.0.0.1:5082".into());
    plan.trunks.push(backup);
    plan.outbound.trunks = vec!["loopback".into(), "backup".into()];
    let mut h = H::new(plan, MONDAY_10H);
    one_request(&mut h);
    ready(&mut h, "7001");
    let a = h.ev(Event::CallbackFailed {
        call: REQ,
        cause: RingFailure::Other(503),
    });
    assert_eq!(callbacks(&a)[0].1, "backup");
    assert_eq!(steps(&a), vec![(CallbackStep::Dialing, 1)]);
    assert_eq!(h.state("7001"), "ringing", "still reserved");
}

#[test]
fn the_agent_ring_failing_after_the_answer_puts_the_citizen_back_at_the_head() {
    let mut h = H::demo();
    one_request(&mut h);
    ready(&mut h, "7001");
    h.ev(Event::CallbackAnswered { call: REQ });
    let a = h.ev(Event::AgentRingFailed {
        call: REQ,
        agent: "7001".into(),
        cause: RingFailure::Unreachable,
    });
    assert_eq!(h.state("7001"), "not_ready");
    assert!(rings(&a).is_empty());
    // The next agent takes the citizen before call 2.
    let a = h.agent("7002");
    assert_eq!(rings(&a), vec![(REQ, "7002".to_string())]);
    assert!(
        callbacks(&a).is_empty(),
        "the citizen is already on the line"
    );
}

#[test]
fn callers_without_a_number_rexian_may_call_are_not_offered_a_callback() {
    let mut h = H::demo();
    h.agent("7001");
    not_ready(&mut h, "7001");
    h.queued(1, "12345", "anonymous");
    let a = h.ev(Event::Dtmf {
        call: 1,
        digit: '1',
    });
    assert!(a.is_empty(), "the key does nothing: {a:?}");
    // The max wait (on_max_wait = callback) tells them all seats are busy instead.
    let a = h.wait(600.0);
    assert_eq!(played(&a).last().map(String::as_str), Some("all_busy"));
    assert!(reports(&a).is_empty());
    let r = record(&h.ev(Event::PlaybackDone { call: 1 }));
    assert!(!r.callback_requested);
    // A number the outbound rules do not allow (another city's landline) is refused too.
    h.queued(2, "12345", "01088886666");
    assert!(h
        .ev(Event::Dtmf {
            call: 2,
            digit: '1'
        })
        .is_empty());
}

#[test]
fn the_max_wait_makes_a_request_that_is_served_once_the_acknowledgement_ends() {
    let mut h = H::demo();
    h.agent("7001");
    not_ready(&mut h, "7001");
    h.queued(1, "12345", "13800138001");
    h.wait(595.0);
    // The agent is rung, but the max wait comes first.
    assert_eq!(rings(&ready(&mut h, "7001")), vec![(1, "7001".to_string())]);
    let a = h.wait(5.0);
    assert_eq!(played(&a), vec!["callback_ack"]);
    assert!(
        callbacks(&a).is_empty(),
        "not while the caller is still on the line"
    );
    assert_eq!(h.state("7001"), "ready");
    let a = h.ev(Event::PlaybackDone { call: 1 });
    assert!(record(&a).callback_requested);
    assert_eq!(callbacks(&a).len(), 1);
    assert_eq!(h.state("7001"), "ringing");
}

#[test]
fn retry_policy_is_read_and_checked_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("dialplans");
    // The plans name their prompts as ../prompts.
    std::os::unix::fs::symlink(root.join("prompts"), tmp.path().join("prompts")).unwrap();
    let dir = tmp.path().join("dialplans");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.as_path();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    let q = dir.join("queues.toml");
    let text = std::fs::read_to_string(&q).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(text.contains(from));
        std::fs::write(&q, text.replacen(from, to, 1)).unwrap();
    };
    edit("callback_retry_secs = 300", "callback_retry_secs = 90");
    let plan = rexian::dialplan::load(dir).unwrap();
    let main = plan.queue("main").unwrap();
    assert_eq!(main.callback_attempts, 3);
    assert_eq!(main.callback_retry.as_secs(), 90);
    edit("callback_attempts = 3", "callback_attempts = 11");
    let e = rexian::dialplan::load(dir).unwrap_err().to_string();
    let line = text
        .lines()
        .position(|l| l.starts_with("callback_attempts"))
        .unwrap()
        + 1;
    assert!(
        e.contains(&format!("queues.toml:{line}")) && e.contains("callback_attempts"),
        "{e}"
    );
}

#[test]
fn requests_restored_after_a_restart_keep_their_order_and_their_next_attempt_time() {
    use rexian::call::control::callback::Restored;
    let mut h = H::demo();
    h.agent("7001");
    not_ready(&mut h, "7001");
    let now = h.now;
    let due = Restored {
        line: "12345".into(),
        number: "13500135001".into(),
        attempts: 0,
        next_at: None,
    };
    let later = Restored {
        line: "12345".into(),
        number: "13500135002".into(),
        attempts: 1,
        next_at: Some(now + std::time::Duration::from_secs(120)),
    };
    let spent = Restored {
        line: "12345".into(),
        number: "13500135003".into(),
        attempts: 3,
        next_at: None,
    };
    let first = h.cc.restore_callback(due, now).unwrap();
    let second = h.cc.restore_callback(later, now).unwrap();
    assert!(
        h.cc.restore_callback(spent, now).is_none(),
        "no attempts left"
    );
    let hidden = Restored {
        line: "12345".into(),
        number: "anonymous".into(),
        attempts: 0,
        next_at: None,
    };
    assert!(h.cc.restore_callback(hidden, now).is_none());
    assert_eq!(h.cc.pending_callbacks(), 2);
    // A caller arriving now waits behind the restored request.
    h.queued(1, "12345", "13800138001");
    let a = ready(&mut h, "7001");
    assert_eq!(
        callbacks(&a),
        vec![(
            first,
            "loopback".into(),
            "13500135001".into(),
            "12345".into()
        )]
    );
    h.ev(Event::CallbackFailed {
        call: first,
        cause: RingFailure::Busy,
    });
    // The agent took call 1; the second request is due in two minutes.
    h.ev(Event::AgentAnswered {
        call: 1,
        agent: "7001".into(),
    });
    h.ev(Event::CallerHungUp { call: 1 });
    let a = h.wait(119.0);
    assert!(callbacks(&a).is_empty(), "{a:?}");
    let a = h.wait(1.0);
    assert_eq!(callbacks(&a)[0].0, second);
    assert_eq!(
        steps(&a),
        vec![(CallbackStep::Dialing, 2)],
        "attempt numbers go on"
    );
}

#[test]
fn a_reserved_agent_who_leaves_or_a_supervisors_hangup_never_strands_anyone() {
    let mut h = H::demo();
    one_request(&mut h);
    ready(&mut h, "7001");
    // 7001 logs out while the citizen's phone rings: no second INVITE, 7001 is gone.
    let a = h.ev(Event::AgentLogout {
        agent: "7001".into(),
    });
    assert!(callbacks(&a).is_empty());
    assert_eq!(h.state("7001"), "logged_out");
    // The citizen answers and waits at the head for the next agent, before call 2.
    let a = h.ev(Event::CallbackAnswered { call: REQ });
    assert_eq!(steps(&a), vec![(CallbackStep::Answered, 1)]);
    assert!(rings(&a).is_empty());
    let a = h.agent("7002");
    assert_eq!(rings(&a), vec![(REQ, "7002".to_string())]);

    // A supervisor ends a request while its citizen is being dialled: the agent is free.
    let mut h = H::demo();
    one_request(&mut h);
    ready(&mut h, "7001");
    let a = h.ev(Event::ForceHangup { call: REQ });
    assert!(a.contains(&Action::Hangup {
        call: REQ,
        leg: Leg::Caller,
        cause: HangupCause::Operator
    }));
    assert_eq!(
        rings(&a),
        vec![(2, "7001".to_string())],
        "released to call 2"
    );
    assert_eq!(h.cc.pending_callbacks(), 0);
}
