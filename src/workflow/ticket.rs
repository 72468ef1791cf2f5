//! The ticket (服务工单) state machine as pure functions.
//!
//! [`create`] makes the first event, [`apply`] checks a [`Command`] against the current
//! [`Ticket`] and returns the events it causes (or a typed [`TransitionError`]), and [`fold`]
//! replays a history into the ticket. The caller appends the events to the history; nothing is
//! ever rewritten.
//!
//! The life: created → dispatched → signed → handled → replied → visited → closed, with:
//! - return (退单, 000 art. 18–19): the unit asks within the return limit, giving reason and
//!   basis; the ticket stays where it was while a supervisor reviews; approved, it leaves the
//!   unit and a re-dispatch starts a fresh clock; refused, the unit keeps the original clock;
//! - extension (延期, art. 20): asked by the unit before the handling deadline, at most the
//!   original limit and in the same unit, at most `max_requests` requests per round, never for
//!   the types the policy excludes (consultations); approved, the deadline moves on from the old
//!   deadline by the asked limit;
//! - supervision (督办, art. 32): on any open ticket; a special supervision gets a reply limit;
//! - re-open (art. 22): a return visit that found the caller unsatisfied and the request
//!   reasonable sends the ticket back to the same unit with fresh clocks; such a ticket cannot
//!   be closed until it is;
//!   A closed ticket whose SMS survey was answered unsatisfied gets a person's return visit
//!   ([`Command::RecordRevisit`]); unsatisfied and reasonable, it is open again (`Visited`) and
//!   is reopened the same way;
//! - repeat (art. 23): an open ticket repeating the facts of an earlier one is closed with a
//!   reference to it;
//! - direct answer (直接办结): a ticket not yet dispatched, of a type the policy lets agents
//!   answer (consultations), is closed by the agent who took it with the answer given.

use std::fmt;

use chrono::{DateTime, FixedOffset};

use super::calendar::Calendar;
use super::deadline::{due, Due, Limit};
use super::event::{
    Actor, Clocks, Event, EventKind, Role, SupervisionKind, TicketId, UnitId, Urgency,
};
use super::policy::{Policy, Step, TicketType};

pub use super::command::{Action, Command, TransitionError};

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Created,
    Dispatched,
    Signed,
    Handled,
    Replied,
    Visited,
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A pending return request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRequest {
    pub at: DateTime<FixedOffset>,
    pub reason: String,
    pub basis: String,
    pub suggested_unit: Option<UnitId>,
}

/// The result of the return visit (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    pub satisfied: bool,
    pub reasonable: bool,
}

impl Visit {
    /// Unsatisfied with a reasonable request: must be handled again (art. 22).
    pub fn needs_reopen(self) -> bool {
        !self.satisfied && self.reasonable
    }
}

/// A ticket as its history makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub ticket_type: TicketType,
    pub urgency: Urgency,
    pub created_at: DateTime<FixedOffset>,
    /// Who took the ticket.
    pub creator: Actor,
    pub state: State,
    /// The unit the ticket is dispatched to (主办), if any.
    pub unit: Option<UnitId>,
    /// The deadlines of the current handling round.
    pub clocks: Option<Clocks>,
    pub pending_return: Option<ReturnRequest>,
    pub pending_extension: Option<Limit>,
    /// Extension requests made in the current round (approved or not).
    pub extension_requests: u8,
    pub extensions_approved: u8,
    pub supervisions: u32,
    pub signed_late: bool,
    pub handled_late: bool,
    pub visit: Option<Visit>,
    pub reopened: u32,
    pub repeat_of: Option<TicketId>,
    /// Number of events folded.
    pub version: u64,
}

/// Why a history cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("the history is empty")]
    Empty,
    #[error("the history must start with Created")]
    NotCreatedFirst,
    #[error("event {index} creates the ticket again")]
    CreatedTwice { index: usize },
}

/// Everything a command is checked against besides the ticket.
#[derive(Debug, Clone, Copy)]
struct Context<'a> {
    now: DateTime<FixedOffset>,
    policy: &'a Policy,
    calendar: &'a Calendar,
}

/// The first event of a ticket. Agents, supervisors and admins create tickets.
pub fn create(
    id: TicketId,
    ticket_type: TicketType,
    urgency: Urgency,
    actor: Actor,
    now: DateTime<FixedOffset>,
) -> Result<Event, TransitionError> {
    if actor.role() == Role::Unit {
        return Err(TransitionError::Forbidden {
            action: Action::Create,
            role: Role::Unit,
        });
    }
    Ok(Event {
        at: now,
        actor,
        kind: EventKind::Created {
            id,
            ticket_type,
            urgency,
        },
    })
}

/// Replays a history into the ticket.
pub fn fold(events: &[Event]) -> Result<Ticket, FoldError> {
    let (first, rest) = events.split_first().ok_or(FoldError::Empty)?;
    let mut ticket = Ticket::from_created(first).ok_or(FoldError::NotCreatedFirst)?;
    for (i, e) in rest.iter().enumerate() {
        if matches!(e.kind, EventKind::Created { .. }) {
            return Err(FoldError::CreatedTwice { index: i + 1 });
        }
        ticket.evolve(e);
    }
    Ok(ticket)
}

impl Ticket {
    /// The ticket a `Created` event makes; `None` for any other event.
    pub fn from_created(event: &Event) -> Option<Ticket> {
        let EventKind::Created {
            id,
            ticket_type,
            urgency,
        } = &event.kind
        else {
            return None;
        };
        Some(Ticket {
            id: id.clone(),
            ticket_type: *ticket_type,
            urgency: *urgency,
            created_at: event.at,
            creator: event.actor.clone(),
            state: State::Created,
            unit: None,
            clocks: None,
            pending_return: None,
            pending_extension: None,
            extension_requests: 0,
            extensions_approved: 0,
            supervisions: 0,
            signed_late: false,
            handled_late: false,
            visit: None,
            reopened: 0,
            repeat_of: None,
            version: 1,
        })
    }

    /// Applies one (already accepted) event. Events are facts: nothing is checked here.
    pub fn evolve(&mut self, event: &Event) {
        self.version += 1;
        match &event.kind {
            EventKind::Created { .. } => {}
            EventKind::Dispatched { unit, clocks } => {
                self.unit = Some(unit.clone());
                self.new_round(*clocks);
            }
            EventKind::Signed { late } => {
                self.state = State::Signed;
                self.signed_late = *late;
            }
            EventKind::ReturnRequested {
                reason,
                basis,
                suggested_unit,
            } => {
                self.pending_return = Some(ReturnRequest {
                    at: event.at,
                    reason: reason.clone(),
                    basis: basis.clone(),
                    suggested_unit: suggested_unit.clone(),
                });
            }
            EventKind::ReturnApproved => {
                self.pending_return = None;
                self.pending_extension = None;
                self.unit = None;
                self.clocks = None;
                self.state = State::Created;
            }
            EventKind::ReturnRefused { .. } => self.pending_return = None,
            EventKind::ExtensionRequested { limit, .. } => {
                self.pending_extension = Some(*limit);
                self.extension_requests = self.extension_requests.saturating_add(1);
            }
            EventKind::ExtensionApproved { handle_due } => {
                self.pending_extension = None;
                self.extensions_approved = self.extensions_approved.saturating_add(1);
                if let Some(c) = &mut self.clocks {
                    c.handle_due = *handle_due;
                }
            }
            EventKind::ExtensionRefused { .. } => self.pending_extension = None,
            EventKind::Supervised { .. } => self.supervisions += 1,
            EventKind::Handled { late, .. } => {
                self.state = State::Handled;
                self.handled_late = *late;
            }
            EventKind::Replied => self.state = State::Replied,
            EventKind::Visited {
                satisfied,
                reasonable,
            } => {
                self.state = State::Visited;
                self.visit = Some(Visit {
                    satisfied: *satisfied,
                    reasonable: *reasonable,
                });
            }
            EventKind::Revisited {
                satisfied,
                reasonable,
                ..
            } => {
                let visit = Visit {
                    satisfied: *satisfied,
                    reasonable: *reasonable,
                };
                self.visit = Some(visit);
                if visit.needs_reopen() {
                    self.state = State::Visited;
                }
            }
            EventKind::Reopened { clocks } => {
                self.reopened += 1;
                self.new_round(*clocks);
            }
            EventKind::Closed | EventKind::AnsweredDirectly { .. } => self.state = State::Closed,
            EventKind::ClosedAsRepeat { earlier, .. } => {
                self.state = State::Closed;
                self.repeat_of = Some(earlier.clone());
            }
        }
    }

    fn new_round(&mut self, clocks: Clocks) {
        self.state = State::Dispatched;
        self.clocks = Some(clocks);
        self.pending_return = None;
        self.pending_extension = None;
        self.extension_requests = 0;
        self.extensions_approved = 0;
        self.signed_late = false;
        self.handled_late = false;
        self.visit = None;
    }

    /// Whether the ticket is still open.
    pub fn is_open(&self) -> bool {
        self.state != State::Closed
    }
}

/// The deadlines of a round starting `now`.
fn clocks(ticket: &Ticket, cx: &Context<'_>, action: Action) -> Result<Clocks, TransitionError> {
    let ty = ticket.ticket_type;
    let p = cx.policy;
    let at = |step: Step| -> Result<Due, TransitionError> {
        due(cx.calendar, &p.working_hours, cx.now, p.limit(ty, step))
            .map_err(|source| TransitionError::Deadline { action, source })
    };
    let (response_due, progress_due) = match ticket.urgency {
        Urgency::Normal => (None, None),
        Urgency::Special => (
            Some(at(Step::SpecialResponse)?),
            Some(at(Step::SpecialProgress)?),
        ),
        Urgency::Emergency => (
            Some(at(Step::EmergencyResponse)?),
            Some(at(Step::EmergencyProgress)?),
        ),
    };
    Ok(Clocks {
        started: cx.now,
        sign_due: at(Step::Sign)?,
        handle_due: at(Step::Handle)?,
        handle_limit: p.limit(ty, Step::Handle),
        return_due: at(Step::Return)?,
        response_due,
        progress_due,
    })
}

fn need_state(ticket: &Ticket, action: Action, ok: &[State]) -> Result<(), TransitionError> {
    if ok.contains(&ticket.state) {
        Ok(())
    } else {
        Err(TransitionError::WrongState {
            action,
            state: ticket.state,
        })
    }
}

fn need_role(actor: &Actor, action: Action, ok: &[Role]) -> Result<(), TransitionError> {
    if ok.contains(&actor.role()) {
        Ok(())
    } else {
        Err(TransitionError::Forbidden {
            action,
            role: actor.role(),
        })
    }
}

/// The actor must be the unit the ticket is dispatched to.
fn need_assigned(ticket: &Ticket, actor: &Actor, action: Action) -> Result<(), TransitionError> {
    match actor {
        Actor::Unit(u) if ticket.unit.as_ref() == Some(u) => Ok(()),
        Actor::Unit(u) => Err(TransitionError::WrongUnit {
            action,
            assigned: ticket.unit.clone(),
            actor: u.clone(),
        }),
        other => Err(TransitionError::Forbidden {
            action,
            role: other.role(),
        }),
    }
}

fn no_return_pending(ticket: &Ticket, action: Action) -> Result<(), TransitionError> {
    match ticket.pending_return {
        Some(_) => Err(TransitionError::ReturnPending { action }),
        None => Ok(()),
    }
}

fn non_blank(s: &str, action: Action) -> Result<(), TransitionError> {
    if s.trim().is_empty() {
        Err(TransitionError::MissingReason { action })
    } else {
        Ok(())
    }
}

const STAFF: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];
const AUTHORITY: &[Role] = &[Role::Supervisor, Role::Admin];
const OPEN: &[State] = &[
    State::Created,
    State::Dispatched,
    State::Signed,
    State::Handled,
    State::Replied,
    State::Visited,
];

/// Checks `cmd` by `actor` at `now` against `ticket` and returns the events it causes, to be
/// appended to the history (and folded with [`Ticket::evolve`]). Deadlines of new rounds,
/// extensions and special supervisions are computed here from `policy` and `calendar`.
pub fn apply(
    ticket: &Ticket,
    cmd: Command,
    actor: Actor,
    now: DateTime<FixedOffset>,
    policy: &Policy,
    calendar: &Calendar,
) -> Result<Vec<Event>, TransitionError> {
    use State::*;
    let cx = &Context {
        now,
        policy,
        calendar,
    };
    let action = cmd.action();
    let event = |kind: EventKind| Event {
        at: cx.now,
        actor: actor.clone(),
        kind,
    };
    let current = || {
        ticket.clocks.as_ref().ok_or(TransitionError::WrongState {
            action,
            state: ticket.state,
        })
    };
    let kind = match cmd {
        Command::Dispatch { unit } => {
            need_state(ticket, action, &[Created])?;
            need_role(&actor, action, STAFF)?;
            let clocks = clocks(ticket, cx, action)?;
            EventKind::Dispatched { unit, clocks }
        }
        Command::Sign => {
            need_state(ticket, action, &[Dispatched])?;
            need_assigned(ticket, &actor, action)?;
            no_return_pending(ticket, action)?;
            let late = cx.now > current()?.sign_due.at;
            EventKind::Signed { late }
        }
        Command::RequestReturn {
            reason,
            basis,
            suggested_unit,
        } => {
            need_state(ticket, action, &[Dispatched, Signed])?;
            need_assigned(ticket, &actor, action)?;
            no_return_pending(ticket, action)?;
            non_blank(&reason, action)?;
            if basis.trim().is_empty() {
                return Err(TransitionError::MissingBasis);
            }
            let due = current()?.return_due.at;
            if cx.now > due {
                return Err(TransitionError::ReturnTooLate { due });
            }
            EventKind::ReturnRequested {
                reason,
                basis,
                suggested_unit,
            }
        }
        Command::ApproveReturn { redispatch_to } => {
            need_state(ticket, action, &[Dispatched, Signed])?;
            need_role(&actor, action, AUTHORITY)?;
            if ticket.pending_return.is_none() {
                return Err(TransitionError::NoReturnPending);
            }
            let approved = event(EventKind::ReturnApproved);
            let Some(unit) = redispatch_to else {
                return Ok(vec![approved]);
            };
            let clocks = clocks(ticket, cx, action)?;
            return Ok(vec![
                approved,
                event(EventKind::Dispatched { unit, clocks }),
            ]);
        }
        Command::RefuseReturn { note } => {
            need_state(ticket, action, &[Dispatched, Signed])?;
            need_role(&actor, action, AUTHORITY)?;
            if ticket.pending_return.is_none() {
                return Err(TransitionError::NoReturnPending);
            }
            EventKind::ReturnRefused { note }
        }
        Command::RequestExtension { limit, reason } => {
            need_state(ticket, action, &[Signed])?;
            need_assigned(ticket, &actor, action)?;
            no_return_pending(ticket, action)?;
            non_blank(&reason, action)?;
            let ext = &cx.policy.extension;
            if !ext.extendable(ticket.ticket_type) {
                return Err(TransitionError::NotExtendable {
                    ticket_type: ticket.ticket_type,
                });
            }
            if ticket.pending_extension.is_some() {
                return Err(TransitionError::ExtensionPending);
            }
            if ticket.extension_requests >= ext.max_requests {
                return Err(TransitionError::TooManyExtensions {
                    max: ext.max_requests,
                });
            }
            let c = current()?;
            if cx.now > c.handle_due.at {
                return Err(TransitionError::ExtensionAfterDeadline {
                    due: c.handle_due.at,
                });
            }
            let original = c.handle_limit;
            if !limit.same_unit(original) {
                return Err(TransitionError::ExtensionUnitMismatch {
                    asked: limit,
                    original,
                });
            }
            if limit.amount() > original.amount() {
                return Err(TransitionError::ExtensionTooLong {
                    asked: limit,
                    original,
                });
            }
            EventKind::ExtensionRequested { limit, reason }
        }
        Command::ApproveExtension => {
            need_state(ticket, action, OPEN)?;
            need_role(&actor, action, AUTHORITY)?;
            let limit = ticket
                .pending_extension
                .ok_or(TransitionError::NoExtensionPending)?;
            let old = current()?.handle_due;
            let mut new = due(cx.calendar, &cx.policy.working_hours, old.at, limit)
                .map_err(|source| TransitionError::Deadline { action, source })?;
            new.beyond_calendar |= old.beyond_calendar;
            EventKind::ExtensionApproved { handle_due: new }
        }
        Command::RefuseExtension { note } => {
            need_state(ticket, action, OPEN)?;
            need_role(&actor, action, AUTHORITY)?;
            if ticket.pending_extension.is_none() {
                return Err(TransitionError::NoExtensionPending);
            }
            EventKind::ExtensionRefused { note }
        }
        Command::Supervise { kind, note } => {
            need_state(ticket, action, OPEN)?;
            need_role(&actor, action, AUTHORITY)?;
            let reply_due = match kind {
                SupervisionKind::Special => Some(
                    due(
                        cx.calendar,
                        &cx.policy.working_hours,
                        cx.now,
                        cx.policy.supervision_reply,
                    )
                    .map_err(|source| TransitionError::Deadline { action, source })?,
                ),
                SupervisionKind::Phone | SupervisionKind::Meeting => None,
            };
            EventKind::Supervised {
                kind,
                note,
                reply_due,
            }
        }
        Command::Handle { summary } => {
            need_state(ticket, action, &[Signed])?;
            need_assigned(ticket, &actor, action)?;
            no_return_pending(ticket, action)?;
            let late = cx.now > current()?.handle_due.at;
            EventKind::Handled { summary, late }
        }
        Command::Reply => {
            need_state(ticket, action, &[Handled])?;
            need_assigned(ticket, &actor, action)?;
            EventKind::Replied
        }
        Command::RecordVisit {
            satisfied,
            reasonable,
        } => {
            need_state(ticket, action, &[Replied])?;
            need_role(&actor, action, STAFF)?;
            EventKind::Visited {
                satisfied,
                reasonable,
            }
        }
        Command::RecordRevisit {
            satisfied,
            reasonable,
            task,
        } => {
            need_state(ticket, action, &[Closed])?;
            need_role(&actor, action, STAFF)?;
            if ticket.unit.is_none() || ticket.repeat_of.is_some() {
                // Only a handled ticket's survey opens a return visit; nothing to reopen here.
                return Err(TransitionError::NoRevisitPending);
            }
            EventKind::Revisited {
                satisfied,
                reasonable,
                task,
            }
        }
        Command::Reopen => {
            need_state(ticket, action, &[Visited])?;
            need_role(&actor, action, AUTHORITY)?;
            if !ticket.visit.is_some_and(Visit::needs_reopen) {
                return Err(TransitionError::NotReopenable);
            }
            EventKind::Reopened {
                clocks: clocks(ticket, cx, action)?,
            }
        }
        Command::Close => {
            need_state(ticket, action, &[Visited])?;
            need_role(&actor, action, STAFF)?;
            if ticket.visit.is_some_and(Visit::needs_reopen) {
                return Err(TransitionError::MustReopen);
            }
            EventKind::Closed
        }
        Command::CloseAsRepeat { earlier, reason } => {
            need_state(ticket, action, &[Created, Dispatched, Signed])?;
            if actor.role() == Role::Unit {
                need_assigned(ticket, &actor, action)?;
            }
            non_blank(&reason, action)?;
            if earlier == ticket.id {
                return Err(TransitionError::RepeatOfItself);
            }
            EventKind::ClosedAsRepeat { earlier, reason }
        }
        Command::AnswerDirectly { reply } => {
            need_state(ticket, action, &[Created])?;
            need_role(&actor, action, STAFF)?;
            if !cx.policy.answerable_directly(ticket.ticket_type) {
                return Err(TransitionError::NotAnswerableDirectly {
                    ticket_type: ticket.ticket_type,
                });
            }
            if let Actor::Agent(id) = &actor {
                if ticket.creator != actor {
                    return Err(TransitionError::NotTheCreator { actor: id.clone() });
                }
            }
            non_blank(&reply, action)?;
            EventKind::AnsweredDirectly { reply }
        }
    };
    Ok(vec![event(kind)])
}

#[cfg(test)]
mod tests;
