//! The HTTP API on `--http` (axum): health, Prometheus metrics, and the token-protected
//! operator and admin calls under `/api/v1`.
//!
//! `GET /healthz` and `GET /metrics` are open; everything else needs
//! `Authorization: Bearer <token>` from `rexian token create`. Errors are JSON
//! `{"error": "…"}` with a 4xx status that says whose fault it was.

pub mod auth;
pub mod call_actions;
pub mod calls;
pub mod dial;
pub mod error;
pub mod sms;
pub mod tickets;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::metrics::Metrics;
use crate::store::tokens::Role;
use crate::store::Store;
use auth::Authenticated;
use error::ApiError;

/// Read-only views of live daemon state that the API shows.
pub trait LiveState: Send + Sync + 'static {
    /// Current registrations as (account, contact URI, source address, seconds left).
    fn registrations(&self) -> Vec<RegistrationView>;

    /// Where to ask the task that owns the calls; `None` when no call handling runs.
    fn control(&self) -> Option<calls::ControlSender> {
        None
    }

    /// Operator events from now on, as JSON text; `None` when no call handling runs.
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<String>>> {
        None
    }
}

/// One registered contact, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RegistrationView {
    pub account: String,
    pub contact: String,
    pub source: String,
    pub transport: String,
    pub expires_in: u64,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub live: Arc<dyn LiveState>,
    /// The SMS ticket events send; `None` when `[sms]` is not configured.
    pub sms: Option<Arc<crate::store::ticket_notify::TicketSms>>,
    /// The group-commit writer every ticket creation goes through.
    pub tickets: crate::store::ticket_group::GroupCreator,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/registrations", get(registrations))
        .merge(calls::routes())
        .merge(call_actions::routes())
        .merge(sms::routes())
        .merge(tickets::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The address a listener is bound to, for logs and tests.
pub fn local_addr(l: &tokio::net::TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn whoami(auth: Authenticated) -> impl IntoResponse {
    Json(serde_json::json!({ "role": auth.0.role.as_str(), "subject": auth.0.subject }))
}

async fn registrations(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<RegistrationView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    Ok(Json(s.live.registrations()))
}
