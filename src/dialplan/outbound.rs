//! `outbound.toml`: the numbers agents and rexian's own features may call out to (phone return
//! visits 回访, reminders and supervision calls 督办 to handling units, callbacks), the number
//! presented and the trunks used. Emergency numbers and sub-centres are always allowed; any
//! other number never reaches a trunk. Optional file: no patterns = no other outbound calls.
//!
//! ```toml
//! present = "12345"
//! trunks = ["unicom"]
//! [[allow]]
//! name = "手机"
//! pattern = "1[3-9]XXXXXXXXX"     # X any digit, Z 1-9, N 2-9, [..] a set, final . = more
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::{is_number, Ctx, DialplanError};
use crate::call::plan::{Outbound, Pattern, Trunk};

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    present: Option<Text>,
    #[serde(default)]
    trunks: Vec<Text>,
    #[serde(default)]
    allow: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    pattern: Text,
}

/// Parses `outbound.toml` against the trunks; `main` is presented by default.
pub fn parse(cx: &Ctx, trunks: &[Trunk], main: &str) -> Result<Outbound, DialplanError> {
    let f: File = cx.parse()?;
    let present = match &f.present {
        Some(p) if is_number(p.get_ref()) => p.get_ref().clone(),
        Some(p) => {
            return cx.err(
                p.span(),
                format!("present {:?} is not a number", p.get_ref()),
            )
        }
        None => main.to_string(),
    };
    let mut ts = Vec::new();
    for t in &f.trunks {
        match trunks.iter().find(|x| &x.name == t.get_ref()) {
            None => return cx.err(t.span(), format!("unknown trunk {:?}", t.get_ref())),
            Some(x) if x.address.is_none() => {
                return cx.err(
                    t.span(),
                    format!("trunk {:?} has no address to call out through", x.name),
                )
            }
            Some(_) => ts.push(t.get_ref().clone()),
        }
    }
    let mut allow = Vec::new();
    for r in &f.allow {
        match r.pattern.get_ref().parse::<Pattern>() {
            Ok(p) => allow.push((r.name.clone(), p)),
            Err(e) => return cx.err(r.pattern.span(), e.to_string()),
        }
    }
    if !allow.is_empty() && ts.is_empty() {
        return Err(DialplanError::new(
            cx.file,
            1,
            "allowed outbound numbers need trunks to call through",
        ));
    }
    Ok(Outbound {
        present,
        trunks: ts,
        allow,
    })
}
