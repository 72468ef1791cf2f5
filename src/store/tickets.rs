//! Tickets in the store: the append-only history (`ticket_events`) is the truth, and the
//! `tickets` row is a projection of it for lists and search, rewritten in the same transaction
//! as every append.
//!
//! A command is applied by locking the ticket's row, loading and folding its history with the
//! workflow core ([`crate::workflow::ticket`]), checking the command there, appending the events
//! it causes with the next `seq` numbers and updating the projection — all in one transaction,
//! so a kill at any moment leaves each ticket and its history consistent. The projection's
//! `seq` is checked on update (optimistic concurrency): a writer that folded an older history
//! gets [`TicketError::Conflict`] and nothing is written.
//!
//! Ticket numbers are `YYYYMMDD-NNNNNN`: the Shanghai day of creation and a per-day counter
//! kept in the same transaction as the ticket.

use chrono::{DateTime, FixedOffset, Timelike};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::ticket_codec::{self as codec, CodecError};
use super::ticket_notify::{self as notify, TicketSms};
use super::{Store, StoreError};
use crate::pii::Pii;
use crate::workflow::command::Action;
use crate::workflow::lights::ticket_light;
use crate::workflow::ticket::FoldError;
use crate::workflow::{
    self, Actor, Command, Event, EventKind, Rules, State, Ticket, TicketType, TransitionError,
    UnitId, Urgency,
};

/// What an agent writes down when creating a ticket (000 art. 2), plus where it came from.
#[derive(Clone, Debug)]
pub struct NewTicket {
    pub ticket_type: TicketType,
    pub urgency: Urgency,
    /// The hotline number the call came in on (12345 or a merged line such as 12315).
    pub line: String,
    pub requester: Option<Pii<String>>,
    pub contact: Option<Pii<String>>,
    pub facts: String,
    pub address: Option<String>,
    /// The call the ticket came from (an id of `call_records`, which may be written later: the
    /// API also accepts a call in progress) and its recording's path (read through the call
    /// record when empty here).
    pub call_id: Option<String>,
    pub recording: Option<String>,
}

/// A ticket as the projection shows it. Times are in +08:00.
#[derive(Clone, Debug)]
pub struct TicketRecord {
    pub id: String,
    pub ticket_type: TicketType,
    pub urgency: Urgency,
    pub line: String,
    pub requester: Option<Pii<String>>,
    pub contact: Option<Pii<String>>,
    pub facts: String,
    pub address: Option<String>,
    /// created, dispatched, signed, handled, replied, visited or closed.
    pub status: String,
    pub lead_unit: Option<String>,
    pub assisting_units: Vec<String>,
    pub started_at: Option<DateTime<FixedOffset>>,
    pub sign_due: Option<DateTime<FixedOffset>>,
    pub deadline: Option<DateTime<FixedOffset>>,
    /// The sign or handling deadline counted days of a year the calendar does not know (only
    /// weekends were skipped there): shown as provisional until that year's calendar is added.
    pub provisional: bool,
    /// none, green, yellow or red.
    pub light: String,
    pub light_next: Option<DateTime<FixedOffset>>,
    /// "return" or "extension" while one awaits review, else empty.
    pub pending: String,
    pub call_id: Option<String>,
    pub recording: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub seq: i64,
}

/// One row of a ticket's history.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at: DateTime<FixedOffset>,
    pub actor: String,
    pub role: String,
    pub kind: String,
    pub why: Option<String>,
    pub payload: Value,
}

/// Why a ticket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("ticket {0} not found")]
    NotFound(String),
    /// The workflow refused the command; nothing was written.
    #[error("ticket {ticket} is {state}: {source}")]
    Refused {
        ticket: String,
        state: State,
        action: Action,
        source: TransitionError,
    },
    /// Someone else appended to the history since it was read; nothing was written.
    #[error("ticket {ticket} changed concurrently (expected history seq {expected}); retry")]
    Conflict { ticket: String, expected: i64 },
    #[error("unit {0} not found")]
    UnknownUnit(String),
    #[error("{0}")]
    Invalid(String),
    /// The shared transaction of a group of creations failed; none of them was written.
    #[error("the group transaction failed: {0}")]
    Group(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("ticket history cannot be replayed: {0}")]
    Fold(#[from] FoldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The error of writing a ticket's unit rows for `units`: a unit removed since it was checked
/// (on PostgreSQL, by a concurrent removal the foreign key made wait) is an unknown unit.
pub(crate) fn unit_write_error(units: &str) -> impl FnOnce(sqlx::Error) -> TicketError + '_ {
    move |e| {
        if super::is_foreign_key_violation(&e) {
            TicketError::UnknownUnit(units.to_string())
        } else {
            e.into()
        }
    }
}

impl From<sqlx::Error> for TicketError {
    fn from(e: sqlx::Error) -> Self {
        TicketError::Store(StoreError::Db(e))
    }
}

/// The store's spelling of a state.
pub fn state_key(s: State) -> &'static str {
    match s {
        State::Created => "created",
        State::Dispatched => "dispatched",
        State::Signed => "signed",
        State::Handled => "handled",
        State::Replied => "replied",
        State::Visited => "visited",
        State::Closed => "closed",
    }
}

/// Whole seconds in +08:00: what the store keeps, so a replay sees exactly what was checked.
pub fn normalise(now: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    now.with_nanosecond(0)
        .unwrap_or(now)
        .with_timezone(&workflow::shanghai())
}

pub(crate) fn from_unix(ts: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&workflow::shanghai())
}

/// The projection's columns as `row_to_ticket` reads them (from `tickets`, unaliased). A
/// ticket written during its call has no recording yet: it is read through the call record
/// once the call has ended and the file is complete.
pub(crate) const TICKET_COLUMNS: &str = "id, ticket_type, urgency, line, requester, contact, \
    facts, address, status, lead_unit, assisting_units, started_at, sign_due, deadline, provisional, \
    light, light_next, pending, call_id, COALESCE(recording, (SELECT c.recording FROM call_records c \
    WHERE c.id = tickets.call_id)) AS recording, created_by, created_at, updated_at, seq";

pub(crate) fn row_to_ticket(r: &AnyRow) -> Result<TicketRecord, TicketError> {
    let ty: String = r.try_get("ticket_type")?;
    let urgency: String = r.try_get("urgency")?;
    let assisting: String = r.try_get("assisting_units")?;
    let opt_time = |k: &str| -> Result<Option<DateTime<FixedOffset>>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(k)?.map(from_unix))
    };
    Ok(TicketRecord {
        id: r.try_get("id")?,
        ticket_type: ty
            .parse()
            .map_err(|e: crate::workflow::policy::UnknownName| {
                TicketError::Invalid(e.to_string())
            })?,
        urgency: codec::urgency_from(&urgency)
            .ok_or_else(|| TicketError::Invalid(format!("stored urgency {urgency:?}")))?,
        line: r.try_get("line")?,
        requester: r.try_get::<Option<String>, _>("requester")?.map(Pii::new),
        contact: r.try_get::<Option<String>, _>("contact")?.map(Pii::new),
        facts: r.try_get("facts")?,
        address: r.try_get("address")?,
        status: r.try_get("status")?,
        lead_unit: r.try_get("lead_unit")?,
        assisting_units: assisting
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        started_at: opt_time("started_at")?,
        sign_due: opt_time("sign_due")?,
        deadline: opt_time("deadline")?,
        provisional: r.try_get::<i64, _>("provisional")? != 0,
        light: r.try_get("light")?,
        light_next: opt_time("light_next")?,
        pending: r.try_get("pending")?,
        call_id: r.try_get("call_id")?,
        recording: r.try_get("recording")?,
        created_by: r.try_get("created_by")?,
        created_at: from_unix(r.try_get("created_at")?),
        updated_at: from_unix(r.try_get("updated_at")?),
        seq: r.try_get("seq")?,
    })
}

/// Appends one history row.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_row(
    tx: &mut Transaction<'_, Any>,
    ticket: &str,
    seq: i64,
    at: DateTime<FixedOffset>,
    actor: Option<&Actor>,
    kind: &str,
    why: Option<&str>,
    payload: &Value,
) -> Result<(), TicketError> {
    let (who, role) = match actor {
        Some(a) => (codec::actor_id(a), codec::role_key(a.role())),
        None => ("rexian", "system"),
    };
    let r = sqlx::query(
        "INSERT INTO ticket_events (ticket_id, seq, at, actor, role, kind, why, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ticket)
    .bind(seq)
    .bind(at.timestamp())
    .bind(who)
    .bind(role)
    .bind(kind)
    .bind(why)
    .bind(payload.to_string())
    .execute(&mut **tx)
    .await;
    match r {
        Err(e) if super::is_unique_violation(&e) => Err(TicketError::Conflict {
            ticket: ticket.to_string(),
            expected: seq - 1,
        }),
        r => r.map(|_| ()).map_err(Into::into),
    }
}

/// Loads and folds a ticket's history; returns the ticket and the last seq.
pub(crate) async fn load_in_tx(
    tx: &mut Transaction<'_, Any>,
    id: &str,
) -> Result<(Ticket, i64), TicketError> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, role, kind, payload FROM ticket_events \
         WHERE ticket_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Err(TicketError::NotFound(id.to_string()));
    }
    let mut events = Vec::with_capacity(rows.len());
    let mut last = 0;
    for r in &rows {
        let (seq, at): (i64, i64) = (r.try_get("seq")?, r.try_get("at")?);
        let (actor, role, kind, payload): (String, String, String, String) = (
            r.try_get("actor")?,
            r.try_get("role")?,
            r.try_get("kind")?,
            r.try_get("payload")?,
        );
        last = seq;
        let row = codec::Row {
            ticket: id,
            seq,
            at,
            role: &role,
            actor: &actor,
            kind: &kind,
            payload: &payload,
        };
        if let Some(e) = codec::decode(&row)? {
            events.push(e);
        }
    }
    Ok((workflow::fold(&events)?, last))
}

/// What the ticket's row said when it was locked.
pub(crate) struct Locked {
    pub light: String,
    pub seq: i64,
}

/// Takes the ticket's row lock first, so the read that follows cannot be overtaken (on
/// SQLite this takes the write lock before the snapshot; on PostgreSQL it locks the row), and
/// reads the stored light and seq in the same round trip.
pub(crate) async fn lock(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Locked, TicketError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("UPDATE tickets SET seq = seq WHERE id = $1 RETURNING light, seq")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let (light, seq) = row.ok_or_else(|| TicketError::NotFound(id.to_string()))?;
    Ok(Locked { light, seq })
}

async fn need_unit(tx: &mut Transaction<'_, Any>, unit: &UnitId) -> Result<(), TicketError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM units WHERE id = $1")
        .bind(&unit.0)
        .fetch_one(&mut **tx)
        .await?;
    if n == 0 {
        return Err(TicketError::UnknownUnit(unit.0.clone()));
    }
    Ok(())
}

/// The projection's `pending` column: what request awaits the centre's decision.
pub(crate) fn pending_key(t: &Ticket) -> &'static str {
    if t.pending_return.is_some() {
        "return"
    } else if t.pending_extension.is_some() {
        "extension"
    } else {
        ""
    }
}

/// The projection's `provisional` column: 1 while a deadline lies past the loaded calendar.
pub(crate) fn provisional(t: &Ticket) -> i64 {
    t.clocks.as_ref().map_or(0, |c| {
        i64::from(c.sign_due.beyond_calendar || c.handle_due.beyond_calendar)
    })
}

/// Rewrites the projection (and the light) from the folded ticket `t`, whose lead unit
/// before the command was `old_unit`; `expected` is the seq the writer read and `seq` the
/// last one it appended.
#[allow(clippy::too_many_arguments)]
async fn project(
    tx: &mut Transaction<'_, Any>,
    t: &Ticket,
    old_unit: Option<&UnitId>,
    locked: &Locked,
    expected: i64,
    seq: i64,
    now: DateTime<FixedOffset>,
    rules: &Rules,
    sms: Option<&TicketSms>,
) -> Result<(), TicketError> {
    let (light, light_next, seq) = light_row(tx, t, now, rules, &locked.light, seq, sms).await?;
    let c = t.clocks.as_ref();
    let n = sqlx::query(
        "UPDATE tickets SET status = $1, lead_unit = $2, started_at = $3, sign_due = $4, \
         deadline = $5, pending = $6, updated_at = $7, seq = $8, light = $9, light_next = $10, \
         provisional = $11 WHERE id = $12 AND seq = $13",
    )
    .bind(state_key(t.state))
    .bind(t.unit.as_ref().map(|u| u.0.clone()))
    .bind(c.map(|c| c.started.timestamp()))
    .bind(c.map(|c| c.sign_due.at.timestamp()))
    .bind(c.map(|c| c.handle_due.at.timestamp()))
    .bind(pending_key(t))
    .bind(now.timestamp())
    .bind(seq)
    .bind(light)
    .bind(light_next)
    .bind(provisional(t))
    .bind(&t.id.0)
    .bind(expected)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(TicketError::Conflict {
            ticket: t.id.0.clone(),
            expected,
        });
    }
    if t.unit.as_ref() != old_unit {
        sqlx::query("DELETE FROM ticket_units WHERE ticket_id = $1 AND role = 'lead'")
            .bind(&t.id.0)
            .execute(&mut **tx)
            .await?;
        if let Some(u) = &t.unit {
            sqlx::query(
                "INSERT INTO ticket_units (ticket_id, unit_id, role) VALUES ($1, $2, 'lead')",
            )
            .bind(&t.id.0)
            .bind(&u.0)
            .execute(&mut **tx)
            .await
            .map_err(unit_write_error(&u.0))?;
        }
    }
    Ok(())
}

/// The light of `t` at `now`; when it differs from `stored`, appends a system `light` row
/// after `seq`, and with `sms` queues the warning a yellow or red light sends.
/// Returns (light, next change, last seq).
async fn light_row(
    tx: &mut Transaction<'_, Any>,
    t: &Ticket,
    now: DateTime<FixedOffset>,
    rules: &Rules,
    stored: &str,
    seq: i64,
    sms: Option<&TicketSms>,
) -> Result<(&'static str, Option<i64>, i64), TicketError> {
    let v = ticket_light(t, now, &rules.calendar, &rules.policy.lights);
    let light = v.light.map(|l| l.key()).unwrap_or("none");
    let mut seq = seq;
    if light != stored {
        seq += 1;
        let payload = json!({
            "from": stored,
            "to": light,
            "due": v.due.map(|d| d.to_rfc3339()),
        });
        append_row(tx, &t.id.0, seq, now, None, "light", None, &payload).await?;
        if let Some(sms) = sms {
            notify::after_light(tx, sms, t, light).await?;
        }
    }
    Ok((light, v.next_change.map(|d| d.timestamp()), seq))
}

/// Sets the projection's light for `now`; when the colour changed, appends a system `light`
/// row to the history (actor: the system). The caller holds the ticket's lock.
pub(crate) async fn refresh_light(
    tx: &mut Transaction<'_, Any>,
    t: &Ticket,
    locked: &Locked,
    now: DateTime<FixedOffset>,
    rules: &Rules,
    sms: Option<&TicketSms>,
) -> Result<(), TicketError> {
    let (light, next, seq) = light_row(tx, t, now, rules, &locked.light, locked.seq, sms).await?;
    sqlx::query("UPDATE tickets SET light = $1, light_next = $2, seq = $3 WHERE id = $4")
        .bind(light)
        .bind(next)
        .bind(seq)
        .bind(&t.id.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Hands out the next number of the Shanghai day of `now`.
pub(crate) async fn next_number(
    tx: &mut Transaction<'_, Any>,
    now: DateTime<FixedOffset>,
) -> Result<String, TicketError> {
    let day = now
        .with_timezone(&workflow::shanghai())
        .format("%Y%m%d")
        .to_string();
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO ticket_counters (day, last) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last",
    )
    .bind(&day)
    .fetch_one(&mut **tx)
    .await?;
    Ok(format!("{day}-{n:06}"))
}

pub(crate) fn check_new(new: &NewTicket) -> Result<(), TicketError> {
    if new.facts.trim().is_empty() {
        return Err(TicketError::Invalid(
            "the facts of the request (诉求事实) are required".into(),
        ));
    }
    if new.line.trim().is_empty() {
        return Err(TicketError::Invalid("the line is required".into()));
    }
    Ok(())
}

/// Creates a ticket inside `tx` and returns its number.
pub async fn create_in_tx(
    tx: &mut Transaction<'_, Any>,
    new: &NewTicket,
    actor: &Actor,
    now: DateTime<FixedOffset>,
) -> Result<String, TicketError> {
    check_new(new)?;
    let now = normalise(now);
    let id = next_number(tx, now).await?;
    let (_, kind, why, payload) = super::ticket_create::creation_event(&id, new, actor, now)?;
    sqlx::query(
        "INSERT INTO tickets (id, ticket_type, urgency, line, requester, contact, facts, address, \
         status, call_id, recording, created_by, created_at, updated_at, seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10, $11, $12, $12, 1)",
    )
    .bind(&id)
    .bind(new.ticket_type.key())
    .bind(codec::urgency_key(new.urgency))
    .bind(&new.line)
    .bind(new.requester.as_ref().map(|p| p.expose().clone()))
    .bind(new.contact.as_ref().map(|p| p.expose().clone()))
    .bind(&new.facts)
    .bind(&new.address)
    .bind(&new.call_id)
    .bind(&new.recording)
    .bind(codec::actor_id(actor))
    .bind(now.timestamp())
    .execute(&mut **tx)
    .await?;
    append_row(tx, &id, 1, now, Some(actor), kind, why.as_deref(), &payload).await?;
    Ok(id)
}

/// Applies `cmd` by `actor` at `now` to ticket `id` inside `tx`: folds the history, lets the
/// workflow core decide, appends the resulting events and updates the projection and light.
/// Returns the appended core events. Nothing is committed here.
///
/// This is the form to use when something must be written atomically with the transition —
/// e.g. the SMS outbox writes its message in the same transaction as the event that causes it.
/// On any error the caller must drop (roll back) the transaction. No SMS is queued; see
/// [`apply_with_sms_in_tx`].
pub async fn apply_in_tx(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    cmd: Command,
    actor: &Actor,
    now: DateTime<FixedOffset>,
    rules: &Rules,
) -> Result<Vec<Event>, TicketError> {
    apply_with_sms_in_tx(tx, id, cmd, actor, now, rules, None).await
}

/// [`apply_in_tx`], and with `sms` the messages the events cause ([`notify`]) are queued in
/// the same transaction.
pub async fn apply_with_sms_in_tx(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    cmd: Command,
    actor: &Actor,
    now: DateTime<FixedOffset>,
    rules: &Rules,
    sms: Option<&TicketSms>,
) -> Result<Vec<Event>, TicketError> {
    let now = normalise(now);
    let locked = lock(tx, id).await?;
    let (mut ticket, last) = load_in_tx(tx, id).await?;
    let old_unit = ticket.unit.clone();
    let cmd = revisit_of(tx, &ticket, cmd).await?;
    match &cmd {
        Command::Dispatch { unit } => need_unit(tx, unit).await?,
        Command::ApproveReturn {
            redispatch_to: Some(unit),
        } => need_unit(tx, unit).await?,
        _ => {}
    }
    let action = cmd.action();
    let events = workflow::apply(
        &ticket,
        cmd,
        actor.clone(),
        now,
        &rules.policy,
        &rules.calendar,
    )
    .map_err(|source| TicketError::Refused {
        ticket: id.to_string(),
        state: ticket.state,
        action,
        source,
    })?;
    let before = ticket.state;
    let mut seq = last;
    for e in &events {
        seq += 1;
        let (kind, why, payload) = codec::encode(&e.kind);
        append_row(
            tx,
            id,
            seq,
            e.at,
            Some(&e.actor),
            kind,
            why.as_deref(),
            &payload,
        )
        .await?;
        ticket.evolve(e);
        if let EventKind::Revisited { task, .. } = &e.kind {
            if !crate::sms::survey::finish_task_in_tx(tx, *task).await? {
                return Err(TicketError::Refused {
                    ticket: id.to_string(),
                    state: before,
                    action,
                    source: TransitionError::NoRevisitPending,
                });
            }
        }
    }
    project(
        tx,
        &ticket,
        old_unit.as_ref(),
        &locked,
        last,
        seq,
        now,
        rules,
        sms,
    )
    .await?;
    if let Some(sms) = sms {
        notify::after_events(tx, sms, &ticket, &events).await?;
    }
    Ok(events)
}

/// A return visit recorded on a closed ticket is the person's call-back after an unsatisfied
/// survey answer: it becomes [`Command::RecordRevisit`] naming the open return-visit task, or
/// is refused when no such task is open. Other commands pass unchanged.
async fn revisit_of(
    tx: &mut Transaction<'_, Any>,
    ticket: &Ticket,
    cmd: Command,
) -> Result<Command, TicketError> {
    let Command::RecordVisit {
        satisfied,
        reasonable,
    } = cmd
    else {
        return Ok(cmd);
    };
    if ticket.state != State::Closed {
        return Ok(cmd);
    }
    match crate::sms::survey::open_task_in_tx(tx, &ticket.id.0).await? {
        Some(task) => Ok(Command::RecordRevisit {
            satisfied,
            reasonable,
            task,
        }),
        None => Err(TicketError::Refused {
            ticket: ticket.id.0.clone(),
            state: ticket.state,
            action: Action::RecordVisit,
            source: TransitionError::NoRevisitPending,
        }),
    }
}

/// Appends a system row (no core event, e.g. `survey`) to ticket `id`'s history inside `tx`,
/// taking the ticket's row lock. False when the ticket does not exist.
pub(crate) async fn note_in_tx(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    at: DateTime<FixedOffset>,
    kind: &str,
    payload: &Value,
) -> Result<bool, TicketError> {
    let at = normalise(at);
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE tickets SET seq = seq + 1, updated_at = $1 WHERE id = $2 RETURNING seq",
    )
    .bind(at.timestamp())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(seq) = seq else {
        return Ok(false);
    };
    append_row(tx, id, seq, at, None, kind, None, payload).await?;
    Ok(true)
}

/// Sets the assisting units (协办) of a ticket inside `tx`, with a history row.
pub async fn set_assisting_in_tx(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    units: &[UnitId],
    actor: &Actor,
    now: DateTime<FixedOffset>,
) -> Result<(), TicketError> {
    let now = normalise(now);
    lock(tx, id).await?;
    let (ticket, last) = load_in_tx(tx, id).await?;
    if !ticket.is_open() {
        return Err(TicketError::Invalid(format!(
            "ticket {id} is closed; its units cannot change"
        )));
    }
    for u in units {
        need_unit(tx, u).await?;
    }
    let list: Vec<&str> = units.iter().map(|u| u.0.as_str()).collect();
    append_row(
        tx,
        id,
        last + 1,
        now,
        Some(actor),
        "assisting",
        None,
        &json!({ "units": list }),
    )
    .await?;
    sqlx::query("DELETE FROM ticket_units WHERE ticket_id = $1 AND role = 'assisting'")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for u in &list {
        sqlx::query(
            "INSERT INTO ticket_units (ticket_id, unit_id, role) VALUES ($1, $2, 'assisting')",
        )
        .bind(id)
        .bind(*u)
        .execute(&mut **tx)
        .await
        .map_err(unit_write_error(u))?;
    }
    let n = sqlx::query(
        "UPDATE tickets SET assisting_units = $1, updated_at = $2, seq = $3 \
         WHERE id = $4 AND seq = $5",
    )
    .bind(list.join(","))
    .bind(now.timestamp())
    .bind(last + 1)
    .bind(id)
    .bind(last)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(TicketError::Conflict {
            ticket: id.to_string(),
            expected: last,
        });
    }
    Ok(())
}

impl Store {
    /// Creates a ticket (state `created`) and returns its projection.
    pub async fn create_ticket(
        &self,
        new: &NewTicket,
        actor: &Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<TicketRecord, TicketError> {
        let mut tx = super::begin_write(self.pool()).await?;
        let id = create_in_tx(&mut tx, new, actor, now).await?;
        tx.commit().await?;
        let now = normalise(now);
        Ok(TicketRecord {
            id,
            ticket_type: new.ticket_type,
            urgency: new.urgency,
            line: new.line.clone(),
            requester: new.requester.clone(),
            contact: new.contact.clone(),
            facts: new.facts.clone(),
            address: new.address.clone(),
            status: state_key(State::Created).to_string(),
            lead_unit: None,
            assisting_units: vec![],
            started_at: None,
            sign_due: None,
            deadline: None,
            provisional: false,
            light: "none".into(),
            light_next: None,
            pending: String::new(),
            call_id: new.call_id.clone(),
            recording: new.recording.clone(),
            created_by: codec::actor_id(actor).to_string(),
            created_at: now,
            updated_at: now,
            seq: 1,
        })
    }

    /// Creates many tickets in one transaction (bulk import); all or none.
    pub async fn create_tickets(
        &self,
        new: &[NewTicket],
        actor: &Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<String>, TicketError> {
        let mut tx = super::begin_write(self.pool()).await?;
        let mut ids = Vec::with_capacity(new.len());
        for n in new {
            ids.push(create_in_tx(&mut tx, n, actor, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Applies a command in its own transaction; see [`apply_in_tx`].
    pub async fn apply_ticket(
        &self,
        id: &str,
        cmd: Command,
        actor: &Actor,
        now: DateTime<FixedOffset>,
        rules: &Rules,
    ) -> Result<Vec<Event>, TicketError> {
        self.apply_ticket_with_sms(id, cmd, actor, now, rules, None)
            .await
    }

    /// Applies a command in its own transaction; see [`apply_with_sms_in_tx`].
    pub async fn apply_ticket_with_sms(
        &self,
        id: &str,
        cmd: Command,
        actor: &Actor,
        now: DateTime<FixedOffset>,
        rules: &Rules,
        sms: Option<&TicketSms>,
    ) -> Result<Vec<Event>, TicketError> {
        let mut tx = super::begin_write(self.pool()).await?;
        let events = apply_with_sms_in_tx(&mut tx, id, cmd, actor, now, rules, sms).await?;
        tx.commit().await?;
        Ok(events)
    }

    /// Sets the assisting units in their own transaction.
    pub async fn set_assisting(
        &self,
        id: &str,
        units: &[UnitId],
        actor: &Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<(), TicketError> {
        let mut tx = super::begin_write(self.pool()).await?;
        set_assisting_in_tx(&mut tx, id, units, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The folded ticket, as the workflow core sees it.
    pub async fn ticket_state(&self, id: &str) -> Result<Ticket, TicketError> {
        let mut tx = super::begin_write(self.pool()).await?;
        let (t, _) = load_in_tx(&mut tx, id).await?;
        tx.rollback().await?;
        Ok(t)
    }

    /// Whether `unit` is the lead or an assisting unit of ticket `id`.
    pub async fn unit_sees(&self, unit: &str, id: &str) -> Result<bool, TicketError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ticket_units WHERE ticket_id = $1 AND unit_id = $2",
        )
        .bind(id)
        .bind(unit)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }
}
