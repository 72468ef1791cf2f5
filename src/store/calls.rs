//! Call records (话务记录): one row per citizen call, written when it ends, with the recording's
//! path added once the file is complete. The caller's number is stored (the record is the
//! authorised place for it) and never logged.

use sqlx::Row;

use super::{Store, StoreError};

/// A finished call as stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallRecordRow {
    /// rexian's own call id (also the recording's file name).
    pub id: String,
    pub line: String,
    pub line_name: String,
    pub dialled: String,
    pub trunk: Option<String>,
    pub caller: String,
    pub caller_kind: String,
    pub arrived_ms: i64,
    pub queue: Option<String>,
    pub queued_ms: Option<i64>,
    pub wait_ms: Option<i64>,
    pub ring_attempts: i64,
    pub agent: Option<String>,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub hangup_cause: String,
    pub recording: Option<String>,
    pub recording_secs: Option<f64>,
    pub abandoned: bool,
    pub rating: Option<String>,
    pub callback_requested: bool,
    pub service_level_met: bool,
}

const COLUMNS: &str = "id, line, line_name, dialled, trunk, caller, caller_kind, arrived_ms, \
    queue, queued_ms, wait_ms, ring_attempts, agent, answered_ms, ended_ms, hangup_cause, \
    recording, recording_secs, abandoned, rating, callback_requested, service_level_met";

impl Store {
    /// Writes a finished call; a second write for the same id replaces nothing and fails.
    pub async fn insert_call_record(&self, r: &CallRecordRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO call_records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        );
        bind_record(sqlx::query(&sql), r)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Writes an agent's own outbound call: direction `outbound`, and the ticket it was about.
    pub async fn insert_outbound_record(
        &self,
        r: &CallRecordRow,
        ticket: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO call_records ({COLUMNS}, direction, ticket) VALUES ($1, $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
             $22, 'outbound', $23)"
        );
        bind_record(sqlx::query(&sql), r)
            .bind(ticket)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A call record's direction (`inbound`, `outbound`) and the ticket it names.
    pub async fn call_direction(
        &self,
        id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT direction, ticket FROM call_records WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((r.try_get("direction")?, r.try_get("ticket")?)))
            .transpose()
    }

    /// The recording of a call is complete on disk: note where, and how long.
    pub async fn set_call_recording(
        &self,
        id: &str,
        path: &str,
        secs: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE call_records SET recording = $1, recording_secs = $2 WHERE id = $3",
        )
        .bind(path)
        .bind(secs)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn call_record(&self, id: &str) -> Result<Option<CallRecordRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM call_records WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| row_to_record(&r)).transpose()
    }

    /// The most recent calls first, at most `limit`.
    pub async fn recent_call_records(&self, limit: i64) -> Result<Vec<CallRecordRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM call_records ORDER BY arrived_ms DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(row_to_record).collect()
    }
}

/// Binds a record's 22 columns, in `COLUMNS` order.
fn bind_record<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    r: &'q CallRecordRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&r.id)
        .bind(&r.line)
        .bind(&r.line_name)
        .bind(&r.dialled)
        .bind(r.trunk.as_deref())
        .bind(&r.caller)
        .bind(&r.caller_kind)
        .bind(r.arrived_ms)
        .bind(r.queue.as_deref())
        .bind(r.queued_ms)
        .bind(r.wait_ms)
        .bind(r.ring_attempts)
        .bind(r.agent.as_deref())
        .bind(r.answered_ms)
        .bind(r.ended_ms)
        .bind(&r.hangup_cause)
        .bind(r.recording.as_deref())
        .bind(r.recording_secs)
        .bind(i64::from(r.abandoned))
        .bind(r.rating.as_deref())
        .bind(i64::from(r.callback_requested))
        .bind(i64::from(r.service_level_met))
}

fn row_to_record(r: &sqlx::any::AnyRow) -> Result<CallRecordRow, StoreError> {
    let flag = |name: &str| -> Result<bool, StoreError> { Ok(r.try_get::<i64, _>(name)? != 0) };
    Ok(CallRecordRow {
        id: r.try_get("id")?,
        line: r.try_get("line")?,
        line_name: r.try_get("line_name")?,
        dialled: r.try_get("dialled")?,
        trunk: r.try_get("trunk")?,
        caller: r.try_get("caller")?,
        caller_kind: r.try_get("caller_kind")?,
        arrived_ms: r.try_get("arrived_ms")?,
        queue: r.try_get("queue")?,
        queued_ms: r.try_get("queued_ms")?,
        wait_ms: r.try_get("wait_ms")?,
        ring_attempts: r.try_get("ring_attempts")?,
        agent: r.try_get("agent")?,
        answered_ms: r.try_get("answered_ms")?,
        ended_ms: r.try_get("ended_ms")?,
        hangup_cause: r.try_get("hangup_cause")?,
        recording: r.try_get("recording")?,
        recording_secs: r.try_get("recording_secs")?,
        abandoned: flag("abandoned")?,
        rating: r.try_get("rating")?,
        callback_requested: flag("callback_requested")?,
        service_level_met: flag("service_level_met")?,
    })
}
