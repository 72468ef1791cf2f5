//! Agents' side of call control: registration, login/logout, ready/not ready, feature codes,
//! and what happens to an agent when its part of a call ends (wrap-up, pending not-ready).

use std::time::{Duration, Instant};

use super::{CallControl, Timer};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{Action, AgentRequest, Event, OperatorEvent};

impl CallControl {
    pub(super) fn agent_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::AgentRegistered { agent } => {
                let i = self.agent_idx(&agent, now);
                self.acd.set_registered(i, true);
                let a = self.acd.get(i);
                if a.state == AgentState::LoggedOut && a.conf.ready_on_register {
                    self.make_ready(i, now, false);
                } else if a.available() {
                    self.dispatch_agent(i, now);
                }
            }
            Event::AgentUnregistered { agent } => {
                let Some(i) = self.acd.index(&agent) else {
                    return;
                };
                self.acd.set_registered(i, false);
                match self.acd.get(i).state.clone() {
                    AgentState::Ringing { call } => {
                        self.ring_failed(call, i, "unregistered".into(), true, now);
                        self.set_agent(i, AgentState::LoggedOut, now);
                    }
                    AgentState::Talking { .. } => {
                        self.acd.set_pending_not_ready(i, Some(LOGOUT.into()))
                    }
                    _ => self.set_agent(i, AgentState::LoggedOut, now),
                }
            }
            Event::AgentLogin { agent } => {
                let i = self.agent_idx(&agent, now);
                if self.acd.get(i).state == AgentState::LoggedOut {
                    self.make_ready(i, now, false);
                }
            }
            Event::AgentLogout { agent } => {
                let Some(i) = self.acd.index(&agent) else {
                    return;
                };
                match self.acd.get(i).state.clone() {
                    AgentState::Ringing { call } => {
                        self.ring_failed(call, i, "logged out".into(), true, now);
                        self.set_agent(i, AgentState::LoggedOut, now);
                    }
                    AgentState::Talking { .. } => {
                        self.acd.set_pending_not_ready(i, Some(LOGOUT.into()))
                    }
                    _ => self.set_agent(i, AgentState::LoggedOut, now),
                }
            }
            Event::AgentReady { agent } => {
                let i = self.agent_idx(&agent, now);
                self.acd.set_pending_not_ready(i, None);
                match self.acd.get(i).state {
                    AgentState::Ready | AgentState::Ringing { .. } | AgentState::Talking { .. } => {
                    }
                    _ => self.make_ready(i, now, false),
                }
            }
            Event::AgentNotReady { agent, reason } => {
                let i = self.agent_idx(&agent, now);
                match self.acd.get(i).state {
                    AgentState::Ringing { .. }
                    | AgentState::Talking { .. }
                    | AgentState::WrapUp { .. } => self.acd.set_pending_not_ready(i, Some(reason)),
                    _ => self.set_agent(i, AgentState::NotReady { reason }, now),
                }
            }
            _ => {}
        }
    }

    pub(super) fn agent_idx(&mut self, id: &str, now: Instant) -> usize {
        let conf = self.plan.agents.conf(id);
        self.acd.ensure(conf, now)
    }

    pub(super) fn set_agent(&mut self, i: usize, state: AgentState, now: Instant) {
        let reason = match &state {
            AgentState::NotReady { reason } => Some(reason.clone()),
            _ => None,
        };
        self.acd.set_state(i, state, now, false);
        let a = self.acd.get(i);
        let ev = OperatorEvent::AgentState {
            agent: a.id().to_string(),
            state: a.state.name(),
            reason,
        };
        self.push(Action::Operator(ev));
    }

    pub(super) fn make_ready(&mut self, i: usize, now: Instant, keep_idle: bool) {
        self.acd.set_state(i, AgentState::Ready, now, keep_idle);
        let ev = OperatorEvent::AgentState {
            agent: self.acd.get(i).id().to_string(),
            state: "ready",
            reason: None,
        };
        self.push(Action::Operator(ev));
        if self.acd.get(i).available() {
            self.dispatch_agent(i, now);
        }
    }

    /// The agent's part of a call ended: wrap-up after talking, back to ready after ringing.
    pub(super) fn after_call(&mut self, i: usize, call: CallId, talked: bool, now: Instant) {
        if talked {
            if let Some(answered) = self.calls.get(&call).and_then(|c| c.answered) {
                let took = now.saturating_duration_since(answered);
                self.avg_handle = (self.avg_handle * 7 + took) / 8;
            }
        }
        if !matches!(self.acd.get(i).state, AgentState::Ringing { call: c } | AgentState::Talking { call: c } if c == call)
        {
            return;
        }
        let wrap = self
            .calls
            .get(&call)
            .map_or(Duration::ZERO, |c| self.queue_of(c).wrap_up);
        if self.acd.get(i).pending_not_ready.as_deref() == Some(LOGOUT) {
            self.acd.set_pending_not_ready(i, None);
            self.set_agent(i, AgentState::LoggedOut, now);
        } else if talked && !wrap.is_zero() {
            self.set_agent(i, AgentState::WrapUp { until: now + wrap }, now);
            let generation = self.acd.get(i).generation;
            self.arm(
                now + wrap,
                Timer::WrapUp {
                    agent: i,
                    generation,
                },
            );
        } else if talked {
            self.end_wrap_up(i, now);
        } else if let Some(reason) = self.acd.get(i).pending_not_ready.clone() {
            self.acd.set_pending_not_ready(i, None);
            self.set_agent(i, AgentState::NotReady { reason }, now);
        } else {
            // A ring the caller cancelled does not cost the agent its turn.
            self.make_ready(i, now, true);
        }
    }

    pub(super) fn end_wrap_up(&mut self, i: usize, now: Instant) {
        match self.acd.get(i).pending_not_ready.clone() {
            Some(reason) => {
                self.acd.set_pending_not_ready(i, None);
                self.set_agent(i, AgentState::NotReady { reason }, now);
            }
            None => self.make_ready(i, now, false),
        }
    }

    pub(super) fn feature(
        &mut self,
        agent: String,
        call: Option<CallId>,
        digits: String,
        now: Instant,
    ) {
        // Keys sent during a call arrive one by one: collect them into a code first.
        if let (Some(call), Some(key), 1) = (call, digits.chars().next(), digits.chars().count()) {
            return self.agent_key(agent, call, key, now);
        }
        // Codes typed during a call follow the plan the call arrived under.
        let plan = call
            .and_then(|c| self.calls.get(&c))
            .map_or_else(|| self.plan.clone(), |c| c.plan.clone());
        let f = &plan.features;
        let request = if digits == f.login {
            return self.handle(Event::AgentLogin { agent }, now);
        } else if digits == f.logout {
            return self.handle(Event::AgentLogout { agent }, now);
        } else if digits == f.ready {
            return self.handle(Event::AgentReady { agent }, now);
        } else if digits == f.not_ready {
            return self.handle(
                Event::AgentNotReady {
                    agent,
                    reason: "feature code".into(),
                },
                now,
            );
        } else if let Some(n) = digits.strip_prefix(f.emergency.as_str()) {
            AgentRequest::Emergency {
                number: n.to_string(),
                three_way: None,
                reason: "feature code".into(),
            }
        } else if let Some(n) = digits.strip_prefix(f.three_way.as_str()) {
            AgentRequest::ThreeWay {
                target: n.to_string(),
            }
        } else if let Some(n) = digits.strip_prefix(f.blind_transfer.as_str()) {
            AgentRequest::BlindTransfer {
                target: n.to_string(),
            }
        } else if let Some(n) = digits.strip_prefix(f.consult.as_str()) {
            AgentRequest::Consult {
                target: n.to_string(),
            }
        } else if digits == f.complete {
            AgentRequest::Complete
        } else if digits == f.back {
            AgentRequest::DropThird
        } else {
            return self.refuse(&agent, &digits, "unknown feature code");
        };
        match call {
            Some(call) => self.agent_request(agent, call, request, now),
            None => self.refuse(&agent, &digits, "needs a call in progress"),
        }
    }
}

/// The pending "not ready" reason that means log out after the call.
pub(super) const LOGOUT: &str = "\u{0}logout";
