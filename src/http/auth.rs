//! Bearer-token authentication for `/api/v1`: the extractor looks the token's hash up in the
//! store and yields the [`Principal`]; handlers then state the least role they need.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::store::tokens::{Principal, Role};

/// A request that carried a valid token.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl Authenticated {
    /// Admins may do everything; otherwise the role must be at least `least`.
    /// The order is agent < unit < supervisor < admin for shared read views.
    pub fn require(&self, least: Role) -> Result<(), ApiError> {
        if self.0.role >= least {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this call needs the {least} role; the token has {}",
                self.0.role
            )))
        }
    }

    /// An agent acting for itself (the token's subject is `agent`), or a supervisor acting
    /// for anyone; `refusal` says what agents may do, e.g. "agents dial only from their own
    /// phone".
    pub fn require_self_or_supervisor(&self, agent: &str, refusal: &str) -> Result<(), ApiError> {
        self.require(Role::Agent)?;
        let own = self.0.subject.as_deref() == Some(agent);
        if !own && self.0.role < Role::Supervisor {
            return Err(ApiError::forbidden(refusal.to_string()));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
        match state.store.verify_token(token.trim()).await? {
            Some(p) => Ok(Authenticated(p)),
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}
