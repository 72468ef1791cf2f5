//! The red/yellow light scheduler: keeps every ticket's light in the store current.
//!
//! At start it loads the calendar and policy from the dialplans (and hands them to the ticket
//! API), then catches up on every light that changed while the daemon was down, and from then
//! on sleeps until the next change the store knows of, refreshes what is due (each ticket in
//! its own transaction, with a system `light` row in its history when the colour changed) and
//! sleeps again. The state lives in the store, not here, so a restart loses nothing.
//!
//! Transitions set the light themselves as they happen; a transition can also bring a
//! ticket's next change earlier than the one this task sleeps towards, so the sleep is capped
//! at [`MAX_SLEEP`] — a light then changes at most that late.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::config::Config;
use crate::store::ticket_notify::TicketSms;
use crate::store::Store;
use crate::workflow::Rules;

/// The longest sleep between looks at the store.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Tickets refreshed per store round trip.
const BATCH: i64 = 500;

/// Loads the rules, installs them for the ticket API and returns the scheduler to spawn.
/// With rules that cannot be loaded, the ticket API answers 503 with the reason and the
/// scheduler only waits for shutdown.
pub fn start(
    config: &Config,
    store: Store,
    sms: Option<Arc<TicketSms>>,
    stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let rules = load(config);
    crate::http::tickets::install_rules(rules.clone());
    async move {
        match rules {
            Ok(rules) => run(store, rules, sms, stop).await,
            Err(e) => {
                tracing::error!(error = %e, "ticket rules not loaded; lights and ticket API off");
                let mut stop = stop;
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

fn load(config: &Config) -> Result<Arc<Rules>, String> {
    let calendar = crate::dialplan::calendar::load(&config.dialplans).map_err(|e| e.to_string())?;
    let policy = crate::dialplan::policy::load(&config.dialplans).map_err(|e| e.to_string())?;
    Ok(Arc::new(Rules { calendar, policy }))
}

/// Refreshes due lights until `stop` turns true; with `sms`, yellow and red lights queue
/// their warnings in the transaction that records the change.
pub async fn run(
    store: Store,
    rules: Arc<Rules>,
    sms: Option<Arc<TicketSms>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let wait = match tick(&store, &rules, sms.as_deref()).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "light refresh failed; retrying");
                Duration::from_secs(5)
            }
        };
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

/// One pass: refresh everything due now; returns how long to sleep.
async fn tick(
    store: &Store,
    rules: &Rules,
    sms: Option<&TicketSms>,
) -> Result<Duration, crate::store::tickets::TicketError> {
    let now = Utc::now().fixed_offset();
    let mut refreshed = 0;
    loop {
        let n = store
            .refresh_due_lights_with_sms(now, rules, BATCH, sms)
            .await?;
        refreshed += n;
        if (n as i64) < BATCH {
            break;
        }
    }
    if refreshed > 0 {
        tracing::info!(refreshed, "ticket lights refreshed");
    }
    let wait = match store.next_light_change().await? {
        Some(next) => (next - Utc::now().fixed_offset())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP),
        None => MAX_SLEEP,
    };
    Ok(wait)
}
