//! How a ticket's history rows are written: each [`Event`] of the workflow core becomes a row
//! of `ticket_events` with a short `kind`, the actor and role, a `why` (the reason, note or
//! summary the actor gave) and a JSON payload that holds everything needed to replay it.
//!
//! Besides the core's events the history holds *system* rows that the core does not fold:
//! `light` (the red/yellow light changed), `assisting` (the assisting units 协办 were set) and
//! `survey` (the caller answered the SMS survey).
//! [`decode`] returns `None` for those, so a replay sees only the core's events.

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use crate::workflow::event::{Clocks, Role};
use crate::workflow::{
    Actor, Due, Event, EventKind, Limit, SupervisionKind, TicketId, TicketType, UnitId, Urgency,
};

/// A history row that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("history row {seq} of ticket {ticket}: {reason}")]
pub struct CodecError {
    pub ticket: String,
    pub seq: i64,
    pub reason: String,
}

/// The store's spelling of a role.
pub fn role_key(r: Role) -> &'static str {
    match r {
        Role::Agent => "agent",
        Role::Unit => "unit",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
    }
}

/// The actor's id (agent, unit or user id).
pub fn actor_id(a: &Actor) -> &str {
    match a {
        Actor::Agent(s) | Actor::Supervisor(s) | Actor::Admin(s) => s,
        Actor::Unit(u) => &u.0,
    }
}

pub fn actor_from(role: &str, id: &str) -> Option<Actor> {
    Some(match role {
        "agent" => Actor::Agent(id.to_string()),
        "unit" => Actor::Unit(UnitId(id.to_string())),
        "supervisor" => Actor::Supervisor(id.to_string()),
        "admin" => Actor::Admin(id.to_string()),
        _ => return None,
    })
}

pub fn urgency_key(u: Urgency) -> &'static str {
    match u {
        Urgency::Normal => "normal",
        Urgency::Special => "special",
        Urgency::Emergency => "emergency",
    }
}

pub fn urgency_from(s: &str) -> Option<Urgency> {
    Some(match s {
        "normal" => Urgency::Normal,
        "special" => Urgency::Special,
        "emergency" => Urgency::Emergency,
        _ => return None,
    })
}

pub fn supervision_key(k: SupervisionKind) -> &'static str {
    match k {
        SupervisionKind::Phone => "phone",
        SupervisionKind::Meeting => "meeting",
        SupervisionKind::Special => "special",
    }
}

pub fn supervision_from(s: &str) -> Option<SupervisionKind> {
    Some(match s {
        "phone" => SupervisionKind::Phone,
        "meeting" => SupervisionKind::Meeting,
        "special" => SupervisionKind::Special,
        _ => return None,
    })
}

fn due_json(d: &Due) -> Value {
    json!({ "at": d.at.to_rfc3339(), "beyond_calendar": d.beyond_calendar })
}

fn clocks_json(c: &Clocks) -> Value {
    json!({
        "started": c.started.to_rfc3339(),
        "sign_due": due_json(&c.sign_due),
        "handle_due": due_json(&c.handle_due),
        "handle_limit": c.handle_limit.to_string(),
        "return_due": due_json(&c.return_due),
        "response_due": c.response_due.as_ref().map(due_json),
        "progress_due": c.progress_due.as_ref().map(due_json),
    })
}

/// The row parts of an event: (kind, why, payload).
pub fn encode(kind: &EventKind) -> (&'static str, Option<String>, Value) {
    match kind {
        EventKind::Created {
            id,
            ticket_type,
            urgency,
        } => (
            "created",
            None,
            json!({ "id": id.0, "type": ticket_type.key(), "urgency": urgency_key(*urgency) }),
        ),
        EventKind::Dispatched { unit, clocks } => (
            "dispatched",
            None,
            json!({ "unit": unit.0, "clocks": clocks_json(clocks) }),
        ),
        EventKind::Signed { late } => ("signed", None, json!({ "late": late })),
        EventKind::ReturnRequested {
            reason,
            basis,
            suggested_unit,
        } => (
            "return_requested",
            Some(reason.clone()),
            json!({ "reason": reason, "basis": basis,
                    "suggested_unit": suggested_unit.as_ref().map(|u| &u.0) }),
        ),
        EventKind::ReturnApproved => ("return_approved", None, json!({})),
        EventKind::ReturnRefused { note } => (
            "return_refused",
            Some(note.clone()),
            json!({ "note": note }),
        ),
        EventKind::ExtensionRequested { limit, reason } => (
            "extension_requested",
            Some(reason.clone()),
            json!({ "limit": limit.to_string(), "reason": reason }),
        ),
        EventKind::ExtensionApproved { handle_due } => (
            "extension_approved",
            None,
            json!({ "handle_due": due_json(handle_due) }),
        ),
        EventKind::ExtensionRefused { note } => (
            "extension_refused",
            Some(note.clone()),
            json!({ "note": note }),
        ),
        EventKind::Supervised {
            kind,
            note,
            reply_due,
        } => (
            "supervised",
            Some(note.clone()),
            json!({ "kind": supervision_key(*kind), "note": note,
                    "reply_due": reply_due.as_ref().map(due_json) }),
        ),
        EventKind::Handled { summary, late } => (
            "handled",
            Some(summary.clone()),
            json!({ "summary": summary, "late": late }),
        ),
        EventKind::Replied => ("replied", None, json!({})),
        EventKind::Visited {
            satisfied,
            reasonable,
        } => (
            "visited",
            None,
            json!({ "satisfied": satisfied, "reasonable": reasonable }),
        ),
        EventKind::Revisited {
            satisfied,
            reasonable,
            task,
        } => (
            "revisited",
            None,
            json!({ "satisfied": satisfied, "reasonable": reasonable, "task": task }),
        ),
        EventKind::Reopened { clocks } => {
            ("reopened", None, json!({ "clocks": clocks_json(clocks) }))
        }
        EventKind::Closed => ("closed", None, json!({})),
        EventKind::ClosedAsRepeat { earlier, reason } => (
            "closed_as_repeat",
            Some(reason.clone()),
            json!({ "earlier": earlier.0, "reason": reason }),
        ),
        EventKind::AnsweredDirectly { reply } => (
            "answered_directly",
            Some(reply.clone()),
            json!({ "reply": reply }),
        ),
    }
}

/// Reads fields out of a payload, naming the missing one.
struct P<'a>(&'a Value);

impl P<'_> {
    fn str(&self, k: &str) -> Result<String, String> {
        self.0
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("missing text field {k:?}"))
    }
    fn opt_str(&self, k: &str) -> Option<String> {
        self.0.get(k).and_then(Value::as_str).map(str::to_string)
    }
    fn bool(&self, k: &str) -> Result<bool, String> {
        self.0
            .get(k)
            .and_then(Value::as_bool)
            .ok_or_else(|| format!("missing boolean field {k:?}"))
    }
    fn time(&self, k: &str) -> Result<DateTime<FixedOffset>, String> {
        let s = self.str(k)?;
        DateTime::parse_from_rfc3339(&s).map_err(|e| format!("{k}: {e}"))
    }
    fn limit(&self, k: &str) -> Result<Limit, String> {
        self.str(k)?.parse().map_err(|e| format!("{k}: {e}"))
    }
    fn due(&self, k: &str) -> Result<Due, String> {
        let v = self.0.get(k).ok_or_else(|| format!("missing {k:?}"))?;
        let p = P(v);
        Ok(Due {
            at: p.time("at")?,
            beyond_calendar: p.bool("beyond_calendar")?,
        })
    }
    fn opt_due(&self, k: &str) -> Result<Option<Due>, String> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.due(k).map(Some),
        }
    }
    fn clocks(&self, k: &str) -> Result<Clocks, String> {
        let v = self.0.get(k).ok_or_else(|| format!("missing {k:?}"))?;
        let p = P(v);
        Ok(Clocks {
            started: p.time("started")?,
            sign_due: p.due("sign_due")?,
            handle_due: p.due("handle_due")?,
            handle_limit: p.limit("handle_limit")?,
            return_due: p.due("return_due")?,
            response_due: p.opt_due("response_due")?,
            progress_due: p.opt_due("progress_due")?,
        })
    }
}

/// One stored row, as read back.
pub struct Row<'a> {
    pub ticket: &'a str,
    pub seq: i64,
    pub at: i64,
    pub role: &'a str,
    pub actor: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
}

/// The core event of a row; `Ok(None)` for system rows the core does not fold.
pub fn decode(row: &Row<'_>) -> Result<Option<Event>, CodecError> {
    decode_inner(row).map_err(|reason| CodecError {
        ticket: row.ticket.to_string(),
        seq: row.seq,
        reason,
    })
}

fn decode_inner(row: &Row<'_>) -> Result<Option<Event>, String> {
    if matches!(row.kind, "light" | "assisting" | "survey") {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(row.payload).map_err(|e| e.to_string())?;
    let p = P(&v);
    let kind = match row.kind {
        "created" => EventKind::Created {
            id: TicketId(p.str("id")?),
            ticket_type: p
                .str("type")?
                .parse::<TicketType>()
                .map_err(|e| e.to_string())?,
            urgency: urgency_from(&p.str("urgency")?).ok_or("bad urgency")?,
        },
        "dispatched" => EventKind::Dispatched {
            unit: UnitId(p.str("unit")?),
            clocks: p.clocks("clocks")?,
        },
        "signed" => EventKind::Signed {
            late: p.bool("late")?,
        },
        "return_requested" => EventKind::ReturnRequested {
            reason: p.str("reason")?,
            basis: p.str("basis")?,
            suggested_unit: p.opt_str("suggested_unit").map(UnitId),
        },
        "return_approved" => EventKind::ReturnApproved,
        "return_refused" => EventKind::ReturnRefused {
            note: p.str("note")?,
        },
        "extension_requested" => EventKind::ExtensionRequested {
            limit: p.limit("limit")?,
            reason: p.str("reason")?,
        },
        "extension_approved" => EventKind::ExtensionApproved {
            handle_due: p.due("handle_due")?,
        },
        "extension_refused" => EventKind::ExtensionRefused {
            note: p.str("note")?,
        },
        "supervised" => EventKind::Supervised {
            kind: supervision_from(&p.str("kind")?).ok_or("bad supervision kind")?,
            note: p.str("note")?,
            reply_due: p.opt_due("reply_due")?,
        },
        "handled" => EventKind::Handled {
            summary: p.str("summary")?,
            late: p.bool("late")?,
        },
        "replied" => EventKind::Replied,
        "visited" => EventKind::Visited {
            satisfied: p.bool("satisfied")?,
            reasonable: p.bool("reasonable")?,
        },
        "revisited" => EventKind::Revisited {
            satisfied: p.bool("satisfied")?,
            reasonable: p.bool("reasonable")?,
            task: p
                .0
                .get("task")
                .and_then(Value::as_i64)
                .ok_or("missing task")?,
        },
        "reopened" => EventKind::Reopened {
            clocks: p.clocks("clocks")?,
        },
        "closed" => EventKind::Closed,
        "closed_as_repeat" => EventKind::ClosedAsRepeat {
            earlier: TicketId(p.str("earlier")?),
            reason: p.str("reason")?,
        },
        "answered_directly" => EventKind::AnsweredDirectly {
            reply: p.str("reply")?,
        },
        other => return Err(format!("unknown kind {other:?}")),
    };
    let at = DateTime::from_timestamp(row.at, 0)
        .ok_or("time out of range")?
        .with_timezone(&crate::workflow::shanghai());
    let actor = actor_from(row.role, row.actor).ok_or("unknown role")?;
    Ok(Some(Event { at, actor, kind }))
}
