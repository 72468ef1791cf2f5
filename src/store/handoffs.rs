//! Emergency hand-offs (紧急转接记录): one row per hand-off to 110/119/120/122 …, written when
//! the agent asks and brought up to date at each step (ringing, answered, agent left, ended),
//! so a hand-off is on record even if the daemon dies in the middle of it. The citizen's
//! number is stored (the record is an authorised place for it) and never logged.
//!
//! With `[sms] supervisors` set, the first write of a hand-off queues a notice to each
//! supervisor, and the write that raises its alarm queues the alarm — in the same transaction
//! as the row, so neither a row nor its message is ever without the other.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};
use crate::pii::Pii;
use crate::sms::config::Templates;
use crate::sms::{enqueue, SmsError, SmsKind};

/// Who hears of hand-offs by SMS, and in which words; built by the daemon from `[sms]`.
#[derive(Clone, Debug)]
pub struct HandoffSms {
    pub templates: Templates,
    pub supervisors: Vec<String>,
}

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
    /// hand-off). An alarm once raised stays raised. `sms` queues the supervisors' notice on
    /// the first write and their alarm when this write raises it.
    pub async fn save_handoff(
        &self,
        h: &HandoffRow,
        sms: Option<&HandoffSms>,
    ) -> Result<(), StoreError> {
        let mut tx = super::begin_write(self.pool()).await?;
        // What was stored before decides which messages this write queues; without
        // messages to queue it is not read.
        let before: Option<i64> = match sms {
            Some(s) if !s.supervisors.is_empty() => {
                sqlx::query("SELECT alarm FROM handoffs WHERE call_record = $1 AND seq = $2")
                    .bind(&h.call_record)
                    .bind(h.seq)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("alarm"))
                    .transpose()?
            }
            _ => None,
        };
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
            .execute(&mut *tx)
            .await?;
        if let Some(sms) = sms {
            let mut kinds = Vec::new();
            if before.is_none() {
                kinds.push(SmsKind::HandoffNotice);
            }
            if h.alarm && before.unwrap_or(0) == 0 {
                kinds.push(SmsKind::HandoffAlarm);
            }
            for kind in kinds {
                for phone in &sms.supervisors {
                    tell(&mut tx, sms, kind, phone, h).await?;
                }
            }
        }
        tx.commit().await?;
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

/// Queues one message about `h` to a supervisor; a template or number that cannot be used
/// is logged and skipped (the hand-off row is what matters), a database error is not.
async fn tell(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sms: &HandoffSms,
    kind: SmsKind,
    phone: &str,
    h: &HandoffRow,
) -> Result<(), StoreError> {
    let time = chrono::DateTime::from_timestamp_millis(h.asked_ms)
        .map(|t| {
            t.with_timezone(&crate::workflow::shanghai())
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let outcome = match h.outcome.as_deref() {
        Some("caller_hung_up") => "在接通前市民已挂机",
        Some("connected") => "已接通",
        _ => "转接失败",
    };
    let vars = BTreeMap::from([
        ("agent", h.agent.clone()),
        ("time", time),
        ("number", h.number.clone()),
        ("name", h.name.clone()),
        ("outcome", outcome.to_string()),
    ]);
    let msg = match sms
        .templates
        .message(kind, Pii::new(phone.to_string()), None, &vars)
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), error = %e, "no hand-off SMS sent");
            return Ok(());
        }
    };
    match enqueue(tx, msg).await {
        Ok(id) => {
            tracing::info!(sms = %id, kind = kind.as_str(), "hand-off SMS queued");
            Ok(())
        }
        Err(SmsError::Db(e)) => Err(StoreError::Db(e)),
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), error = %e, "no hand-off SMS sent");
            Ok(())
        }
    }
}
