//! Bringing a third party into a call: three-way calls (三方通话) with expert seats, sub-centres
//! and allowed numbers, blind transfers, and emergency hand-offs to 110/119/120/122.
//!
//! The agent asks (feature code as DTMF, or the API); call control checks the target against
//! the call's own dialplan, chooses the trunk (emergency calls may use a trunk's reserved
//! capacity, nothing else may), and emits `Dial`. The third party's answer mixes the three
//! (`Conference`) or, for a blind transfer, connects caller and third party (`BridgeThird`).
//! A trunk that fails (no answer from the trunk, 5xx, transport) is replaced by the next one;
//! a far end that is busy or declines is a final answer. When a blind transfer fails the caller
//! is not dropped: the same agent gets the call back if free, else it goes to the head of the
//! queue, with a prompt. Emergency hand-offs are recorded step by step (`Handoff`).

use std::time::Instant;

use super::{CallControl, Phase};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{
    Action, AgentRequest, Dest, Handoff, HandoffOutcome, Leg, MonitorMode, OperatorEvent,
    RingFailure, ThirdKind,
};
use crate::call::plan::{Dialplan, ExpertSeat, Role};
use crate::call::record::HangupCause;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ThirdState {
    Dialing,
    Ringing,
    Up,
}

/// The third party of a call.
#[derive(Debug)]
pub(super) struct Third {
    pub kind: ThirdKind,
    /// What the agent asked for (a line, a seat, a number).
    pub target: String,
    pub dest: Dest,
    /// The agent who asked.
    pub asker: String,
    pub state: ThirdState,
    /// Trunks still to try when the current one fails.
    pub trunks_left: Vec<String>,
    /// An expert seat taken for this call.
    pub seat: Option<String>,
    pub emergency: bool,
    pub handoff: Option<Box<Handoff>>,
    /// A supervisor listening, whispering or barging in (`monitor.rs`).
    pub monitor: Option<MonitorMode>,
}

/// Where a request leads, before anything is dialled.
enum Resolved {
    Dial {
        dest: Dest,
        trunks: Vec<String>,
        seat: Option<String>,
    },
    /// A blind transfer to a line's queue.
    Queue(String),
    /// A blind transfer to a free agent.
    Agent(usize),
}

impl CallControl {
    pub(super) fn refuse(&mut self, agent: &str, what: &str, reason: &'static str) {
        self.push(Action::Operator(OperatorEvent::FeatureRefused {
            agent: agent.to_string(),
            digits: what.to_string(),
            reason,
        }));
    }

    /// The call an agent is talking on.
    pub(super) fn call_of_agent(&self, agent: &str) -> Option<CallId> {
        let i = self.acd.index(agent)?;
        match self.acd.get(i).state {
            AgentState::Talking { call } => Some(call),
            _ => None,
        }
    }

    /// Carries out an agent's in-call request (already known to come from `agent`).
    pub(super) fn agent_request(
        &mut self,
        agent: String,
        call: CallId,
        request: AgentRequest,
        now: Instant,
    ) {
        let what = format!("{request:?}");
        let Some(c) = self.calls.get(&call) else {
            return self.refuse(&agent, &what, "needs a call in progress");
        };
        let Phase::Talking { agent: i } = c.phase else {
            return self.refuse(&agent, &what, "needs a call in progress");
        };
        if self.acd.get(i).id() != agent {
            return self.refuse(&agent, &what, "not this agent's call");
        }
        let third_up = c.third.as_ref().map(|t| t.state);
        match request {
            AgentRequest::DropThird => {
                if third_up.is_none() {
                    return self.refuse(&agent, &what, "no third party on the call");
                }
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Third,
                    cause: HangupCause::AgentHangup,
                });
                self.third_gone(call, now);
                self.push(Action::Bridge { call, agent });
            }
            AgentRequest::Leave => {
                if third_up != Some(ThirdState::Up) {
                    return self.refuse(&agent, &what, "no three-way call to leave");
                }
                self.agent_leaves(call, i, now);
            }
            AgentRequest::Complete => self.complete(call, &agent, i, now),
            AgentRequest::Join => self.join(call, &agent),
            _ if third_up.is_some() => {
                self.refuse(&agent, &what, "a third party is already on the call")
            }
            AgentRequest::ThreeWay { target } => {
                self.bring_in(call, &agent, ThirdKind::ThreeWay, target, None, now)
            }
            AgentRequest::Consult { target } => {
                self.bring_in(call, &agent, ThirdKind::Consult, target, None, now)
            }
            AgentRequest::BlindTransfer { target } => {
                let plan = &self.calls[&call].plan;
                if plan.is_emergency(&target) {
                    let e = emergency_handoff(plan, &target, false, String::new());
                    self.bring_in(call, &agent, ThirdKind::Blind, target, Some(e), now)
                } else {
                    self.bring_in(call, &agent, ThirdKind::Blind, target, None, now)
                }
            }
            AgentRequest::Emergency {
                number,
                three_way,
                reason,
            } => {
                let plan = &self.calls[&call].plan;
                if !plan.is_emergency(&number) {
                    return self.refuse(&agent, &number, "not an emergency number");
                }
                let three = three_way.unwrap_or(plan.emergency.three_way);
                let e = emergency_handoff(plan, &number, three, reason);
                let kind = if three {
                    ThirdKind::ThreeWay
                } else {
                    ThirdKind::Blind
                };
                self.bring_in(call, &agent, kind, number, Some(e), now)
            }
        }
    }

    fn bring_in(
        &mut self,
        call: CallId,
        agent: &str,
        kind: ThirdKind,
        target: String,
        emergency: Option<Handoff>,
        now: Instant,
    ) {
        let resolved = match &emergency {
            Some(_) => {
                let trunks = self.calls[&call].plan.emergency.trunks.clone();
                Ok(Resolved::Dial {
                    dest: Dest::Trunk {
                        trunk: String::new(),
                        number: target.clone(),
                    },
                    trunks,
                    seat: None,
                })
            }
            None => self.resolve(call, &target, kind, now),
        };
        let resolved = match resolved {
            Ok(r) => r,
            Err(reason) => return self.refuse(agent, &target, reason),
        };
        let Some(i) = self.acd.index(agent) else {
            return;
        };
        match resolved {
            Resolved::Queue(line) => self.transfer_to_queue(call, i, &line, now),
            Resolved::Agent(j) => {
                let moh = self.queue_of(&self.calls[&call]).moh.clone();
                self.push(Action::StartMoh { call, prompt: moh });
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Agent(agent.to_string()),
                    cause: HangupCause::AgentHangup,
                });
                self.after_call(i, call, true, now);
                self.offer(call, j, now);
            }
            Resolved::Dial { dest, trunks, seat } => {
                self.seq += 1;
                let id = self.seq;
                let mut handoff = emergency.map(|mut h| {
                    h.id = id;
                    h.call = call;
                    h.agent = agent.to_string();
                    h.caller = self.calls[&call].caller.number.clone();
                    h.asked_ms = self.clock.unix_ms(now);
                    Box::new(h)
                });
                if let Some(s) = &seat {
                    self.experts_busy.insert(s.clone());
                }
                let third = Third {
                    kind,
                    target: target.clone(),
                    dest,
                    asker: agent.to_string(),
                    state: ThirdState::Dialing,
                    trunks_left: trunks,
                    seat,
                    emergency: handoff.is_some(),
                    handoff: handoff.take(),
                    monitor: None,
                };
                self.push(Action::Operator(OperatorEvent::TransferStarted {
                    call,
                    agent: agent.to_string(),
                    kind,
                    target: target.clone(),
                }));
                let report = third.handoff.clone();
                if let Some(c) = self.calls.get_mut(&call) {
                    c.third = Some(third);
                }
                if let Some(h) = report {
                    self.push(Action::Operator(OperatorEvent::Handoff {
                        handoff: h,
                        alarm: false,
                    }));
                }
                if kind == ThirdKind::Consult {
                    self.hold_for_consult(call, agent);
                }
                if kind == ThirdKind::Blind {
                    // The agent is released at once; the caller hears that they are being put
                    // through, then music, until the third party answers.
                    self.push(Action::Hangup {
                        call,
                        leg: Leg::Agent(agent.to_string()),
                        cause: HangupCause::AgentHangup,
                    });
                    self.after_call(i, call, true, now);
                    self.set_transferring(call);
                }
                self.dial_next(call, now);
            }
        }
    }

    /// The caller waits for a blind transfer's third party: a prompt, then music.
    fn set_transferring(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Transferring;
        let moh = self.queue_of(&self.calls[&call]).moh.clone();
        let c = &self.calls[&call];
        match c.plan.prompts.transferring.clone() {
            // Music follows when the prompt ends (`playback_done`).
            Some(p) => self.push(Action::Play {
                call,
                prompts: vec![p],
                looping: false,
            }),
            None => self.push(Action::StartMoh { call, prompt: moh }),
        }
    }

    /// Dials the third party (the next trunk with room, for a number).
    pub(super) fn dial_next(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(t) = c.third.as_ref() else {
            return;
        };
        let (plan, emergency) = (c.plan.clone(), t.emergency);
        let mut dest = t.dest.clone();
        let mut trunks_left = t.trunks_left.clone();
        if let Dest::Trunk { trunk, .. } = &mut dest {
            let Some(name) = self.take_trunk(&plan, &mut trunks_left, emergency) else {
                return self.third_failed(call, "no trunk available".into(), now);
            };
            *trunk = name;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let line = c.line.clone();
        let Some(t) = c.third.as_mut() else {
            return;
        };
        t.trunks_left = trunks_left;
        t.dest = dest.clone();
        t.state = ThirdState::Dialing;
        if let (Some(h), Dest::Trunk { trunk, .. }) = (t.handoff.as_mut(), &dest) {
            h.trunk = Some(trunk.clone());
        }
        let pass = match &dest {
            Dest::Trunk { trunk, .. } => plan
                .trunks
                .iter()
                .find(|x| &x.name == trunk)
                .is_some_and(|x| x.pass_caller_id && emergency),
            _ => true,
        };
        let present = if pass {
            c.caller.number.clone()
        } else {
            crate::pii::Pii::new(plan.outbound.present.clone())
        };
        self.push(Action::Dial {
            call,
            dest,
            present,
            line,
            emergency,
        });
    }

    /// The first of `trunks_left` that is up and has room (only emergency calls may use a
    /// trunk's reserve), taken off the list and counted as carrying one more call.
    pub(super) fn take_trunk(
        &mut self,
        plan: &Dialplan,
        trunks_left: &mut Vec<String>,
        emergency: bool,
    ) -> Option<String> {
        while !trunks_left.is_empty() {
            let name = trunks_left.remove(0);
            let Some(tr) = plan.trunks.iter().find(|x| x.name == name) else {
                continue;
            };
            if self.trunks_down.contains(&name) {
                continue; // its health check fails: the next trunk
            }
            let busy = self.trunk_calls.get(&name).copied().unwrap_or(0);
            // Only emergency calls may use the reserved part of a trunk.
            let limit = if emergency {
                tr.max_calls
            } else {
                tr.max_calls.saturating_sub(tr.emergency_reserved)
            };
            if busy < limit {
                *self.trunk_calls.entry(name.clone()).or_default() += 1;
                return Some(name);
            }
        }
        None
    }

    /// Gives back a place on `trunk` that `take_trunk` gave.
    pub(super) fn free_trunk(&mut self, trunk: &str) {
        if let Some(n) = self.trunk_calls.get_mut(trunk) {
            *n = n.saturating_sub(1);
        }
    }

    /// Where `target` leads for this call, by the call's own dialplan.
    fn resolve(
        &self,
        call: CallId,
        target: &str,
        kind: ThirdKind,
        now: Instant,
    ) -> Result<Resolved, &'static str> {
        let plan = &self.calls[&call].plan;
        let (day, sec) = self.local(now);
        let trunk_dial = |number: &str| Resolved::Dial {
            dest: Dest::Trunk {
                trunk: String::new(),
                number: number.to_string(),
            },
            trunks: plan.outbound.trunks.clone(),
            seat: None,
        };
        if let Some(line) = plan.line(target) {
            if let Some(dial) = &line.subcentre_dial {
                return Ok(trunk_dial(dial));
            }
            if line.experts {
                let seats = plan.experts_for(&line.number, day, sec);
                return seats
                    .into_iter()
                    .find(|s| self.seat_free(s))
                    .map(|s| self.seat_dial(s))
                    .ok_or("no expert seat free for this line");
            }
            return match kind {
                ThirdKind::Blind => Ok(Resolved::Queue(line.number.clone())),
                _ => Err("a three-way call or consultation needs a seat or a number"),
            };
        }
        if let Some(seat) = plan
            .experts
            .iter()
            .find(|s| s.target == target || s.name == target)
        {
            let open = seat.hours.is_empty() || seat.hours.iter().any(|w| w.contains(day, sec));
            if !open {
                return Err("the expert seat is closed now");
            }
            return if self.seat_free(seat) {
                Ok(self.seat_dial(seat))
            } else {
                Err("the expert seat is busy")
            };
        }
        if let Some(j) = self.acd.index(target) {
            let a = self.acd.get(j);
            if a.conf.role != Role::Expert {
                return match kind {
                    ThirdKind::Blind if a.available() => Ok(Resolved::Agent(j)),
                    ThirdKind::Blind => Err("that agent is not free"),
                    _ => Err("a three-way call or consultation needs a seat or a number"),
                };
            }
        }
        if plan.outbound_allowed(target) {
            return Ok(trunk_dial(target));
        }
        Err("target not allowed by the dialplans")
    }

    fn seat_free(&self, seat: &ExpertSeat) -> bool {
        if self.experts_busy.contains(&seat.target) {
            return false;
        }
        if seat.target.starts_with("sip:") {
            return true;
        }
        self.acd.index(&seat.target).is_some_and(|i| {
            let a = self.acd.get(i);
            a.registered
                && !matches!(
                    a.state,
                    AgentState::Ringing { .. } | AgentState::Talking { .. }
                )
        })
    }

    fn seat_dial(&self, seat: &ExpertSeat) -> Resolved {
        let dest = if seat.target.starts_with("sip:") {
            Dest::Uri(seat.target.clone())
        } else {
            Dest::Account(seat.target.clone())
        };
        Resolved::Dial {
            dest,
            trunks: Vec::new(),
            seat: Some(seat.target.clone()),
        }
    }

    /// A blind transfer to a line's queue: the agent leaves, the caller waits at the head of
    /// that line's list (they have already waited once).
    fn transfer_to_queue(&mut self, call: CallId, agent: usize, line: &str, now: Instant) {
        let id = self.acd.get(agent).id().to_string();
        self.push(Action::Hangup {
            call,
            leg: Leg::Agent(id),
            cause: HangupCause::AgentHangup,
        });
        self.after_call(agent, call, true, now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let plan = c.plan.clone();
        if let Some(l) = plan.line(line) {
            c.skill = plan.skill_of(l).to_string();
            c.queue = l.queue.clone();
        }
        self.requeue_at_head(call, None, now);
    }

    /// Puts a call back in its list ahead of everyone, playing `prompt` (then music).
    fn requeue_at_head(&mut self, call: CallId, prompt: Option<String>, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let moh = self.queue_of(c).moh.clone();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Queued;
        c.key = (0, c.key.1);
        c.queued.get_or_insert(now);
        match prompt {
            Some(p) => {
                c.announcing = true;
                self.push(Action::Play {
                    call,
                    prompts: vec![p],
                    looping: false,
                });
            }
            None => self.push(Action::StartMoh { call, prompt: moh }),
        }
        self.rejoin_waiting(call, now);
    }

    /// The agent leaves a three-way call: caller and third party go on together.
    pub(super) fn agent_leaves(&mut self, call: CallId, i: usize, now: Instant) {
        let id = self.acd.get(i).id().to_string();
        self.push(Action::Hangup {
            call,
            leg: Leg::Agent(id),
            cause: HangupCause::AgentHangup,
        });
        self.agent_left(call, i, now);
    }

    /// The agent's leg is gone while a third party is on the call (their BYE or `Leave`).
    pub(super) fn agent_left(&mut self, call: CallId, i: usize, now: Instant) {
        self.after_call(i, call, true, now);
        let left_ms = self.clock.unix_ms(now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.third.as_mut() else {
            return;
        };
        if let Some(h) = t.handoff.as_mut() {
            h.agent_left_ms = Some(left_ms);
        }
        if t.state == ThirdState::Up {
            c.phase = Phase::WithThird;
            self.push(Action::BridgeThird { call });
        } else {
            // Still ringing: the caller waits for the third party as in a blind transfer.
            t.kind = ThirdKind::Blind;
            self.set_transferring(call);
        }
    }

    pub(super) fn third_ringing(&mut self, call: CallId, now: Instant) {
        let ms = self.clock.unix_ms(now);
        if let Some(t) = self.calls.get_mut(&call).and_then(|c| c.third.as_mut()) {
            if t.state == ThirdState::Dialing {
                t.state = ThirdState::Ringing;
                if let Some(h) = t.handoff.as_mut() {
                    h.ringing_ms.get_or_insert(ms);
                }
            }
        }
    }

    pub(super) fn third_answered(&mut self, call: CallId, now: Instant) {
        let ms = self.clock.unix_ms(now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let phase = c.phase;
        let Some(t) = c.third.as_mut() else {
            // A late answer after we gave up: release it.
            return self.push(Action::Hangup {
                call,
                leg: Leg::Third,
                cause: HangupCause::AgentHangup,
            });
        };
        t.state = ThirdState::Up;
        let consult = t.kind == ThirdKind::Consult;
        let monitor = t.monitor;
        let target = t.target.clone();
        let report = t.handoff.as_mut().map(|h| {
            h.answered_ms = Some(ms);
            h.outcome = Some(HandoffOutcome::Connected);
            h.clone()
        });
        match phase {
            Phase::Talking { agent } => {
                let agent = self.acd.get(agent).id().to_string();
                self.push(match monitor {
                    Some(mode) => Action::Monitor { call, agent, mode },
                    None if consult => Action::Consult { call, agent },
                    None => Action::Conference { call, agent },
                });
            }
            Phase::Transferring => {
                c.phase = Phase::WithThird;
                self.push(Action::BridgeThird { call });
            }
            _ => {}
        }
        self.push(Action::Operator(OperatorEvent::TransferConnected {
            call,
            target,
        }));
        if let Some(h) = report {
            self.push(Action::Operator(OperatorEvent::Handoff {
                handoff: h,
                alarm: false,
            }));
        }
    }

    pub(super) fn third_ring_failed(&mut self, call: CallId, cause: RingFailure, now: Instant) {
        let Some(t) = self.calls.get(&call).and_then(|c| c.third.as_ref()) else {
            return;
        };
        if t.state == ThirdState::Up {
            return self.third_hung_up(call, now);
        }
        // A trunk that could not carry the call is replaced by the next one; a far end that is
        // busy or declines has answered.
        let trunk_fault = cause.is_trunk_fault();
        let retry = trunk_fault && !t.trunks_left.is_empty();
        self.release_trunk(call);
        if retry {
            self.dial_next(call, now);
        } else {
            self.third_failed(call, cause.reason(), now);
        }
    }

    /// The third party could not be reached: the agent is told; a blind transfer's caller goes
    /// back to the agent if free, else to the head of the queue.
    fn third_failed(&mut self, call: CallId, cause: String, now: Instant) {
        let ms = self.clock.unix_ms(now);
        let Some(mut t) = self.take_third(call) else {
            return;
        };
        self.push(Action::Operator(OperatorEvent::TransferFailed {
            call,
            agent: t.asker.clone(),
            target: t.target.clone(),
            cause,
        }));
        if let Some(mut h) = t.handoff.take() {
            h.ended_ms = Some(ms);
            h.outcome = Some(HandoffOutcome::Failed);
            self.push(Action::Operator(OperatorEvent::Handoff {
                handoff: h,
                alarm: true,
            }));
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if let Phase::Talking { agent } = c.phase {
            if t.kind == ThirdKind::Consult {
                // Back from a failed consultation: the agent has the caller again.
                let agent = self.acd.get(agent).id().to_string();
                self.push(Action::Bridge { call, agent });
            }
            return; // a three-way attempt: the agent is still with the caller
        }
        if c.phase != Phase::Transferring {
            return;
        }
        let prompt = c.plan.prompts.transfer_failed.clone();
        let back = self.acd.index(&t.asker).filter(|&i| {
            let a = self.acd.get(i);
            a.registered && matches!(a.state, AgentState::Ready | AgentState::WrapUp { .. })
        });
        match back {
            Some(i) => {
                // The same agent takes the caller back (their wrap-up of this call ends).
                if let Some(c) = self.calls.get_mut(&call) {
                    c.key = (0, c.key.1);
                    // Music follows the prompt while the agent's phone rings.
                    c.announcing = prompt.is_some();
                }
                if let Some(p) = prompt {
                    self.push(Action::Play {
                        call,
                        prompts: vec![p],
                        looping: false,
                    });
                }
                self.acd.set_state(i, AgentState::Ready, now, true);
                self.offer(call, i, now);
            }
            None => self.requeue_at_head(call, prompt, now),
        }
    }

    /// The third party hung up after answering.
    pub(super) fn third_hung_up(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let phase = c.phase;
        self.third_gone(call, now);
        match phase {
            Phase::Talking { agent } => {
                let agent = self.acd.get(agent).id().to_string();
                self.push(Action::Bridge { call, agent });
            }
            Phase::WithThird | Phase::Transferring => {
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Caller,
                    cause: HangupCause::ThirdHangup,
                });
                self.finish(call, HangupCause::ThirdHangup, now);
            }
            _ => {}
        }
    }

    /// Forgets the third party (its leg is gone or being ended), closing a hand-off record.
    pub(super) fn third_gone(&mut self, call: CallId, now: Instant) {
        let ms = self.clock.unix_ms(now);
        let Some(mut t) = self.take_third(call) else {
            return;
        };
        if let Some(mut h) = t.handoff.take() {
            h.ended_ms = Some(ms);
            let alarm = h.outcome.is_none();
            if alarm {
                h.outcome = Some(HandoffOutcome::Failed);
            }
            self.push(Action::Operator(OperatorEvent::Handoff {
                handoff: h,
                alarm,
            }));
        }
    }

    /// The caller hung up while a third party was on or being called.
    pub(super) fn caller_left_third(&mut self, call: CallId, now: Instant) {
        let ms = self.clock.unix_ms(now);
        let Some(mut t) = self.take_third(call) else {
            return;
        };
        self.push(Action::Hangup {
            call,
            leg: Leg::Third,
            cause: HangupCause::CallerHangup,
        });
        if let Some(mut h) = t.handoff.take() {
            h.ended_ms = Some(ms);
            let alarm = h.outcome.is_none();
            if alarm {
                h.outcome = Some(HandoffOutcome::CallerHungUp);
            }
            self.push(Action::Operator(OperatorEvent::Handoff {
                handoff: h,
                alarm,
            }));
        }
    }

    fn take_third(&mut self, call: CallId) -> Option<Third> {
        self.release_trunk(call);
        let t = self.calls.get_mut(&call)?.third.take()?;
        if let Some(s) = &t.seat {
            self.experts_busy.remove(s);
        }
        Some(t)
    }

    /// The third party's trunk no longer carries this call.
    fn release_trunk(&mut self, call: CallId) {
        let Some(t) = self.calls.get_mut(&call).and_then(|c| c.third.as_mut()) else {
            return;
        };
        if let Dest::Trunk { trunk, .. } = &mut t.dest {
            if !trunk.is_empty() {
                let t = std::mem::take(trunk);
                self.free_trunk(&t);
            }
        }
    }
}

fn emergency_handoff(plan: &Dialplan, number: &str, three_way: bool, reason: String) -> Handoff {
    let name = plan
        .emergency
        .numbers
        .iter()
        .find(|(n, _)| n == number)
        .map(|(_, name)| name.clone())
        .unwrap_or_default();
    Handoff {
        id: 0,
        call: 0,
        agent: String::new(),
        number: number.to_string(),
        name,
        caller: crate::pii::Pii::new(String::new()),
        reason,
        three_way,
        trunk: None,
        asked_ms: 0,
        ringing_ms: None,
        answered_ms: None,
        agent_left_ms: None,
        ended_ms: None,
        outcome: None,
    }
}
