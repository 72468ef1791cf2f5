//! Satisfaction-survey replies (短信回访, 003 art. 11).
//!
//! A reply from a number is matched to the newest open survey sent to that number within the
//! last [`SURVEY_WINDOW_SECS`]. `1` satisfied, `2` basically satisfied, `3` unsatisfied (full-width digits
//! accepted); the survey is then closed, the answer kept, and a `3` opens a return-visit task
//! for a person. Anything that matches no open survey — another text, an unknown number, a
//! second answer — is kept in `sms_unmatched` for a person to read. Each reply is handled in
//! one transaction, which also notes the answer in the ticket's history (a `survey` row).
//!
//! The task is done when the person records the visit on the ticket (`POST
//! /api/v1/tickets/{id}/visit`, which the store turns into the core's `RecordRevisit`; see
//! [`open_task_in_tx`] and [`finish_task_in_tx`]): unsatisfied and reasonable, the closed
//! ticket opens again for reopening. A task without a result (the caller could not be reached)
//! is closed with [`close_return_visit`].

use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::outbox::SmsError;
use super::phone::normalise_mobile;
use crate::pii::Pii;
use crate::store::tickets::TicketError;
use crate::store::StoreError;

/// Replies match surveys sent at most this long ago (30 days).
pub const SURVEY_WINDOW_SECS: i64 = 30 * 86_400;

/// A survey answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Satisfied,
    BasicallySatisfied,
    Unsatisfied,
}

impl Satisfaction {
    pub fn code(self) -> i64 {
        match self {
            Satisfaction::Satisfied => 1,
            Satisfaction::BasicallySatisfied => 2,
            Satisfaction::Unsatisfied => 3,
        }
    }

    /// The answer a reply text holds: `1`, `2` or `3`, ASCII or full-width, with surrounding
    /// blanks and a trailing full stop ignored.
    pub fn parse(text: &str) -> Option<Satisfaction> {
        let t = text.trim().trim_end_matches(['。', '.', '！', '!']).trim();
        match t {
            "1" | "１" => Some(Satisfaction::Satisfied),
            "2" | "２" => Some(Satisfaction::BasicallySatisfied),
            "3" | "３" => Some(Satisfaction::Unsatisfied),
            _ => None,
        }
    }
}

/// What became of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    Answered {
        sms_id: String,
        ticket_id: Option<String>,
        answer: Satisfaction,
        /// The return-visit task opened for an unsatisfied answer.
        return_visit: Option<i64>,
    },
    /// Kept in `sms_unmatched` under this id.
    Unmatched(i64),
}

/// Handles one inbound reply. `source` names the channel (`http`, `smpp`).
pub async fn handle_reply(
    pool: &AnyPool,
    from: &Pii<String>,
    text: &str,
    source: &str,
    now: i64,
    window_secs: i64,
) -> Result<ReplyOutcome, SmsError> {
    let mut tx = crate::store::begin_write(pool).await?;
    let phone = normalise_mobile(from.expose()).ok();
    let answer = Satisfaction::parse(text);
    if let (Some(phone), Some(answer)) = (&phone, answer) {
        // The newest open survey to this phone, looked for again whenever another reply
        // closed the one found (each look is a new statement, so it no longer sees that one).
        while let Some(row) = sqlx::query(
            "SELECT id, ticket_id FROM sms_outbox WHERE phone = $1 AND survey_open = 1 \
             AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(phone)
        .bind(now.saturating_sub(window_secs))
        .fetch_optional(&mut *tx)
        .await?
        {
            let sms_id: String = row.try_get("id")?;
            let ticket_id: Option<String> = row.try_get("ticket_id")?;
            // On PostgreSQL another reply to the same survey may have closed it since the
            // SELECT: this UPDATE then waits for that one's commit and matches no row. Only the
            // reply that closes a survey answers it; this one looks for an older open survey,
            // and with none left is kept for a person below.
            let took = sqlx::query(
                "UPDATE sms_outbox SET survey_open = 0 WHERE id = $1 AND survey_open = 1",
            )
            .bind(&sms_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !took {
                continue;
            }
            sqlx::query(
                "INSERT INTO sms_survey_answers (sms_id, ticket_id, answer, received_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&sms_id)
            .bind(&ticket_id)
            .bind(answer.code())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let mut return_visit = None;
            if answer == Satisfaction::Unsatisfied {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sms_return_visits (ticket_id, sms_id, phone, state, created_at) \
                     VALUES ($1, $2, $3, 'open', $4) RETURNING id",
                )
                .bind(&ticket_id)
                .bind(&sms_id)
                .bind(phone)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                return_visit = Some(id);
            }
            if let Some(ticket) = &ticket_id {
                let payload = serde_json::json!({
                    "answer": answer.code(),
                    "sms_id": sms_id,
                    "return_visit": return_visit,
                });
                let at = crate::store::tickets::from_unix(now);
                crate::store::tickets::note_in_tx(&mut tx, ticket, at, "survey", &payload)
                    .await
                    .map_err(|e| match e {
                        TicketError::Store(StoreError::Db(e)) => SmsError::Db(e),
                        other => SmsError::History(other.to_string()),
                    })?;
            }
            tx.commit().await?;
            tracing::info!(%sms_id, answer = answer.code(), from = %from, "survey answered");
            return Ok(ReplyOutcome::Answered {
                sms_id,
                ticket_id,
                answer,
                return_visit,
            });
        }
    }
    let stored = phone.unwrap_or_else(|| from.expose().clone());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sms_unmatched (phone, body, source, received_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(&stored)
    .bind(text)
    .bind(source)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(id, from = %from, "SMS reply kept for a person: no open survey matched");
    Ok(ReplyOutcome::Unmatched(id))
}

/// A reply no survey took.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UnmatchedReply {
    pub id: i64,
    pub phone: String,
    pub body: String,
    pub source: String,
    pub received_at: i64,
}

/// A person's task: call back an unsatisfied caller.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReturnVisit {
    pub id: i64,
    pub ticket_id: Option<String>,
    pub sms_id: String,
    pub phone: String,
    pub state: String,
    pub created_at: i64,
}

/// The newest unmatched replies.
pub async fn unmatched(pool: &AnyPool, limit: i64) -> Result<Vec<UnmatchedReply>, SmsError> {
    let rows = sqlx::query(
        "SELECT id, phone, body, source, received_at FROM sms_unmatched \
         ORDER BY received_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UnmatchedReply {
                id: r.try_get("id")?,
                phone: r.try_get("phone")?,
                body: r.try_get("body")?,
                source: r.try_get("source")?,
                received_at: r.try_get("received_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(SmsError::from)
}

/// Return-visit tasks, the open ones or all.
pub async fn return_visits(
    pool: &AnyPool,
    only_open: bool,
    limit: i64,
) -> Result<Vec<ReturnVisit>, SmsError> {
    let sql = if only_open {
        "SELECT id, ticket_id, sms_id, phone, state, created_at FROM sms_return_visits \
         WHERE state = 'open' ORDER BY created_at, id LIMIT $1"
    } else {
        "SELECT id, ticket_id, sms_id, phone, state, created_at FROM sms_return_visits \
         ORDER BY created_at, id LIMIT $1"
    };
    let rows = sqlx::query(sql).bind(limit).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(ReturnVisit {
                id: r.try_get("id")?,
                ticket_id: r.try_get("ticket_id")?,
                sms_id: r.try_get("sms_id")?,
                phone: r.try_get("phone")?,
                state: r.try_get("state")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(SmsError::from)
}

/// The newest open return-visit task of ticket `ticket`.
pub(crate) async fn open_task_in_tx(
    tx: &mut Transaction<'_, Any>,
    ticket: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM sms_return_visits WHERE ticket_id = $1 AND state = 'open' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket)
    .fetch_optional(&mut **tx)
    .await
}

/// Marks return-visit task `task` done, in the transaction that records its result. False
/// when it is no longer open: on PostgreSQL someone may have closed it since
/// [`open_task_in_tx`] read it, and the visit must then not be recorded against it.
pub(crate) async fn finish_task_in_tx(
    tx: &mut Transaction<'_, Any>,
    task: i64,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE sms_return_visits SET state = 'done' WHERE id = $1 AND state = 'open'")
            .bind(task)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a return-visit task done. False when it does not exist or is already done.
pub async fn close_return_visit(pool: &AnyPool, id: i64) -> Result<bool, SmsError> {
    let done =
        sqlx::query("UPDATE sms_return_visits SET state = 'done' WHERE id = $1 AND state = 'open'")
            .bind(id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_short_replies() {
        assert_eq!(Satisfaction::parse(" 1 "), Some(Satisfaction::Satisfied));
        assert_eq!(
            Satisfaction::parse("２"),
            Some(Satisfaction::BasicallySatisfied)
        );
        assert_eq!(Satisfaction::parse("3。"), Some(Satisfaction::Unsatisfied));
        assert_eq!(Satisfaction::parse("13"), None);
        assert_eq!(Satisfaction::parse("满意"), None);
        assert_eq!(Satisfaction::parse(""), None);
    }
}
