//! `abuse.toml`: 系统短期限制使用 (000 art. 35) — a caller who dials more than `max_calls`
//! times within `window_minutes` is restricted for `restrict_minutes`. Optional file.
//!
//! ```toml
//! enabled = true
//! max_calls = 10
//! window_minutes = 10
//! restrict_minutes = 60
//! exempt = ["13800138000"]     # never restricted automatically (e.g. a care home's phone)
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::caller::{normalise, CallerKind};
use crate::call::plan::AbusePolicy;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    enabled: Option<bool>,
    max_calls: Option<Spanned<i64>>,
    window_minutes: Option<Spanned<i64>>,
    restrict_minutes: Option<Spanned<i64>>,
    #[serde(default)]
    exempt: Vec<Spanned<String>>,
}

/// Parses `abuse.toml`; exempt numbers are normalised with the local `area_code`.
pub fn parse(cx: &Ctx, area_code: &str) -> Result<AbusePolicy, DialplanError> {
    let f: File = cx.parse()?;
    let d = AbusePolicy::default();
    let mut exempt = Vec::new();
    for e in &f.exempt {
        let c = normalise(e.get_ref(), false, area_code);
        if !c.kind.is_identified() || c.kind == CallerKind::Unknown {
            return cx.err(
                e.span(),
                format!("exempt entry {:?} is not a phone number", e.get_ref()),
            );
        }
        exempt.push(c.number.expose().clone());
    }
    Ok(AbusePolicy {
        enabled: f.enabled.unwrap_or(true),
        max_calls: cx.range(&f.max_calls, "max_calls", 1, 1000, d.max_calls as i64)? as u32,
        window: Duration::from_secs(
            60 * cx.range(&f.window_minutes, "window_minutes", 1, 24 * 60, 10)? as u64,
        ),
        restrict: Duration::from_secs(
            60 * cx.range(&f.restrict_minutes, "restrict_minutes", 1, 30 * 24 * 60, 60)? as u64,
        ),
        exempt,
    })
}
