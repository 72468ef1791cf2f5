//! Emergency hand-offs (紧急转接记录): one row per hand-off to 110/119/120/122 …, written when
//! the agent asks and brought up to date at each step (ringing, answered, agent left, ended),
//! so a hand-off is on record even if the daemon dies in the middle of it. The citizen's
//! number is stored (the record is an authorised place for it) and never logged.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// A hand-off as stored and as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandoffRow {
    /// The citizen call's record id.
    pub call_record: String,
    pub seq: i64,
    pub agent: String,
    pub number: String,
    pub name: String,
    pub caller: String,
    pub reason: String,
    pub three_way: bool,
    pub trunk: Option<String>,
    pub asked_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub agent_left_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// `connected`, `failed`, `caller_hung_up`; none while it is still ringing.
    pub outcome: Option<String>,
    /// Failed, or the citizen hung up first: supervisors were alarmed.
    pub alarm: bool,
}

const COLUMNS: &str = "call_record, seq, agent, number, name, caller, reason, three_way, \
    trunk, asked_ms, ringing_ms, answered_ms, agent_left_ms, ended_ms, outcome, alarm";

impl Store {
    /// Writes a hand-off's current state (insert, or replace the earlier state of the same
    /// hand-off). An alarm once raised stays raised.
    pub async fn save_handoff(&self, h: &HandoffRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO handoffs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16) ON CONFLICT (call_record, seq) DO UPDATE SET \
             trunk = excluded.trunk, ringing_ms = excluded.ringing_ms, \
             answered_ms = excluded.answered_ms, agent_left_ms = excluded.agent_left_ms, \
             ended_ms = excluded.ended_ms, outcome = excluded.outcome, \
             alarm = CASE WHEN handoffs.alarm <> 0 THEN handoffs.alarm ELSE excluded.alarm END"
        );
        sqlx::query(&sql)
            .bind(&h.call_record)
            .bind(h.seq)
            .bind(&h.agent)
            .bind(&h.number)
            .bind(&h.name)
            .bind(&h.caller)
            .bind(&h.reason)
            .bind(i64::from(h.three_way))
            .bind(h.trunk.as_deref())
            .bind(h.asked_ms)
            .bind(h.ringing_ms)
            .bind(h.answered_ms)
            .bind(h.agent_left_ms)
            .bind(h.ended_ms)
            .bind(h.outcome.as_deref())
            .bind(i64::from(h.alarm))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The most recent hand-offs first, at most `limit`.
    pub async fn recent_handoffs(&self, limit: i64) -> Result<Vec<HandoffRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM handoffs ORDER BY asked_ms DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(HandoffRow {
                    call_record: r.try_get("call_record")?,
                    seq: r.try_get("seq")?,
                    agent: r.try_get("agent")?,
                    number: r.try_get("number")?,
                    name: r.try_get("name")?,
                    caller: r.try_get("caller")?,
                    reason: r.try_get("reason")?,
                    three_way: r.try_get::<i64, _>("three_way")? != 0,
                    trunk: r.try_get("trunk")?,
                    asked_ms: r.try_get("asked_ms")?,
                    ringing_ms: r.try_get("ringing_ms")?,
                    answered_ms: r.try_get("answered_ms")?,
                    agent_left_ms: r.try_get("agent_left_ms")?,
                    ended_ms: r.try_get("ended_ms")?,
                    outcome: r.try_get("outcome")?,
                    alarm: r.try_get::<i64, _>("alarm")? != 0,
                })
            })
            .collect()
    }
}
