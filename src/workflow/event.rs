//! What happened to a ticket: the events of its history, who acts on tickets, and the
//! handling units.
//!
//! The history of a ticket is a list of [`Event`]s that is only ever appended to. Each event
//! carries everything needed to replay it — deadlines are computed when the event is made and
//! stored in it — so replaying ([`crate::workflow::ticket::fold`]) needs neither the policy
//! nor the calendar and gives the same ticket whatever the policy is today.

use std::fmt;

use chrono::{DateTime, FixedOffset};

use super::deadline::{Due, Limit};
use super::policy::TicketType;

/// The ticket number (工单编号).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub String);

/// A handling unit's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(pub String);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A handling unit (承办单位): a district government, a bureau, or one of their sub-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    /// Staff phones that get the SMS reminder when a ticket is dispatched (000 art. 13).
    pub sms_phones: Vec<String>,
    /// The unit this one belongs to (art. 9: a unit may name a sub-unit to handle).
    pub parent: Option<UnitId>,
}

/// Who acts on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// 话务员: an agent, by agent id.
    Agent(String),
    /// 承办单位: a handling unit; it may act only on tickets dispatched to it.
    Unit(UnitId),
    /// 主管部门/主管: the hotline authority or a supervisor, by user id.
    Supervisor(String),
    /// 管理员, by user id.
    Admin(String),
}

/// An actor's role, for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Agent,
    Unit,
    Supervisor,
    Admin,
}

impl Actor {
    pub fn role(&self) -> Role {
        match self {
            Actor::Agent(_) => Role::Agent,
            Actor::Unit(_) => Role::Unit,
            Actor::Supervisor(_) => Role::Supervisor,
            Actor::Admin(_) => Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::Unit => "handling unit",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        })
    }
}

/// Whether the matter is an ordinary one or a special one of art. 17.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Urgency {
    Normal,
    /// 特殊事项: mass outage of water, power or gas, pollution.
    Special,
    /// 特殊紧急事项: disaster, accident, public-health or public-safety event.
    Emergency,
}

/// The three ways of supervising (督办, 000 art. 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupervisionKind {
    /// 电话督办
    Phone,
    /// 会商督办
    Meeting,
    /// 专项督办: the unit answers in writing within a limit.
    Special,
}

/// The deadlines of one dispatch of a ticket to a unit (a "handling round").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// When this round's clock started.
    pub started: DateTime<FixedOffset>,
    pub sign_due: Due,
    /// The handling deadline, moved by approved extensions.
    pub handle_due: Due,
    /// The handling limit this round started with; extensions may not exceed it.
    pub handle_limit: Limit,
    /// Last moment for a return (退单).
    pub return_due: Due,
    /// First response and progress report of special matters.
    pub response_due: Option<Due>,
    pub progress_due: Option<Due>,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: DateTime<FixedOffset>,
    pub actor: Actor,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Created {
        id: TicketId,
        ticket_type: TicketType,
        urgency: Urgency,
    },
    /// Sent to a unit with a fresh clock (also after an approved return).
    Dispatched {
        unit: UnitId,
        clocks: Clocks,
    },
    Signed {
        late: bool,
    },
    ReturnRequested {
        reason: String,
        basis: String,
        suggested_unit: Option<UnitId>,
    },
    /// The ticket leaves the unit; a `Dispatched` follows when it is sent elsewhere.
    ReturnApproved,
    /// The unit keeps the ticket and its original clock.
    ReturnRefused {
        note: String,
    },
    ExtensionRequested {
        limit: Limit,
        reason: String,
    },
    ExtensionApproved {
        handle_due: Due,
    },
    ExtensionRefused {
        note: String,
    },
    Supervised {
        kind: SupervisionKind,
        note: String,
        reply_due: Option<Due>,
    },
    Handled {
        summary: String,
        late: bool,
    },
    Replied,
    Visited {
        satisfied: bool,
        reasonable: bool,
    },
    /// A person called back a caller who answered the survey of the closed ticket
    /// unsatisfied (return-visit task `task`). Unsatisfied and reasonable, the ticket is open
    /// again and must be reopened; otherwise it stays closed.
    Revisited {
        satisfied: bool,
        reasonable: bool,
        task: i64,
    },
    /// Sent back to the same unit after an unsatisfied, reasonable return visit.
    Reopened {
        clocks: Clocks,
    },
    Closed,
    /// Closed without handling: the same facts were already handled in `earlier`.
    ClosedAsRepeat {
        earlier: TicketId,
        reason: String,
    },
    /// Closed by the agent who answered the caller on the phone (直接办结).
    AnsweredDirectly {
        reply: String,
    },
}
