//! [`CallControl`]: the sans-IO state machine of inbound calls. The SIP side feeds it
//! [`Event`]s with the current time and carries out the [`Action`]s it returns; the shell
//! calls [`CallControl::handle_timeout`] at [`CallControl::poll_timeout`].
//!
//! A call goes greeting → queue (music on hold, position announcements) → ringing one agent
//! at a time → talking (bridged, recorded) → satisfaction rating if the agent hung up first →
//! call record. Restricted callers hear how to reach 110/119/120/122 and the call ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::abuse::AbuseTracker;
use super::acd::Acd;
use super::agent::{AgentState, CallId};
use super::caller::{normalise, Caller};
use super::event::{Action, AgentRequest, Arrival, Event, Leg, OperatorEvent};
use super::line;
use super::plan::{Dialplan, MergeType, Overflow, Role};
use super::queue::{Key, Waiter};
use super::record::{CallRecord, HangupCause, Rating, SERVICE_LEVEL_MS};
use crate::media::prompt::queue_position_names;
use crate::pii::Pii;

/// How long the caller has to press a rating key after the survey prompt ends.
pub const RATING_WAIT: Duration = Duration::from_secs(8);

/// Maps the monotonic clock to the wall clock, given once by the shell.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub at: Instant,
    pub unix_ms: i64,
}

impl WallClock {
    pub fn unix_ms(&self, now: Instant) -> i64 {
        match now.checked_duration_since(self.at) {
            Some(d) => self.unix_ms + d.as_millis() as i64,
            None => self.unix_ms - self.at.duration_since(now).as_millis() as i64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Queued,
    Ringing {
        agent: usize,
    },
    Talking {
        agent: usize,
    },
    Rating,
    /// Playing a last prompt; then hang up with the cause.
    Closing(HangupCause),
}

#[derive(Debug)]
struct Call {
    plan: Arc<Dialplan>,
    line: String,
    line_name: String,
    dialled: String,
    trunk: Option<String>,
    caller: Caller,
    queue: String,
    skill: String,
    key: Key,
    phase: Phase,
    arrived: Instant,
    queued: Option<Instant>,
    overflow_at: Option<Instant>,
    ring_attempts: u32,
    leader_tried: bool,
    announcing: bool,
    overflow_after: Option<Duration>,
    agent: Option<String>,
    answered: Option<Instant>,
    recording: Option<String>,
    rating: Option<Rating>,
    callback: bool,
    abandoned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Ring { call: CallId, attempt: u32 },
    Overflow { call: CallId },
    MaxWait { call: CallId },
    Announce { call: CallId },
    WrapUp { agent: usize, generation: u64 },
    Rating { call: CallId },
}

/// The call-control core. See the module docs.
pub struct CallControl {
    plan: Arc<Dialplan>,
    clock: WallClock,
    acd: Acd,
    abuse: AbuseTracker,
    calls: HashMap<CallId, Call>,
    timers: BTreeMap<(Instant, u64), Timer>,
    seq: u64,
    actions: VecDeque<Action>,
}

impl CallControl {
    pub fn new(plan: Arc<Dialplan>, clock: WallClock) -> CallControl {
        CallControl {
            plan,
            clock,
            acd: Acd::default(),
            abuse: AbuseTracker::default(),
            calls: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
            actions: VecDeque::new(),
        }
    }

    /// The dialplan new calls follow.
    pub fn plan(&self) -> &Arc<Dialplan> {
        &self.plan
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|k| k.0)
    }

    pub(super) fn acd(&self) -> &Acd {
        &self.acd
    }

    pub(super) fn abuse(&self) -> &AbuseTracker {
        &self.abuse
    }

    pub(super) fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// (queue, line, phase name, queued since) of every call, for the status snapshot.
    pub(super) fn calls_view(
        &self,
    ) -> impl Iterator<Item = (&str, &str, &'static str, Option<Instant>)> {
        self.calls.values().map(|c| {
            let phase = match c.phase {
                Phase::Greeting => "greeting",
                Phase::Queued => "queued",
                Phase::Ringing { .. } => "ringing",
                Phase::Talking { .. } => "talking",
                Phase::Rating => "rating",
                Phase::Closing(_) => "closing",
            };
            (c.queue.as_str(), c.line.as_str(), phase, c.queued)
        })
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn arm(&mut self, at: Instant, t: Timer) {
        self.seq += 1;
        self.timers.insert((at, self.seq), t);
    }

    /// Handles one input.
    pub fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::CallArrived(a) => self.arrived(a, now),
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
                    AgentState::Talking { .. } => self
                        .acd
                        .set_pending_not_ready(i, Some("unregistered".into())),
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
            Event::FeatureCode {
                agent,
                call,
                digits,
            } => self.feature(agent, call, digits, now),
            Event::AgentAnswered { call, agent } => self.answered(call, &agent, now),
            Event::AgentRingFailed { call, agent, cause } => {
                let Some(i) = self.acd.index(&agent) else {
                    return;
                };
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.phase == Phase::Ringing { agent: i })
                {
                    self.ring_failed(call, i, cause.reason(), false, now);
                }
            }
            Event::CallerHungUp { call } => self.caller_gone(call, HangupCause::CallerHangup, now),
            Event::CallerFailed { call } => self.caller_gone(call, HangupCause::CallerFailed, now),
            Event::AgentHungUp { call } => self.agent_hung_up(call, now),
            Event::Hold { call, on } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if let Phase::Talking { agent } = c.phase {
                    let a = if on {
                        Action::StartMoh {
                            call,
                            prompt: self.queue_of(c).moh.clone(),
                        }
                    } else {
                        Action::Bridge {
                            call,
                            agent: self.acd.get(agent).id().to_string(),
                        }
                    };
                    self.push(a);
                }
            }
            Event::Dtmf { call, digit } => self.dtmf(call, digit, now),
            Event::PlaybackDone { call } => self.playback_done(call, now),
            Event::DialplanReloaded(plan) => {
                self.plan = plan;
                for i in 0..self.acd.agents().len() {
                    let conf = self.plan.agents.conf(self.acd.get(i).id());
                    self.acd.reconfigure(i, conf);
                }
                for i in 0..self.acd.agents().len() {
                    if self.acd.get(i).available() {
                        self.dispatch_agent(i, now);
                    }
                }
            }
            Event::MarkCaller {
                number,
                span,
                by,
                note,
            } => {
                let n = normalise(&number, false, &self.plan.area_code);
                self.abuse.mark(n.number.expose(), span, &by, &note, now);
            }
            Event::LiftRestriction { number } => {
                let n = normalise(&number, false, &self.plan.area_code);
                self.abuse.lift(n.number.expose());
            }
            Event::ForceHangup { call } => {
                if let Some(c) = self.calls.get(&call) {
                    if let Phase::Ringing { agent } | Phase::Talking { agent } = c.phase {
                        let id = self.acd.get(agent).id().to_string();
                        let talking = matches!(c.phase, Phase::Talking { .. });
                        self.push(if talking {
                            Action::Hangup {
                                call,
                                leg: Leg::Agent(id),
                                cause: HangupCause::Operator,
                            }
                        } else {
                            Action::CancelRing { call, agent: id }
                        });
                        self.after_call(agent, call, talking, now);
                    }
                    self.push(Action::Hangup {
                        call,
                        leg: Leg::Caller,
                        cause: HangupCause::Operator,
                    });
                    self.finish(call, HangupCause::Operator, now);
                }
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((&(at, seq), &t)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, seq));
            self.fire(t, now);
        }
    }

    fn fire(&mut self, t: Timer, now: Instant) {
        match t {
            Timer::Ring { call, attempt } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if let Phase::Ringing { agent } = c.phase {
                    if c.ring_attempts == attempt {
                        self.ring_failed(call, agent, "no answer".into(), true, now);
                    }
                }
            }
            Timer::Overflow { call } => {
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.phase == Phase::Queued)
                {
                    self.dispatch_call(call, now);
                }
            }
            Timer::MaxWait { call } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if !matches!(c.phase, Phase::Queued | Phase::Ringing { .. }) {
                    return;
                }
                let (overflow, skill, key, phase) = (
                    self.queue_of(c).on_max_wait,
                    c.skill.clone(),
                    c.key,
                    c.phase,
                );
                self.acd.waiting.remove(&skill, key);
                match overflow {
                    Overflow::Callback => self.callback(call, now),
                    Overflow::Hangup => {
                        let p = self.calls[&call].plan.prompts.all_busy.clone();
                        self.close_with(call, p, HangupCause::MaxWait);
                    }
                }
                if let Phase::Ringing { agent } = phase {
                    self.push(Action::CancelRing {
                        call,
                        agent: self.acd.get(agent).id().to_string(),
                    });
                    self.after_call(agent, call, false, now);
                }
            }
            Timer::Announce { call } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                let Some(every) = self.queue_of(c).announce_every else {
                    return;
                };
                if c.phase == Phase::Queued {
                    let ahead = self.acd.waiting.ahead(&c.skill, c.key);
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.announcing = true;
                    }
                    self.push(Action::Play {
                        call,
                        prompts: queue_position_names(ahead as u32),
                        looping: false,
                    });
                }
                if matches!(
                    self.calls[&call].phase,
                    Phase::Queued | Phase::Ringing { .. }
                ) {
                    self.arm(now + every, Timer::Announce { call });
                }
            }
            Timer::WrapUp { agent, generation } => {
                let a = self.acd.get(agent);
                if a.generation == generation && matches!(a.state, AgentState::WrapUp { .. }) {
                    self.end_wrap_up(agent, now);
                }
            }
            Timer::Rating { call } => {
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.phase == Phase::Rating)
                {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.rating = Some(Rating::NoAnswer);
                    }
                    self.push(Action::Hangup {
                        call,
                        leg: Leg::Caller,
                        cause: HangupCause::AgentHangup,
                    });
                    self.finish(call, HangupCause::AgentHangup, now);
                }
            }
        }
    }

    fn queue_of<'a>(&self, c: &'a Call) -> &'a super::plan::Queue {
        // Validated: every line's queue exists in the plan it came from.
        c.plan
            .queue(&c.queue)
            .expect("a validated line names an existing queue")
    }

    fn agent_idx(&mut self, id: &str, now: Instant) -> usize {
        let conf = self.plan.agents.conf(id);
        self.acd.ensure(conf, now)
    }

    fn set_agent(&mut self, i: usize, state: AgentState, now: Instant) {
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

    fn make_ready(&mut self, i: usize, now: Instant, keep_idle: bool) {
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

    /// The local (unix day, second of day) at `now`.
    fn local(&self, now: Instant) -> (i64, u32) {
        let secs = self.clock.unix_ms(now).div_euclid(1000) + self.plan.utc_offset_secs as i64;
        (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32)
    }

    fn arrived(&mut self, a: Arrival, now: Instant) {
        let plan = self.plan.clone();
        let Some(line) = line::resolve(&plan, &a.dialled) else {
            self.push(Action::RejectCaller {
                call: a.call,
                status: 404,
            });
            return;
        };
        let caller = normalise(a.caller.expose(), a.privacy, &plan.area_code);
        self.seq += 1;
        let call = Call {
            line: line.number.clone(),
            line_name: line.name.clone(),
            dialled: a.dialled.request_user.clone(),
            trunk: a.trunk,
            queue: line.queue.clone(),
            skill: plan.skill_of(line).to_string(),
            key: (0, self.seq),
            phase: Phase::Greeting,
            arrived: now,
            queued: None,
            overflow_at: None,
            ring_attempts: 0,
            leader_tried: false,
            announcing: false,
            agent: None,
            answered: None,
            recording: None,
            rating: None,
            callback: false,
            abandoned: false,
            overflow_after: line.overflow_after,
            caller,
            plan: plan.clone(),
        };
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

    fn close_with(&mut self, call: CallId, prompt: String, cause: HangupCause) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Closing(cause);
            self.push(Action::Play {
                call,
                prompts: vec![prompt],
                looping: false,
            });
        }
    }

    fn playback_done(&mut self, call: CallId, now: Instant) {
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

    fn leader_for(&self, c: &Call, now: Instant) -> Option<usize> {
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

    fn enqueue(&mut self, call: CallId, now: Instant) {
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
    fn dispatch_call(&mut self, call: CallId, now: Instant) {
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
    fn dispatch_agent(&mut self, i: usize, now: Instant) {
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

    fn offer(&mut self, call: CallId, i: usize, now: Instant) {
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
    fn ring_failed(&mut self, call: CallId, i: usize, reason: String, cancel: bool, now: Instant) {
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

    fn answered(&mut self, call: CallId, agent: &str, now: Instant) {
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
        let c = self.calls.get_mut(&call).expect("checked above");
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

    fn caller_gone(&mut self, call: CallId, cause: HangupCause, now: Instant) {
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
            Phase::Closing(c) => c,
        };
        self.finish(call, cause, now);
    }

    fn agent_hung_up(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Phase::Talking { agent } = c.phase else {
            return;
        };
        let rating = c
            .plan
            .line(&c.line)
            .and_then(|l| l.rating)
            .unwrap_or(self.queue_of(c).rating);
        let survey = c.plan.prompts.rating.clone();
        self.after_call(agent, call, true, now);
        if rating {
            self.calls.get_mut(&call).expect("present").phase = Phase::Rating;
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

    /// The agent's part of a call ended: wrap-up after talking, back to ready after ringing.
    fn after_call(&mut self, i: usize, call: CallId, talked: bool, now: Instant) {
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

    fn end_wrap_up(&mut self, i: usize, now: Instant) {
        match self.acd.get(i).pending_not_ready.clone() {
            Some(reason) => {
                self.acd.set_pending_not_ready(i, None);
                self.set_agent(i, AgentState::NotReady { reason }, now);
            }
            None => self.make_ready(i, now, false),
        }
    }

    fn callback(&mut self, call: CallId, _now: Instant) {
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

    fn dtmf(&mut self, call: CallId, digit: char, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match c.phase {
            Phase::Queued if self.queue_of(c).callback_key == Some(digit) => {
                self.acd.waiting.remove(&c.skill, c.key);
                self.callback(call, now);
            }
            Phase::Rating => {
                if let Some(r) = Rating::from_key(digit) {
                    let p = c.plan.prompts.rating_thanks.clone();
                    self.calls.get_mut(&call).expect("present").rating = Some(r);
                    self.close_with(call, p, HangupCause::AgentHangup);
                }
            }
            _ => {}
        }
    }

    fn feature(&mut self, agent: String, call: Option<CallId>, digits: String, now: Instant) {
        let f = self.plan.features.clone();
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
            match self.plan.emergency.numbers.iter().find(|(x, _)| x == n) {
                Some((number, name)) => AgentRequest::Emergency {
                    number: number.clone(),
                    name: name.clone(),
                    three_way: self.plan.emergency.three_way,
                },
                None => return refuse(self, "not an emergency number"),
            }
        } else if let Some(n) = digits.strip_prefix(f.three_way.as_str()) {
            AgentRequest::ThreeWay {
                target: n.to_string(),
            }
        } else if let Some(n) = digits.strip_prefix(f.blind_transfer.as_str()) {
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

    /// Emits the call record and forgets the call.
    fn finish(&mut self, call: CallId, cause: HangupCause, now: Instant) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if c.phase == Phase::Queued {
            self.acd.waiting.remove(&c.skill, c.key);
        }
        let ms = |t: Instant| self.clock.unix_ms(t);
        let wait_end = c.answered.unwrap_or(now);
        let rec = CallRecord {
            call,
            line: c.line.clone(),
            line_name: c.line_name.clone(),
            dialled: c.dialled.clone(),
            trunk: c.trunk.clone(),
            caller: c.caller.number.clone(),
            caller_kind: c.caller.kind,
            arrived_ms: ms(c.arrived),
            queue: c.queued.map(|_| c.queue.clone()),
            queued_ms: c.queued.map(ms),
            wait_ms: c
                .queued
                .map(|q| wait_end.saturating_duration_since(q).as_millis() as u64),
            ring_attempts: c.ring_attempts,
            agent: c.agent.clone(),
            answered_ms: c.answered.map(ms),
            ended_ms: ms(now),
            cause,
            recording: c.recording.clone(),
            abandoned: c.abandoned,
            rating: c.rating,
            callback_requested: c.callback,
            service_level_met: c.answered.is_some_and(|a| {
                a.saturating_duration_since(c.arrived).as_millis() as u64 <= SERVICE_LEVEL_MS
            }),
        };
        self.push(Action::CallRecordReady(Box::new(rec)));
    }

    /// Restrictions in force: (masked-able number, seconds left, set by a supervisor).
    pub fn restrictions(&self, now: Instant) -> Vec<(Pii<String>, u64, bool)> {
        self.abuse
            .list(now)
            .into_iter()
            .map(|r| {
                let left = r.until.saturating_duration_since(now).as_secs();
                (
                    r.caller.clone(),
                    left,
                    matches!(r.reason, super::abuse::Reason::Supervisor { .. }),
                )
            })
            .collect()
    }
}

/// The pending "not ready" reason that means log out after the call.
const LOGOUT: &str = "\u{0}logout";
