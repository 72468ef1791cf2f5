//! The call record emitted when a call ends: what the store keeps and the reports count.
//! Times are Unix milliseconds (the wall clock given to call control at start).

use crate::pii::Pii;

use super::agent::CallId;
use super::caller::CallerKind;

/// The GB/T 33358 service level: an agent answers within 15 s of the trunk INVITE.
pub const SERVICE_LEVEL_MS: u64 = 15_000;

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupCause {
    /// The caller hung up after talking to an agent.
    CallerHangup,
    /// The agent hung up (the caller may have rated the call after).
    AgentHangup,
    /// The caller hung up before an agent answered.
    Abandoned,
    /// The caller is restricted (系统短期限制使用).
    Restricted,
    /// No agent was logged in for the line.
    NoAgents,
    /// Waited the queue's maximum; the caller was told all seats are busy.
    MaxWait,
    /// The queue already held its maximum number of callers.
    QueueFull,
    /// The caller left a callback request (key, or the queue's max-wait rule).
    CallbackRequested,
    /// The trunk leg failed (transport, media timeout).
    CallerFailed,
    /// The dialled number is not configured.
    UnknownNumber,
    /// An operator ended the call (强拆) or the daemon shut down.
    Operator,
    /// The third party (expert seat, sub-centre, emergency centre) hung up after the agent
    /// had left.
    ThirdHangup,
}

impl HangupCause {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::CallerHangup => "caller_hangup",
            HangupCause::AgentHangup => "agent_hangup",
            HangupCause::Abandoned => "abandoned",
            HangupCause::Restricted => "restricted",
            HangupCause::NoAgents => "no_agents",
            HangupCause::MaxWait => "max_wait",
            HangupCause::QueueFull => "queue_full",
            HangupCause::CallbackRequested => "callback_requested",
            HangupCause::CallerFailed => "caller_failed",
            HangupCause::UnknownNumber => "unknown_number",
            HangupCause::Operator => "operator",
            HangupCause::ThirdHangup => "third_hangup",
        }
    }
}

/// 好差评: the caller's key after the agent hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rating {
    Satisfied,
    BasicallySatisfied,
    Unsatisfied,
    /// The survey was played and no key came.
    NoAnswer,
}

impl Rating {
    pub fn from_key(k: char) -> Option<Rating> {
        match k {
            '1' => Some(Rating::Satisfied),
            '2' => Some(Rating::BasicallySatisfied),
            '3' => Some(Rating::Unsatisfied),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Satisfied => "satisfied",
            Rating::BasicallySatisfied => "basically_satisfied",
            Rating::Unsatisfied => "unsatisfied",
            Rating::NoAnswer => "no_answer",
        }
    }
}

/// One call, start to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub call: CallId,
    /// The line (skill tag) the call was handled on, e.g. 12320.
    pub line: String,
    pub line_name: String,
    /// The number as it arrived (Request-URI user).
    pub dialled: String,
    /// The trunk that delivered the call.
    pub trunk: Option<String>,
    pub caller: Pii<String>,
    pub caller_kind: CallerKind,
    /// Trunk INVITE arrival.
    pub arrived_ms: i64,
    pub queue: Option<String>,
    /// When the caller entered the queue (after the greeting).
    pub queued_ms: Option<i64>,
    /// From queue entry to the agent's answer, or to the end if none answered.
    pub wait_ms: Option<u64>,
    pub ring_attempts: u32,
    pub agent: Option<String>,
    /// The agent's 200 OK.
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub cause: HangupCause,
    pub recording: Option<String>,
    pub abandoned: bool,
    pub rating: Option<Rating>,
    pub callback_requested: bool,
    /// An agent answered within 15 s of the trunk INVITE.
    pub service_level_met: bool,
}
