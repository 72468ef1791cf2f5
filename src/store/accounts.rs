//! Softphone accounts: an ID, a display name and the HA1 digests of its password for MD5 and
//! SHA-256 (RFC 8760). The password itself is never stored.

use sqlx::Row;

use super::{is_unique_violation, unix_now, Store, StoreError};

/// An account as the registrar needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: Option<String>,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub created_at: i64,
}

impl Store {
    pub async fn add_account(&self, account: &Account) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO accounts (id, name, realm, ha1_md5, ha1_sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&account.id)
        .bind(account.name.as_deref())
        .bind(&account.realm)
        .bind(&account.ha1_md5)
        .bind(&account.ha1_sha256)
        .bind(if account.created_at == 0 {
            unix_now()
        } else {
            account.created_at
        })
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Duplicate(format!("account {}", account.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, realm, ha1_md5, ha1_sha256, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| account_from_row(&r)).transpose()
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, realm, ha1_md5, ha1_sha256, created_at FROM accounts ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    pub async fn remove_account(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        Ok(())
    }
}

fn account_from_row(r: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        realm: r.try_get("realm")?,
        ha1_md5: r.try_get("ha1_md5")?,
        ha1_sha256: r.try_get("ha1_sha256")?,
        created_at: r.try_get("created_at")?,
    })
}
