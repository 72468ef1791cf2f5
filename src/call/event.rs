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
}

/// Which leg of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    Caller,
    Agent(String),
}

/// An in-call agent request for the transfer layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRequest {
    ThreeWay {
        target: String,
    },
    BlindTransfer {
        target: String,
    },
    Emergency {
        number: String,
        name: String,
        three_way: bool,
    },
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
    /// The agent asked for a transfer, three-way call or emergency hand-off.
    AgentRequest {
        agent: String,
        call: Option<CallId>,
        request: AgentRequest,
    },
    CallRecordReady(Box<CallRecord>),
    Operator(OperatorEvent),
}
