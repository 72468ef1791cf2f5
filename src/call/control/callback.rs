//! 回拨: a queued caller's callback request keeps their place in the queue; when it reaches
//! the head and an agent is free, the agent is reserved, the citizen is called over an
//! outbound trunk presenting the hotline's number, and — once they answer — the agent's phone
//! rings and the two are bridged like any queued call.
//!
//! A request is a call of its own (ids from [`CALLBACK_IDS`] up, apart from the SIP side's),
//! created when the caller presses the callback key (or the queue's max-wait rule asks for a
//! callback). It takes the caller's queue key, so it waits exactly where the caller was and
//! counts in the queue while it waits. Each attempt is reported ([`CallbackReport`]); a busy,
//! declined or unanswered citizen releases the agent at once and the request is tried again
//! after the queue's `callback_retry`, back at its old place, up to `callback_attempts`
//! attempts. A trunk fault moves the same attempt to the next outbound trunk.
//!
//! **Caller first, then the agent's phone.** The agent is reserved (not offered other calls)
//! but only rung once the citizen has answered: many callbacks reach nobody (mobiles off, busy,
//! no answer for the whole ring time), and ringing the agent first would spend an agent's
//! answered phone on silence for every such attempt. The citizen, who asked to be called, hears
//! "putting you through" while the reserved agent's phone rings, which takes seconds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Call, CallControl, Phase, Timer};
use crate::call::agent::{AgentState, CallId};
use crate::call::caller::CallerKind;
use crate::call::event::{Action, Leg, OperatorEvent, RingFailure};
use crate::call::record::HangupCause;
use crate::pii::Pii;

/// Callback requests are numbered from here, far from the SIP side's call ids.
pub const CALLBACK_IDS: CallId = 1 << 48;

/// How long the citizen's phone may ring before the attempt counts as not answered.
pub const CALLBACK_RING: Duration = Duration::from_secs(40);

/// Where a request out of the queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Waiting for the next attempt (not in the queue meanwhile).
    Waiting { attempt: u32 },
    /// The citizen is being called; `agent` is reserved for them.
    Dialing { agent: usize, attempt: u32 },
}

/// What happened to a callback request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStep {
    /// The caller asked; the request holds their place.
    Placed,
    /// An attempt started: agent reserved, citizen dialled.
    Dialing,
    /// The citizen answered; the agent's phone rings.
    Answered,
    /// The attempt failed (`cause`); a retry follows at `next_ms` unless it was the last.
    Failed,
    /// The last attempt failed: the request is closed.
    GaveUp,
}

impl CallbackStep {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStep::Placed => "placed",
            CallbackStep::Dialing => "dialing",
            CallbackStep::Answered => "answered",
            CallbackStep::Failed => "failed",
            CallbackStep::GaveUp => "gave_up",
        }
    }
}

/// One step of one callback request, for the event stream and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackReport {
    /// The request's call id (the call that bridges citizen and agent when it succeeds).
    pub id: CallId,
    /// The call in which the caller asked.
    pub origin: CallId,
    pub line: String,
    pub queue: String,
    /// The number called back (national form).
    pub number: Pii<String>,
    pub step: CallbackStep,
    /// The attempt this step belongs to (0 for `Placed`).
    pub attempt: u32,
    pub attempts_max: u32,
    pub agent: Option<String>,
    pub trunk: Option<String>,
    pub cause: Option<String>,
    pub at_ms: i64,
    /// When the next attempt is due (after a failure that is not the last).
    pub next_ms: Option<i64>,
}

#[derive(Debug)]
struct Request {
    origin: CallId,
    attempts: u32,
    max: u32,
    retry: Duration,
    /// The citizen answered this attempt: the agent is rung as for any queued call.
    answered: bool,
    /// Outbound trunks still to try in this attempt.
    trunks_left: Vec<String>,
    /// The trunk of the last INVITE, for the report of its failure.
    last_trunk: Option<String>,
    /// When the next attempt is due (the ring timer of the last one may fire before).
    retry_at: Option<Instant>,
}

/// The open callback requests.
#[derive(Debug, Default)]
pub(super) struct Callbacks {
    next: u64,
    open: HashMap<CallId, Request>,
    /// Requests whose asking call is still on (it ends after the acknowledgement).
    by_origin: HashMap<CallId, CallId>,
}

impl Callbacks {
    /// The request (if `call` is one) is over: answered and finished, or given up.
    pub(super) fn forget(&mut self, call: CallId) {
        self.open.remove(&call);
    }
}

/// A request the store kept across a restart, as the shell reads it back.
#[derive(Debug, Clone)]
pub struct Restored {
    pub line: String,
    pub number: String,
    /// Attempts already made (one in flight at the restart counts as made).
    pub attempts: u32,
    /// When the next attempt is due; `None` or a past instant: as soon as an agent is free.
    pub next_at: Option<Instant>,
}

impl CallControl {
    /// Takes up a request kept in the store across a restart, behind the requests restored
    /// before it and ahead of every call arriving after. `None` when the current plans no
    /// longer allow it (the line is gone, the number may not be called, no attempts left).
    pub fn restore_callback(&mut self, r: Restored, now: Instant) -> Option<CallId> {
        let plan = self.plan.clone();
        let line = plan.line(&r.line)?;
        let q = plan.queue(&line.queue)?;
        let (max, retry) = (q.callback_attempts, q.callback_retry);
        if r.attempts >= max {
            return None;
        }
        let caller = crate::call::caller::normalise(&r.number, false, &plan.area_code);
        self.seq += 1;
        let mut req = Call::new(
            plan.clone(),
            &r.line,
            plan.line(&r.line),
            caller,
            (1, self.seq),
            Phase::Queued,
            now,
        );
        req.queued = Some(now);
        if !self.can_call_back(&req) {
            return None;
        }
        self.callbacks.next += 1;
        let id = CALLBACK_IDS + self.callbacks.next;
        let later = r.next_at.filter(|t| *t > now);
        if later.is_some() {
            req.phase = Phase::Callback(Step::Waiting {
                attempt: r.attempts,
            });
        }
        self.calls.insert(id, req);
        self.callbacks.open.insert(
            id,
            Request {
                origin: 0,
                attempts: r.attempts,
                max,
                retry,
                answered: false,
                trunks_left: Vec::new(),
                last_trunk: None,
                retry_at: later,
            },
        );
        match later {
            Some(t) => self.arm(
                t,
                Timer::Callback {
                    call: id,
                    attempt: r.attempts,
                },
            ),
            None => self.rejoin_waiting(id, now),
        }
        Some(id)
    }

    /// Requests waiting in a queue or being tried, for the status snapshot.
    pub fn pending_callbacks(&self) -> usize {
        self.callbacks.open.values().filter(|r| !r.answered).count()
    }

    /// Whether `call` is a callback whose citizen has not answered yet (the SIP side routes
    /// that leg's answer and failure as `CallbackAnswered`/`CallbackFailed`).
    pub fn callback_dialing(&self, call: CallId) -> bool {
        self.calls
            .get(&call)
            .is_some_and(|c| matches!(c.phase, Phase::Callback(Step::Dialing { .. })))
    }

    /// Whether rexian can call this caller back: a number the outbound rules allow (a
    /// mobile, a local landline …), never an anonymous or withheld one.
    pub(super) fn can_call_back(&self, c: &Call) -> bool {
        let hidden = matches!(
            c.caller.kind,
            CallerKind::Anonymous | CallerKind::Withheld | CallerKind::Unavailable
        );
        !hidden
            && !c.plan.outbound.trunks.is_empty()
            && self.queue_of(c).callback_attempts > 0
            && c.plan.outbound_allowed(c.caller.number.expose())
    }

    /// The caller of `origin` asked for a callback: a request takes their place in the queue.
    /// A caller who cannot be called back hears that all seats are busy instead (false).
    pub(super) fn keep_place(&mut self, origin: CallId, now: Instant) -> bool {
        let Some(c) = self.calls.get(&origin) else {
            return false;
        };
        if !self.can_call_back(c) {
            let p = c.plan.prompts.all_busy.clone();
            self.close_with(origin, p, HangupCause::MaxWait);
            return false;
        }
        let q = self.queue_of(c);
        let (max, retry) = (q.callback_attempts, q.callback_retry);
        self.callbacks.next += 1;
        let id = CALLBACK_IDS + self.callbacks.next;
        let queued = c.queued.unwrap_or(now);
        let mut req = Call::new(
            c.plan.clone(),
            &c.line,
            c.plan.line(&c.line),
            c.caller.clone(),
            c.key,
            Phase::Queued,
            now,
        );
        req.line_name = c.line_name.clone();
        (req.queue, req.skill) = (c.queue.clone(), c.skill.clone());
        req.queued = Some(queued);
        req.overflow_at = c.overflow_at;
        req.overflow_after = c.overflow_after;
        self.calls.insert(id, req);
        self.callbacks.open.insert(
            id,
            Request {
                origin,
                attempts: 0,
                max,
                retry,
                answered: false,
                trunks_left: Vec::new(),
                last_trunk: None,
                retry_at: None,
            },
        );
        self.callbacks.by_origin.insert(origin, id);
        self.report(id, CallbackStep::Placed, None, None, now);
        true
    }

    /// `call` ends: a request it made joins the queue at the caller's place now (the citizen
    /// is not called while still on the line hearing the acknowledgement); a request that
    /// ends (bridged and finished) is forgotten.
    pub(super) fn callback_call_ends(&mut self, call: CallId, now: Instant) {
        if let Some(Phase::Callback(Step::Dialing { agent, .. })) =
            self.calls.get(&call).map(|c| c.phase)
        {
            self.after_call(agent, call, false, now); // ended by a supervisor: released
        }
        if self.callbacks.open.get(&call).is_some_and(|r| !r.answered) {
            let cause = Some("ended by a supervisor".to_string());
            self.report(call, CallbackStep::GaveUp, None, cause, now);
        }
        self.callbacks.forget(call);
        let Some(id) = self.callbacks.by_origin.remove(&call) else {
            return;
        };
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.phase == Phase::Queued)
        {
            self.rejoin_waiting(id, now);
        }
    }

    /// `offer` of a request not yet answered: reserve agent `i` and call the citizen.
    pub(super) fn callback_offer(&mut self, call: CallId, i: usize, now: Instant) -> bool {
        let Some(r) = self.callbacks.open.get_mut(&call) else {
            return false;
        };
        if r.answered {
            return false;
        }
        r.attempts += 1;
        let attempt = r.attempts;
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        r.trunks_left = c.plan.outbound.trunks.clone();
        r.last_trunk = None;
        self.acd.waiting.remove(&c.skill, c.key);
        c.phase = Phase::Callback(Step::Dialing { agent: i, attempt });
        // Reserved: in `Ringing` for this call the agent is offered nothing else.
        self.set_agent(i, AgentState::Ringing { call }, now);
        self.arm(now + CALLBACK_RING, Timer::Callback { call, attempt });
        self.dial_citizen(call, now);
        true
    }

    /// Dials the citizen over the next outbound trunk with room.
    fn dial_citizen(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let plan = c.plan.clone();
        let mut left = self
            .callbacks
            .open
            .get(&call)
            .map(|r| r.trunks_left.clone())
            .unwrap_or_default();
        // A callback never uses a trunk's emergency reserve.
        let chosen = self.take_trunk(&plan, &mut left, false);
        if let Some(r) = self.callbacks.open.get_mut(&call) {
            r.trunks_left = left;
        }
        let Some(trunk) = chosen else {
            return self.attempt_failed(call, "no trunk available".into(), now);
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.trunk = Some(trunk.clone());
        let (number, line) = (c.caller.number.clone(), c.line.clone());
        self.push(Action::CallBack {
            call,
            trunk: trunk.clone(),
            number,
            present: plan.outbound.present.clone(),
            line,
        });
        self.report(call, CallbackStep::Dialing, None, None, now);
    }

    /// The agent reserved for a callback being dialled logged out or lost their phone: they
    /// leave (not ready, as after a failed ring); the citizen, once they answer, waits at the
    /// head of the queue for the next agent. False when `call` is no such callback.
    pub(super) fn callback_agent_lost(
        &mut self,
        call: CallId,
        i: usize,
        reason: &str,
        now: Instant,
    ) -> bool {
        let reserved = self.calls.get(&call).is_some_and(
            |c| matches!(c.phase, Phase::Callback(Step::Dialing { agent, .. }) if agent == i),
        );
        if reserved {
            self.acd.set_pending_not_ready(i, None);
            let reason = reason.to_string();
            self.set_agent(i, AgentState::NotReady { reason }, now);
        }
        reserved
    }

    /// The citizen answered: they hear "putting you through" (or music) while the reserved
    /// agent's phone rings; from here the call is an ordinary queued call at its agent.
    pub(super) fn callback_answered(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Phase::Callback(Step::Dialing { agent, .. }) = c.phase else {
            return;
        };
        if let Some(r) = self.callbacks.open.get_mut(&call) {
            r.answered = true;
        }
        c.phase = Phase::Queued;
        c.answered = None;
        let prompt = c.plan.prompts.transferring.clone();
        c.announcing = prompt.is_some();
        let moh = self.queue_of(&self.calls[&call]).moh.clone();
        self.push(match prompt {
            Some(p) => Action::Play {
                call,
                prompts: vec![p],
                looping: false,
            },
            None => Action::StartMoh { call, prompt: moh },
        });
        let reserved = Some(self.acd.get(agent).id().to_string());
        self.report(call, CallbackStep::Answered, reserved, None, now);
        let a = self.acd.get(agent);
        if a.registered && a.state == (AgentState::Ringing { call }) {
            self.offer(call, agent, now);
        } else {
            // The reserved agent went away meanwhile: back to the queue's head.
            if let Some(c) = self.calls.get_mut(&call) {
                c.key = (0, c.key.1);
            }
            self.rejoin_waiting(call, now);
        }
    }

    /// The callback INVITE failed. A trunk fault tries the next trunk in the same attempt.
    pub(super) fn callback_failed(&mut self, call: CallId, cause: RingFailure, now: Instant) {
        if !self.callback_dialing(call) {
            return;
        }
        self.release_callback_trunk(call);
        let trunk_fault = cause.is_trunk_fault();
        let more = self
            .callbacks
            .open
            .get(&call)
            .is_some_and(|r| !r.trunks_left.is_empty());
        if trunk_fault && more {
            return self.dial_citizen(call, now);
        }
        self.attempt_failed(call, cause.reason(), now);
    }

    /// The caller leg of a request went away while call control thought it was dialling.
    pub(super) fn callback_lost(&mut self, call: CallId, now: Instant) {
        if self.callback_dialing(call) {
            self.release_callback_trunk(call);
            self.attempt_failed(call, "unreachable".into(), now);
        }
    }

    pub(super) fn callback_timer(&mut self, call: CallId, attempt: u32, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.phase {
            Phase::Callback(Step::Dialing { attempt: a, .. }) if a == attempt => {
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Caller,
                    cause: HangupCause::Abandoned,
                });
                self.release_callback_trunk(call);
                self.attempt_failed(call, "no answer".into(), now);
            }
            Phase::Callback(Step::Waiting { attempt: a })
                if a == attempt
                    && self
                        .callbacks
                        .open
                        .get(&call)
                        .and_then(|r| r.retry_at)
                        .is_some_and(|t| t <= now) =>
            {
                // Back at the old place in the queue.
                c.phase = Phase::Queued;
                self.rejoin_waiting(call, now);
            }
            _ => {}
        }
    }

    fn release_callback_trunk(&mut self, call: CallId) {
        let Some(t) = self.calls.get_mut(&call).and_then(|c| c.trunk.take()) else {
            return;
        };
        self.free_trunk(&t);
        if let Some(r) = self.callbacks.open.get_mut(&call) {
            r.last_trunk = Some(t);
        }
    }

    /// This attempt reached nobody: the agent is released, the request waits for its next
    /// attempt or is given up after the last.
    fn attempt_failed(&mut self, call: CallId, cause: String, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Phase::Callback(Step::Dialing { agent, attempt }) = c.phase else {
            return;
        };
        c.phase = Phase::Callback(Step::Waiting { attempt });
        let agent_id = self.acd.get(agent).id().to_string();
        // A release, not a missed call: the agent keeps their turn.
        self.after_call(agent, call, false, now);
        let Some(r) = self.callbacks.open.get_mut(&call) else {
            return;
        };
        // Another attempt after the retry interval, or none after the last.
        let next = (r.attempts < r.max).then(|| now + r.retry);
        if let Some(next) = next {
            r.retry_at = Some(next);
            self.arm(next, Timer::Callback { call, attempt });
        }
        let next_ms = next.map(|t| self.clock.unix_ms(t));
        self.report_full(
            call,
            CallbackStep::Failed,
            Some(agent_id),
            Some(cause),
            next_ms,
            now,
        );
        if next.is_none() {
            self.report(call, CallbackStep::GaveUp, None, None, now);
            self.callbacks.forget(call);
            self.calls.remove(&call);
        }
    }

    fn report(
        &mut self,
        call: CallId,
        step: CallbackStep,
        agent: Option<String>,
        cause: Option<String>,
        now: Instant,
    ) {
        let agent = agent.or_else(|| match self.calls.get(&call).map(|c| c.phase) {
            Some(Phase::Callback(Step::Dialing { agent, .. })) => {
                Some(self.acd.get(agent).id().to_string())
            }
            _ => None,
        });
        self.report_full(call, step, agent, cause, None, now);
    }

    fn report_full(
        &mut self,
        call: CallId,
        step: CallbackStep,
        agent: Option<String>,
        cause: Option<String>,
        next_ms: Option<i64>,
        now: Instant,
    ) {
        let (Some(c), Some(r)) = (self.calls.get(&call), self.callbacks.open.get(&call)) else {
            return;
        };
        let report = CallbackReport {
            id: call,
            origin: r.origin,
            line: c.line.clone(),
            queue: c.queue.clone(),
            number: c.caller.number.clone(),
            step,
            attempt: r.attempts,
            attempts_max: r.max,
            agent,
            trunk: c.trunk.clone().or_else(|| r.last_trunk.clone()),
            cause,
            at_ms: self.clock.unix_ms(now),
            next_ms,
        };
        self.push(Action::Operator(OperatorEvent::Callback(Box::new(report))));
    }
}
