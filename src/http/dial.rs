//! Click-to-dial from an agent's desk: `POST /api/v1/agents/{id}/dial` with
//! `{"number": "…", "ticket": "…"}` (ticket optional). rexian rings the agent's registered
//! phone (showing the number) and, when it answers, dials the number over the outbound trunks
//! and bridges the two; the call is recorded and its record names the ticket. An agent dials
//! for itself, a supervisor for anyone. 202 with the call's id; 422 for a number no dialplan
//! allows or a ticket that does not exist; 409 when the agent is on a call, being offered one, or its phone is not registered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Authenticated;
use super::calls::{ask, ControlRequest};
use super::error::ApiError;
use super::AppState;

/// The body of `POST /api/v1/agents/{id}/dial`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DialRequest {
    pub number: String,
    #[serde(default)]
    pub ticket: Option<String>,
}

pub(super) async fn dial(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(agent): Path<String>,
    body: Result<Json<DialRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.require_self_or_supervisor(&agent, "agents dial only from their own phone")?;
    let Json(DialRequest { number, ticket }) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; send {{\"number\": \"13800138000\", \"ticket\": \"optional ticket id\"}}",
            e.body_text()
        ))
    })?;
    let number = number.trim().to_string();
    if number.is_empty() {
        return Err(ApiError::bad_request("number: the digits to dial"));
    }
    let ticket = ticket.filter(|t| !t.trim().is_empty());
    if let Some(t) = &ticket {
        known_ticket(&s, t).await?;
    }
    let answer = ask(&s, |reply| ControlRequest::Dial {
        agent,
        number,
        ticket,
        reply,
    })
    .await?;
    match answer {
        Ok(call) => Ok(call_accepted(call)),
        Err((422, reason)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason)),
        Err((_, reason)) => Err(ApiError::new(StatusCode::CONFLICT, reason)),
    }
}

/// `202 Accepted` for a call the SIP task took on: its id, for the event stream.
pub(super) fn call_accepted(call: impl serde::Serialize) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "call": call, "accepted": true })),
    )
}

/// A ticket a request names (a call record or a sub-centre will carry it): it must exist
/// (422 otherwise).
pub(super) async fn known_ticket(s: &AppState, t: &str) -> Result<(), ApiError> {
    match s.store.ticket(t).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no ticket {t}"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read ticket {t}: {e}"),
        )),
    }
}
