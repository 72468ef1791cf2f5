//! A whole creation in one write: the new ticket is folded in memory through every step the
//! request asks for (dispatch, assisting units, a direct answer) with the workflow core, and
//! then written once — the projection row in its final state, every history row in one
//! multi-row INSERT, the unit rows in another, and the messages the steps cause.
//!
//! The general command path ([`super::tickets::apply_with_sms_in_tx`]) locks the row, reads
//! back and folds the history just written, appends, then rewrites the projection and the
//! `ticket_units` rows — about nine statements a step. For a ticket that did not exist a
//! moment ago none of that is needed: nobody else can hold or have changed it. What stays the
//! same is what the history says: the creation, the dispatch, each light change, the assisting
//! units and the closing are each their own row with the same `seq`, kind and payload the
//! command path writes, so a replay folds to the same ticket.
//!
//! Statements per created-and-dispatched ticket: the day counter, the ticket row, the history
//! rows, the unit rows (and one per queued SMS) — against 11 before; the units a group of
//! creations names are read once for the group ([`super::ticket_group`]).

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};
use sqlx::{Any, Transaction};

use super::ticket_codec as codec;
use super::ticket_group::CreateRequest;
use super::ticket_notify::{self as notify, Intake, TicketSms};
use super::tickets::{
    check_new, next_number, normalise, pending_key, provisional, state_key, NewTicket, TicketError,
};
use super::units::{units_in_tx, UnitRecord};
use crate::sms::SmsKind;
use crate::workflow::command::Action;
use crate::workflow::lights::ticket_light;
use crate::workflow::{
    self, Actor, Command, Event, EventKind, Rules, State, Ticket, TicketId, UnitId,
};

/// One history row to write.
struct HistoryRow {
    at: i64,
    who: String,
    role: &'static str,
    kind: &'static str,
    why: Option<String>,
    payload: String,
}

/// A message a step causes, queued once the ticket row is written.
enum Message {
    Unit {
        kind: SmsKind,
        unit: UnitId,
        due: Option<DateTime<FixedOffset>>,
    },
    Contact {
        kind: SmsKind,
        due: Option<DateTime<FixedOffset>>,
        unit: Option<UnitId>,
    },
}

/// The ticket while it is being built.
struct Draft {
    id: String,
    ticket: Ticket,
    rows: Vec<HistoryRow>,
    light: &'static str,
    light_next: Option<i64>,
    messages: Vec<Message>,
    now: DateTime<FixedOffset>,
    sms: bool,
}

impl Draft {
    fn push_with(
        &mut self,
        at: DateTime<FixedOffset>,
        actor: Option<&Actor>,
        kind: &'static str,
        why: Option<String>,
        payload: Value,
    ) {
        let (who, role) = match actor {
            Some(a) => (codec::actor_id(a).to_string(), codec::role_key(a.role())),
            None => ("rexian".to_string(), "system"),
        };
        self.rows.push(HistoryRow {
            at: at.timestamp(),
            who,
            role,
            kind,
            why,
            payload: payload.to_string(),
        });
    }

    /// Runs `cmd` through the workflow core on the draft: its events become rows, then the
    /// light is checked as the command path does after every command.
    fn apply(&mut self, cmd: Command, actor: &Actor, rules: &Rules) -> Result<(), TicketError> {
        let action = cmd.action();
        let events = workflow::apply(
            &self.ticket,
            cmd,
            actor.clone(),
            self.now,
            &rules.policy,
            &rules.calendar,
        )
        .map_err(|source| TicketError::Refused {
            ticket: self.id.clone(),
            state: self.ticket.state,
            action,
            source,
        })?;
        for e in &events {
            let (kind, why, payload) = codec::encode(&e.kind);
            self.push_with(e.at, Some(&e.actor), kind, why, payload);
            self.ticket.evolve(e);
        }
        self.light_after(rules);
        if self.sms {
            self.messages_after(&events);
        }
        Ok(())
    }

    /// The light at `now`; a change is a system row (and a warning for yellow or red).
    fn light_after(&mut self, rules: &Rules) {
        let v = ticket_light(
            &self.ticket,
            self.now,
            &rules.calendar,
            &rules.policy.lights,
        );
        let light = v.light.map(|l| l.key()).unwrap_or("none");
        if light != self.light {
            let payload = json!({
                "from": self.light,
                "to": light,
                "due": v.due.map(|d| d.to_rfc3339()),
            });
            self.push_with(self.now, None, "light", None, payload);
            let warn = match light {
                "yellow" => Some(SmsKind::YellowWarning),
                "red" => Some(SmsKind::RedWarning),
                _ => None,
            };
            if let (true, Some(kind), Some(unit)) = (self.sms, warn, &self.ticket.unit) {
                self.messages.push(Message::Unit {
                    kind,
                    unit: unit.clone(),
                    due: self.ticket.clocks.map(|c| c.handle_due.at),
                });
            }
        }
        self.light = light;
        self.light_next = v.next_change.map(|d| d.timestamp());
    }

    /// The messages `events` cause, as [`notify::after_events`] decides them.
    fn messages_after(&mut self, events: &[Event]) {
        for e in events {
            match &e.kind {
                EventKind::Dispatched { unit, clocks } => self.messages.push(Message::Unit {
                    kind: SmsKind::DispatchReminder,
                    unit: unit.clone(),
                    due: Some(clocks.handle_due.at),
                }),
                EventKind::Reopened { clocks } => {
                    if let Some(unit) = &self.ticket.unit {
                        self.messages.push(Message::Unit {
                            kind: SmsKind::DispatchReminder,
                            unit: unit.clone(),
                            due: Some(clocks.handle_due.at),
                        });
                    }
                }
                EventKind::Closed => self.messages.push(Message::Contact {
                    kind: SmsKind::Survey,
                    due: self.ticket.clocks.map(|c| c.handle_due.at),
                    unit: self.ticket.unit.clone(),
                }),
                _ => {}
            }
        }
    }
}

fn unknown_unit(units: &[UnitRecord], u: &UnitId) -> Result<(), TicketError> {
    if units.iter().any(|r| r.id == u.0) {
        Ok(())
    } else {
        Err(TicketError::UnknownUnit(u.0.clone()))
    }
}

/// One whole creation inside `tx`, written once; returns the ticket number. A request the
/// workflow refuses returns its error before anything but the day counter is written (the
/// caller's savepoint takes that back).
pub async fn create_request_in_tx(
    tx: &mut Transaction<'_, Any>,
    req: &CreateRequest,
) -> Result<String, TicketError> {
    let units = units_in_tx(tx, &named_units(std::iter::once(req))).await?;
    create_with_units_in_tx(tx, req, &units).await
}

/// Every unit the requests name, once each: read for a whole group in one round trip.
pub(crate) fn named_units<'a>(reqs: impl Iterator<Item = &'a CreateRequest>) -> Vec<&'a str> {
    let mut wanted: Vec<&str> = Vec::new();
    for r in reqs {
        wanted.extend(r.dispatch_to.iter().map(|u| u.0.as_str()));
        wanted.extend(r.assisting.iter().map(|u| u.0.as_str()));
    }
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

/// The creation event of ticket `id`, with its history row's kind, reason and payload; the
/// payload carries the intake, so a replay of the history restores it.
pub(crate) fn creation_event(
    id: &str,
    new: &NewTicket,
    actor: &Actor,
    now: DateTime<FixedOffset>,
) -> Result<(Event, &'static str, Option<String>, Value), TicketError> {
    let event = workflow::create(
        TicketId(id.to_string()),
        new.ticket_type,
        new.urgency,
        actor.clone(),
        now,
    )
    .map_err(|source| TicketError::Refused {
        ticket: id.to_string(),
        state: State::Created,
        action: Action::Create,
        source,
    })?;
    let (kind, why, mut payload) = codec::encode(&event.kind);
    payload["intake"] = json!({
        "line": new.line,
        "requester": new.requester.as_ref().map(|p| p.expose()),
        "contact": new.contact.as_ref().map(|p| p.expose()),
        "facts": new.facts,
        "address": new.address,
        "call_id": new.call_id,
        "recording": new.recording,
    });
    Ok((event, kind, why, payload))
}

/// [`create_request_in_tx`] with the units it names already read in `tx` (a unit missing from
/// `units` does not exist).
pub(crate) async fn create_with_units_in_tx(
    tx: &mut Transaction<'_, Any>,
    req: &CreateRequest,
    units: &[UnitRecord],
) -> Result<String, TicketError> {
    check_new(&req.new)?;
    let rules = || {
        req.rules
            .as_deref()
            .ok_or_else(|| TicketError::Invalid("the deadline rules are not loaded".into()))
    };
    let (new, actor) = (&req.new, &req.actor);
    let now = normalise(req.now);
    let sms: Option<&TicketSms> = req.sms.as_deref();
    let id = next_number(tx, now).await?;
    let (created, kind, why, payload) = creation_event(&id, new, actor, now)?;
    let mut d = Draft {
        id: id.clone(),
        ticket: workflow::fold(std::slice::from_ref(&created))?,
        rows: Vec::with_capacity(4),
        light: "none",
        light_next: None,
        messages: Vec::new(),
        now,
        sms: sms.is_some(),
    };
    d.push_with(now, Some(actor), kind, why, payload);

    if let Some(unit) = &req.dispatch_to {
        let rules = rules()?;
        unknown_unit(units, unit)?;
        d.apply(Command::Dispatch { unit: unit.clone() }, actor, rules)?;
    }
    if !req.assisting.is_empty() {
        for u in &req.assisting {
            unknown_unit(units, u)?;
        }
        let list: Vec<&str> = req.assisting.iter().map(|u| u.0.as_str()).collect();
        d.push_with(
            now,
            Some(actor),
            "assisting",
            None,
            json!({ "units": list }),
        );
    }
    if let Some(reply) = &req.answer {
        let rules = rules()?;
        let cmd = Command::AnswerDirectly {
            reply: reply.clone(),
        };
        d.apply(cmd, actor, rules)?;
    }
    // A caller answered on the phone needs no ticket number to follow up with.
    if let (Some(_), None) = (sms, &req.answer) {
        let due = notify::number_due(&d.ticket, now, rules()?);
        d.messages.push(Message::Contact {
            kind: SmsKind::TicketNumber,
            due,
            unit: d.ticket.unit.clone(),
        });
    }

    write_ticket(tx, req, &d).await?;
    write_history(tx, &d).await?;
    write_units(tx, &d, &req.assisting).await?;
    if let Some(sms) = sms {
        let intake = Intake::of(new);
        for m in &d.messages {
            queue(tx, sms, &id, units, &intake, m).await?;
        }
    }
    Ok(id)
}

/// The projection row, in the ticket's final state.
async fn write_ticket(
    tx: &mut Transaction<'_, Any>,
    req: &CreateRequest,
    d: &Draft,
) -> Result<(), TicketError> {
    let (new, t) = (&req.new, &d.ticket);
    let c = t.clocks.as_ref();
    let assisting: Vec<&str> = req.assisting.iter().map(|u| u.0.as_str()).collect();
    sqlx::query(
        "INSERT INTO tickets (id, ticket_type, urgency, line, requester, contact, facts, address, \
         status, lead_unit, assisting_units, started_at, sign_due, deadline, provisional, light, \
         light_next, pending, call_id, recording, created_by, created_at, updated_at, seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $22, $23)",
    )
    .bind(&d.id)
    .bind(new.ticket_type.key())
    .bind(codec::urgency_key(new.urgency))
    .bind(&new.line)
    .bind(new.requester.as_ref().map(|p| p.expose().clone()))
    .bind(new.contact.as_ref().map(|p| p.expose().clone()))
    .bind(&new.facts)
    .bind(&new.address)
    .bind(state_key(t.state))
    .bind(t.unit.as_ref().map(|u| u.0.clone()))
    .bind(assisting.join(","))
    .bind(c.map(|c| c.started.timestamp()))
    .bind(c.map(|c| c.sign_due.at.timestamp()))
    .bind(c.map(|c| c.handle_due.at.timestamp()))
    .bind(provisional(t))
    .bind(d.light)
    .bind(d.light_next)
    .bind(pending_key(t))
    .bind(&new.call_id)
    .bind(&new.recording)
    .bind(codec::actor_id(&req.actor))
    .bind(d.now.timestamp())
    .bind(d.rows.len() as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every history row in one INSERT, `seq` 1, 2, …
async fn write_history(tx: &mut Transaction<'_, Any>, d: &Draft) -> Result<(), TicketError> {
    let mut sql = String::from(
        "INSERT INTO ticket_events (ticket_id, seq, at, actor, role, kind, why, payload) VALUES ",
    );
    for i in 0..d.rows.len() {
        let b = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
    }
    let mut q = sqlx::query(&sql);
    for (i, r) in d.rows.iter().enumerate() {
        q = q
            .bind(&d.id)
            .bind(i as i64 + 1)
            .bind(r.at)
            .bind(&r.who)
            .bind(r.role)
            .bind(r.kind)
            .bind(&r.why)
            .bind(&r.payload);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The lead and assisting units' rows (which units see the ticket), in one INSERT.
async fn write_units(
    tx: &mut Transaction<'_, Any>,
    d: &Draft,
    assisting: &[UnitId],
) -> Result<(), TicketError> {
    let mut rows: Vec<(&str, &str)> = Vec::new();
    if let Some(u) = &d.ticket.unit {
        rows.push((u.0.as_str(), "lead"));
    }
    rows.extend(assisting.iter().map(|u| (u.0.as_str(), "assisting")));
    if rows.is_empty() {
        return Ok(());
    }
    let marks: Vec<String> = (0..rows.len())
        .map(|i| format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO ticket_units (ticket_id, unit_id, role) VALUES {}",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(&d.id);
    for &(unit, role) in &rows {
        q = q.bind(unit).bind(role);
    }
    let named: Vec<&str> = rows.iter().map(|r| r.0).collect();
    q.execute(&mut **tx)
        .await
        .map_err(super::tickets::unit_write_error(&named.join(", ")))?;
    Ok(())
}

async fn queue(
    tx: &mut Transaction<'_, Any>,
    sms: &TicketSms,
    id: &str,
    units: &[UnitRecord],
    intake: &Intake,
    m: &Message,
) -> Result<(), TicketError> {
    let find = |u: &UnitId| units.iter().find(|r| r.id == u.0);
    match m {
        Message::Unit { kind, unit, due } => {
            let u = find(unit).ok_or_else(|| TicketError::UnknownUnit(unit.0.clone()))?;
            notify::to_unit_known(tx, sms, *kind, id, u, *due, intake).await
        }
        Message::Contact { kind, due, unit } => {
            let name = unit
                .as_ref()
                .and_then(find)
                .map(|u| u.name.as_str())
                .unwrap_or("");
            notify::to_contact_known(tx, sms, *kind, id, *due, name, intake)
                .await
                .map(|_| ())
        }
    }
}
