//! Searching the ticket projection: filters by status, type, unit (lead or assisting), line,
//! light, overdue, creation date range and free text, newest first, paged; and the reads of
//! one ticket (its projection and its history).

use chrono::{DateTime, FixedOffset};

use serde_json::Value;
use sqlx::Row;

use super::tickets::{
    from_unix, row_to_ticket, HistoryEntry, TicketError, TicketRecord, TICKET_COLUMNS,
};
use super::Store;
use crate::workflow::TicketType;

/// What to look for; every field is optional and they combine with AND.
#[derive(Clone, Debug, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub ticket_type: Option<TicketType>,
    /// Tickets where this unit is the lead or an assisting unit.
    pub unit: Option<String>,
    pub line: Option<String>,
    /// none, green, yellow or red.
    pub light: Option<String>,
    /// Open tickets waiting on a unit whose handling deadline is before this instant.
    pub overdue_at: Option<DateTime<FixedOffset>>,
    pub created_from: Option<DateTime<FixedOffset>>,
    pub created_to: Option<DateTime<FixedOffset>>,
    /// Matched against the number, the facts and the address.
    pub text: Option<String>,
    /// At most this many (1..=500; default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

enum Arg {
    Text(String),
    Int(i64),
}

fn like_pattern(s: &str) -> String {
    let mut p = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    pub async fn search_tickets(&self, f: &TicketFilter) -> Result<Vec<TicketRecord>, TicketError> {
        let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
        let mut args: Vec<Arg> = Vec::new();
        let mut add = |sql: &mut String, clause: &str, a: Arg| {
            args.push(a);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(v) = &f.status {
            add(&mut sql, " AND status = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = f.ticket_type {
            add(&mut sql, " AND ticket_type = ?", Arg::Text(v.key().into()));
        }
        if let Some(v) = &f.unit {
            add(
                &mut sql,
                " AND id IN (SELECT ticket_id FROM ticket_units WHERE unit_id = ?)",
                Arg::Text(v.clone()),
            );
        }
        if let Some(v) = &f.line {
            add(&mut sql, " AND line = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = &f.light {
            add(&mut sql, " AND light = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = f.overdue_at {
            add(
                &mut sql,
                " AND status IN ('dispatched', 'signed', 'handled') AND deadline < ?",
                Arg::Int(v.timestamp()),
            );
        }
        if let Some(v) = f.created_from {
            add(&mut sql, " AND created_at >= ?", Arg::Int(v.timestamp()));
        }
        if let Some(v) = f.created_to {
            add(&mut sql, " AND created_at < ?", Arg::Int(v.timestamp()));
        }
        if let Some(v) = f.text.as_deref().filter(|t| !t.trim().is_empty()) {
            add(
                &mut sql,
                " AND (id LIKE ? ESCAPE '\\' OR facts LIKE ? ESCAPE '\\' OR address LIKE ? ESCAPE '\\')",
                Arg::Text(like_pattern(v.trim())),
            );
        }
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let offset = f.offset.unwrap_or(0).max(0);
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
        ));
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(row_to_ticket).collect()
    }
}

/// Single-ticket reads.
impl Store {
    pub async fn ticket(&self, id: &str) -> Result<Option<TicketRecord>, TicketError> {
        let r = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row_to_ticket).transpose()
    }

    /// The whole history of a ticket, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, TicketError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, role, kind, why, payload FROM ticket_events \
             WHERE ticket_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Err(TicketError::NotFound(id.to_string()));
        }
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                Ok(HistoryEntry {
                    seq: r.try_get("seq")?,
                    at: from_unix(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    kind: r.try_get("kind")?,
                    why: r.try_get("why")?,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}
