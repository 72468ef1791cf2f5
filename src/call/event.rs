//! What goes into call control ([`Event`]) and what comes out ([`Action`]). Plain ids and
//! strings only: the SIP side maps its dialogs and transactions to these.

use std::sync::Arc;
use std::time::Duration;

use super::agent::CallId;
use super::line::Dialled;
use super::plan::Dialplan;
use super::record::{CallRecord, HangupCause};
use crate::pii::Pii;

/// A new trunk call (an INVITE accepted from a trunk's ACL or an authenticated account).
#[derive(Debug, Clone)]
pub struct Arrival {
    pub call: CallId,
    pub trunk: Option<String>,
    pub dialled: Dialled,
    /// The caller's user part as sent (P-Asserted-Identity, else From).
    pub caller: Pii<String>,
    /// `Privacy: id` (or `user`/`header`) was present.
    pub privacy: bool,
}

/// Why ringing an agent failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFailure {
    /// 486/600.
    Busy,
    /// 603 or another refusal by the person.
    Declined,
    /// 408/480/503, transport error, not registered.
    Unreachable,
    /// Another final status.
    Other(u16),
}

impl RingFailure {
    /// The trunk, not the far end, failed (no answer from it, a transport error, a 5xx):
    /// the next trunk may do better.
    pub fn is_trunk_fault(self) -> bool {
        matches!(self, RingFailure::Unreachable | RingFailure::Other(500..))
    }

    pub fn reason(self) -> String {
        match self {
            RingFailure::Busy => "busy".into(),
            RingFailure::Declined => "declined".into(),
            RingFailure::Unreachable => "unreachable".into(),
            RingFailure::Other(s) => format!("ring failed ({s})"),
        }
    }
}

/// Inputs. Each comes with the current time in `CallControl::handle`.
#[derive(Debug, Clone)]
pub enum Event {
    CallArrived(Arrival),
    /// The agent's softphone registered (first binding) / lost its last binding.
    AgentRegistered {
        agent: String,
    },
    AgentUnregistered {
        agent: String,
    },
    /// From the API or a feature code.
    AgentLogin {
        agent: String,
    },
    AgentLogout {
        agent: String,
    },
    AgentReady {
        agent: String,
    },
    AgentNotReady {
        agent: String,
        reason: String,
    },
    /// Digits the agent dialled (an INVITE to `*21`) or sent as DTMF during `call`.
    FeatureCode {
        agent: String,
        call: Option<CallId>,
        digits: String,
    },
    /// The agent's 200 OK to our INVITE.
    AgentAnswered {
        call: CallId,
        agent: String,
    },
    /// A final non-2xx from the agent's leg, or its transaction timed out.
    AgentRingFailed {
        call: CallId,
        agent: String,
        cause: RingFailure,
    },
    /// BYE or CANCEL from the trunk side.
    CallerHungUp {
        call: CallId,
    },
    /// The trunk leg failed (transport error, RTP timeout).
    CallerFailed {
        call: CallId,
    },
    /// BYE from the agent.
    AgentHungUp {
        call: CallId,
    },
    /// The agent put the caller on hold (re-INVITE sendonly/inactive) or took them off.
    Hold {
        call: CallId,
        on: bool,
    },
    /// A DTMF key from the caller.
    Dtmf {
        call: CallId,
        digit: char,
    },
    /// A non-looping `Play` on the caller's leg finished.
    PlaybackDone {
        call: CallId,
    },
    /// A new validated dialplan: new calls follow it, calls in progress keep theirs.
    DialplanReloaded(Arc<Dialplan>),
    /// A trunk's OPTIONS health check: a trunk that is down is skipped when dialling out.
    TrunkState {
        trunk: String,
        up: bool,
    },
    /// A supervisor restricts a caller (normalised number).
    MarkCaller {
        number: String,
        span: Duration,
        by: String,
        note: String,
    },
    LiftRestriction {
        number: String,
    },
    /// 强拆: a supervisor ends a call.
    ForceHangup {
        call: CallId,
    },
    /// An agent's in-call request from the API (the softphone's come as `FeatureCode`).
    AgentRequest {
        agent: String,
        request: AgentRequest,
    },
    /// 监听 / 耳语 / 强插: a supervisor joins a call from its own registered phone (account
    /// `supervisor`) to listen, to whisper to the agent, or to barge in; asked again while
    /// on the call, the mode switches. The supervisor's hang-up leaves the call as it was.
    Monitor {
        call: CallId,
        supervisor: String,
        mode: MonitorMode,
    },
    /// The third party's phone rings (180/183).
    ThirdRinging {
        call: CallId,
    },
    /// The third party answered (200 OK to our INVITE).
    ThirdAnswered {
        call: CallId,
    },
    /// Calling the third party failed before an answer.
    ThirdFailed {
        call: CallId,
        cause: RingFailure,
    },
    /// The third party hung up after answering.
    ThirdHungUp {
        call: CallId,
    },
    /// The citizen answered a callback (200 OK to `Action::CallBack`'s INVITE).
    CallbackAnswered {
        call: CallId,
    },
    /// The callback INVITE failed before an answer (busy, declined, unreachable, trunk fault).
    CallbackFailed {
        call: CallId,
        cause: RingFailure,
    },
    /// An agent's own outbound call (`control::outbound`).
    Outbound(super::control::outbound::OutboundEvent),
}

/// Which leg of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    Caller,
    Agent(String),
    /// The expert seat, sub-centre or emergency centre brought in by the agent.
    Third,
}

/// An agent's in-call request: by feature code (DTMF) or the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRequest {
    /// 三方通话 with an expert seat, a sub-centre or an allowed number.
    ThreeWay { target: String },
    /// Hand the caller to a queue, an agent, an expert seat or a number; the agent leaves.
    BlindTransfer { target: String },
    /// 110/119/120/122 …: three-way or blind as the dialplan says (or the request).
    Emergency {
        number: String,
        three_way: Option<bool>,
        reason: String,
    },
    /// 咨询转接 (attended transfer), first step: the caller hears music while the agent talks
    /// to the target alone.
    Consult { target: String },
    /// Completes an attended transfer (or leaves a three-way call): caller and third party
    /// are connected, the agent leaves. While the target still rings, the caller waits for it.
    Complete,
    /// Turns a consultation into a three-way call.
    Join,
    /// End the third party's leg and go on with the caller (also: back from a consultation).
    DropThird,
    /// The agent leaves a three-way call; caller and third party stay connected.
    Leave,
}

/// Where a third party is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A registered account (an expert seat's or an agent's phone).
    Account(String),
    /// A SIP URI (a remote expert seat).
    Uri(String),
    /// A number over a trunk.
    Trunk { trunk: String, number: String },
}

/// How a supervisor takes part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMode {
    /// 监听: hears caller and agent, heard by nobody.
    Listen,
    /// 耳语: hears both, heard by the agent only (coaching).
    Whisper,
    /// 强插: all three hear each other.
    Barge,
}

impl MonitorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

/// What the agent brought a third party in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdKind {
    ThreeWay,
    Blind,
    /// Attended transfer: the agent talks to the third party while the caller is held.
    Consult,
}

impl ThirdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ThirdKind::ThreeWay => "three_way",
            ThirdKind::Blind => "blind",
            ThirdKind::Consult => "consult",
        }
    }
}

/// How an emergency hand-off went (for its record and the alarm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffOutcome {
    /// Answered; the citizen was connected.
    Connected,
    /// No trunk reached the centre, or it refused.
    Failed,
    /// The citizen hung up before the centre answered.
    CallerHungUp,
}

impl HandoffOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffOutcome::Connected => "connected",
            HandoffOutcome::Failed => "failed",
            HandoffOutcome::CallerHungUp => "caller_hung_up",
        }
    }
}

/// One emergency hand-off, start to outcome (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// Numbers the hand-offs of a daemon's life (one call may have several).
    pub id: u64,
    pub call: CallId,
    pub agent: String,
    pub number: String,
    pub name: String,
    pub caller: Pii<String>,
    pub reason: String,
    pub three_way: bool,
    pub trunk: Option<String>,
    pub asked_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub agent_left_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub outcome: Option<HandoffOutcome>,
}

/// What operators' screens and the event stream see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorEvent {
    AgentState {
        agent: String,
        state: &'static str,
        reason: Option<String>,
    },
    CallOffered {
        call: CallId,
        line: String,
    },
    CallQueued {
        call: CallId,
        line: String,
        position: usize,
    },
    CallAnswered {
        call: CallId,
        agent: String,
        line: String,
    },
    CallbackRequested {
        call: CallId,
        line: String,
        caller: Pii<String>,
    },
    FeatureRefused {
        agent: String,
        digits: String,
        reason: &'static str,
    },
    /// The agent brought in a third party (or handed the caller over).
    TransferStarted {
        call: CallId,
        agent: String,
        kind: ThirdKind,
        target: String,
    },
    /// The third party answered.
    TransferConnected {
        call: CallId,
        target: String,
    },
    /// Calling the third party failed; the agent is told why.
    TransferFailed {
        call: CallId,
        agent: String,
        target: String,
        cause: String,
    },
    /// An emergency hand-off was asked for, progressed or ended. Supervisors are alerted;
    /// `alarm` is set when it failed or the citizen hung up first.
    Handoff {
        handoff: Box<Handoff>,
        alarm: bool,
    },
    /// A callback request was placed, dialled, answered, failed, retried or given up.
    Callback(Box<super::control::callback::CallbackReport>),
    /// An agent's own outbound call `started`, `answered` or `ended` (number not shown).
    Outbound {
        call: CallId,
        agent: String,
        state: &'static str,
        origin: &'static str,
        ticket: Option<String>,
    },
}

/// Outputs, drained with `CallControl::poll_action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer the trunk INVITE with an error (404 for an unknown number).
    RejectCaller {
        call: CallId,
        status: u16,
    },
    /// 200 OK to the trunk INVITE, media anchored (for the greeting).
    AnswerCaller {
        call: CallId,
    },
    /// Play prompts to the caller, replacing whatever plays; `PlaybackDone` follows unless
    /// `looping`.
    Play {
        call: CallId,
        prompts: Vec<String>,
        looping: bool,
    },
    /// Music on hold to the caller (loops until replaced).
    StartMoh {
        call: CallId,
        prompt: String,
    },
    /// INVITE the agent's registered contact; the screen shows line and caller.
    RingAgent {
        call: CallId,
        agent: String,
        line: String,
        line_name: String,
        caller: Pii<String>,
    },
    /// CANCEL the agent's INVITE.
    CancelRing {
        call: CallId,
        agent: String,
    },
    /// Connect caller and agent media (also after hold).
    Bridge {
        call: CallId,
        agent: String,
    },
    /// Record both parties to this path under the recordings directory.
    StartRecording {
        call: CallId,
        path: String,
    },
    /// BYE (or final answer) on one leg.
    Hangup {
        call: CallId,
        leg: Leg,
        cause: HangupCause,
    },
    /// A restricted caller is being told so; for the event stream and the audit log.
    RestrictedNotice {
        call: CallId,
        caller: Pii<String>,
    },
    /// INVITE a third party into the call, with our offer. `present` is the number the far
    /// end sees in From and P-Asserted-Identity: the citizen's on emergency trunks that pass
    /// it (号码透传), the hotline's otherwise.
    Dial {
        call: CallId,
        dest: Dest,
        present: Pii<String>,
        line: String,
        emergency: bool,
    },
    /// Mix caller, agent and third party: each hears the other two.
    Conference {
        call: CallId,
        agent: String,
    },
    /// Consultation: the caller hears music; the agent is connected to the third party
    /// (or, while it rings, to nobody).
    Consult {
        call: CallId,
        agent: String,
    },
    /// A supervisor (the third party) listens, whispers to the agent, or talks with both.
    Monitor {
        call: CallId,
        agent: String,
        mode: MonitorMode,
    },
    /// Connect the caller and the third party only (the agent left or handed over).
    BridgeThird {
        call: CallId,
    },
    CallRecordReady(Box<CallRecord>),
    Operator(OperatorEvent),
    /// Call the citizen back over `trunk` at `number`, presenting `present` (the hotline's
    /// number); a new call whose caller leg is this INVITE (`CallbackAnswered`/`Failed`).
    CallBack {
        call: CallId,
        trunk: String,
        number: Pii<String>,
        present: String,
        line: String,
    },
    /// For an agent's own outbound call (`control::outbound`).
    Outbound(super::control::outbound::OutboundAction),
}
