//! Choosing who takes what: leader windows first, then the longest-idle agent with the call's
//! skill, then — after a dual-number line's overflow wait — the 12345 agents; one agent rung
//! at a time.

use std::time::Instant;

use super::{Call, CallControl, Phase, Timer};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{Action, OperatorEvent};
use crate::call::plan::{MergeType, Overflow, Role};
use crate::call::queue::{Key, Waiter};
use crate::call::record::HangupCause;

impl CallControl {
    pub(super) fn leader_for(&self, c: &Call, now: Instant) -> Option<usize> {
        let (day, sec) = self.local(now);
        c.plan.leader_windows.iter().find_map(|w| {
            let covers = w.lines.is_empty() || w.lines.contains(&c.line);
            if !covers || !w.window.contains(day, sec) {
                return None;
            }
            let i = self.acd.index(&w.seat)?;
            let a = self.acd.get(i);
            (a.registered && a.logged_in()).then_some(i)
        })
    }

    pub(super) fn enqueue(&mut self, call: CallId, now: Instant) {
        let c = &self.calls[&call];
        let main = c.plan.main.clone();
        let dual = c
            .plan
            .line(&c.line)
            .is_some_and(|l| l.merge == MergeType::Dual);
        let mut skills = vec![c.skill.as_str()];
        if dual {
            skills.push(&main);
        }
        if !self.acd.anyone_for(&skills) && self.leader_for(c, now).is_none() {
            let p = c.plan.prompts.no_agent.clone();
            self.close_with(call, p, HangupCause::NoAgents);
            return;
        }
        let q = self.queue_of(c).clone();
        if let Some(max) = q.max_length {
            let waiting = self
                .calls
                .values()
                .filter(|o| {
                    o.queue == q.name && matches!(o.phase, Phase::Queued | Phase::Ringing { .. })
                })
                .count();
            if waiting >= max {
                match q.on_max_wait {
                    Overflow::Callback => self.callback(call, now),
                    Overflow::Hangup => {
                        let p = self.calls[&call].plan.prompts.all_busy.clone();
                        self.close_with(call, p, HangupCause::QueueFull);
                    }
                }
                return;
            }
        }
        let overflow_at = c.overflow_after.map(|d| now + d);
        let (skill, key) = (c.skill.clone(), c.key);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Queued;
        c.queued = Some(now);
        c.overflow_at = overflow_at;
        self.acd.waiting.insert(
            &skill,
            key,
            Waiter {
                call,
                entered: now,
                overflow_at,
            },
        );
        self.push(Action::StartMoh {
            call,
            prompt: q.moh.clone(),
        });
        let position = self.acd.waiting.ahead(&skill, key);
        let line = self.calls[&call].line.clone();
        self.push(Action::Operator(OperatorEvent::CallQueued {
            call,
            line,
            position,
        }));
        self.arm(now + q.max_wait, Timer::MaxWait { call });
        if let Some(at) = overflow_at {
            self.arm(at, Timer::Overflow { call });
        }
        if let Some(every) = q.announce_every {
            self.arm(now + every, Timer::Announce { call });
        }
        self.dispatch_call(call, now);
    }

    /// Offers a queued call to the best agent, if one is free.
    pub(super) fn dispatch_call(&mut self, call: CallId, now: Instant) {
        let c = &self.calls[&call];
        if c.phase != Phase::Queued {
            return;
        }
        let mut pick = None;
        if !c.leader_tried {
            pick = self
                .leader_for(c, now)
                .filter(|&i| self.acd.get(i).available());
        }
        if pick.is_none() {
            pick = self.acd.longest_idle(&c.skill);
        }
        if pick.is_none() && c.overflow_at.is_some_and(|t| t <= now) {
            pick = self.acd.longest_idle(&c.plan.main);
        }
        if let Some(i) = pick {
            self.offer(call, i, now);
        }
    }

    /// Offers the oldest call agent `i` may take, if any.
    pub(super) fn dispatch_agent(&mut self, i: usize, now: Instant) {
        let a = self.acd.get(i);
        if !a.available() {
            return;
        }
        let found = match a.conf.role {
            Role::Agent => self
                .acd
                .oldest_call_for(i, &self.plan.main, now, None)
                .map(|(_, _, call)| call),
            Role::Expert => None,
            Role::Leader => self.oldest_call_for_leader(a.id(), now),
        };
        if let Some(call) = found {
            self.offer(call, i, now);
        }
    }

    /// The oldest waiting call on a line one of the seat's open leader windows covers and that
    /// the leader has not been offered yet. Leaders are few, so walking the lists is fine.
    fn oldest_call_for_leader(&self, seat: &str, now: Instant) -> Option<CallId> {
        let (day, sec) = self.local(now);
        let windows: Vec<_> = self
            .plan
            .leader_windows
            .iter()
            .filter(|w| w.seat == seat && w.window.contains(day, sec))
            .collect();
        if windows.is_empty() {
            return None;
        }
        let covers = |line: &str| {
            windows
                .iter()
                .any(|w| w.lines.is_empty() || w.lines.iter().any(|l| l == line))
        };
        let mut skills: Vec<&str> = self
            .plan
            .lines
            .iter()
            .map(|l| self.plan.skill_of(l))
            .collect();
        skills.sort_unstable();
        skills.dedup();
        let mut best: Option<(Key, CallId)> = None;
        for skill in skills {
            for (key, w) in self.acd.waiting.iter(skill) {
                if best.is_some_and(|b| key >= b.0) {
                    break;
                }
                let c = &self.calls[&w.call];
                if !c.leader_tried && covers(&c.line) {
                    best = Some((key, w.call));
                    break;
                }
            }
        }
        best.map(|(_, call)| call)
    }

    pub(super) fn offer(&mut self, call: CallId, i: usize, now: Instant) {
        if self.callback_offer(call, i, now) {
            return; // a callback request: the agent is reserved and the citizen dialled
        }
        let leader = self.acd.get(i).conf.role == Role::Leader;
        let Some(c) = self.calls.get_mut(&call) else {
            return; // gone meanwhile: nothing to offer
        };
        self.acd.waiting.remove(&c.skill, c.key);
        c.phase = Phase::Ringing { agent: i };
        c.ring_attempts += 1;
        c.leader_tried |= leader;
        let attempt = c.ring_attempts;
        let act = Action::RingAgent {
            call,
            agent: self.acd.get(i).id().to_string(),
            line: c.line.clone(),
            line_name: c.line_name.clone(),
            caller: c.caller.number.clone(),
        };
        let timeout = self.queue_of(&self.calls[&call]).ring_timeout;
        self.set_agent(i, AgentState::Ringing { call }, now);
        self.push(act);
        self.arm(now + timeout, Timer::Ring { call, attempt });
    }

    /// Ringing agent `i` failed: it goes not-ready, the call goes back to its place.
    pub(super) fn ring_failed(
        &mut self,
        call: CallId,
        i: usize,
        reason: String,
        cancel: bool,
        now: Instant,
    ) {
        if self.callback_agent_lost(call, i, &reason, now) {
            return; // reserved for a callback: the citizen's INVITE goes on
        }
        if cancel {
            self.push(Action::CancelRing {
                call,
                agent: self.acd.get(i).id().to_string(),
            });
        }
        self.acd.set_pending_not_ready(i, None);
        self.set_agent(i, AgentState::NotReady { reason }, now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Queued;
        self.rejoin_waiting(call, now);
    }

    /// Puts a queued call back in its list at its own place (its key, its original entry
    /// time and overflow deadline) and offers it to an agent.
    pub(super) fn rejoin_waiting(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let w = Waiter {
            call,
            entered: c.queued.unwrap_or(now),
            overflow_at: c.overflow_at,
        };
        let (skill, key) = (c.skill.clone(), c.key);
        self.acd.waiting.insert(&skill, key, w);
        self.dispatch_call(call, now);
    }
}
