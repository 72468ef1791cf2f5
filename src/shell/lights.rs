//! The red/yellow light scheduler: keeps every ticket's light in the store current.
//!
//! At start it loads the calendar and policy from the dialplans (and hands them to the ticket
//! API; a reload — SIGHUP or `POST /api/v1/reload` — replaces them through [`reload`], and
//! each pass of the scheduler uses whatever is installed then), then catches up on every light that changed while the daemon was down, and from then
//! on sleeps until the next change the store knows of, refreshes what is due (each ticket in
//! its own transaction, with a system `light` row in its history when the colour changed) and
//! sleeps again. The state lives in the store, not here, so a restart loses nothing.
//!
//! Transitions set the light themselves as they happen; a transition can also bring a
//! ticket's next change earlier than the one this task sleeps towards, so the sleep is capped
//! at [`MAX_SLEEP`] — a light then changes at most that late.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::config::Config;
use crate::dialplan::DialplanError;
use crate::store::ticket_notify::TicketSms;
use crate::store::Store;
use crate::workflow::Rules;

/// The longest sleep between looks at the store.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Tickets refreshed per store round trip.
const BATCH: i64 = 500;

/// Loads the rules, installs them for the ticket API and returns the scheduler to spawn.
/// With rules that cannot be loaded, the ticket API answers 503 with the reason and the
/// scheduler idles until a reload installs valid ones.
pub fn start(
    config: &Config,
    store: Store,
    sms: Option<Arc<TicketSms>>,
    stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let rules = load_rules(&config.dialplans)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    if let Err(e) = &rules {
        tracing::error!(error = %e, "ticket rules not loaded; lights and ticket API off");
    }
    crate::http::tickets::install_rules(rules);
    run(store, sms, stop)
}

/// The calendar (`calendar/`) and policy (`policy.toml`) of a dialplans directory.
pub fn load_rules(dialplans: &Path) -> Result<Rules, DialplanError> {
    let calendar = crate::dialplan::calendar::load(dialplans)?;
    let policy = crate::dialplan::policy::load(dialplans)?;
    Ok(Rules { calendar, policy })
}

/// Installs rules a reload has validated: new deadlines and the next light pass use them;
/// deadlines already counted stay in the tickets' histories as they were.
pub fn reload(rules: Rules) {
    crate::http::tickets::install_rules(Ok(Arc::new(rules)));
}

/// Refreshes due lights until `stop` turns true, with the rules installed at each pass; with
/// `sms`, yellow and red lights queue their warnings in the transaction that records the
/// change.
pub async fn run(store: Store, sms: Option<Arc<TicketSms>>, mut stop: watch::Receiver<bool>) {
    loop {
        let wait = match crate::http::tickets::current_rules() {
            None => MAX_SLEEP,
            Some(rules) => match tick(&store, &rules, sms.as_deref()).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "light refresh failed; retrying");
                    Duration::from_secs(5)
                }
            },
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
