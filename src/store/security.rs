//! Security events: authentication failures, lockouts, refused requests. The `source` is an IP
//! address and port; user IDs and numbers arrive already masked.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub at: i64,
    pub kind: String,
    pub source: String,
    pub detail: String,
}

impl Store {
    pub async fn record_security_event(&self, ev: &SecurityEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_events (at, kind, source, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(ev.at)
        .bind(&ev.kind)
        .bind(&ev.source)
        .bind(&ev.detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn security_events(&self, limit: i64) -> Result<Vec<SecurityEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, kind, source, detail FROM security_events ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecurityEvent {
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    source: r.try_get("source")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
