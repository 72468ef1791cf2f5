//! The ticket API under `/api/v1`: create, act on, search and read the history of tickets,
//! manage handling units ([`units`]) and serve the OpenAPI document ([`openapi`]).
//!
//! Roles (from the bearer token): agents create tickets — through the group-commit writer
//! ([`crate::store::ticket_group`]), answered 201 after the commit; from a call record when a
//! `call_id` is given, live or recorded ([`from_call`]), which fills line and contact — record return
//! visits, and close consultations they answered on the phone (直接办结); a unit token's subject is its unit id, and a unit sees and acts only on
//! tickets where it is the lead or an assisting unit (others answer 404, as if absent);
//! supervisors and admins see everything and review returns and extensions. The workflow core
//! decides every transition: refusals come back as 409 (wrong state) or 403 (wrong actor) with
//! the core's message. Names and phone numbers are returned to authorised callers but never
//! logged.

pub mod from_call;
pub mod openapi;
pub mod units;

use std::sync::{Arc, RwLock};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Authenticated;
use super::error::ApiError;
use super::AppState;
use crate::pii::Pii;
use crate::store::ticket_group::CreateRequest;
use crate::store::ticket_search::TicketFilter;
use crate::store::tickets::{
    self as store_tickets, HistoryEntry, NewTicket, TicketError, TicketRecord,
};
use crate::store::tokens::Role;
use crate::workflow::{
    Actor, Command, Limit, Rules, SupervisionKind, TicketId, TicketType, TransitionError, UnitId,
    Urgency,
};

static RULES: RwLock<Option<Result<Arc<Rules>, String>>> = RwLock::new(None);

/// Installs the calendar and policy the ticket API uses (the daemon loads them from the
/// dialplans at start), or the reason they could not be loaded — then every ticket call
/// answers 503 with it rather than guess deadlines.
pub fn install_rules(rules: Result<Arc<Rules>, String>) {
    if let Ok(mut slot) = RULES.write() {
        *slot = Some(rules);
    }
}

/// The rules installed now, if they loaded.
pub fn current_rules() -> Option<Arc<Rules>> {
    match RULES.read().ok().as_deref() {
        Some(Some(Ok(r))) => Some(r.clone()),
        _ => None,
    }
}

fn rules() -> Result<Arc<Rules>, ApiError> {
    let unavailable = |m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m);
    match RULES.read().ok().as_deref() {
        Some(Some(Ok(r))) => Ok(r.clone()),
        Some(Some(Err(e))) => Err(unavailable(format!(
            "the deadline rules could not be loaded: {e}"
        ))),
        _ => Err(unavailable("the deadline rules are not loaded yet".into())),
    }
}

/// The ticket routes, merged into the daemon's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/tickets", post(create).get(search))
        .route("/api/v1/tickets/{id}", get(one))
        .route("/api/v1/tickets/{id}/history", get(history))
        .route("/api/v1/tickets/{id}/dispatch", post(dispatch))
        .route("/api/v1/tickets/{id}/assisting", put(assisting))
        .route("/api/v1/tickets/{id}/sign", post(sign))
        .route("/api/v1/tickets/{id}/handle", post(handle))
        .route("/api/v1/tickets/{id}/reply", post(reply))
        .route("/api/v1/tickets/{id}/return", post(request_return))
        .route("/api/v1/tickets/{id}/return/approve", post(approve_return))
        .route("/api/v1/tickets/{id}/return/refuse", post(refuse_return))
        .route("/api/v1/tickets/{id}/extension", post(request_extension))
        .route(
            "/api/v1/tickets/{id}/extension/approve",
            post(approve_extension),
        )
        .route(
            "/api/v1/tickets/{id}/extension/refuse",
            post(refuse_extension),
        )
        .route("/api/v1/tickets/{id}/supervise", post(supervise))
        .route("/api/v1/tickets/{id}/visit", post(visit))
        .route("/api/v1/tickets/{id}/close", post(close))
        .route(
            "/api/v1/tickets/{id}/close-as-repeat",
            post(close_as_repeat),
        )
        .route("/api/v1/tickets/{id}/reopen", post(reopen))
        .route("/api/v1/tickets/{id}/answer", post(answer))
        .route("/api/v1/units", get(units::list).post(units::create))
        .route(
            "/api/v1/units/{id}",
            get(units::one).put(units::update).delete(units::remove),
        )
}

/// A JSON body whose rejection is a JSON 400 like every other error.
pub(crate) fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), format!("bad request body: {}", e.body_text())))
}

fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

/// The workflow actor a token speaks for.
fn actor(auth: &Authenticated) -> Result<Actor, ApiError> {
    let p = &auth.0;
    let subject = p.subject.clone();
    Ok(match p.role {
        Role::Agent => Actor::Agent(subject.unwrap_or_else(|| "agent".into())),
        Role::Supervisor => Actor::Supervisor(subject.unwrap_or_else(|| "supervisor".into())),
        Role::Admin => Actor::Admin(subject.unwrap_or_else(|| "admin".into())),
        Role::Unit => Actor::Unit(UnitId(subject.ok_or_else(|| {
            ApiError::forbidden("this unit token names no unit (create it with --id UNIT)")
        })?)),
    })
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> ApiError {
        match &e {
            TicketError::NotFound(_) => ApiError::not_found(e.to_string()),
            TicketError::UnknownUnit(_) | TicketError::Invalid(_) => {
                ApiError::bad_request(e.to_string())
            }
            TicketError::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            TicketError::Refused { source, .. } => {
                let status = match source {
                    TransitionError::Forbidden { .. } | TransitionError::WrongUnit { .. } => {
                        StatusCode::FORBIDDEN
                    }
                    TransitionError::MissingReason { .. }
                    | TransitionError::MissingBasis
                    | TransitionError::ExtensionTooLong { .. }
                    | TransitionError::ExtensionUnitMismatch { .. }
                    | TransitionError::RepeatOfItself
                    | TransitionError::NotAnswerableDirectly { .. } => {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                    TransitionError::NotTheCreator { .. } => StatusCode::FORBIDDEN,
                    _ => StatusCode::CONFLICT,
                };
                ApiError::new(status, e.to_string())
            }
            TicketError::Codec(_)
            | TicketError::Fold(_)
            | TicketError::Store(_)
            | TicketError::Group(_) => {
                tracing::error!(error = %e, "ticket store error");
                ApiError::internal("store error")
            }
        }
    }
}

fn opt_time(t: Option<DateTime<FixedOffset>>) -> Value {
    t.map(|t| Value::String(t.to_rfc3339()))
        .unwrap_or(Value::Null)
}

/// The JSON of a ticket.
pub fn ticket_json(r: &TicketRecord) -> Value {
    json!({
        "id": r.id,
        "type": r.ticket_type.key(),
        "type_zh": r.ticket_type.chinese(),
        "urgency": crate::store::ticket_codec::urgency_key(r.urgency),
        "line": r.line,
        "requester": r.requester.as_ref().map(|p| p.expose()),
        "contact": r.contact.as_ref().map(|p| p.expose()),
        "facts": r.facts,
        "address": r.address,
        "status": r.status,
        "lead_unit": r.lead_unit,
        "assisting_units": r.assisting_units,
        "started_at": opt_time(r.started_at),
        "sign_due": opt_time(r.sign_due),
        "deadline": opt_time(r.deadline),
        "provisional": r.provisional,
        "light": r.light,
        "light_next": opt_time(r.light_next),
        "pending": r.pending,
        "call_id": r.call_id,
        "recording": r.recording,
        "created_by": r.created_by,
        "created_at": r.created_at.to_rfc3339(),
        "updated_at": r.updated_at.to_rfc3339(),
        "seq": r.seq,
    })
}

fn history_json(h: &HistoryEntry) -> Value {
    json!({
        "seq": h.seq,
        "at": h.at.to_rfc3339(),
        "actor": h.actor,
        "role": h.role,
        "kind": h.kind,
        "why": h.why,
        "payload": h.payload,
    })
}

/// The ticket, if the caller may see it; a unit sees only its own (others are "not found").
async fn visible(s: &AppState, auth: &Authenticated, id: &str) -> Result<TicketRecord, ApiError> {
    let missing = || ApiError::not_found(format!("ticket {id} not found"));
    let r = s.store.ticket(id).await?.ok_or_else(missing)?;
    if auth.0.role == Role::Unit {
        let unit = auth.0.subject.as_deref().unwrap_or("");
        if !s.store.unit_sees(unit, id).await? {
            return Err(missing());
        }
    }
    Ok(r)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(rename = "type")]
    ticket_type: String,
    #[serde(default)]
    urgency: Option<String>,
    /// Defaults to the call's line, else 12345.
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    requester: Option<String>,
    /// Defaults to the caller's number of the call, when it has one.
    #[serde(default)]
    contact: Option<String>,
    facts: String,
    #[serde(default)]
    address: Option<String>,
    /// The call it came from: in progress (record id or event-stream number) or recorded.
    #[serde(default)]
    call_id: Option<String>,
    /// Defaults to the call's recording.
    #[serde(default)]
    recording: Option<String>,
    /// Dispatch at once to this unit.
    #[serde(default)]
    dispatch_to: Option<String>,
    #[serde(default)]
    assisting: Vec<String>,
    /// Answered on the phone: close at once with this answer (直接办结).
    #[serde(default)]
    answer: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    b: Result<Json<CreateBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if auth.0.role == Role::Unit {
        return Err(ApiError::forbidden("handling units do not create tickets"));
    }
    let mut b = body(b)?;
    let rules = rules()?;
    let actor = actor(&auth)?;
    let ticket_type: TicketType = b
        .ticket_type
        .parse()
        .map_err(|e: crate::workflow::policy::UnknownName| ApiError::bad_request(e.to_string()))?;
    let urgency = match b.urgency.as_deref() {
        None => Urgency::Normal,
        Some(u) => crate::store::ticket_codec::urgency_from(u).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown urgency {u:?}; expected normal, special or emergency"
            ))
        })?,
    };
    if b.answer.is_some() && b.dispatch_to.is_some() {
        return Err(ApiError::bad_request(
            "answer and dispatch_to exclude each other: a ticket answered on the phone is closed",
        ));
    }
    from_call::from_call(&s, &mut b).await?;
    let new = NewTicket {
        ticket_type,
        urgency,
        line: b.line.unwrap_or_else(|| "12345".into()),
        requester: b.requester.map(Pii::new),
        contact: b.contact.map(Pii::new),
        facts: b.facts,
        address: b.address,
        call_id: b.call_id,
        recording: b.recording,
    };
    let req = CreateRequest {
        new,
        actor,
        now: now(),
        dispatch_to: b.dispatch_to.map(UnitId),
        assisting: b.assisting.into_iter().map(UnitId).collect(),
        answer: b.answer,
        rules: Some(rules),
        sms: s.sms.clone(),
    };
    // Answered only after the commit: the group writer replies once the ticket is durable.
    let id = s.tickets.submit(req).await?;
    tracing::info!(ticket = %id, ty = %ticket_type, "ticket created");
    let r = s
        .store
        .ticket(&id)
        .await?
        .ok_or_else(|| ApiError::internal("ticket vanished"))?;
    Ok((StatusCode::CREATED, Json(ticket_json(&r))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    status: Option<String>,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
    unit: Option<String>,
    line: Option<String>,
    light: Option<String>,
    overdue: Option<bool>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

const STATUSES: &[&str] = &[
    "created",
    "dispatched",
    "signed",
    "handled",
    "replied",
    "visited",
    "closed",
];

fn time_param(name: &str, v: Option<String>) -> Result<Option<DateTime<FixedOffset>>, ApiError> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(&s).map_err(|e| {
            ApiError::bad_request(format!("{name}: {s:?} is not an RFC 3339 time ({e})"))
        })
    })
    .transpose()
}

async fn search(
    State(s): State<AppState>,
    auth: Authenticated,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(st) = &p.status {
        if !STATUSES.contains(&st.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown status {st:?}; expected one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    if let Some(l) = &p.light {
        if !["none", "green", "yellow", "red"].contains(&l.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown light {l:?}; expected none, green, yellow or red"
            )));
        }
    }
    let ticket_type = p
        .ticket_type
        .map(|t| t.parse::<TicketType>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unit = if auth.0.role == Role::Unit {
        let own = auth.0.subject.clone().unwrap_or_default();
        if p.unit.as_ref().is_some_and(|u| *u != own) {
            return Err(ApiError::forbidden("a unit may only list its own tickets"));
        }
        Some(own)
    } else {
        p.unit
    };
    let f = TicketFilter {
        status: p.status,
        ticket_type,
        unit,
        line: p.line,
        light: p.light,
        overdue_at: p.overdue.unwrap_or(false).then(now),
        created_from: time_param("from", p.from)?,
        created_to: time_param("to", p.to)?,
        text: p.q,
        limit: p.limit,
        offset: p.offset,
    };
    let rows = s.store.search_tickets(&f).await?;
    Ok(Json(json!({
        "tickets": rows.iter().map(ticket_json).collect::<Vec<_>>(),
    })))
}

async fn one(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(ticket_json(&visible(&s, &auth, &id).await?)))
}

async fn history(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible(&s, &auth, &id).await?;
    let h = s.store.history(&id).await?;
    Ok(Json(json!({
        "ticket": id,
        "events": h.iter().map(history_json).collect::<Vec<_>>(),
    })))
}

/// Runs one command for a caller who may see the ticket and returns the ticket after it.
async fn act(
    s: &AppState,
    auth: &Authenticated,
    id: &str,
    cmd: Command,
) -> Result<Json<Value>, ApiError> {
    visible(s, auth, id).await?;
    let rules = rules()?;
    let actor = actor(auth)?;
    let action = cmd.action();
    s.store
        .apply_ticket_with_sms(id, cmd, &actor, now(), &rules, s.sms.as_deref())
        .await?;
    tracing::info!(ticket = %id, %action, role = %auth.0.role, "ticket command applied");
    Ok(Json(ticket_json(&visible(s, auth, id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    unit: String,
    #[serde(default)]
    assisting: Option<Vec<String>>,
}

async fn dispatch(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<DispatchBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    visible(&s, &auth, &id).await?;
    let rules = rules()?;
    let actor = actor(&auth)?;
    let now = now();
    let mut tx = crate::store::begin_write(s.store.pool())
        .await
        .map_err(TicketError::from)?;
    let cmd = Command::Dispatch {
        unit: UnitId(b.unit),
    };
    store_tickets::apply_with_sms_in_tx(&mut tx, &id, cmd, &actor, now, &rules, s.sms.as_deref())
        .await?;
    if let Some(list) = b.assisting {
        let units: Vec<UnitId> = list.into_iter().map(UnitId).collect();
        store_tickets::set_assisting_in_tx(&mut tx, &id, &units, &actor, now).await?;
    }
    tx.commit().await.map_err(TicketError::from)?;
    Ok(Json(ticket_json(&visible(&s, &auth, &id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistingBody {
    units: Vec<String>,
}

async fn assisting(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<AssistingBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    auth.require(Role::Supervisor)?;
    visible(&s, &auth, &id).await?;
    let units: Vec<UnitId> = b.units.into_iter().map(UnitId).collect();
    s.store
        .set_assisting(&id, &units, &actor(&auth)?, now())
        .await?;
    Ok(Json(ticket_json(&visible(&s, &auth, &id).await?)))
}

async fn sign(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&s, &auth, &id, Command::Sign).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandleBody {
    summary: String,
}

async fn handle(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<HandleBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&s, &auth, &id, Command::Handle { summary: b.summary }).await
}

async fn reply(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&s, &auth, &id, Command::Reply).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    reason: String,
    basis: String,
    #[serde(default)]
    suggested_unit: Option<String>,
}

async fn request_return(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<ReturnBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let cmd = Command::RequestReturn {
        reason: b.reason,
        basis: b.basis,
        suggested_unit: b.suggested_unit.map(UnitId),
    };
    act(&s, &auth, &id, cmd).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveReturnBody {
    #[serde(default)]
    redispatch_to: Option<String>,
}

async fn approve_return(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<ApproveReturnBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let cmd = Command::ApproveReturn {
        redispatch_to: b.redispatch_to.map(UnitId),
    };
    act(&s, &auth, &id, cmd).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    note: String,
}

async fn refuse_return(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&s, &auth, &id, Command::RefuseReturn { note: b.note }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// "5 wd", "4 h" or "1 wh".
    limit: String,
    reason: String,
}

async fn request_extension(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<ExtensionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let limit: Limit =
        b.limit
            .parse()
            .map_err(|e: crate::workflow::deadline::LimitParseError| {
                ApiError::bad_request(e.to_string())
            })?;
    let cmd = Command::RequestExtension {
        limit,
        reason: b.reason,
    };
    act(&s, &auth, &id, cmd).await
}

async fn approve_extension(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&s, &auth, &id, Command::ApproveExtension).await
}

async fn refuse_extension(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&s, &auth, &id, Command::RefuseExtension { note: b.note }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperviseBody {
    /// phone, meeting or special.
    kind: String,
    note: String,
}

async fn supervise(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<SuperviseBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let kind: SupervisionKind =
        crate::store::ticket_codec::supervision_from(&b.kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown supervision kind {:?}; expected phone, meeting or special",
                b.kind
            ))
        })?;
    act(&s, &auth, &id, Command::Supervise { kind, note: b.note }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitBody {
    satisfied: bool,
    reasonable: bool,
}

async fn visit(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<VisitBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let cmd = Command::RecordVisit {
        satisfied: b.satisfied,
        reasonable: b.reasonable,
    };
    act(&s, &auth, &id, cmd).await
}

async fn close(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&s, &auth, &id, Command::Close).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatBody {
    earlier: String,
    reason: String,
}

async fn close_as_repeat(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<RepeatBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    visible(&s, &auth, &b.earlier).await?;
    let cmd = Command::CloseAsRepeat {
        earlier: TicketId(b.earlier),
        reason: b.reason,
    };
    act(&s, &auth, &id, cmd).await
}

async fn reopen(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&s, &auth, &id, Command::Reopen).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    reply: String,
}

/// 直接办结: the agent who took the ticket answered the caller on the phone and closes it.
async fn answer(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&s, &auth, &id, Command::AnswerDirectly { reply: b.reply }).await
}
