//! Live call handling over HTTP: `GET /api/v1/status` (queues, agents, calls in progress —
//! what `rexian status` prints, like `queue show` in Asterisk) for supervisors, and
//! `POST /api/v1/reload` (re-read the dialplans; refused with the reason, old plan kept, when
//! they do not validate) for admins. Both are questions to the task that owns the calls,
//! asked through [`ControlRequest`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
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
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/reload", post(reload))
}

async fn ask<T>(
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
