//! The seam between tickets and the SMS outbox: which ticket events send which message.
//!
//! The ticket store calls in here from inside the transaction that appends the events, so each
//! message commits or vanishes with the event that causes it. [`TicketSms`] is the handle the
//! daemon builds from the `[sms]` section (absent: `None` everywhere, nothing is queued):
//!
//! | event | message | to |
//! | --- | --- | --- |
//! | `Dispatched` (also after an approved return), `Reopened` | dispatch reminder | each phone of the lead unit |
//! | light turns yellow / red | yellow / red warning | each phone of the lead unit |
//! | ticket created by an agent (API) | ticket number | the contact, when a mobile |
//! | `Closed` | satisfaction survey (opens it) | the contact, when a mobile |
//!
//! A number that cannot get an SMS (anonymous, landline, empty) is skipped and counted, never
//! an error: the ticket write goes on.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use sqlx::{Any, Row, Transaction};

use super::tickets::TicketError;
use super::units::UnitRecord;
use super::StoreError;
use crate::pii::Pii;
use crate::sms::config::{SmsConfig, Templates};
use crate::sms::template::TemplateError;
use crate::sms::{enqueue, NewSms, SmsError, SmsKind};
use crate::workflow::{self, Event, EventKind, Step, Ticket, UnitId};

/// The message templates tickets use; built once by the daemon when `[sms]` is configured.
#[derive(Clone, Debug)]
pub struct TicketSms {
    templates: Templates,
}

impl TicketSms {
    pub fn new(templates: Templates) -> TicketSms {
        TicketSms { templates }
    }

    pub fn from_config(c: &SmsConfig) -> Result<TicketSms, TemplateError> {
        Ok(TicketSms::new(c.templates()?))
    }
}

/// What the intake of a ticket says about where messages go.
pub(crate) struct Intake {
    line: String,
    contact: Option<Pii<String>>,
    ticket_type: String,
}

impl Intake {
    /// The intake of a ticket being created, known without reading its row.
    pub(crate) fn of(new: &super::tickets::NewTicket) -> Intake {
        Intake {
            line: new.line.clone(),
            contact: new.contact.clone(),
            ticket_type: new.ticket_type.key().to_string(),
        }
    }
}

async fn intake(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Intake, TicketError> {
    let r = sqlx::query("SELECT line, contact, ticket_type FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| TicketError::NotFound(id.to_string()))?;
    Ok(Intake {
        line: r.try_get("line")?,
        contact: r.try_get::<Option<String>, _>("contact")?.map(Pii::new),
        ticket_type: r.try_get("ticket_type")?,
    })
}

fn when(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&workflow::shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn vars<'a>(
    ticket: &str,
    deadline: Option<DateTime<FixedOffset>>,
    unit: &str,
    intake: &Intake,
) -> BTreeMap<&'a str, String> {
    let ty = intake
        .ticket_type
        .parse::<workflow::TicketType>()
        .map(|t| t.chinese().to_string())
        .unwrap_or_else(|_| intake.ticket_type.clone());
    BTreeMap::from([
        ("ticket_no", ticket.to_string()),
        ("deadline", deadline.map(when).unwrap_or_default()),
        ("unit", unit.to_string()),
        ("type", ty),
        ("hotline", intake.line.clone()),
    ])
}

/// Queues one message; a number that cannot get an SMS is skipped (false), not an error.
async fn queue(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    kind: SmsKind,
    phone: Pii<String>,
    ticket: &str,
    vars: &BTreeMap<&str, String>,
) -> Result<bool, TicketError> {
    let msg: NewSms = sms
        .templates
        .message(kind, phone.clone(), Some(ticket.to_string()), vars)
        .map_err(|e| TicketError::Invalid(format!("SMS template {}: {e}", kind.as_str())))?;
    match enqueue(tx, msg).await {
        Ok(id) => {
            tracing::info!(%ticket, sms = %id, kind = kind.as_str(), to = %phone, "SMS queued");
            Ok(true)
        }
        Err(SmsError::Phone(e)) => {
            tracing::info!(%ticket, kind = kind.as_str(), to = %phone, reason = %e, "no SMS sent");
            Ok(false)
        }
        Err(SmsError::Db(e)) => Err(TicketError::Store(StoreError::Db(e))),
        // An empty text is a configuration slip; the ticket write must not fail for it.
        Err(e) => {
            tracing::warn!(%ticket, kind = kind.as_str(), error = %e, "no SMS sent");
            Ok(false)
        }
    }
}

/// Messages of `kind` to every contact phone of `unit`.
async fn to_unit(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    kind: SmsKind,
    ticket: &str,
    unit: &UnitId,
    deadline: Option<DateTime<FixedOffset>>,
) -> Result<(), TicketError> {
    let Some(u) = super::units::unit_in_tx(tx, &unit.0).await? else {
        return Err(TicketError::UnknownUnit(unit.0.clone()));
    };
    let intake = intake(tx, ticket).await?;
    to_unit_known(tx, sms, kind, ticket, &u, deadline, &intake).await
}

/// [`to_unit`] with the unit and the intake already in hand (a ticket being created).
pub(crate) async fn to_unit_known(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    kind: SmsKind,
    ticket: &str,
    u: &UnitRecord,
    deadline: Option<DateTime<FixedOffset>>,
    intake: &Intake,
) -> Result<(), TicketError> {
    let vars = vars(ticket, deadline, &u.name, intake);
    if u.contacts.is_empty() {
        tracing::info!(%ticket, unit = %u.id, kind = kind.as_str(), "no SMS: unit has no contacts");
    }
    for c in &u.contacts {
        queue(tx, sms, kind, c.phone.clone(), ticket, &vars).await?;
    }
    Ok(())
}

/// A message of `kind` to the ticket's contact, when there is one.
async fn to_contact(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    kind: SmsKind,
    ticket: &str,
    deadline: Option<DateTime<FixedOffset>>,
    unit: &str,
) -> Result<bool, TicketError> {
    let intake = intake(tx, ticket).await?;
    to_contact_known(tx, sms, kind, ticket, deadline, unit, &intake).await
}

/// [`to_contact`] with the intake already in hand (a ticket being created).
pub(crate) async fn to_contact_known(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    kind: SmsKind,
    ticket: &str,
    deadline: Option<DateTime<FixedOffset>>,
    unit: &str,
    intake: &Intake,
) -> Result<bool, TicketError> {
    let Some(phone) = intake.contact.clone() else {
        tracing::info!(%ticket, kind = kind.as_str(), "no SMS: the ticket has no contact number");
        return Ok(false);
    };
    let vars = vars(ticket, deadline, unit, intake);
    queue(tx, sms, kind, phone, ticket, &vars).await
}

/// The handling deadline the ticket-number message names: the ticket's own when dispatched,
/// else the handling limit counted from `now`.
pub(crate) fn number_due(
    t: &Ticket,
    now: DateTime<FixedOffset>,
    rules: &workflow::Rules,
) -> Option<DateTime<FixedOffset>> {
    match t.clocks {
        Some(c) => Some(c.handle_due.at),
        None => workflow::deadline_for(
            &rules.calendar,
            &rules.policy,
            t.ticket_type,
            Step::Handle,
            now,
        )
        .ok()
        .map(|d| d.at),
    }
}

/// The messages caused by `events`, just appended to ticket `t` (folded after them).
pub(crate) async fn after_events(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    t: &Ticket,
    events: &[Event],
) -> Result<(), TicketError> {
    for e in events {
        match &e.kind {
            EventKind::Dispatched { unit, clocks } => {
                let due = Some(clocks.handle_due.at);
                to_unit(tx, sms, SmsKind::DispatchReminder, &t.id.0, unit, due).await?;
            }
            EventKind::Reopened { clocks } => {
                if let Some(unit) = &t.unit {
                    let due = Some(clocks.handle_due.at);
                    to_unit(tx, sms, SmsKind::DispatchReminder, &t.id.0, unit, due).await?;
                }
            }
            EventKind::Closed => {
                let unit = unit_name(tx, t.unit.as_ref()).await?;
                let due = t.clocks.map(|c| c.handle_due.at);
                to_contact(tx, sms, SmsKind::Survey, &t.id.0, due, &unit).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The warning for a light that just turned `to` ("yellow" or "red"; others send nothing).
pub(crate) async fn after_light(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    t: &Ticket,
    to: &str,
) -> Result<(), TicketError> {
    let kind = match to {
        "yellow" => SmsKind::YellowWarning,
        "red" => SmsKind::RedWarning,
        _ => return Ok(()),
    };
    let Some(unit) = &t.unit else {
        return Ok(());
    };
    let due = t.clocks.map(|c| c.handle_due.at);
    to_unit(tx, sms, kind, &t.id.0, unit, due).await
}

async fn unit_name(
    tx: &mut Transaction<'_, Any>,
    unit: Option<&UnitId>,
) -> Result<String, TicketError> {
    Ok(match unit {
        Some(u) => super::units::unit_in_tx(tx, &u.0)
            .await?
            .map(|r| r.name)
            .unwrap_or_default(),
        None => String::new(),
    })
}

/// The ticket number to the caller of a ticket just created (and perhaps dispatched) in `tx`.
/// The deadline is the ticket's own when dispatched, else the handling limit counted from
/// `now`. Returns whether a message was queued: a caller without a mobile gets none.
pub async fn ticket_number_in_tx(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    id: &str,
    now: DateTime<FixedOffset>,
    rules: &workflow::Rules,
) -> Result<bool, TicketError> {
    let (t, _) = super::tickets::load_in_tx(tx, id).await?;
    let due = number_due(&t, now, rules);
    let unit = unit_name(tx, t.unit.as_ref()).await?;
    to_contact(tx, sms, SmsKind::TicketNumber, id, due, &unit).await
}
