//! `experts.toml`: department expert seats (专家座席) of the dual-number lines, reached by the
//! agent's three-way call or transfer. Optional file.
//!
//! ```toml
//! [[expert]]
//! name = "卫生专家席"
//! target = "8320"                       # an account ID, or sip:… for a remote seat
//! lines = ["12320"]                     # dual-number lines with experts = true
//! days = ["mon-fri"]                    # optional; every day when left out
//! hours = ["08:30-12:00", "14:30-17:30"]  # optional; always when left out
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::agents::valid_id;
use super::schedules::{days, period};
use super::{Ctx, DialplanError};
use crate::call::plan::{ExpertSeat, Line, Window};

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    expert: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Text,
    target: Text,
    lines: Vec<Text>,
    #[serde(default)]
    days: Option<Vec<Text>>,
    #[serde(default)]
    hours: Vec<Text>,
}

/// Parses `experts.toml` against the lines.
pub fn parse(cx: &Ctx, lines: &[Line]) -> Result<Vec<ExpertSeat>, DialplanError> {
    let f: File = cx.parse()?;
    let mut out: Vec<ExpertSeat> = Vec::new();
    for e in &f.expert {
        if out.iter().any(|x| &x.name == e.name.get_ref()) {
            return cx.err(
                e.name.span(),
                format!("duplicate expert seat {:?}", e.name.get_ref()),
            );
        }
        let t = e.target.get_ref();
        if !(valid_id(t) || t.starts_with("sip:") || t.starts_with("sips:")) {
            return cx.err(
                e.target.span(),
                format!("target {t:?}: an account ID or a sip: URI"),
            );
        }
        if e.lines.is_empty() {
            return cx.err(e.name.span(), "an expert seat serves at least one line");
        }
        let mut ls = Vec::new();
        for l in &e.lines {
            match lines.iter().find(|x| &x.number == l.get_ref()) {
                None => return cx.err(l.span(), format!("unknown line {:?}", l.get_ref())),
                Some(x) if !x.experts => {
                    return cx.err(
                        l.span(),
                        format!(
                            "line {} has no expert seats (experts = true in numbers.toml)",
                            x.number
                        ),
                    )
                }
                Some(_) => ls.push(l.get_ref().clone()),
            }
        }
        let d = days(cx, &e.days, &None, &e.name)?;
        let mut hours = Vec::new();
        for h in &e.hours {
            let (start, end) = period(cx, h)?;
            if hours
                .iter()
                .any(|w: &Window| start < w.end && w.start < end)
            {
                return cx.err(
                    h.span(),
                    format!("{:?} overlaps another period of this seat", h.get_ref()),
                );
            }
            hours.push(Window {
                days: d.clone(),
                start,
                end,
            });
        }
        if hours.is_empty() && e.days.is_some() {
            hours.push(Window {
                days: d,
                start: 0,
                end: 24 * 3600,
            });
        }
        out.push(ExpertSeat {
            name: e.name.get_ref().clone(),
            target: t.clone(),
            lines: ls,
            hours,
        });
    }
    Ok(out)
}
