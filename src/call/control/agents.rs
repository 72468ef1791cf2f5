//! Agents' side of call control: registration, login/logout, ready/not ready, feature codes,
//! and what happens to an agent when its part of a call ends (wrap-up, pending not-ready).

use std::time::{Duration, Instant};

use super::{CallControl, Phase, Timer, DIGIT_TIMEOUT};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{Action, AgentRequest, Event, OperatorEvent};
use crate::call::plan::Dialplan;

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
        let refuse = |s: &mut Self, reason| {
            let ev = OperatorEvent::FeatureRefused {
                agent: agent.clone(),
                digits: digits.clone(),
                reason,
            };
            s.push(Action::Operator(ev));
        };
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
            match plan.emergency.numbers.iter().find(|(x, _)| x == n) {
                Some((number, name)) => AgentRequest::Emergency {
                    number: number.clone(),
                    name: name.clone(),
                    three_way: plan.emergency.three_way,
                },
                None => return refuse(self, "not an emergency number"),
            }
        } else if let Some(n) = digits.strip_prefix(f.three_way.as_str()) {
            if !self.target_allowed(&plan, n) {
                return refuse(self, "target not allowed by the dialplans");
            }
            AgentRequest::ThreeWay {
                target: n.to_string(),
            }
        } else if let Some(n) = digits.strip_prefix(f.blind_transfer.as_str()) {
            if !self.target_allowed(&plan, n) {
                return refuse(self, "target not allowed by the dialplans");
            }
            AgentRequest::BlindTransfer {
                target: n.to_string(),
            }
        } else {
            return refuse(self, "unknown feature code");
        };
        if call.is_none() {
            return refuse(self, "needs a call in progress");
        }
        self.push(Action::AgentRequest {
            agent,
            call,
            request,
        });
    }

    /// One key from an agent on a call: collects feature codes (`*3` 12320 `#`, `*0110` …)
    /// against the plan the call arrived under.
    fn agent_key(&mut self, agent: String, call: CallId, key: char, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.digits.is_empty() && key != '*' && key != '#' {
            return; // an ordinary key press (an IVR at the far end, say): not ours
        }
        c.digits.push(key);
        c.digits_gen += 1;
        let gen = c.digits_gen;
        match classify(&c.plan, &c.digits, false) {
            Digits::More => self.arm(now + DIGIT_TIMEOUT, Timer::Digits { call, gen }),
            Digits::Done(code) => {
                c.digits.clear();
                self.feature(agent, Some(call), code, now);
            }
            Digits::Invalid => {
                let typed = std::mem::take(&mut c.digits);
                self.refuse_code(&agent, &typed);
            }
        }
    }

    /// The agent paused while typing a code.
    pub(super) fn digits_paused(&mut self, call: CallId, gen: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.digits_gen != gen || c.digits.is_empty() {
            return;
        }
        let typed = std::mem::take(&mut c.digits);
        let Phase::Talking { agent } = c.phase else {
            return;
        };
        let agent = self.acd.get(agent).id().to_string();
        match classify(&self.calls[&call].plan, &typed, true) {
            Digits::Done(code) => self.feature(agent, Some(call), code, now),
            _ => self.refuse_code(&agent, &typed),
        }
    }

    fn refuse_code(&mut self, agent: &str, typed: &str) {
        self.push(Action::Operator(OperatorEvent::FeatureRefused {
            agent: agent.to_string(),
            digits: typed.to_string(),
            reason: "unknown feature code",
        }));
    }
}

/// A feature code typed on the keypad during a call, as far as it has come.
#[derive(Debug, PartialEq, Eq)]
enum Digits {
    /// Wait for more (or the `#` terminator, or the pause).
    More,
    /// A whole code: carry it out.
    Done(String),
    /// Not a code.
    Invalid,
}

/// Classifies the keys typed so far against the call's feature codes and emergency numbers.
/// Emergency codes complete on the last digit of a listed number that no other listed number
/// extends; the other codes with a number complete on `#` or after a pause.
fn classify(plan: &Dialplan, typed: &str, paused: bool) -> Digits {
    let f = &plan.features;
    let simple = [&f.login, &f.logout, &f.ready, &f.not_ready];
    let with_number = [&f.three_way, &f.emergency, &f.blind_transfer];
    if simple.iter().any(|c| c.as_str() == typed) {
        return Digits::Done(typed.to_string());
    }
    if let Some(n) = typed.strip_prefix(f.emergency.as_str()) {
        let numbers = || plan.emergency.numbers.iter().map(|(x, _)| x);
        let listed = numbers().any(|x| x == n);
        let longer = numbers().any(|x| x.len() > n.len() && x.starts_with(n));
        if listed && !longer {
            return Digits::Done(typed.to_string());
        }
    }
    if let Some(body) = typed.strip_suffix('#') {
        let is_prefix_code = with_number.iter().any(|c| c.as_str() == typed);
        if !is_prefix_code && with_number.iter().any(|c| body.starts_with(c.as_str())) {
            return Digits::Done(body.to_string());
        }
    }
    let has_number = with_number
        .iter()
        .any(|c| typed.len() > c.len() && typed.starts_with(c.as_str()));
    if paused {
        return if has_number {
            Digits::Done(typed.to_string())
        } else {
            Digits::Invalid
        };
    }
    let could_grow = simple
        .iter()
        .chain(with_number.iter())
        .any(|c| c.starts_with(typed) || typed.starts_with(c.as_str()));
    if could_grow {
        Digits::More
    } else {
        Digits::Invalid
    }
}

impl CallControl {
    /// A transfer or three-way target: a configured line (its queue), an agent or expert seat
    /// account, or a number `outbound.toml`, the emergency list or a sub-centre allows.
    pub fn transfer_target_allowed(&self, target: &str) -> bool {
        self.target_allowed(&self.plan, target)
    }

    /// The same by `plan` (a call's own, for codes sent during it).
    fn target_allowed(&self, plan: &Dialplan, target: &str) -> bool {
        !target.is_empty()
            && (plan.line(target).is_some()
                || plan.outbound_allowed(target)
                || plan.agents.listed.contains_key(target)
                || self.acd.index(target).is_some()
                || plan.experts.iter().any(|e| e.target == target))
    }
}

/// The pending "not ready" reason that means log out after the call.
pub(super) const LOGOUT: &str = "\u{0}logout";
