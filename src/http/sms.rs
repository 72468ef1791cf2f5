//! SMS endpoints: inbound replies and delivery reports from gateways, and the supervisor's
//! views of the outbox, unmatched replies and return-visit tasks.
//!
//! Gateways authenticate with an API token whose subject is [`GATEWAY_SUBJECT`]
//! (`rexian token create --role unit --id sms-gateway`), sent as `Authorization: Bearer` or,
//! for gateways that can only call a URL (Kannel's `dlr-url` and `get-url`), as `?token=`.
//! The token is stored hashed like every other and can be revoked on its own; an admin's
//! token is accepted too, for a person replaying a lost callback.
//!
//! | call | who | what |
//! | --- | --- | --- |
//! | `POST`/`GET /api/v1/sms/inbound` | gateway | a reply: `from`, `text` in the query, a form or JSON body |
//! | `POST`/`GET /api/v1/sms/dlr` | gateway | a delivery report: `id` (ours) and `type` (Kannel's `%d`) or `status` |
//! | `GET /api/v1/sms/outbox?state=&limit=` | supervisor | messages, numbers masked |
//! | `GET /api/v1/sms/unmatched?limit=` | supervisor | replies no survey took |
//! | `GET /api/v1/sms/return-visits?open=true` | supervisor | return-visit tasks |
//! | `POST /api/v1/sms/return-visits/{id}/done` | supervisor | close a task |

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Authenticated;
use super::error::ApiError;
use super::AppState;
use crate::pii::{mask, Pii};
use crate::sms::outbox::{self, DlrKey, DlrStatus, SmsState};
use crate::sms::survey::{self, ReplyOutcome, SURVEY_WINDOW_SECS};
use crate::sms::SmsError;
use crate::store::tokens::Role;
use crate::store::unix_now;

/// The token subject gateways use.
pub const GATEWAY_SUBJECT: &str = "sms-gateway";

/// The SMS routes, merged into the API router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sms/inbound", post(inbound).get(inbound))
        .route("/api/v1/sms/dlr", post(dlr).get(dlr))
        .route("/api/v1/sms/outbox", get(list_outbox))
        .route("/api/v1/sms/unmatched", get(list_unmatched))
        .route("/api/v1/sms/return-visits", get(list_return_visits))
        .route(
            "/api/v1/sms/return-visits/{id}/done",
            post(close_return_visit),
        )
}

impl From<SmsError> for ApiError {
    fn from(e: SmsError) -> ApiError {
        match e {
            SmsError::Phone(_) | SmsError::EmptyBody => ApiError::bad_request(e.to_string()),
            SmsError::NotFound(_) => ApiError::not_found(e.to_string()),
            SmsError::Db(e) => {
                tracing::error!(error = %e, "store error in SMS");
                ApiError::internal("store error")
            }
            SmsError::History(e) => {
                tracing::error!(error = %e, "ticket history error in SMS");
                ApiError::internal("store error")
            }
        }
    }
}

/// Checks a gateway's token, from the header or the query.
async fn gateway(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .or_else(|| query.get("token").map(String::as_str))
        .ok_or_else(|| {
            ApiError::unauthorized("missing gateway token (Bearer header or ?token=)")
        })?;
    match state.store.verify_token(token).await? {
        Some(p) if p.role == Role::Admin || p.subject.as_deref() == Some(GATEWAY_SUBJECT) => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!(
            "gateway calls need a token with subject {GATEWAY_SUBJECT:?}"
        ))),
        None => Err(ApiError::unauthorized("unknown or revoked token")),
    }
}

/// Fields from the query, else from a JSON or form body.
fn fields(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<HashMap<String, String>, ApiError> {
    let mut out: HashMap<String, String> = HashMap::new();
    if !body.is_empty() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.starts_with("application/json") {
            let v: HashMap<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("body is not a JSON object: {e}")))?;
            for (k, v) in v {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(k, s);
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            let v: HashMap<String, String> = serde_urlencoded_like(body)?;
            out.extend(v);
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send JSON, a form, or the fields in the query",
            ));
        }
    }
    for (k, v) in query {
        if k != "token" {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(out)
}

fn serde_urlencoded_like(body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("form is not UTF-8"))?;
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| ApiError::bad_request("form field is not UTF-8"))
        };
        out.insert(dec(k)?, dec(v)?);
    }
    Ok(out)
}

#[derive(Serialize)]
struct InboundAnswer {
    matched: bool,
    sms_id: Option<String>,
    ticket_id: Option<String>,
    answer: Option<survey::Satisfaction>,
    return_visit: Option<i64>,
    unmatched_id: Option<i64>,
}

async fn inbound(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<InboundAnswer>, ApiError> {
    gateway(&s, &headers, &query).await?;
    let f = fields(&headers, &query, &body)?;
    let from = f
        .get("from")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("missing field from (the sender's number)"))?;
    let text = f
        .get("text")
        .ok_or_else(|| ApiError::bad_request("missing field text"))?;
    let from = Pii::new(from.clone());
    let out = survey::handle_reply(
        s.store.pool(),
        &from,
        text,
        "http",
        unix_now(),
        SURVEY_WINDOW_SECS,
    )
    .await?;
    Ok(Json(match out {
        ReplyOutcome::Answered {
            sms_id,
            ticket_id,
            answer,
            return_visit,
        } => InboundAnswer {
            matched: true,
            sms_id: Some(sms_id),
            ticket_id,
            answer: Some(answer),
            return_visit,
            unmatched_id: None,
        },
        ReplyOutcome::Unmatched(id) => InboundAnswer {
            matched: false,
            sms_id: None,
            ticket_id: None,
            answer: None,
            return_visit: None,
            unmatched_id: Some(id),
        },
    }))
}

async fn dlr(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    gateway(&s, &headers, &query).await?;
    let f = fields(&headers, &query, &body)?;
    let id = f
        .get("id")
        .ok_or_else(|| ApiError::bad_request("missing field id (the message id rexian sent)"))?;
    let status = match (f.get("type"), f.get("status")) {
        (Some(t), _) => t
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(DlrStatus::from_kannel)
            .ok_or_else(|| ApiError::bad_request(format!("type {t:?}: use 1, 2, 4, 8 or 16")))?,
        (None, Some(st)) => match st.as_str() {
            "delivered" => DlrStatus::Delivered,
            "undeliverable" => DlrStatus::Undeliverable,
            "buffered" => DlrStatus::Buffered,
            "accepted" => DlrStatus::Accepted,
            "rejected" => DlrStatus::Rejected,
            other => DlrStatus::from_smpp_stat(other).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status {other:?}: use delivered, undeliverable, buffered, accepted or rejected"
                ))
            })?,
        },
        (None, None) => return Err(ApiError::bad_request("missing field type or status")),
    };
    if !outbox::record_dlr(s.store.pool(), DlrKey::Id(id), status, unix_now()).await? {
        return Err(ApiError::not_found(format!("no sent SMS with id {id}")));
    }
    Ok(Json(
        serde_json::json!({ "id": id, "status": status.as_str() }),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<i64>,
    open: Option<bool>,
}

fn limit(q: &ListQuery) -> Result<i64, ApiError> {
    match q.limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit {n}: use 1 to 1000"))),
    }
}

#[derive(Serialize)]
struct OutboxView {
    id: String,
    phone: String,
    kind: String,
    body: String,
    ticket_id: Option<String>,
    state: String,
    attempts: i64,
    created_at: i64,
    submitted_at: Option<i64>,
    last_error: Option<String>,
    dlr_status: Option<String>,
}

async fn list_outbox(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(st) => Some(SmsState::parse(st).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state {st:?}: use queued, sending, submitted, delivered, undeliverable or failed"
            ))
        })?),
    };
    let rows = outbox::list(s.store.pool(), state, limit(&q)?).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| OutboxView {
                phone: mask(m.phone.expose()),
                id: m.id,
                kind: m.kind,
                body: m.body,
                ticket_id: m.ticket_id,
                state: m.state,
                attempts: m.attempts,
                created_at: m.created_at,
                submitted_at: m.submitted_at,
                last_error: m.last_error,
                dlr_status: m.dlr_status,
            })
            .collect(),
    ))
}

async fn list_unmatched(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<survey::UnmatchedReply>>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(survey::unmatched(s.store.pool(), limit(&q)?).await?))
}

async fn list_return_visits(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<survey::ReturnVisit>>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(
        survey::return_visits(s.store.pool(), q.open.unwrap_or(true), limit(&q)?).await?,
    ))
}

async fn close_return_visit(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Supervisor)?;
    if survey::close_return_visit(s.store.pool(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no open return visit {id}")))
    }
}
