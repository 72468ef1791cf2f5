//! `features.toml`: agent feature codes, dialled from the softphone or sent as DTMF in a call.
//! Optional file; every key is optional. No code may be a prefix of another (the digits could
//! not be told apart).
//!
//! ```toml
//! login = "*21"
//! logout = "*22"
//! ready = "*23"
//! not_ready = "*24"
//! three_way = "*3"         # followed by the number: *312320
//! emergency = "*0"         # followed by the number: *0110
//! blind_transfer = "##"    # followed by the number
//! consult = "*4"           # followed by the number: 咨询转接, the caller hears music
//! complete = "*5"          # complete the transfer (or leave a three-way call)
//! back = "*6"              # drop the third party, back to the caller
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::FeatureCodes;

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    login: Option<Text>,
    logout: Option<Text>,
    ready: Option<Text>,
    not_ready: Option<Text>,
    three_way: Option<Text>,
    emergency: Option<Text>,
    blind_transfer: Option<Text>,
    consult: Option<Text>,
    complete: Option<Text>,
    back: Option<Text>,
}

/// Parses `features.toml`.
pub fn parse(cx: &Ctx) -> Result<FeatureCodes, DialplanError> {
    let f: File = cx.parse()?;
    let d = FeatureCodes::default();
    let mut seen: Vec<(String, &'static str, std::ops::Range<usize>)> = Vec::new();
    let mut pick = |t: &Option<Text>,
                    default: &str,
                    key: &'static str|
     -> Result<String, DialplanError> {
        let (code, span) = match t {
            Some(t) => (t.get_ref().clone(), t.span()),
            None => (default.to_string(), 0..0),
        };
        if code.is_empty()
            || code.len() > 8
            || !code
                .chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
        {
            return cx.err(span, format!("{key} = {code:?}: 1–8 keys of 0-9, * and #"));
        }
        if !code.starts_with(['*', '#']) {
            return cx.err(
                span,
                format!("{key} = {code:?} must start with * or # so it is never a phone number"),
            );
        }
        for (other, other_key, other_span) in &seen {
            if other.starts_with(&code) || code.starts_with(other.as_str()) {
                let at = if span.start > 0 {
                    span.clone()
                } else {
                    other_span.clone()
                };
                return cx.err(at, format!("{key} = {code:?} clashes with {other_key} = {other:?} (one is a prefix of the other)"));
            }
        }
        seen.push((code.clone(), key, span));
        Ok(code)
    };
    Ok(FeatureCodes {
        login: pick(&f.login, &d.login, "login")?,
        logout: pick(&f.logout, &d.logout, "logout")?,
        ready: pick(&f.ready, &d.ready, "ready")?,
        not_ready: pick(&f.not_ready, &d.not_ready, "not_ready")?,
        three_way: pick(&f.three_way, &d.three_way, "three_way")?,
        emergency: pick(&f.emergency, &d.emergency, "emergency")?,
        blind_transfer: pick(&f.blind_transfer, &d.blind_transfer, "blind_transfer")?,
        consult: pick(&f.consult, &d.consult, "consult")?,
        complete: pick(&f.complete, &d.complete, "complete")?,
        back: pick(&f.back, &d.back, "back")?,
    })
}
