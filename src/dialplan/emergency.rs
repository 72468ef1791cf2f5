//! `emergency.toml`: the emergency numbers an agent hands callers to (紧急类热线), how, and over
//! which trunks. Optional file; the default lists 110, 119, 120 and 122, three-way, no trunks.
//!
//! ```toml
//! mode = "three-way"             # or "blind"
//! trunks = ["unicom", "telecom"] # tried in order
//! [[number]]
//! number = "110"
//! name = "报警"
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::{is_number, Ctx, DialplanError};
use crate::call::plan::{Emergency, Trunk};

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    mode: Option<Text>,
    #[serde(default)]
    trunks: Vec<Text>,
    #[serde(default)]
    number: Option<Vec<Entry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    number: Text,
    name: String,
}

/// The four national emergency numbers.
pub fn default_numbers() -> Vec<(String, String)> {
    [
        ("110", "报警"),
        ("119", "火警"),
        ("120", "急救"),
        ("122", "交通事故"),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect()
}

/// Parses `emergency.toml` against the trunks.
pub fn parse(cx: &Ctx, trunks: &[Trunk]) -> Result<Emergency, DialplanError> {
    let f: File = cx.parse()?;
    let three_way = match f.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("three-way", _)) => true,
        Some(("blind", _)) => false,
        Some((other, span)) => {
            return cx.err(
                span,
                format!("mode {other:?}: use \"three-way\" or \"blind\""),
            )
        }
    };
    let mut ts: Vec<String> = Vec::new();
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
    let numbers = match &f.number {
        None => default_numbers(),
        Some(list) => {
            let mut v: Vec<(String, String)> = Vec::new();
            for e in list {
                let n = e.number.get_ref();
                if !is_number(n) {
                    return cx.err(e.number.span(), format!("{n:?} is not a number"));
                }
                if v.iter().any(|(x, _)| x == n) {
                    return cx.err(e.number.span(), format!("duplicate emergency number {n}"));
                }
                v.push((n.clone(), e.name.clone()));
            }
            for required in ["110", "119", "120", "122"] {
                if !v.iter().any(|(n, _)| n == required) {
                    return Err(DialplanError::new(
                        cx.file,
                        super::line_of_key(cx.text, "number").max(1),
                        format!("emergency number {required} is missing (110, 119, 120 and 122 are always listed)"),
                    ));
                }
            }
            v
        }
    };
    Ok(Emergency {
        numbers,
        three_way,
        trunks: ts,
    })
}
