//! Live call handling over HTTP: `GET /api/v1/status` (queues, agents, calls in progress —
//! what `rexian status` prints, like `queue show` in Asterisk) for supervisors, and
//! `POST /api/v1/reload` (re-read the dialplans; refused with the reason, old plan kept, when
//! they do not validate) for admins. Both are questions to the task that owns the calls,
//! asked through [`ControlRequest`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::auth::Authenticated;
use super::error::ApiError;
use super::AppState;
use crate::store::tokens::Role;

/// A question for the task that owns the calls.
#[derive(Debug)]
pub enum ControlRequest {
    Status(oneshot::Sender<StatusView>),
    /// Re-read and validate the dialplans; the answer says what was loaded or why not.
    Reload(oneshot::Sender<Result<String, String>>),
    /// Callers restricted now.
    Restrictions(oneshot::Sender<Vec<RestrictionView>>),
    /// A supervisor restricts a caller for a while (系统短期限制使用).
    Restrict {
        mark: RestrictRequest,
        by: String,
        reply: oneshot::Sender<Vec<RestrictionView>>,
    },
    /// Lifts a restriction before it expires.
    Lift {
        number: String,
        reply: oneshot::Sender<Vec<RestrictionView>>,
    },
    /// An agent's in-call request (three-way, transfer, emergency hand-off …): `Ok(call)`
    /// when call control took it on, `Err(reason)` when it refused.
    AgentCall {
        agent: String,
        request: crate::call::event::AgentRequest,
        /// A ticket the desk names for the call (sub-centres see it in `X-Rexian-Ticket`).
        ticket: Option<String>,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// 监听 / 耳语 / 强插: a supervisor joins a call from its registered phone, or switches
    /// mode; `Err(reason)` if it cannot.
    Monitor {
        call: u64,
        supervisor: String,
        mode: crate::call::event::MonitorMode,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// 强拆: a supervisor (`by`) ends a call; `false` when there is no such call.
    Hangup {
        call: u64,
        by: String,
        reply: oneshot::Sender<bool>,
    },
    /// Click-to-dial: ring the agent's phone, then dial `number`; `Err((http status, reason))`.
    Dial {
        agent: String,
        number: String,
        ticket: Option<String>,
        reply: oneshot::Sender<Result<u64, (u16, String)>>,
    },
    /// A call in progress by its record id or event-stream number, for a ticket written
    /// during the call; `None` when there is no such live call.
    LiveCall {
        id: String,
        reply: oneshot::Sender<Option<super::tickets::from_call::LiveCall>>,
    },
    /// Logs an agent in or out, or sets ready / not ready (with a reason).
    Agent {
        agent: String,
        change: AgentChange,
        reply: oneshot::Sender<Option<AgentView>>,
    },
}

/// `POST /api/v1/agents/{id}/state`: what an agent (for itself) or a supervisor asks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AgentChange {
    Login,
    Logout,
    Ready,
    NotReady {
        #[serde(default)]
        reason: String,
    },
}

/// One restricted caller, for supervisors (the number is shown: they are authorised).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictionView {
    pub number: String,
    pub seconds_left: u64,
    /// Set by a supervisor, not by the automatic abuse limit.
    pub by_supervisor: bool,
}

/// `POST /api/v1/restrictions`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictRequest {
    pub number: String,
    pub minutes: u64,
    #[serde(default)]
    pub note: String,
}

pub type ControlSender = mpsc::Sender<ControlRequest>;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueView {
    pub name: String,
    pub waiting: usize,
    pub longest_wait_secs: Option<u64>,
    pub by_line: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentView {
    pub id: String,
    pub registered: bool,
    pub state: String,
    pub reason: Option<String>,
    pub call: Option<u64>,
    pub lines: Vec<String>,
}

/// Live call handling at one instant.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusView {
    pub queues: Vec<QueueView>,
    pub agents: Vec<AgentView>,
    pub agents_by_state: BTreeMap<String, usize>,
    pub calls_in_progress: usize,
    pub longest_wait_secs: Option<u64>,
    pub restricted_callers: usize,
    /// Callback requests not yet answered (waiting in a queue, dialling, or between attempts).
    #[serde(default)]
    pub pending_callbacks: usize,
    /// Carrier trunks that register or are pinged.
    #[serde(default)]
    pub trunks: Vec<TrunkView>,
}

/// A carrier trunk's health check and registration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrunkView {
    pub name: String,
    /// `None` before the first answer, or when the trunk is not pinged.
    pub up: Option<bool>,
    /// `None` when the trunk does not register.
    pub registered: Option<bool>,
    pub registration_expires_secs: Option<u64>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/restrictions", get(restrictions).post(restrict))
        .route("/api/v1/restrictions/{number}", delete(lift))
        .route("/api/v1/agents/{id}/state", post(agent_state))
}

/// An agent may change its own state (its token's subject is its account ID); supervisors
/// may change anyone's.
async fn agent_state(
    State(s): State<AppState>,
    auth: Authenticated,
    axum::extract::Path(agent): axum::extract::Path<String>,
    body: Result<Json<AgentChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AgentView>, ApiError> {
    auth.require_self_or_supervisor(&agent, "agents change only their own state")?;
    let Json(change) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; send {{\"action\": \"login\"|\"logout\"|\"ready\"|\"not_ready\", \"reason\": …}}",
            e.body_text()
        ))
    })?;
    let view = ask(&s, |reply| ControlRequest::Agent {
        agent: agent.clone(),
        change,
        reply,
    })
    .await?;
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("agent {agent}")))
}

async fn restrictions(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<RestrictionView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(ask(&s, ControlRequest::Restrictions).await?))
}

async fn restrict(
    State(s): State<AppState>,
    auth: Authenticated,
    body: Result<Json<RestrictRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<RestrictionView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    let Json(mark) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if mark.number.trim().is_empty() || !mark.number.chars().all(|c| c.is_ascii_digit() || c == '+')
    {
        return Err(ApiError::bad_request(
            "number: digits only, as the caller dials in",
        ));
    }
    if mark.minutes == 0 || mark.minutes > 60 * 24 * 30 {
        return Err(ApiError::bad_request("minutes: 1 to 43200 (30 days)"));
    }
    let by = auth
        .0
        .subject
        .clone()
        .unwrap_or_else(|| auth.0.role.as_str().to_string());
    Ok(Json(
        ask(&s, |reply| ControlRequest::Restrict { mark, by, reply }).await?,
    ))
}

async fn lift(
    State(s): State<AppState>,
    auth: Authenticated,
    axum::extract::Path(number): axum::extract::Path<String>,
) -> Result<Json<Vec<RestrictionView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(
        ask(&s, |reply| ControlRequest::Lift { number, reply }).await?,
    ))
}

pub(super) async fn ask<T>(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> ControlRequest,
) -> Result<T, ApiError> {
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "call handling is not running",
        )
    };
    let tx = s.live.control().ok_or_else(unavailable)?;
    let (reply, answer) = oneshot::channel();
    tx.send(make(reply)).await.map_err(|_| unavailable())?;
    tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .map_err(|_| unavailable())?
        .map_err(|_| unavailable())
}

async fn status(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Json<StatusView>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(ask(&s, ControlRequest::Status).await?))
}

async fn reload(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require(Role::Admin)?;
    match ask(&s, ControlRequest::Reload).await? {
        Ok(summary) => Ok(Json(serde_json::json!({ "reloaded": summary }))),
        Err(reason) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason)),
    }
}
