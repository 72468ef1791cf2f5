//! What actors ask of a ticket ([`Command`]) and why the state machine refuses
//! ([`TransitionError`]). The rules themselves are in [`crate::workflow::ticket::apply`].

use std::fmt;

use chrono::{DateTime, FixedOffset};

use super::deadline::{DeadlineError, Limit};
use super::event::{Role, SupervisionKind, TicketId, UnitId};
use super::policy::TicketType;
use super::ticket::State;

/// What an actor asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Dispatch {
        unit: UnitId,
    },
    Sign,
    RequestReturn {
        reason: String,
        basis: String,
        suggested_unit: Option<UnitId>,
    },
    /// Approve the pending return, re-dispatching at once when a unit is given.
    ApproveReturn {
        redispatch_to: Option<UnitId>,
    },
    RefuseReturn {
        note: String,
    },
    RequestExtension {
        limit: Limit,
        reason: String,
    },
    ApproveExtension,
    RefuseExtension {
        note: String,
    },
    Supervise {
        kind: SupervisionKind,
        note: String,
    },
    Handle {
        summary: String,
    },
    Reply,
    RecordVisit {
        satisfied: bool,
        reasonable: bool,
    },
    /// A person's return visit to a closed ticket whose satisfaction survey was answered
    /// unsatisfied; `task` is that return-visit task (the store finds it).
    RecordRevisit {
        satisfied: bool,
        reasonable: bool,
        task: i64,
    },
    Reopen,
    Close,
    CloseAsRepeat {
        earlier: TicketId,
        reason: String,
    },
    /// Close a ticket the agent answered on the phone, with the answer given (直接办结).
    AnswerDirectly {
        reply: String,
    },
}

/// The name of an action, for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Dispatch,
    Sign,
    Return,
    ReviewReturn,
    Extend,
    ReviewExtension,
    Supervise,
    Handle,
    Reply,
    RecordVisit,
    Reopen,
    Close,
    CloseAsRepeat,
    AnswerDirectly,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Dispatch => "dispatch",
            Action::Sign => "sign",
            Action::Return => "return",
            Action::ReviewReturn => "review the return",
            Action::Extend => "request an extension",
            Action::ReviewExtension => "review the extension",
            Action::Supervise => "supervise",
            Action::Handle => "handle",
            Action::Reply => "reply",
            Action::RecordVisit => "record the return visit",
            Action::Reopen => "reopen",
            Action::Close => "close",
            Action::CloseAsRepeat => "close as a repeat",
            Action::AnswerDirectly => "close with a direct answer",
        })
    }
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::Dispatch { .. } => Action::Dispatch,
            Command::Sign => Action::Sign,
            Command::RequestReturn { .. } => Action::Return,
            Command::ApproveReturn { .. } | Command::RefuseReturn { .. } => Action::ReviewReturn,
            Command::RequestExtension { .. } => Action::Extend,
            Command::ApproveExtension | Command::RefuseExtension { .. } => Action::ReviewExtension,
            Command::Supervise { .. } => Action::Supervise,
            Command::Handle { .. } => Action::Handle,
            Command::Reply => Action::Reply,
            Command::RecordVisit { .. } | Command::RecordRevisit { .. } => Action::RecordVisit,
            Command::Reopen => Action::Reopen,
            Command::Close => Action::Close,
            Command::CloseAsRepeat { .. } => Action::CloseAsRepeat,
            Command::AnswerDirectly { .. } => Action::AnswerDirectly,
        }
    }
}

/// Why a command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action}: ticket is {state}")]
    WrongState { action: Action, state: State },
    #[error("cannot {action}: a {role} may not do that")]
    Forbidden { action: Action, role: Role },
    #[error("cannot {action}: the ticket is dispatched to unit {assigned:?}, not to {actor}")]
    WrongUnit {
        action: Action,
        assigned: Option<UnitId>,
        actor: UnitId,
    },
    #[error("cannot {action}: a return is awaiting review")]
    ReturnPending { action: Action },
    #[error("cannot review the return: none is awaiting review")]
    NoReturnPending,
    #[error("cannot return: the return limit ended at {due}")]
    ReturnTooLate { due: DateTime<FixedOffset> },
    #[error("cannot {action}: a reason is required")]
    MissingReason { action: Action },
    #[error("cannot return: the basis (依据) is required")]
    MissingBasis,
    #[error("cannot request an extension: {ticket_type} tickets are not extended")]
    NotExtendable { ticket_type: TicketType },
    #[error("cannot request an extension: at most {max} requests are allowed")]
    TooManyExtensions { max: u8 },
    #[error("cannot request an extension: the deadline passed at {due}")]
    ExtensionAfterDeadline { due: DateTime<FixedOffset> },
    #[error("cannot request an extension of {asked}: longer than the original limit {original}")]
    ExtensionTooLong { asked: Limit, original: Limit },
    #[error("cannot request an extension of {asked}: it must be counted like the original limit {original}")]
    ExtensionUnitMismatch { asked: Limit, original: Limit },
    #[error("cannot request an extension: one is awaiting review")]
    ExtensionPending,
    #[error("cannot review the extension: none is awaiting review")]
    NoExtensionPending,
    #[error("cannot close: the caller is unsatisfied and the request is reasonable; reopen it")]
    MustReopen,
    #[error(
        "cannot reopen: the return visit found the caller satisfied or the request unreasonable"
    )]
    NotReopenable,
    #[error("cannot close as a repeat: a ticket cannot repeat itself")]
    RepeatOfItself,
    #[error(
        "cannot record the return visit: ticket is Closed and no unsatisfied survey reply awaits one"
    )]
    NoRevisitPending,
    #[error("cannot close with a direct answer: {ticket_type} tickets go to a handling unit")]
    NotAnswerableDirectly { ticket_type: TicketType },
    #[error("cannot close with a direct answer: agent {actor} did not take this ticket")]
    NotTheCreator { actor: String },
    #[error("cannot {action}: {source}")]
    Deadline {
        action: Action,
        source: DeadlineError,
    },
}
