//! Bearer tokens for the HTTP API. A token is shown once at creation; the store keeps only its
//! SHA-256, so a copy of the database does not hand out access.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{unix_now, Store, StoreError};

/// What a token may do. Later capabilities check these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Agent,
    Unit,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Unit => "unit",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "agent" => Ok(Role::Agent),
            "unit" => Ok(Role::Unit),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: use admin, supervisor, agent or unit"
            )),
        }
    }
}

/// Who a verified token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The agent account or handling-unit ID the token is bound to, if any.
    pub subject: Option<String>,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Creates a token and returns its one-time plain form.
    pub async fn create_token(
        &self,
        role: Role,
        subject: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("rx_{}", hex::encode(raw));
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, role, subject, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_token(&token))
        .bind(role.as_str())
        .bind(subject)
        .bind(unix_now())
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// The principal behind a presented token, if it is known and not revoked.
    pub async fn verify_token(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(
            "SELECT role, subject FROM api_tokens WHERE token_hash = $1 AND revoked = 0",
        )
        .bind(hash_token(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        let Ok(role) = role.parse() else {
            return Ok(None);
        };
        Ok(Some(Principal {
            role,
            subject: row.try_get("subject")?,
        }))
    }
}
