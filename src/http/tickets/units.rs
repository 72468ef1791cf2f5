//! Handling units over HTTP: everyone with a token may list them (agents dispatch to them);
//! only admins create, change and remove them and see their contacts' phones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body;
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::pii::Pii;
use crate::store::tokens::Role;
use crate::store::units::{Contact, UnitRecord};

fn unit_json(u: &UnitRecord, with_contacts: bool) -> Value {
    let mut v = json!({ "id": u.id, "name": u.name, "parent": u.parent });
    if with_contacts {
        v["contacts"] = u
            .contacts
            .iter()
            .map(|c| json!({ "name": c.name.expose(), "phone": c.phone.expose() }))
            .collect();
    }
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    name: String,
    phone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitBody {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    contacts: Vec<ContactBody>,
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::bad_request(format!(
            "unit id {id:?}: use 1–64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn record(id: String, b: UnitBody) -> Result<UnitRecord, ApiError> {
    valid_id(&id)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::bad_request("the unit name is required"));
    }
    Ok(UnitRecord {
        id,
        name: b.name,
        parent: b.parent,
        contacts: b
            .contacts
            .into_iter()
            .map(|c| Contact {
                name: Pii::new(c.name),
                phone: Pii::new(c.phone),
            })
            .collect(),
    })
}

pub async fn list(State(s): State<AppState>, auth: Authenticated) -> Result<Json<Value>, ApiError> {
    let admin = auth.0.role == Role::Admin;
    let units = s.store.units().await?;
    Ok(Json(json!({
        "units": units.iter().map(|u| unit_json(u, admin)).collect::<Vec<_>>(),
    })))
}

pub async fn one(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let u = s
        .store
        .unit(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unit {id} not found")))?;
    Ok(Json(unit_json(&u, auth.0.role == Role::Admin)))
}

pub async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    b: Result<Json<UnitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth.require(Role::Admin)?;
    let mut b = body(b)?;
    let id =
        b.id.take()
            .ok_or_else(|| ApiError::bad_request("the unit id is required"))?;
    let u = record(id, b)?;
    s.store.add_unit(&u).await?;
    Ok((StatusCode::CREATED, Json(unit_json(&u, true))))
}

pub async fn update(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    b: Result<Json<UnitBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Role::Admin)?;
    let b = body(b)?;
    if b.id.as_ref().is_some_and(|i| *i != id) {
        return Err(ApiError::bad_request(
            "the body's id differs from the path's",
        ));
    }
    let u = record(id, b)?;
    s.store.update_unit(&u).await?;
    Ok(Json(unit_json(&u, true)))
}

pub async fn remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Admin)?;
    s.store.remove_unit(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
