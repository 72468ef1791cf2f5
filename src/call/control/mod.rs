//! [`CallControl`]: the sans-IO state machine of inbound calls. The SIP side feeds it
//! [`Event`]s with the current time and carries out the [`Action`]s it returns; the shell
//! calls [`CallControl::handle_timeout`] at [`CallControl::poll_timeout`].
//!
//! A call goes greeting → queue (music on hold, position announcements) → ringing one agent
//! at a time → talking (bridged, recorded) → satisfaction rating if the agent hung up first →
//! call record. Restricted callers hear how to reach 110/119/120/122 and the call ends.
//!
//! # Driving it from the SIP side
//!
//! | SIP | event |
//! | --- | --- |
//! | INVITE from a trunk's ACL (`Dialplan::trunk_for`; else 403 before call control) or an authenticated account | `CallArrived` with the Request-URI user, `Diversion`/`History-Info`/`P-Called-Party-ID` values, the P-Asserted-Identity (else From) user and whether `Privacy: id` was set |
//! | first binding of an account registered / last one gone | `AgentRegistered` / `AgentUnregistered` |
//! | INVITE from an agent to `*21`, `*22`, … or DTMF on the agent's leg | `FeatureCode` (answer that INVITE yourself, e.g. 200 then BYE, or 404 if refused) |
//! | 200 OK to the INVITE sent for `RingAgent` | `AgentAnswered` (ACK it; if call control answers with `Hangup{Agent}`, BYE it) |
//! | final non-2xx or timeout of that INVITE | `AgentRingFailed` (486/600 `Busy`, 603 `Declined`, 408/480/503/transport `Unreachable`) |
//! | CANCEL or BYE from the trunk | `CallerHungUp`; a transport or RTP failure of the trunk leg: `CallerFailed` |
//! | BYE from the agent | `AgentHungUp` |
//! | re-INVITE from the agent with `sendonly`/`inactive` and back | `Hold { on }` |
//! | RFC 4733 DTMF from the caller / a non-looping prompt finished | `Dtmf` / `PlaybackDone` |
//!
//! Actions map back: `RejectCaller` → final response; `AnswerCaller` → 200 OK with the media
//! engine's SDP; `RingAgent` → INVITE to the agent's contact (line and caller in headers for the
//! softphone's screen); `CancelRing` → CANCEL; `Hangup` → BYE (or a final response if the leg is
//! not yet answered); `Play`/`StartMoh`/`Bridge`/`StartRecording` → the media engine;
//! `CallRecordReady` → the store; `Operator`/`RestrictedNotice` → the event stream and audit log;
//! `AgentRequest` → the transfer layer. Call ids are the SIP side's; agent ids are account IDs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod agents;
pub mod callback;
mod consult;
mod dispatch;
mod flow;
mod keys;
mod monitor;
pub mod outbound;
mod transfer;

pub use keys::DIGIT_TIMEOUT;

use super::abuse::AbuseTracker;
use super::acd::Acd;
use super::agent::{AgentState, CallId};
use super::caller::{normalise, Caller};
use super::event::{Action, Event, Leg};
use super::plan::{Dialplan, Overflow};
use super::queue::Key;
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
    /// A blind transfer rings the third party; the agent has left, the caller hears music.
    Transferring,
    /// The caller talks to the third party alone (after a blind transfer, or the agent left a
    /// three-way call).
    WithThird,
    /// A callback request out of the queue: being dialled, or waiting for its next attempt.
    Callback(callback::Step),
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
    /// The expert seat, sub-centre or emergency centre brought in.
    third: Option<transfer::Third>,
    /// Keys of an in-call feature code typed so far, and a counter for the pause timer.
    digits: String,
    digits_gen: u64,
}

impl Call {
    /// A call on line `number` (`line`, as the caller found it in `plan`: its name, queue,
    /// skill and overflow; the main skill when the line is gone), dialled as the caller's own
    /// number and through no trunk until the caller sets them, in `phase` from `now`,
    /// nothing else happened yet.
    fn new(
        plan: Arc<Dialplan>,
        number: &str,
        line: Option<&crate::call::plan::Line>,
        caller: Caller,
        key: Key,
        phase: Phase,
        now: Instant,
    ) -> Call {
        let l = line;
        Call {
            line: number.to_string(),
            line_name: l.map(|l| l.name.clone()).unwrap_or_default(),
            dialled: caller.number.expose().clone(),
            trunk: None,
            queue: l.map(|l| l.queue.clone()).unwrap_or_default(),
            skill: l
                .map(|l| plan.skill_of(l).to_string())
                .unwrap_or_else(|| plan.main.clone()),
            key,
            phase,
            arrived: now,
            queued: None,
            overflow_at: None,
            ring_attempts: 0,
            leader_tried: false,
            announcing: false,
            overflow_after: l.and_then(|l| l.overflow_after),
            agent: None,
            answered: None,
            recording: None,
            rating: None,
            callback: false,
            abandoned: false,
            third: None,
            digits: String::new(),
            digits_gen: 0,
            caller,
            plan,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Ring { call: CallId, attempt: u32 },
    Overflow { call: CallId },
    MaxWait { call: CallId },
    Announce { call: CallId },
    WrapUp { agent: usize, generation: u64 },
    Rating { call: CallId },
    Digits { call: CallId, gen: u64 },
    Callback { call: CallId, attempt: u32 },
    Outbound { call: CallId, gen: u64 },
}

/// The call-control core. See the module docs.
pub struct CallControl {
    plan: Arc<Dialplan>,
    clock: WallClock,
    acd: Acd,
    abuse: AbuseTracker,
    calls: HashMap<CallId, Call>,
    /// Moving average of how long agents spend on a call (answer to the agent's hang-up).
    avg_handle: Duration,
    /// Calls accepted so far (old abuse counts are purged every 1024).
    arrivals: u64,
    /// Calls in progress per trunk, against its `max_calls`.
    trunk_calls: HashMap<String, u32>,
    /// Trunks whose health check fails now; outbound calls skip them.
    trunks_down: HashSet<String>,
    /// Expert seats on a call now.
    experts_busy: HashSet<String>,
    callbacks: callback::Callbacks,
    /// Agents' own outbound calls (`outbound.rs`).
    outbound: HashMap<CallId, outbound::Out>,
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
            trunk_calls: HashMap::new(),
            trunks_down: HashSet::new(),
            experts_busy: HashSet::new(),
            callbacks: callback::Callbacks::default(),
            outbound: HashMap::new(),
            arrivals: 0,
            avg_handle: Duration::from_secs(180),
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

    /// Whether call control knows this call (it is in progress).
    pub fn has_call(&self, call: CallId) -> bool {
        self.calls.contains_key(&call) || self.outbound.contains_key(&call)
    }

    /// The call an agent is talking on, if any.
    pub fn agent_call(&self, agent: &str) -> Option<CallId> {
        self.call_of_agent(agent)
    }

    /// The line, caller and agent of a call in progress, as its record will name them (a
    /// ticket written during the call is filled from them).
    pub fn live_intake(&self, call: CallId) -> Option<(&str, &Caller, Option<&str>)> {
        let c = self.calls.get(&call)?;
        Some((c.line.as_str(), &c.caller, c.agent.as_deref()))
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
                Phase::Transferring => "transferring",
                Phase::WithThird => "with_third",
                Phase::Callback(_) => "callback",
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
            e @ (Event::AgentRegistered { .. }
            | Event::AgentUnregistered { .. }
            | Event::AgentLogin { .. }
            | Event::AgentLogout { .. }
            | Event::AgentReady { .. }
            | Event::AgentNotReady { .. }) => self.agent_event(e, now),
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
                if let (Phase::Talking { agent }, None) = (c.phase, &c.third) {
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
            Event::TrunkState { trunk, up } => {
                if up {
                    self.trunks_down.remove(&trunk);
                } else {
                    self.trunks_down.insert(trunk);
                }
            }
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
            Event::AgentRequest { agent, request } => match self.call_of_agent(&agent) {
                Some(call) => self.agent_request(agent, call, request, now),
                None => self.refuse(&agent, &format!("{request:?}"), "needs a call in progress"),
            },
            Event::Monitor {
                call,
                supervisor,
                mode,
            } => self.monitor(call, supervisor, mode, now),
            Event::Outbound(e) => self.outbound_event(e, now),
            Event::ThirdRinging { call } => self.third_ringing(call, now),
            Event::ThirdAnswered { call } => self.third_answered(call, now),
            Event::ThirdFailed { call, cause } => self.third_ring_failed(call, cause, now),
            Event::ThirdHungUp { call } => self.third_hung_up(call, now),
            Event::CallbackAnswered { call } => self.callback_answered(call, now),
            Event::CallbackFailed { call, cause } => self.callback_failed(call, cause, now),
            Event::ForceHangup { call } if self.outbound.contains_key(&call) => {
                self.outbound_force_hangup(call, now)
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
                    let mut prompts = queue_position_names(ahead as u32);
                    if self.queue_of(c).announce_expected_wait {
                        let agents = self.acd.in_rotation_count(&c.skill).max(1);
                        let minutes = expected_wait_minutes(ahead, agents, self.avg_handle);
                        prompts.push("queue_expect".into());
                        prompts.extend(number_names(minutes));
                        prompts.push("queue_minutes".into());
                    }
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.announcing = true;
                    }
                    self.push(Action::Play {
                        call,
                        prompts,
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
            Timer::Digits { call, gen } => self.digits_paused(call, gen, now),
            Timer::Callback { call, attempt } => self.callback_timer(call, attempt, now),
            Timer::Outbound { call, gen } => self.outbound_timer(call, gen, now),
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

    /// The local (unix day, second of day) at `now`.
    fn local(&self, now: Instant) -> (i64, u32) {
        let secs = self.clock.unix_ms(now).div_euclid(1000) + self.plan.utc_offset_secs as i64;
        (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32)
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

    /// Emits the call record and forgets the call.
    fn finish(&mut self, call: CallId, cause: HangupCause, now: Instant) {
        // A third party still on the call (or still being rung) is released with it.
        self.caller_left_third(call, now);
        self.callback_call_ends(call, now);
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(t) = &c.trunk {
            self.free_trunk(t);
        }
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

/// Minutes a caller with `ahead` callers before them can expect to wait when `agents` share the
/// work and a call takes `avg_handle`: at least 1, at most 99.
pub fn expected_wait_minutes(ahead: usize, agents: usize, avg_handle: Duration) -> u32 {
    let secs = (ahead as u64 + 1) * avg_handle.as_secs() / agents.max(1) as u64;
    secs.div_ceil(60).clamp(1, 99) as u32
}

/// The demo digit prompts that say `n` (0–99) as a count: 3 → digit_3, 12 → digit_10 digit_2_compound.
pub fn number_names(n: u32) -> Vec<String> {
    let n = n.min(99);
    let d = |k: u32, compound: bool| {
        if compound && k == 2 {
            "digit_2_compound".to_string()
        } else {
            format!("digit_{k}")
        }
    };
    match n {
        0..=10 => vec![d(n, false)],
        11..=19 => vec![d(10, false), d(n - 10, true)],
        _ if n % 10 == 0 => vec![d(n / 10, true), d(10, false)],
        _ => vec![d(n / 10, true), d(10, false), d(n % 10, true)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_wait_is_position_times_handle_time_over_agents() {
        let t = Duration::from_secs(180);
        assert_eq!(expected_wait_minutes(0, 1, t), 3);
        assert_eq!(expected_wait_minutes(3, 2, t), 6);
        assert_eq!(expected_wait_minutes(0, 10, t), 1);
        assert_eq!(expected_wait_minutes(1000, 1, t), 99);
    }

    #[test]
    fn numbers_are_said_as_counts() {
        assert_eq!(number_names(2), vec!["digit_2"]);
        assert_eq!(number_names(12), vec!["digit_10", "digit_2_compound"]);
        assert_eq!(number_names(20), vec!["digit_2_compound", "digit_10"]);
        assert_eq!(number_names(35), vec!["digit_3", "digit_10", "digit_5"]);
    }
}
