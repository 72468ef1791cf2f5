//! Handling units (承办单位) as data: name, contacts (whose phones get dispatch reminders) and
//! parent unit. Contacts are personal data: they leave the store only as [`Pii`].

use serde_json::{json, Value};
use sqlx::Row;

use super::{is_unique_violation, unix_now, Store, StoreError};
use crate::pii::Pii;

/// One person to reach at a unit; both fields are personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub name: Pii<String>,
    pub phone: Pii<String>,
}

/// The stored JSON of a contact list.
pub fn contacts_json(c: &[Contact]) -> String {
    Value::Array(
        c.iter()
            .map(|c| json!({ "name": c.name.expose(), "phone": c.phone.expose() }))
            .collect(),
    )
    .to_string()
}

fn contacts_from(s: &str) -> Vec<Contact> {
    let v: Value = serde_json::from_str(s).unwrap_or(Value::Null);
    let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| Contact {
                    name: Pii::new(text(c, "name")),
                    phone: Pii::new(text(c, "phone")),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A handling unit as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRecord {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub contacts: Vec<Contact>,
}

fn row_to_unit(r: &sqlx::any::AnyRow) -> Result<UnitRecord, StoreError> {
    let contacts: String = r.try_get("contacts")?;
    Ok(UnitRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        parent: r.try_get("parent")?,
        contacts: contacts_from(&contacts),
    })
}

impl Store {
    /// Adds a unit; its parent, if named, must exist.
    pub async fn add_unit(&self, u: &UnitRecord) -> Result<(), StoreError> {
        let contacts = contacts_json(&u.contacts);
        let mut tx = super::begin_write(self.pool()).await?;
        if let Some(p) = &u.parent {
            if p == &u.id || self.unit_in(&mut tx, p).await?.is_none() {
                return Err(StoreError::NotFound(format!("parent unit {p}")));
            }
        }
        let r = sqlx::query(
            "INSERT INTO units (id, name, parent, contacts, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(&u.parent)
        .bind(contacts)
        .bind(unix_now())
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Duplicate(format!("unit {}", u.id)))
            }
            r => r?,
        };
        tx.commit().await?;
        Ok(())
    }

    /// Changes a unit's name, parent and contacts.
    pub async fn update_unit(&self, u: &UnitRecord) -> Result<(), StoreError> {
        let contacts = contacts_json(&u.contacts);
        let mut tx = super::begin_write(self.pool()).await?;
        if let Some(p) = &u.parent {
            if p == &u.id || self.unit_in(&mut tx, p).await?.is_none() {
                return Err(StoreError::NotFound(format!("parent unit {p}")));
            }
        }
        let n = sqlx::query("UPDATE units SET name = $1, parent = $2, contacts = $3 WHERE id = $4")
            .bind(&u.name)
            .bind(&u.parent)
            .bind(contacts)
            .bind(&u.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("unit {}", u.id)));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a unit that no ticket and no other unit refers to.
    pub async fn remove_unit(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = super::begin_write(self.pool()).await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM ticket_units WHERE unit_id = $1) \
                  + (SELECT COUNT(*) FROM units WHERE parent = $1)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let in_use =
            || StoreError::Duplicate(format!("a ticket or sub-unit referring to unit {id}"));
        if used > 0 {
            return Err(in_use());
        }
        // On PostgreSQL a ticket or sub-unit may have come to refer to it since the count;
        // the foreign keys then refuse the delete, with the same answer as the count's.
        let n = match sqlx::query("DELETE FROM units WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
        {
            Ok(done) => done.rows_affected(),
            Err(e) if super::is_foreign_key_violation(&e) => return Err(in_use()),
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(StoreError::NotFound(format!("unit {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn unit(&self, id: &str) -> Result<Option<UnitRecord>, StoreError> {
        let r = sqlx::query("SELECT id, name, parent, contacts FROM units WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        r.as_ref().map(row_to_unit).transpose()
    }

    pub(crate) async fn unit_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<Option<UnitRecord>, StoreError> {
        unit_in_tx(tx, id).await
    }

    pub async fn units(&self) -> Result<Vec<UnitRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, name, parent, contacts FROM units ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(row_to_unit).collect()
    }
}

/// A unit read inside the caller's transaction.
pub(crate) async fn unit_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Option<UnitRecord>, StoreError> {
    let r = sqlx::query("SELECT id, name, parent, contacts FROM units WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    r.as_ref().map(row_to_unit).transpose()
}

/// The units among `ids` that exist, in one round trip (order not kept).
pub(crate) async fn units_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ids: &[&str],
) -> Result<Vec<UnitRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, name, parent, contacts FROM units WHERE id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(&mut **tx).await?;
    rows.iter().map(row_to_unit).collect()
}
