//! `schedules.toml`: the local time zone and leader answering windows (领导接听日).
//!
//! ```toml
//! utc_offset = "+08:00"
//!
//! [[leader]]
//! name = "市长接听日"
//! seat = "9001"                # an agent with role = "leader" in agents.toml
//! lines = ["12345"]            # optional; every line when left out
//! dates = ["2026-12-01"]       # or days = ["mon-fri"] / ["mon", "thu"]
//! time = "09:00-11:00"
//! ```
//!
//! Two windows that could be open at the same moment for a common line are refused: only one
//! seat can get the first offer.

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::{Agents, Days, LeaderWindow, Line, Role, Window};
use crate::workflow::calendar::unix_day;

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    utc_offset: Option<Text>,
    #[serde(default)]
    leader: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Text,
    seat: Text,
    #[serde(default)]
    lines: Vec<Text>,
    #[serde(default)]
    days: Option<Vec<Text>>,
    #[serde(default)]
    dates: Option<Vec<Text>>,
    time: Text,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` → seconds of the day (24:00 allowed as an end).
fn clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

/// `HH:MM-HH:MM` with start before end.
pub fn period(cx: &Ctx, t: &Text) -> Result<(u32, u32), DialplanError> {
    let s = t.get_ref();
    let parsed = s
        .split_once('-')
        .and_then(|(a, b)| Some((clock(a)?, clock(b)?)));
    match parsed {
        Some((a, b)) if a < b => Ok((a, b)),
        _ => cx.err(
            t.span(),
            format!("{s:?} is not a period of the day (HH:MM-HH:MM, start before end)"),
        ),
    }
}

/// `["mon-fri"]`, `["mon", "thu"]` or dates `["2026-12-01"]` → [`Days`]; neither = every day.
pub fn days(
    cx: &Ctx,
    days: &Option<Vec<Text>>,
    dates: &Option<Vec<Text>>,
    at: &Text,
) -> Result<Days, DialplanError> {
    match (days, dates) {
        (Some(_), Some(d)) => cx.err(
            d.first().map(|t| t.span()).unwrap_or(at.span()),
            "give days or dates, not both",
        ),
        (None, Some(list)) => {
            let mut v = Vec::new();
            for t in list {
                match NaiveDate::parse_from_str(t.get_ref(), "%Y-%m-%d") {
                    Ok(d) => v.push(unix_day(d)),
                    Err(_) => {
                        return cx.err(
                            t.span(),
                            format!("{:?} is not a date (YYYY-MM-DD)", t.get_ref()),
                        )
                    }
                }
            }
            if v.is_empty() {
                return cx.err(at.span(), "dates is empty");
            }
            Ok(Days::Dates(v))
        }
        (Some(list), None) => {
            let mut mask = 0u8;
            let idx = |s: &str| DAY_NAMES.iter().position(|d| *d == s.trim());
            for t in list {
                let s = t.get_ref();
                let bits = match s.split_once('-') {
                    Some((a, b)) => match (idx(a), idx(b)) {
                        (Some(a), Some(b)) if a <= b => (a..=b).fold(0u8, |m, i| m | 1 << i),
                        _ => {
                            return cx.err(
                                t.span(),
                                format!("{s:?} is not a day range like \"mon-fri\""),
                            )
                        }
                    },
                    None => match idx(s) {
                        Some(i) => 1 << i,
                        None => return cx.err(t.span(), format!("{s:?} is not a day (mon … sun)")),
                    },
                };
                mask |= bits;
            }
            if mask == 0 {
                return cx.err(at.span(), "days is empty");
            }
            Ok(Days::Weekdays(mask))
        }
        (None, None) => Ok(Days::Weekdays(0x7f)),
    }
}

fn weekday_of(day: i64) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

/// Whether two day sets share a day.
pub fn days_meet(a: &Days, b: &Days) -> bool {
    match (a, b) {
        (Days::Weekdays(x), Days::Weekdays(y)) => x & y != 0,
        (Days::Dates(x), Days::Dates(y)) => x.iter().any(|d| y.contains(d)),
        (Days::Weekdays(m), Days::Dates(d)) | (Days::Dates(d), Days::Weekdays(m)) => {
            d.iter().any(|&d| m & (1 << weekday_of(d)) != 0)
        }
    }
}

/// Parses `+08:00` / `-05:30` into seconds.
fn offset(cx: &Ctx, t: &Text) -> Result<i32, DialplanError> {
    let s = t.get_ref();
    let bad = || {
        cx.err(
            t.span(),
            format!("utc_offset {s:?} must look like \"+08:00\""),
        )
    };
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return bad(),
    };
    match clock(rest) {
        Some(v) if v <= 14 * 3600 => Ok(sign * v as i32),
        _ => bad(),
    }
}

/// What `schedules.toml` holds.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub utc_offset_secs: i32,
    pub leaders: Vec<LeaderWindow>,
}

/// Parses `schedules.toml` against the agents and lines.
pub fn parse(cx: &Ctx, agents: &Agents, lines: &[Line]) -> Result<Schedules, DialplanError> {
    let f: File = cx.parse()?;
    let utc_offset_secs = match &f.utc_offset {
        Some(t) => offset(cx, t)?,
        None => 8 * 3600,
    };
    let mut leaders: Vec<(LeaderWindow, usize)> = Vec::new();
    for e in &f.leader {
        let seat = e.seat.get_ref();
        match agents.listed.get(seat) {
            None => {
                return cx.err(
                    e.seat.span(),
                    format!("unknown seat {seat:?} (not in agents.toml)"),
                )
            }
            Some(a) if a.role != Role::Leader => {
                return cx.err(
                    e.seat.span(),
                    format!("seat {seat} must have role = \"leader\" in agents.toml"),
                )
            }
            Some(_) => {}
        }
        let mut ls = Vec::new();
        for t in &e.lines {
            if !lines.iter().any(|l| &l.number == t.get_ref()) {
                return cx.err(t.span(), format!("unknown line {:?}", t.get_ref()));
            }
            ls.push(t.get_ref().clone());
        }
        let (start, end) = period(cx, &e.time)?;
        let window = Window {
            days: days(cx, &e.days, &e.dates, &e.time)?,
            start,
            end,
        };
        let lw = LeaderWindow {
            name: e.name.get_ref().clone(),
            seat: seat.clone(),
            lines: ls,
            window,
        };
        let line_no = super::line_of(cx.text, e.name.span().start);
        for (other, other_line) in &leaders {
            let lines_meet = lw.lines.is_empty()
                || other.lines.is_empty()
                || lw.lines.iter().any(|l| other.lines.contains(l));
            if lines_meet
                && days_meet(&lw.window.days, &other.window.days)
                && lw.window.start < other.window.end
                && other.window.start < lw.window.end
            {
                return cx.err(
                    e.time.span(),
                    format!(
                        "overlapping schedule: {:?} overlaps {:?} (line {other_line})",
                        lw.name, other.name
                    ),
                );
            }
        }
        leaders.push((lw, line_no));
    }
    Ok(Schedules {
        utc_offset_secs,
        leaders: leaders.into_iter().map(|(l, _)| l).collect(),
    })
}
