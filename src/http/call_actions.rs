//! Acting on live calls over HTTP, for agents' desks and supervisors:
//!
//! - `POST /api/v1/agents/{id}/call` — the agent's in-call actions, the same as the phone's
//!   feature codes: `three_way`, `blind_transfer`, `emergency` (110/119/120/122 …, three-way
//!   or blind), `drop_third`, `leave`. An agent acts on its own call; a supervisor on anyone's.
//! - `POST /api/v1/calls/{id}/hangup` — 强拆: a supervisor ends a call.
//! - `POST /api/v1/calls/{id}/listen`, `…/whisper`, `…/barge` — 监听, 耳语, 强插: the
//!   supervisor's registered phone (the token's account) is called into the call to listen
//!   (heard by nobody), to whisper (heard by the agent only) or to talk with both; asked
//!   again while on the call, the mode switches.
//! - `GET /api/v1/events` — the operator event stream (Server-Sent Events, one JSON object per
//!   event): supervisors get every event, an agent its own and the queue's.
//! - `GET /api/v1/handoffs` — recent emergency hand-offs with their times and outcome.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

use super::auth::Authenticated;
use super::calls::{ask, ControlRequest};
use super::error::ApiError;
use super::AppState;
use crate::call::event::{AgentRequest, MonitorMode};
use crate::store::handoffs::HandoffRow;
use crate::store::tokens::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents/{id}/call", post(agent_call))
        .route("/api/v1/agents/{id}/dial", post(super::dial::dial))
        .route("/api/v1/calls/{id}/hangup", post(hangup))
        .route("/api/v1/calls/{id}/barge", post(barge))
        .route("/api/v1/calls/{id}/listen", post(listen))
        .route("/api/v1/calls/{id}/whisper", post(whisper))
        .route("/api/v1/events", get(events))
        .route("/api/v1/handoffs", get(handoffs))
}

/// The body of `POST /api/v1/agents/{id}/call`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum CallAction {
    ThreeWay {
        target: String,
        /// A ticket for this call, passed to the sub-centre (`X-Rexian-Ticket`).
        #[serde(default)]
        ticket: Option<String>,
    },
    BlindTransfer {
        target: String,
        #[serde(default)]
        ticket: Option<String>,
    },
    Emergency {
        number: String,
        /// `three_way` or `blind`; the dialplan's mode when absent.
        #[serde(default)]
        mode: Option<EmergencyMode>,
        #[serde(default)]
        reason: String,
    },
    /// Attended transfer: consult `target` while the caller hears music.
    Consult {
        target: String,
        #[serde(default)]
        ticket: Option<String>,
    },
    /// Complete the attended transfer (or leave a three-way call).
    Complete,
    /// Turn the consultation into a three-way call.
    Join,
    /// Drop the third party (also: back from a consultation to the caller).
    DropThird,
    Leave,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyMode {
    ThreeWay,
    Blind,
}

impl From<CallAction> for AgentRequest {
    fn from(a: CallAction) -> AgentRequest {
        match a {
            CallAction::ThreeWay { target, .. } => AgentRequest::ThreeWay { target },
            CallAction::BlindTransfer { target, .. } => AgentRequest::BlindTransfer { target },
            CallAction::Emergency {
                number,
                mode,
                reason,
            } => AgentRequest::Emergency {
                number,
                three_way: mode.map(|m| m == EmergencyMode::ThreeWay),
                reason,
            },
            CallAction::Consult { target, .. } => AgentRequest::Consult { target },
            CallAction::Complete => AgentRequest::Complete,
            CallAction::Join => AgentRequest::Join,
            CallAction::DropThird => AgentRequest::DropThird,
            CallAction::Leave => AgentRequest::Leave,
        }
    }
}

async fn agent_call(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(agent): Path<String>,
    body: Result<Json<CallAction>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.require_self_or_supervisor(&agent, "agents act only on their own calls")?;
    let Json(action) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; send {{\"action\": \"three_way\"|\"blind_transfer\", \"target\": …}}, \
             {{\"action\": \"emergency\", \"number\": \"110\", \"mode\": \"three_way\"|\"blind\", \
             \"reason\": …}}, {{\"action\": \"consult\", \"target\": …}}, \
             {{\"action\": \"complete\"|\"join\"|\"drop_third\"|\"leave\"}}",
            e.body_text()
        ))
    })?;
    let mut ticket = None;
    if let CallAction::ThreeWay { target, ticket: t }
    | CallAction::BlindTransfer { target, ticket: t }
    | CallAction::Consult { target, ticket: t } = &action
    {
        if target.trim().is_empty() {
            return Err(ApiError::bad_request(
                "target: a line, seat, agent or number",
            ));
        }
        if let Some(t) = t {
            super::dial::known_ticket(&s, t).await?;
        }
        ticket = t.clone();
    }
    let request = AgentRequest::from(action);
    let answer = ask(&s, |reply| ControlRequest::AgentCall {
        agent,
        request,
        ticket,
        reply,
    })
    .await?;
    match answer {
        Ok(call) => Ok(super::dial::call_accepted(call)),
        Err(reason) => Err(ApiError::new(StatusCode::CONFLICT, reason)),
    }
}

async fn hangup(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(call): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require(Role::Supervisor)?;
    let call: u64 = call
        .parse()
        .map_err(|_| ApiError::bad_request("call: the number `rexian status` shows"))?;
    let by = auth.0.subject.clone().unwrap_or_default();
    if ask(&s, |reply| ControlRequest::Hangup { call, by, reply }).await? {
        Ok(Json(serde_json::json!({ "call": call, "ended": true })))
    } else {
        Err(ApiError::not_found(format!("call {call}")))
    }
}

async fn barge(
    s: State<AppState>,
    auth: Authenticated,
    call: Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    monitor(s, auth, call, MonitorMode::Barge).await
}

async fn listen(
    s: State<AppState>,
    auth: Authenticated,
    call: Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    monitor(s, auth, call, MonitorMode::Listen).await
}

async fn whisper(
    s: State<AppState>,
    auth: Authenticated,
    call: Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    monitor(s, auth, call, MonitorMode::Whisper).await
}

async fn monitor(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(call): Path<String>,
    mode: MonitorMode,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.require(Role::Supervisor)?;
    let call: u64 = call
        .parse()
        .map_err(|_| ApiError::bad_request("call: the number `rexian status` shows"))?;
    let Some(supervisor) = auth.0.subject.clone() else {
        return Err(ApiError::bad_request(
            "this token names no phone account: create it with `rexian token create --role \
             supervisor --id <account>`",
        ));
    };
    match ask(&s, |reply| ControlRequest::Monitor {
        call,
        supervisor,
        mode,
        reply,
    })
    .await?
    {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "call": call, "mode": mode.as_str() })),
        )),
        Err(reason) => Err(ApiError::new(StatusCode::CONFLICT, reason)),
    }
}

async fn events(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    auth.require(Role::Agent)?;
    let rx = s.live.events().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "call handling is not running",
        )
    })?;
    let everything = auth.0.role >= Role::Supervisor;
    let me = auth.0.subject.clone().unwrap_or_default();
    let stream = BroadcastStream::new(rx).filter_map(move |item| match item {
        Ok(text) => {
            if everything || visible_to_agent(&text, &me) {
                Some(Ok(Event::default().data(text.as_str())))
            } else {
                None
            }
        }
        // A screen that fell behind is told how many events it missed.
        Err(BroadcastStreamRecvError::Lagged(n)) => {
            Some(Ok(Event::default().event("lagged").data(n.to_string())))
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// An agent sees events about itself and the queue's, never another agent's caller.
fn visible_to_agent(text: &str, agent: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    match v["agent"].as_str() {
        Some(a) => a == agent,
        None => matches!(v["kind"].as_str(), Some("call_offered" | "call_queued")),
    }
}

async fn handoffs(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<HandoffRow>>, ApiError> {
    auth.require(Role::Supervisor)?;
    let rows = s
        .store
        .recent_handoffs(200)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_see_their_own_events_and_the_queues() {
        assert!(visible_to_agent(
            r#"{"kind":"agent_state","agent":"7001"}"#,
            "7001"
        ));
        assert!(!visible_to_agent(
            r#"{"kind":"handoff","agent":"7002"}"#,
            "7001"
        ));
        assert!(visible_to_agent(
            r#"{"kind":"call_queued","call":3}"#,
            "7001"
        ));
        assert!(!visible_to_agent(
            r#"{"kind":"callback_requested","caller":"1"}"#,
            "7001"
        ));
    }

    #[test]
    fn actions_parse_as_documented() {
        let a: CallAction =
            serde_json::from_str(r#"{"action":"emergency","number":"110","mode":"blind"}"#)
                .unwrap();
        assert_eq!(
            AgentRequest::from(a),
            AgentRequest::Emergency {
                number: "110".into(),
                three_way: Some(false),
                reason: String::new()
            }
        );
        assert!(serde_json::from_str::<CallAction>(r#"{"action":"dance"}"#).is_err());
    }
}
