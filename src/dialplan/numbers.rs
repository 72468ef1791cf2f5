//! `numbers.toml`: 12345 and every legacy number merged into it (热线归并).
//!
//! ```toml
//! area_code = "0398"            # for local landlines that arrive without one
//! priority_callers = []         # numbers queued ahead of others (适老化: registered elderly…)
//!
//! [[line]]
//! number = "12345"
//! name = "12345政务服务便民热线"
//! type = "main"                 # main | whole | dual | subcentre
//! queue = "main"
//!
//! [[line]]
//! number = "12320"
//! name = "卫生"
//! department = "市卫生健康委"
//! type = "dual"                 # 双号并行: own seats first…
//! queue = "health"
//! overflow_after_secs = 30      # …then 12345 agents too
//! experts = true                # 设专家座席
//!
//! [[line]]
//! number = "12366"
//! type = "subcentre"            # 设分中心: dialled for transfers and three-way calls
//! dial = "12366"
//! ```
//!
//! Whole-merge and sub-centre lines use the main line's queue unless `queue` says otherwise.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{is_number, Ctx, DialplanError};
use crate::call::caller::{normalise, CallerKind};
use crate::call::plan::{Line, MergeType, Queue};

type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    area_code: Text,
    #[serde(default)]
    priority_callers: Vec<Text>,
    #[serde(default)]
    line: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    number: Text,
    name: Text,
    #[serde(default)]
    department: Option<String>,
    #[serde(rename = "type")]
    kind: Text,
    #[serde(default)]
    queue: Option<Text>,
    #[serde(default)]
    overflow_after_secs: Option<Spanned<i64>>,
    #[serde(default)]
    experts: Option<Spanned<bool>>,
    #[serde(default)]
    dial: Option<Text>,
    #[serde(default)]
    rating: Option<bool>,
}

/// What `numbers.toml` holds.
#[derive(Debug, Clone)]
pub struct Numbers {
    pub main: String,
    pub area_code: String,
    pub priority_callers: Vec<String>,
    pub lines: Vec<Line>,
}

/// Parses `numbers.toml` against the known queues.
pub fn parse(cx: &Ctx, queues: &[Queue]) -> Result<Numbers, DialplanError> {
    let f: File = cx.parse()?;
    let ac = f.area_code.get_ref();
    if !(ac.starts_with('0')
        && (3..=4).contains(&ac.len())
        && ac.bytes().all(|b| b.is_ascii_digit()))
    {
        return cx.err(
            f.area_code.span(),
            format!("area_code {ac:?} must be 0 and 2–3 digits, like \"0398\""),
        );
    }
    let mains: Vec<&Entry> = f
        .line
        .iter()
        .filter(|e| e.kind.get_ref() == "main")
        .collect();
    let main = match mains.as_slice() {
        [m] => m,
        [] => {
            return Err(DialplanError::new(
                cx.file,
                1,
                "no line has type = \"main\" (the 12345 line)",
            ))
        }
        [_, second, ..] => {
            return cx.err(second.kind.span(), "only one line may have type = \"main\"")
        }
    };
    let Some(main_queue) = &main.queue else {
        return cx.err(main.number.span(), "the main line needs a queue");
    };
    let mut lines: Vec<Line> = Vec::new();
    for e in &f.line {
        let number = e.number.get_ref();
        if !is_number(number) {
            return cx.err(
                e.number.span(),
                format!("{number:?} is not a number (3–20 digits)"),
            );
        }
        if lines.iter().any(|l| &l.number == number) {
            return cx.err(e.number.span(), format!("duplicate number {number}"));
        }
        let merge = match e.kind.get_ref().as_str() {
            "main" => MergeType::Main,
            "whole" => MergeType::Whole,
            "dual" => MergeType::Dual,
            "subcentre" => MergeType::SubCentre,
            other => {
                return cx.err(
                    e.kind.span(),
                    format!("type {other:?}: use \"main\", \"whole\" (整体并入), \"dual\" (双号并行) or \"subcentre\" (设分中心)"),
                )
            }
        };
        let queue_ref = e.queue.as_ref().unwrap_or(main_queue);
        if !queues.iter().any(|q| &q.name == queue_ref.get_ref()) {
            return cx.err(
                queue_ref.span(),
                format!("unknown queue {:?}", queue_ref.get_ref()),
            );
        }
        let overflow_after = match (&e.overflow_after_secs, merge) {
            (Some(v), MergeType::Dual) => {
                let n = *v.get_ref();
                if !(0..=3600).contains(&n) {
                    return cx.err(
                        v.span(),
                        format!("overflow_after_secs must be between 0 and 3600, not {n}"),
                    );
                }
                Some(Duration::from_secs(n as u64))
            }
            (Some(v), _) => {
                return cx.err(
                    v.span(),
                    "overflow_after_secs applies only to dual-number lines",
                )
            }
            (None, MergeType::Dual) => {
                return cx.err(
                    e.kind.span(),
                    format!("dual-number line {number} needs overflow_after_secs"),
                )
            }
            (None, _) => None,
        };
        if let Some(x) = &e.experts {
            if *x.get_ref() && merge != MergeType::Dual {
                return cx.err(
                    x.span(),
                    "expert seats (experts = true) belong to dual-number lines",
                );
            }
        }
        let subcentre_dial = match (&e.dial, merge) {
            (Some(d), MergeType::SubCentre) => {
                if !is_number(d.get_ref()) {
                    return cx.err(d.span(), format!("dial {:?} is not a number", d.get_ref()));
                }
                Some(d.get_ref().clone())
            }
            (Some(d), _) => return cx.err(d.span(), "dial applies only to sub-centre lines"),
            (None, MergeType::SubCentre) => {
                return cx.err(
                    e.kind.span(),
                    format!("sub-centre line {number} needs dial (the number that reaches it)"),
                )
            }
            (None, _) => None,
        };
        lines.push(Line {
            number: number.clone(),
            name: e.name.get_ref().clone(),
            department: e.department.clone(),
            merge,
            queue: queue_ref.get_ref().clone(),
            overflow_after,
            experts: e.experts.as_ref().is_some_and(|x| *x.get_ref()),
            subcentre_dial,
            rating: e.rating,
        });
    }
    let mut priority_callers = Vec::new();
    for p in &f.priority_callers {
        let c = normalise(p.get_ref(), false, ac);
        match c.abuse_key() {
            Some(n) if c.kind != CallerKind::Unknown => priority_callers.push(n.to_string()),
            _ => {
                return cx.err(
                    p.span(),
                    format!("priority caller {:?} is not a phone number", p.get_ref()),
                )
            }
        }
    }
    Ok(Numbers {
        main: main.number.get_ref().clone(),
        area_code: ac.clone(),
        priority_callers,
        lines,
    })
}
