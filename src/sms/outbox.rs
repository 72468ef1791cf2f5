//! The durable SMS outbox.
//!
//! [`enqueue`] writes a message inside the caller's transaction, so a reminder commits or rolls
//! back with the ticket event that causes it. Each message has a UUID ([`SmsId`]) that is passed
//! to the gateway. The sender works one message at a time:
//!
//! ```text
//! queued ──begin_send──► sending ──mark_submitted──► submitted ──DLR──► delivered | undeliverable
//!    ▲                      │
//!    └──mark_retry (backoff)┘──(permanent error or attempts exhausted)──► failed
//! ```
//!
//! At-least-once: a gateway outage only moves `next_attempt_at` (exponential backoff with a
//! ceiling), it never drops a row. Because only one row is `sending` at a time, a kill between
//! the gateway's acceptance and [`mark_submitted`] repeats at most that one message;
//! [`recover_interrupted`] puts it back in the queue at start. One sender per store.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::phone::{normalise_mobile, PhoneError};
use crate::pii::Pii;
use crate::store::unix_now;

/// A message's stable id, a UUID in its hyphenated form.
pub type SmsId = String;

/// Why a message could not be queued or updated.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("cannot send an SMS: {0}")]
    Phone(#[from] PhoneError),
    #[error("the message text is empty")]
    EmptyBody,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("SMS {0} not found")]
    NotFound(String),
    /// The survey answer could not be noted in the ticket's history.
    #[error("ticket history: {0}")]
    History(String),
}

/// What a message is for; surveys are the only kind replies are matched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmsKind {
    /// 派单提醒: a ticket was dispatched to a unit (000 art. 13).
    DispatchReminder,
    /// 黄灯预警: the deadline is near.
    YellowWarning,
    /// 红灯预警: the deadline has passed.
    RedWarning,
    /// The ticket number, to the caller after the call.
    TicketNumber,
    /// 短信回访: the satisfaction survey after closing (003 art. 11).
    Survey,
    /// An agent handed a caller to an emergency centre: supervisors are told at once.
    HandoffNotice,
    /// An emergency hand-off failed or the citizen hung up first: supervisors' alarm.
    HandoffAlarm,
}

impl SmsKind {
    pub const ALL: [SmsKind; 7] = [
        SmsKind::DispatchReminder,
        SmsKind::YellowWarning,
        SmsKind::RedWarning,
        SmsKind::TicketNumber,
        SmsKind::Survey,
        SmsKind::HandoffNotice,
        SmsKind::HandoffAlarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SmsKind::DispatchReminder => "dispatch_reminder",
            SmsKind::YellowWarning => "yellow_warning",
            SmsKind::RedWarning => "red_warning",
            SmsKind::TicketNumber => "ticket_number",
            SmsKind::Survey => "survey",
            SmsKind::HandoffNotice => "handoff_notice",
            SmsKind::HandoffAlarm => "handoff_alarm",
        }
    }

    pub fn parse(s: &str) -> Option<SmsKind> {
        SmsKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A message to queue. The number is normalised (and refused if it is no mobile) by [`enqueue`].
#[derive(Clone, Debug)]
pub struct NewSms {
    pub phone: Pii<String>,
    pub kind: SmsKind,
    pub body: String,
    pub ticket_id: Option<String>,
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsState {
    Queued,
    Sending,
    Submitted,
    Delivered,
    Undeliverable,
    Failed,
}

impl SmsState {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsState::Queued => "queued",
            SmsState::Sending => "sending",
            SmsState::Submitted => "submitted",
            SmsState::Delivered => "delivered",
            SmsState::Undeliverable => "undeliverable",
            SmsState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<SmsState> {
        [
            SmsState::Queued,
            SmsState::Sending,
            SmsState::Submitted,
            SmsState::Delivered,
            SmsState::Undeliverable,
            SmsState::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One row of the outbox.
#[derive(Clone, Debug)]
pub struct OutboxMessage {
    pub id: SmsId,
    pub phone: Pii<String>,
    pub kind: String,
    pub body: String,
    pub ticket_id: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub gateway_ref: Option<String>,
    pub last_error: Option<String>,
    pub dlr_status: Option<String>,
}

const COLUMNS: &str = "id, phone, kind, body, ticket_id, state, attempts, next_attempt_at, \
     created_at, submitted_at, gateway_ref, last_error, dlr_status";

fn from_row(r: &AnyRow) -> Result<OutboxMessage, sqlx::Error> {
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        phone: Pii::new(r.try_get("phone")?),
        kind: r.try_get("kind")?,
        body: r.try_get("body")?,
        ticket_id: r.try_get("ticket_id")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        submitted_at: r.try_get("submitted_at")?,
        gateway_ref: r.try_get("gateway_ref")?,
        last_error: r.try_get("last_error")?,
        dlr_status: r.try_get("dlr_status")?,
    })
}

/// Queues a message in the caller's transaction and returns its id. Anonymous numbers and
/// landlines are refused with [`SmsError::Phone`]; nothing is written then.
pub async fn enqueue(tx: &mut Transaction<'_, Any>, msg: NewSms) -> Result<SmsId, SmsError> {
    enqueue_at(tx, msg, unix_now()).await
}

/// [`enqueue`] with an explicit clock, for tests and back-dated imports.
pub async fn enqueue_at(
    tx: &mut Transaction<'_, Any>,
    msg: NewSms,
    now: i64,
) -> Result<SmsId, SmsError> {
    let phone = normalise_mobile(msg.phone.expose())?;
    if msg.body.trim().is_empty() {
        return Err(SmsError::EmptyBody);
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    sqlx::query(
        "INSERT INTO sms_outbox (id, phone, kind, body, ticket_id, state, attempts, \
         next_attempt_at, created_at, survey_open) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&phone)
    .bind(msg.kind.as_str())
    .bind(&msg.body)
    .bind(&msg.ticket_id)
    .bind(now)
    .bind(now)
    .bind(i64::from(msg.kind == SmsKind::Survey))
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Messages whose next attempt is due, oldest first.
pub async fn due(pool: &AnyPool, now: i64, limit: i64) -> Result<Vec<OutboxMessage>, SmsError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sms_outbox WHERE state = 'queued' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, created_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The earliest time a queued message becomes due, if any is queued.
pub async fn next_due_at(pool: &AnyPool) -> Result<Option<i64>, SmsError> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM sms_outbox WHERE state = 'queued'")
            .fetch_one(pool)
            .await?;
    Ok(at)
}

/// Claims one queued message for sending. False when another sender took it or it is gone.
pub async fn begin_send(pool: &AnyPool, id: &str) -> Result<bool, SmsError> {
    let done = sqlx::query(
        "UPDATE sms_outbox SET state = 'sending', attempts = attempts + 1 \
         WHERE id = $1 AND state = 'queued'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The gateway accepted the message; `gateway_ref` is its own id for it, when it gives one.
pub async fn mark_submitted(
    pool: &AnyPool,
    id: &str,
    gateway_ref: Option<&str>,
    now: i64,
) -> Result<(), SmsError> {
    sqlx::query(
        "UPDATE sms_outbox SET state = 'submitted', submitted_at = $2, gateway_ref = $3, \
         last_error = NULL WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(now)
    .bind(gateway_ref)
    .execute(pool)
    .await?;
    Ok(())
}

/// How retries are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure, doubled after each further one…
    pub base_secs: u64,
    /// …up to this ceiling.
    pub max_backoff_secs: u64,
    /// Attempts after which a message is given up as `failed`; 0 retries for ever.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The delay before the next attempt after `attempts` failed ones (1-based).
    pub fn backoff(&self, attempts: i64) -> u64 {
        let exp = attempts.saturating_sub(1).clamp(0, 62) as u32;
        self.base_secs
            .max(1)
            .saturating_mul(1u64 << exp.min(40))
            .min(self.max_backoff_secs.max(1))
    }
}

/// What [`mark_retry`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    RetryAt(i64),
    GaveUp,
}

/// A transient failure: back to the queue after the backoff, or `failed` once the attempts
/// are exhausted.
pub async fn mark_retry(
    pool: &AnyPool,
    id: &str,
    error: &str,
    now: i64,
    policy: &RetryPolicy,
) -> Result<RetryOutcome, SmsError> {
    let attempts: Option<i64> = sqlx::query_scalar("SELECT attempts FROM sms_outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let attempts = attempts.ok_or_else(|| SmsError::NotFound(id.to_string()))?;
    if policy.max_attempts > 0 && attempts >= i64::from(policy.max_attempts) {
        mark_failed(pool, id, error).await?;
        return Ok(RetryOutcome::GaveUp);
    }
    let at = now.saturating_add(policy.backoff(attempts) as i64);
    sqlx::query(
        "UPDATE sms_outbox SET state = 'queued', next_attempt_at = $2, last_error = $3 \
         WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(at)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(RetryOutcome::RetryAt(at))
}

/// A permanent failure (the gateway refused the message itself): never retried.
pub async fn mark_failed(pool: &AnyPool, id: &str, error: &str) -> Result<(), SmsError> {
    sqlx::query(
        "UPDATE sms_outbox SET state = 'failed', last_error = $2, survey_open = 0 \
         WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Returns messages left `sending` by a sender that died to the queue, due at once. Called
/// once when the sender starts; returns how many there were (0 or 1 with one sender).
pub async fn recover_interrupted(pool: &AnyPool, now: i64) -> Result<u64, SmsError> {
    let done = sqlx::query(
        "UPDATE sms_outbox SET state = 'queued', next_attempt_at = $1 WHERE state = 'sending'",
    )
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A delivery report's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DlrStatus {
    /// Reached the handset (final).
    Delivered,
    /// Will never reach it (final).
    Undeliverable,
    /// Held by the network, still trying.
    Buffered,
    /// Accepted by the SMSC.
    Accepted,
    /// Refused by the SMSC (final).
    Rejected,
}

impl DlrStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DlrStatus::Delivered => "delivered",
            DlrStatus::Undeliverable => "undeliverable",
            DlrStatus::Buffered => "buffered",
            DlrStatus::Accepted => "accepted",
            DlrStatus::Rejected => "rejected",
        }
    }

    /// Kannel's `%d` DLR type: 1 delivered, 2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC
    /// rejected.
    pub fn from_kannel(code: u32) -> Option<DlrStatus> {
        match code {
            1 => Some(DlrStatus::Delivered),
            2 => Some(DlrStatus::Undeliverable),
            4 => Some(DlrStatus::Buffered),
            8 => Some(DlrStatus::Accepted),
            16 => Some(DlrStatus::Rejected),
            _ => None,
        }
    }

    /// The `stat:` word of an SMPP receipt (SMPP 3.4 appendix B).
    pub fn from_smpp_stat(stat: &str) -> Option<DlrStatus> {
        match stat {
            "DELIVRD" => Some(DlrStatus::Delivered),
            "UNDELIV" | "EXPIRED" | "DELETED" => Some(DlrStatus::Undeliverable),
            "ACCEPTD" | "ENROUTE" => Some(DlrStatus::Accepted),
            "REJECTD" => Some(DlrStatus::Rejected),
            "UNKNOWN" => Some(DlrStatus::Buffered),
            _ => None,
        }
    }

    fn final_state(self) -> Option<SmsState> {
        match self {
            DlrStatus::Delivered => Some(SmsState::Delivered),
            DlrStatus::Undeliverable | DlrStatus::Rejected => Some(SmsState::Undeliverable),
            DlrStatus::Buffered | DlrStatus::Accepted => None,
        }
    }
}

/// How a delivery report names its message.
#[derive(Clone, Copy, Debug)]
pub enum DlrKey<'a> {
    /// Our id (Kannel's dlr-url carries it).
    Id(&'a str),
    /// The gateway's id (SMPP receipts carry the SMSC's message_id).
    GatewayRef(&'a str),
}

/// Records a delivery report. False when no message matches. A final verdict moves the state;
/// reports arriving before `mark_submitted` are kept all the same.
pub async fn record_dlr(
    pool: &AnyPool,
    key: DlrKey<'_>,
    status: DlrStatus,
    now: i64,
) -> Result<bool, SmsError> {
    let (column, value) = match key {
        DlrKey::Id(v) => ("id", v),
        DlrKey::GatewayRef(v) => ("gateway_ref", v),
    };
    let sql = match status.final_state() {
        // A survey that can never reach the handset can never be answered: close it.
        Some(state) => format!(
            "UPDATE sms_outbox SET dlr_status = $2, dlr_at = $3, state = '{}'{} \
             WHERE {column} = $1 AND state IN ('sending', 'submitted', 'delivered', 'undeliverable')",
            state.as_str(),
            if state == SmsState::Undeliverable {
                ", survey_open = 0"
            } else {
                ""
            }
        ),
        None => format!(
            "UPDATE sms_outbox SET dlr_status = $2, dlr_at = $3 WHERE {column} = $1 \
             AND state IN ('sending', 'submitted')"
        ),
    };
    let done = sqlx::query(&sql)
        .bind(value)
        .bind(status.as_str())
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One message by id.
pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<OutboxMessage>, SmsError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sms_outbox WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The newest messages, optionally in one state, for the supervisor view.
pub async fn list(
    pool: &AnyPool,
    state: Option<SmsState>,
    limit: i64,
) -> Result<Vec<OutboxMessage>, SmsError> {
    let rows = match state {
        Some(s) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sms_outbox WHERE state = $1 \
                 ORDER BY created_at DESC, id LIMIT $2"
            ))
            .bind(s.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sms_outbox ORDER BY created_at DESC, id LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Message counts per state, for metrics and tests.
pub async fn count_by_state(pool: &AnyPool) -> Result<Vec<(String, i64)>, SmsError> {
    let rows =
        sqlx::query("SELECT state, COUNT(*) AS n FROM sms_outbox GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(SmsError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let p = RetryPolicy {
            base_secs: 2,
            max_backoff_secs: 60,
            max_attempts: 0,
        };
        let got: Vec<u64> = (1..=8).map(|a| p.backoff(a)).collect();
        assert_eq!(got, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.backoff(1000), 60);
    }

    #[test]
    fn kinds_and_states_round_trip() {
        for k in SmsKind::ALL {
            assert_eq!(SmsKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SmsState::parse("submitted"), Some(SmsState::Submitted));
        assert_eq!(DlrStatus::from_kannel(1), Some(DlrStatus::Delivered));
        assert_eq!(
            DlrStatus::from_smpp_stat("UNDELIV"),
            Some(DlrStatus::Undeliverable)
        );
    }
}
