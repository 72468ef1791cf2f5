//! The red/yellow lights kept in the store, so they survive restarts.
//!
//! Every ticket row holds its current `light` and `light_next`, the instant the light next
//! changes by time alone (from [`crate::workflow::lights`]). Transitions set both as they
//! happen; [`Store::refresh_due_lights`] brings every ticket whose `light_next` has passed up
//! to `now` — after a restart that is the catch-up of everything that changed while the daemon
//! was down — appending a system `light` row to the history of each ticket whose colour
//! changed. [`Store::next_light_change`] says how long a scheduler may sleep.

use chrono::{DateTime, FixedOffset};

use super::ticket_notify::TicketSms;
use super::tickets::{from_unix, load_in_tx, lock, normalise, refresh_light, TicketError};
use super::Store;
use crate::workflow::Rules;

impl Store {
    /// The earliest instant any ticket's light changes, if one will.
    pub async fn next_light_change(&self) -> Result<Option<DateTime<FixedOffset>>, TicketError> {
        let t: Option<i64> =
            sqlx::query_scalar("SELECT MIN(light_next) FROM tickets WHERE light_next IS NOT NULL")
                .fetch_one(self.pool())
                .await?;
        Ok(t.map(from_unix))
    }

    /// Recomputes, at `now`, the lights of up to `batch` tickets whose next change is due;
    /// one transaction per ticket. Returns how many tickets were looked at (call again while
    /// it equals `batch`).
    pub async fn refresh_due_lights(
        &self,
        now: DateTime<FixedOffset>,
        rules: &Rules,
        batch: i64,
    ) -> Result<usize, TicketError> {
        self.refresh_due_lights_with_sms(now, rules, batch, None)
            .await
    }

    /// [`Store::refresh_due_lights`]; with `sms`, a light turning yellow or red queues the
    /// warning to the lead unit in the same transaction as its history row.
    pub async fn refresh_due_lights_with_sms(
        &self,
        now: DateTime<FixedOffset>,
        rules: &Rules,
        batch: i64,
        sms: Option<&TicketSms>,
    ) -> Result<usize, TicketError> {
        let now = normalise(now);
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tickets WHERE light_next IS NOT NULL AND light_next <= $1 \
             ORDER BY light_next LIMIT $2",
        )
        .bind(now.timestamp())
        .bind(batch)
        .fetch_all(self.pool())
        .await?;
        for id in &ids {
            let mut tx = super::begin_write(self.pool()).await?;
            let locked = lock(&mut tx, id).await?;
            let (ticket, _) = load_in_tx(&mut tx, id).await?;
            refresh_light(&mut tx, &ticket, &locked, now, rules, sms).await?;
            tx.commit().await?;
        }
        Ok(ids.len())
    }
}
