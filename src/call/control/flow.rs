//! The caller's side of a call: arrival (line, caller, abuse check), greeting, answer, hang-ups,
//! the satisfaction rating and the callback key.

use std::time::Instant;

use super::{Call, CallControl, Phase, Timer, RATING_WAIT};
use crate::call::agent::{AgentState, CallId};
use crate::call::caller::normalise;
use crate::call::event::{Action, Arrival, Leg, OperatorEvent};
use crate::call::line;
use crate::call::record::{HangupCause, Rating};

impl CallControl {
    pub(super) fn arrived(&mut self, a: Arrival, now: Instant) {
        if self.calls.contains_key(&a.call) {
            return; // the same call announced twice
        }
        let plan = self.plan.clone();
        let reject = |s: &mut Self, status| {
            s.push(Action::RejectCaller {
                call: a.call,
                status,
            })
        };
        let Some(line) = line::resolve(&plan, &a.dialled) else {
            return reject(self, 404);
        };
        if let Some(t) = a
            .trunk
            .as_deref()
            .and_then(|n| plan.trunks.iter().find(|t| t.name == n))
        {
            // The trunk must deliver the number it sent, and keep room for emergency hand-offs.
            let sent = line::match_line(&plan, &a.dialled.request_user).unwrap_or(line);
            if !t.delivers(&sent.number) {
                return reject(self, 404);
            }
            let busy = self.trunk_calls.get(&t.name).copied().unwrap_or(0);
            if busy >= t.max_calls.saturating_sub(t.emergency_reserved) {
                return reject(self, 503);
            }
            *self.trunk_calls.entry(t.name.clone()).or_default() += 1;
        }
        let caller = normalise(a.caller.expose(), a.privacy, &plan.area_code);
        self.arrivals += 1;
        if self.arrivals % 1024 == 0 {
            self.abuse.purge(&plan.abuse, now);
        }
        let priority = match caller.abuse_key() {
            Some(n) if plan.priority_callers.iter().any(|p| p == n) => 0,
            _ => 1,
        };
        self.seq += 1;
        let mut call = Call::new(
            plan.clone(),
            &line.number,
            Some(line),
            caller,
            (priority, self.seq),
            Phase::Greeting,
            now,
        );
        call.dialled = a.dialled.request_user.clone();
        call.trunk = a.trunk;
        let id = a.call;
        let restricted = self.abuse.on_call(&plan.abuse, &call.caller, now).is_some();
        let greeting = self.queue_of(&call).greeting.clone();
        let caller_pii = call.caller.number.clone();
        self.push(Action::AnswerCaller { call: id });
        self.push(Action::Operator(OperatorEvent::CallOffered {
            call: id,
            line: call.line.clone(),
        }));
        self.calls.insert(id, call);
        if restricted {
            self.push(Action::RestrictedNotice {
                call: id,
                caller: caller_pii,
            });
            self.close_with(id, plan.prompts.restricted.clone(), HangupCause::Restricted);
        } else {
            self.push(Action::Play {
                call: id,
                prompts: greeting,
                looping: false,
            });
        }
    }

    pub(super) fn playback_done(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let announcing = std::mem::take(&mut c.announcing);
        match c.phase {
            Phase::Greeting => self.enqueue(call, now),
            Phase::Queued | Phase::Ringing { .. } if announcing => {
                let moh = self.queue_of(&self.calls[&call]).moh.clone();
                self.push(Action::StartMoh { call, prompt: moh });
            }
            Phase::Rating => self.arm(now + RATING_WAIT, Timer::Rating { call }),
            Phase::Transferring => {
                let moh = self.queue_of(&self.calls[&call]).moh.clone();
                self.push(Action::StartMoh { call, prompt: moh });
            }
            Phase::Closing(cause) => {
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Caller,
                    cause,
                });
                self.finish(call, cause, now);
            }
            _ => {}
        }
    }

    pub(super) fn answered(&mut self, call: CallId, agent: &str, now: Instant) {
        let Some(i) = self.acd.index(agent) else {
            return;
        };
        let ringing = self
            .calls
            .get(&call)
            .is_some_and(|c| c.phase == Phase::Ringing { agent: i });
        if !ringing {
            // A late 200 OK after we cancelled: release the agent's leg.
            self.push(Action::Hangup {
                call,
                leg: Leg::Agent(agent.to_string()),
                cause: HangupCause::Abandoned,
            });
            return;
        }
        let (day, _) = self.local(now);
        let date =
            crate::workflow::calendar::date_of(day).map(|d| d.format("%Y-%m-%d").to_string());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Talking { agent: i };
        c.answered = Some(now);
        c.announcing = false;
        c.agent = Some(agent.to_string());
        let path = format!(
            "{}/{}-{}.wav",
            date.unwrap_or_else(|| "undated".into()),
            call,
            c.line
        );
        c.recording = Some(path.clone());
        let line = c.line.clone();
        self.set_agent(i, AgentState::Talking { call }, now);
        self.push(Action::Bridge {
            call,
            agent: agent.to_string(),
        });
        self.push(Action::StartRecording { call, path });
        self.push(Action::Operator(OperatorEvent::CallAnswered {
            call,
            agent: agent.to_string(),
            line,
        }));
    }

    pub(super) fn caller_gone(&mut self, call: CallId, cause: HangupCause, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (skill, key) = (c.skill.clone(), c.key);
        let cause = match c.phase {
            Phase::Greeting | Phase::Queued => {
                c.abandoned = true;
                self.acd.waiting.remove(&skill, key);
                HangupCause::Abandoned
            }
            Phase::Ringing { agent } => {
                c.abandoned = true;
                self.push(Action::CancelRing {
                    call,
                    agent: self.acd.get(agent).id().to_string(),
                });
                self.after_call(agent, call, false, now);
                HangupCause::Abandoned
            }
            Phase::Talking { agent } => {
                self.push(Action::Hangup {
                    call,
                    leg: Leg::Agent(self.acd.get(agent).id().to_string()),
                    cause,
                });
                self.after_call(agent, call, true, now);
                cause
            }
            Phase::Rating => {
                c.rating.get_or_insert(Rating::NoAnswer);
                HangupCause::AgentHangup
            }
            Phase::Transferring | Phase::WithThird => cause,
            Phase::Closing(c) => c,
            Phase::Callback(_) => return self.callback_lost(call, now),
        };
        self.finish(call, cause, now);
    }

    pub(super) fn agent_hung_up(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Phase::Talking { agent } = c.phase else {
            return;
        };
        if c.third.is_some() {
            // The agent leaves a three-way call (or one still ringing the third party): the
            // caller stays with the third party.
            return self.agent_left(call, agent, now);
        }
        let rating = c
            .plan
            .line(&c.line)
            .and_then(|l| l.rating)
            .unwrap_or(self.queue_of(c).rating);
        let survey = c.plan.prompts.rating.clone();
        self.after_call(agent, call, true, now);
        if rating {
            if let Some(c) = self.calls.get_mut(&call) {
                c.phase = Phase::Rating;
            }
            self.push(Action::Play {
                call,
                prompts: vec![survey],
                looping: false,
            });
        } else {
            self.push(Action::Hangup {
                call,
                leg: Leg::Caller,
                cause: HangupCause::AgentHangup,
            });
            self.finish(call, HangupCause::AgentHangup, now);
        }
    }

    pub(super) fn callback(&mut self, call: CallId, now: Instant) {
        if !self.keep_place(call, now) {
            return; // a caller rexian cannot call back: told all seats are busy
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.callback = true;
        let ev = OperatorEvent::CallbackRequested {
            call,
            line: c.line.clone(),
            caller: c.caller.number.clone(),
        };
        let p = c.plan.prompts.callback_ack.clone();
        self.push(Action::Operator(ev));
        self.close_with(call, p, HangupCause::CallbackRequested);
    }

    pub(super) fn dtmf(&mut self, call: CallId, digit: char, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match c.phase {
            Phase::Queued
                if self.queue_of(c).callback_key == Some(digit) && self.can_call_back(c) =>
            {
                self.acd.waiting.remove(&c.skill, c.key);
                self.callback(call, now);
            }
            Phase::Rating => {
                if let Some(r) = Rating::from_key(digit) {
                    let p = c.plan.prompts.rating_thanks.clone();
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.rating = Some(r);
                    }
                    self.close_with(call, p, HangupCause::AgentHangup);
                }
            }
            _ => {}
        }
    }
}
