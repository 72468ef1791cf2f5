//! Agents' own outbound calls (回访 return visits, 督办 supervision calls to handling units,
//! reminders, calling back abandoned callers): from the softphone (the phone's INVITE to an
//! outside number) or click-to-dial from the desk (rexian rings the agent's phone first).
//!
//! Only numbers the dialplans allow (`Dialplan::outbound_allowed`) are dialled, over the
//! outbound trunks in order (the emergency trunks for an emergency number), with the same
//! trunk choice as transfers (`max_calls`, the emergency reserve, trunks that are down skipped,
//! failover to the next trunk on a trunk fault), presenting the hotline's number. The agent is
//! busy for the whole call (no queue call is offered) and goes to wrap-up after a call that
//! was answered, then back to where they were (ready, not ready with its reason, signed out).
//! Every attempt ends in an [`OutboundRecord`], answered or not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CallControl, Timer};
use crate::call::agent::{AgentState, CallId};
use crate::call::event::{Action, OperatorEvent, RingFailure};
use crate::call::plan::Dialplan;
use crate::pii::Pii;

/// How long the desk's click-to-dial rings the agent's own phone.
pub const AGENT_RING: Duration = Duration::from_secs(30);
/// How long the far end may ring before the attempt ends as not answered.
pub const NO_ANSWER: Duration = Duration::from_secs(60);

/// Where an agent asked for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The agent's phone sent an INVITE for the number (kept until the far end answers).
    Phone,
    /// Click-to-dial from the desk: rexian rings the agent's phone first.
    Desk,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Phone => "phone",
            Origin::Desk => "desk",
        }
    }
}

/// What the SIP side reports about an outbound call.
#[derive(Debug, Clone)]
pub enum OutboundEvent {
    /// An authenticated agent asks to call `number` (`ticket`: the ticket it is about).
    Asked {
        call: CallId,
        agent: String,
        number: Pii<String>,
        ticket: Option<String>,
        origin: Origin,
    },
    /// The agent's phone answered rexian's INVITE (click-to-dial).
    AgentAnswered { call: CallId },
    /// The agent's leg ended: the phone hung up or cancelled, or could not be rung.
    AgentGone { call: CallId },
    /// 180/183 from the far end.
    FarRinging { call: CallId },
    /// 200 OK from the far end.
    FarAnswered { call: CallId },
    /// The far end (or its trunk) failed before an answer.
    FarFailed { call: CallId, cause: RingFailure },
    /// The far end hung up after answering.
    FarHungUp { call: CallId },
}

/// What call control asks the SIP side to do for an outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundAction {
    /// Refused before anything was dialled: `status` for the phone's INVITE, `reason` for the
    /// desk; `security` when it is a number no dialplan allows (a security event).
    Refused {
        call: CallId,
        status: u16,
        reason: &'static str,
        security: bool,
    },
    /// Click-to-dial: INVITE the agent's registered phone, showing `number`.
    RingAgent {
        call: CallId,
        agent: String,
        number: Pii<String>,
    },
    /// INVITE `number` over `trunk`, presenting `present` in From and P-Asserted-Identity.
    Dial {
        call: CallId,
        trunk: String,
        number: Pii<String>,
        present: String,
    },
    /// The far end rings: 180 to a phone that is waiting.
    Ringing { call: CallId },
    /// The far end answered: answer the phone's INVITE (if it is waiting), connect the agent
    /// and the far end, and record the two (left = the called party, right = the agent).
    Connect { call: CallId },
    /// End the agent's leg: BYE once answered, CANCEL while rexian rings it, else the
    /// phone's INVITE gets `status`.
    HangupAgent { call: CallId, status: u16 },
    /// End the far end's leg (CANCEL or BYE).
    HangupFar { call: CallId },
    /// The attempt is over: the call record.
    Record(Box<OutboundRecord>),
}

/// One outbound call, asked to ended (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    pub call: CallId,
    pub agent: String,
    pub number: Pii<String>,
    pub ticket: Option<String>,
    pub origin: Origin,
    /// The number presented to the far end.
    pub present: String,
    /// The trunk that carried (or last tried) the call.
    pub trunk: Option<String>,
    pub asked_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    /// `agent_hangup`, `far_hangup`, `busy`, `declined`, `no_answer`, `failed`, `no_trunk`,
    /// `agent_cancelled`, `agent_no_answer`.
    pub cause: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Click-to-dial: the agent's phone rings.
    AgentRinging,
    /// The INVITE to the far end is out.
    Dialling,
    Ringing,
    Up,
}

/// An outbound call in progress.
#[derive(Debug)]
pub(super) struct Out {
    plan: Arc<Dialplan>,
    agent: usize,
    number: Pii<String>,
    ticket: Option<String>,
    origin: Origin,
    step: Step,
    emergency: bool,
    /// The trunk carrying the attempt now (counted in `trunk_calls`).
    trunk: Option<String>,
    last_trunk: Option<String>,
    trunks_left: Vec<String>,
    /// The agent's state before the call, to go back to after it.
    before: AgentState,
    asked: Instant,
    answered: Option<Instant>,
    /// Bumped at every step so a stale timer does nothing.
    gen: u64,
}

impl CallControl {
    /// Handles one event of an agent's outbound call.
    pub(super) fn outbound_event(&mut self, e: OutboundEvent, now: Instant) {
        match e {
            OutboundEvent::Asked {
                call,
                agent,
                number,
                ticket,
                origin,
            } => self.outbound_asked(call, agent, number, ticket, origin, now),
            OutboundEvent::AgentAnswered { call } => {
                if self.out_step(call) == Some(Step::AgentRinging) {
                    self.out_dial(call, now);
                }
            }
            OutboundEvent::AgentGone { call } => {
                let Some(step) = self.out_step(call) else {
                    return;
                };
                let cause = match step {
                    Step::Up => "agent_hangup",
                    Step::AgentRinging => "agent_no_answer",
                    _ => "agent_cancelled",
                };
                if step != Step::AgentRinging {
                    self.push(out(OutboundAction::HangupFar { call }));
                }
                self.out_end(call, cause, None, now);
            }
            OutboundEvent::FarRinging { call } => {
                // The no-answer timer armed at the dial keeps running.
                let Some(o) = self.outbound.get_mut(&call) else {
                    return;
                };
                if o.step == Step::Dialling {
                    o.step = Step::Ringing;
                    if o.origin == Origin::Phone {
                        self.push(out(OutboundAction::Ringing { call }));
                    }
                }
            }
            OutboundEvent::FarAnswered { call } => {
                if !matches!(self.out_step(call), Some(Step::Dialling | Step::Ringing)) {
                    return;
                }
                self.out_set(call, Step::Up);
                if let Some(o) = self.outbound.get_mut(&call) {
                    o.answered = Some(now);
                }
                self.push(out(OutboundAction::Connect { call }));
                self.out_operator(call, "answered");
            }
            OutboundEvent::FarFailed { call, cause } => {
                if !matches!(self.out_step(call), Some(Step::Dialling | Step::Ringing)) {
                    return;
                }
                self.out_release_trunk(call);
                // A trunk that could not carry the call gives way to the next one; a far end
                // that is busy or declines has answered.
                let trunk_fault = cause.is_trunk_fault();
                if trunk_fault && !self.outbound[&call].trunks_left.is_empty() {
                    return self.out_dial(call, now);
                }
                let (why, status) = match cause {
                    RingFailure::Busy => ("busy", 486),
                    RingFailure::Declined => ("declined", 603),
                    RingFailure::Unreachable => ("no_answer", 480),
                    RingFailure::Other(s) if (400..700).contains(&s) => ("failed", s),
                    RingFailure::Other(_) => ("failed", 503),
                };
                self.out_end(call, why, Some(status), now);
            }
            OutboundEvent::FarHungUp { call } => {
                if self.out_step(call).is_some() {
                    self.out_release_trunk(call);
                    self.out_end(call, "far_hangup", Some(200), now);
                }
            }
        }
    }

    /// The ring timers of outbound calls.
    pub(super) fn outbound_timer(&mut self, call: CallId, gen: u64, now: Instant) {
        let Some(o) = self.outbound.get(&call) else {
            return;
        };
        if o.gen != gen {
            return;
        }
        match o.step {
            Step::AgentRinging => self.out_end(call, "agent_no_answer", Some(480), now),
            Step::Dialling | Step::Ringing => {
                self.push(out(OutboundAction::HangupFar { call }));
                self.out_release_trunk(call);
                self.out_end(call, "no_answer", Some(480), now);
            }
            Step::Up => {}
        }
    }

    /// 强拆 of an outbound call: both legs are ended.
    pub(super) fn outbound_force_hangup(&mut self, call: CallId, now: Instant) {
        let Some(step) = self.out_step(call) else {
            return;
        };
        if step != Step::AgentRinging {
            self.push(out(OutboundAction::HangupFar { call }));
        }
        self.out_end(call, "operator", Some(480), now);
    }

    /// Whether `call` is an agent's outbound call in progress.
    pub fn is_outbound(&self, call: CallId) -> bool {
        self.outbound.contains_key(&call)
    }

    fn outbound_asked(
        &mut self,
        call: CallId,
        agent: String,
        number: Pii<String>,
        ticket: Option<String>,
        origin: Origin,
        now: Instant,
    ) {
        let refuse = |status, reason, security| {
            out(OutboundAction::Refused {
                call,
                status,
                reason,
                security,
            })
        };
        let plan = self.plan.clone();
        let n = number.expose().as_str();
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || !plan.outbound_allowed(n) {
            return self.push(refuse(403, "number not allowed by the dialplans", true));
        }
        if self.outbound.contains_key(&call) {
            return;
        }
        let i = self.agent_idx(&agent, now);
        let before = self.acd.get(i).state.clone();
        match before {
            // An agent on a call who dials from the phone consults the number (attended
            // transfer, `shell::calls::phone_consult`) and never gets here; from the desk, or
            // on an outbound call, a second call is refused.
            AgentState::Talking { .. } => {
                return self.push(refuse(403, "the agent is on a call", false));
            }
            AgentState::Ringing { .. } => {
                return self.push(refuse(486, "a call is being offered to the agent", false));
            }
            _ => {}
        }
        if origin == Origin::Desk && !self.acd.get(i).registered {
            return self.push(refuse(480, "the agent's phone is not registered", false));
        }
        let emergency = plan.is_emergency(n);
        let trunks_left = if emergency {
            plan.emergency.trunks.clone()
        } else {
            plan.outbound.trunks.clone()
        };
        self.outbound.insert(
            call,
            Out {
                plan,
                agent: i,
                number: number.clone(),
                ticket,
                origin,
                step: Step::AgentRinging,
                emergency,
                trunk: None,
                last_trunk: None,
                trunks_left,
                before,
                asked: now,
                answered: None,
                gen: 0,
            },
        );
        self.set_agent(i, AgentState::Talking { call }, now);
        self.out_operator(call, "started");
        match origin {
            Origin::Phone => self.out_dial(call, now),
            Origin::Desk => {
                let agent = self.acd.get(i).id().to_string();
                self.push(out(OutboundAction::RingAgent {
                    call,
                    agent,
                    number,
                }));
                let gen = self.out_set(call, Step::AgentRinging);
                self.arm(now + AGENT_RING, Timer::Outbound { call, gen });
            }
        }
    }

    /// Dials the number over the next trunk with room.
    fn out_dial(&mut self, call: CallId, now: Instant) {
        let Some(o) = self.outbound.get_mut(&call) else {
            return;
        };
        let (plan, emergency) = (o.plan.clone(), o.emergency);
        let mut left = std::mem::take(&mut o.trunks_left);
        let chosen = self.take_trunk(&plan, &mut left, emergency);
        let Some(o) = self.outbound.get_mut(&call) else {
            return;
        };
        o.trunks_left = left;
        let Some(trunk) = chosen else {
            return self.out_end(call, "no_trunk", Some(503), now);
        };
        o.trunk = Some(trunk.clone());
        o.last_trunk = Some(trunk.clone());
        let number = o.number.clone();
        let gen = self.out_set(call, Step::Dialling);
        self.push(out(OutboundAction::Dial {
            call,
            trunk,
            number,
            present: plan.outbound.present.clone(),
        }));
        self.arm(now + NO_ANSWER, Timer::Outbound { call, gen });
    }

    fn out_step(&self, call: CallId) -> Option<Step> {
        self.outbound.get(&call).map(|o| o.step)
    }

    fn out_set(&mut self, call: CallId, step: Step) -> u64 {
        match self.outbound.get_mut(&call) {
            Some(o) => {
                o.step = step;
                o.gen += 1;
                o.gen
            }
            None => 0,
        }
    }

    fn out_release_trunk(&mut self, call: CallId) {
        let Some(t) = self.outbound.get_mut(&call).and_then(|o| o.trunk.take()) else {
            return;
        };
        self.free_trunk(&t);
    }

    fn out_operator(&mut self, call: CallId, state: &'static str) {
        let Some(o) = self.outbound.get(&call) else {
            return;
        };
        let ev = OperatorEvent::Outbound {
            call,
            agent: self.acd.get(o.agent).id().to_string(),
            state,
            origin: o.origin.as_str(),
            ticket: o.ticket.clone(),
        };
        self.push(Action::Operator(ev));
    }

    /// The attempt is over: the agent's leg is ended (with `status` while the phone's INVITE
    /// waits), the record goes out, the agent goes to wrap-up or back to where they were.
    fn out_end(&mut self, call: CallId, cause: &'static str, status: Option<u16>, now: Instant) {
        self.out_operator(call, "ended");
        self.out_release_trunk(call);
        let Some(o) = self.outbound.remove(&call) else {
            return;
        };
        if let Some(status) = status {
            self.push(out(OutboundAction::HangupAgent { call, status }));
        }
        let ms = |t: Instant| self.clock.unix_ms(t);
        let rec = OutboundRecord {
            call,
            agent: self.acd.get(o.agent).id().to_string(),
            number: o.number.clone(),
            ticket: o.ticket.clone(),
            origin: o.origin,
            present: o.plan.outbound.present.clone(),
            trunk: o.last_trunk.clone(),
            asked_ms: ms(o.asked),
            answered_ms: o.answered.map(ms),
            ended_ms: ms(now),
            cause,
        };
        self.push(out(OutboundAction::Record(Box::new(rec))));
        self.out_agent_back(&o, call, now);
    }

    /// After the call: wrap-up if it was answered (then back to the state before, or to what
    /// the agent asked for meanwhile), else straight back.
    fn out_agent_back(&mut self, o: &Out, call: CallId, now: Instant) {
        let i = o.agent;
        if self.acd.get(i).state != (AgentState::Talking { call }) {
            return;
        }
        let a = self.acd.get(i);
        if a.pending_not_ready.is_none() {
            match &o.before {
                AgentState::LoggedOut => {
                    return self.set_agent(i, AgentState::LoggedOut, now);
                }
                AgentState::NotReady { reason } => {
                    self.acd.set_pending_not_ready(i, Some(reason.clone()));
                }
                _ => {}
            }
        }
        if self.acd.get(i).pending_not_ready.as_deref() == Some(super::agents::LOGOUT) {
            self.acd.set_pending_not_ready(i, None);
            return self.set_agent(i, AgentState::LoggedOut, now);
        }
        let wrap = wrap_up_of(&o.plan, &self.acd.get(i).conf.lines);
        if o.answered.is_some() && !wrap.is_zero() {
            self.set_agent(i, AgentState::WrapUp { until: now + wrap }, now);
            let generation = self.acd.get(i).generation;
            self.arm(
                now + wrap,
                Timer::WrapUp {
                    agent: i,
                    generation,
                },
            );
        } else {
            self.end_wrap_up(i, now);
        }
    }
}

fn out(a: OutboundAction) -> Action {
    Action::Outbound(a)
}

/// The wrap-up time of the agent's first line's queue (the main line's when it has none).
fn wrap_up_of(plan: &Dialplan, lines: &[String]) -> Duration {
    let line = lines
        .first()
        .and_then(|l| plan.line(l))
        .or_else(|| plan.line(&plan.main));
    line.and_then(|l| plan.queue(&l.queue))
        .map_or(Duration::ZERO, |q| q.wrap_up)
}
