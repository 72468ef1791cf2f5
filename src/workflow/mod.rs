//! The workflow domain: tickets, the working-day calendar and deadline policy. Sans-IO: the
//! current time is always an argument, nothing here reads a clock, a file or the network.
//!
//! - [`calendar`]: working days of the covered years (holidays, 调休 make-up days).
//! - [`deadline`]: counting limits into due times, and the red/yellow lights.
//! - [`policy`]: the limits per ticket type and step (default Shuangyashan 2024).
//! - [`ticket`], [`command`] and [`event`]: the ticket state machine, event-sourced.
//! - [`lights`]: a ticket's red/yellow light and the next instant it changes.
//!
//! The one-call entry for "when is this due" is [`deadline_for`].

pub mod calendar;
pub mod command;
pub mod deadline;
pub mod event;
pub mod lights;
pub mod policy;
pub mod ticket;

use chrono::{DateTime, FixedOffset};

pub use calendar::{Calendar, CalendarError, YearSpec};
pub use deadline::{due, light, DeadlineError, Due, Light, LightPolicy, Limit, WorkingHours};
pub use event::{Actor, Event, EventKind, SupervisionKind, TicketId, Unit, UnitId, Urgency};
pub use policy::{Policy, Step, TicketType};
pub use ticket::{apply, create, fold, Command, State, Ticket, TransitionError};

/// The calendar and policy a daemon runs with (loaded from the dialplans by the shell).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub calendar: Calendar,
    pub policy: Policy,
}

/// Asia/Shanghai: UTC+8 all year, no daylight saving.
pub fn shanghai() -> FixedOffset {
    // 8 h is well inside FixedOffset's ±24 h range.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// When `step` of a ticket of type `ty` that started at `start` is due under `policy`.
/// The result is in +08:00; `beyond_calendar` says the calendar did not know every day counted.
pub fn deadline_for(
    calendar: &Calendar,
    policy: &Policy,
    ty: TicketType,
    step: Step,
    start: DateTime<FixedOffset>,
) -> Result<Due, DeadlineError> {
    due(
        calendar,
        &policy.working_hours,
        start,
        policy.limit(ty, step),
    )
}
