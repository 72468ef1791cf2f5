//! Choosing who takes what: leader windows first, then the longest-idle agent with the call's
//! skill, then — after a dual-number line's overflow wait — the 12345 agents; one agent rung
//! at a time.

use std::time::Instant;

use super::{Call, CallControl, Phase, Timer};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{Action, OperatorEvent};
use crate::call::plan::{MergeType, Role};
use crate::call::queue::Waiter;
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
        let overflow_at = c.overflow_after.map(|d| now + d);
        let (skill, key) = (c.skill.clone(), c.key);
        let c = self.calls.get_mut(&call).expect("present above");
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
        let role = a.conf.role;
        let found = match role {
            Role::Agent => self.acd.oldest_call_for(i, &self.plan.main, now, None),
            Role::Expert => None,
            Role::Leader => {
                let (day, sec) = self.local(now);
                let seat = a.id();
                let mut skills: Vec<String> = Vec::new();
                for w in self
                    .plan
                    .leader_windows
                    .iter()
                    .filter(|w| w.seat == seat && w.window.contains(day, sec))
                {
                    if w.lines.is_empty() {
                        skills.extend(
                            self.plan
                                .lines
                                .iter()
                                .map(|l| self.plan.skill_of(l).to_string()),
                        );
                    }
                    for l in w.lines.iter().filter_map(|n| self.plan.line(n)) {
                        skills.push(self.plan.skill_of(l).to_string());
                    }
                }
                if skills.is_empty() {
                    None
                } else {
                    self.acd
                        .oldest_call_for(i, &self.plan.main, now, Some(&skills))
                }
            }
        };
        if let Some((_, _, call)) = found {
            if self
                .calls
                .get(&call)
                .is_some_and(|c| !c.leader_tried || role != Role::Leader)
            {
                self.offer(call, i, now);
            }
        }
    }

    pub(super) fn offer(&mut self, call: CallId, i: usize, now: Instant) {
        let leader = self.acd.get(i).conf.role == Role::Leader;
        let c = self
            .calls
            .get_mut(&call)
            .expect("offer is called for live calls");
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
