//! Callback requests (回拨) and their attempts, written at every step so a request and every
//! INVITE made for it are on record whatever happens to the daemon. A request row names the
//! call in which the caller asked (`origin_record`); an attempt row, once answered and
//! bridged, the record of the call it became. The citizen's number is stored (the record is
//! an authorised place for it) and never logged.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// A request as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackRow {
    pub id: String,
    pub origin_record: String,
    pub line: String,
    pub queue: String,
    pub number: String,
    pub requested_ms: i64,
    /// `placed`, `dialing`, `answered`, `failed` (waiting for a retry), `gave_up`.
    pub state: String,
    pub attempts: i64,
    pub attempts_max: i64,
    pub next_ms: Option<i64>,
    pub updated_ms: i64,
}

/// One INVITE to the citizen as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallbackAttemptRow {
    pub callback: String,
    pub attempt: i64,
    pub agent: Option<String>,
    pub trunk: Option<String>,
    pub started_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// `answered`, `failed`, `interrupted` (the daemon stopped while it rang); none while it
    /// rings.
    pub outcome: Option<String>,
    pub cause: Option<String>,
    pub call_record: Option<String>,
}

const REQ: &str = "id, origin_record, line, queue, number, requested_ms, state, attempts, \
    attempts_max, next_ms, updated_ms";
const ATT: &str = "callback, attempt, agent, trunk, started_ms, answered_ms, ended_ms, outcome, \
    cause, call_record";

impl Store {
    /// Writes a request's current state (insert, or update the row of the same id).
    pub async fn save_callback(&self, r: &CallbackRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO callbacks ({REQ}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
             attempts = excluded.attempts, next_ms = excluded.next_ms, \
             updated_ms = excluded.updated_ms"
        );
        sqlx::query(&sql)
            .bind(&r.id)
            .bind(&r.origin_record)
            .bind(&r.line)
            .bind(&r.queue)
            .bind(&r.number)
            .bind(r.requested_ms)
            .bind(&r.state)
            .bind(r.attempts)
            .bind(r.attempts_max)
            .bind(r.next_ms)
            .bind(r.updated_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Writes an attempt's current state; values already known are kept when a later step
    /// does not carry them.
    pub async fn save_callback_attempt(&self, a: &CallbackAttemptRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO callback_attempts ({ATT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10) ON CONFLICT (callback, attempt) DO UPDATE SET \
             agent = COALESCE(excluded.agent, callback_attempts.agent), \
             trunk = COALESCE(excluded.trunk, callback_attempts.trunk), \
             answered_ms = COALESCE(excluded.answered_ms, callback_attempts.answered_ms), \
             ended_ms = COALESCE(excluded.ended_ms, callback_attempts.ended_ms), \
             outcome = COALESCE(excluded.outcome, callback_attempts.outcome), \
             cause = COALESCE(excluded.cause, callback_attempts.cause), \
             call_record = COALESCE(excluded.call_record, callback_attempts.call_record)"
        );
        sqlx::query(&sql)
            .bind(&a.callback)
            .bind(a.attempt)
            .bind(a.agent.as_deref())
            .bind(a.trunk.as_deref())
            .bind(a.started_ms)
            .bind(a.answered_ms)
            .bind(a.ended_ms)
            .bind(a.outcome.as_deref())
            .bind(a.cause.as_deref())
            .bind(a.call_record.as_deref())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Requests, most recent first, at most `limit`.
    pub async fn recent_callbacks(&self, limit: i64) -> Result<Vec<CallbackRow>, StoreError> {
        let sql = format!("SELECT {REQ} FROM callbacks ORDER BY requested_ms DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// Requests still open (not answered, not given up), oldest first: what a restarted
    /// daemon takes up again.
    pub async fn open_callbacks(&self) -> Result<Vec<CallbackRow>, StoreError> {
        let sql = format!(
            "SELECT {REQ} FROM callbacks WHERE state NOT IN ('answered', 'gave_up') \
             ORDER BY requested_ms"
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// A request's attempts in order.
    pub async fn callback_attempts(
        &self,
        callback: &str,
    ) -> Result<Vec<CallbackAttemptRow>, StoreError> {
        let sql =
            format!("SELECT {ATT} FROM callback_attempts WHERE callback = $1 ORDER BY attempt");
        let rows = sqlx::query(&sql)
            .bind(callback)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CallbackAttemptRow {
                    callback: r.try_get("callback")?,
                    attempt: r.try_get("attempt")?,
                    agent: r.try_get("agent")?,
                    trunk: r.try_get("trunk")?,
                    started_ms: r.try_get("started_ms")?,
                    answered_ms: r.try_get("answered_ms")?,
                    ended_ms: r.try_get("ended_ms")?,
                    outcome: r.try_get("outcome")?,
                    cause: r.try_get("cause")?,
                    call_record: r.try_get("call_record")?,
                })
            })
            .collect()
    }
}

fn row(r: &sqlx::any::AnyRow) -> Result<CallbackRow, StoreError> {
    Ok(CallbackRow {
        id: r.try_get("id")?,
        origin_record: r.try_get("origin_record")?,
        line: r.try_get("line")?,
        queue: r.try_get("queue")?,
        number: r.try_get("number")?,
        requested_ms: r.try_get("requested_ms")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        attempts_max: r.try_get("attempts_max")?,
        next_ms: r.try_get("next_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}
