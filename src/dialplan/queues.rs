//! `queues.toml`: what a waiting caller hears and how long each step may take.
//!
//! ```toml
//! [[queue]]
//! name = "main"
//! greeting = ["greeting"]      # prompt names, played after rexian answers
//! moh = "moh"
//! max_wait_secs = 600
//! max_length = 200             # optional: more waiting callers get on_max_wait at once
//! on_max_wait = "callback"     # or "hangup"
//! announce_every_secs = 45     # position announcements; 0 = never
//! announce_expected_wait = true  # "预计等待约 N 分钟" after the position
//! ring_timeout_secs = 15
//! wrap_up_secs = 10
//! rating = true                # 好差评 after the agent hangs up first
//! callback_key = "1"           # optional
//! callback_attempts = 3        # calls to reach a caller who asked for a callback (0 = none)
//! callback_retry_secs = 300    # pause between them
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::{Overflow, Prompts, Queue};

type Text = Spanned<String>;

/// The prompts an expected-wait announcement adds.
pub const WAIT_PROMPTS: [&str; 2] = ["queue_expect", "queue_minutes"];

/// The prompts a position announcement is made of.
pub const POSITION_PROMPTS: [&str; 5] = [
    "queue_ahead",
    "queue_unit",
    "queue_waiting",
    "digit_1",
    "digit_10",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    queue: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Text,
    greeting: Vec<Text>,
    moh: Text,
    max_wait_secs: Spanned<i64>,
    #[serde(default)]
    max_length: Option<Spanned<i64>>,
    on_max_wait: Text,
    #[serde(default)]
    announce_every_secs: Option<Spanned<i64>>,
    #[serde(default)]
    announce_expected_wait: Option<Spanned<bool>>,
    ring_timeout_secs: Spanned<i64>,
    wrap_up_secs: Spanned<i64>,
    #[serde(default)]
    rating: bool,
    #[serde(default)]
    callback_key: Option<Text>,
    #[serde(default)]
    callback_attempts: Option<Spanned<i64>>,
    #[serde(default)]
    callback_retry_secs: Option<Spanned<i64>>,
}

fn secs(
    cx: &Ctx,
    v: &Spanned<i64>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Duration, DialplanError> {
    let n = *v.get_ref();
    if n < min || n > max {
        return cx.err(
            v.span(),
            format!("{key} must be between {min} and {max} seconds, not {n}"),
        );
    }
    Ok(Duration::from_secs(n as u64))
}

fn prompt(cx: &Ctx, prompts: &Prompts, t: &Text) -> Result<String, DialplanError> {
    if prompts.files.contains_key(t.get_ref()) {
        Ok(t.get_ref().clone())
    } else {
        cx.err(
            t.span(),
            format!(
                "unknown prompt {:?} (no such file in the prompt directory or [files])",
                t.get_ref()
            ),
        )
    }
}

/// Parses `queues.toml` against the known prompts.
pub fn parse(cx: &Ctx, prompts: &Prompts) -> Result<Vec<Queue>, DialplanError> {
    let f: File = cx.parse()?;
    let mut out: Vec<Queue> = Vec::new();
    if f.queue.is_empty() {
        return Err(DialplanError::new(cx.file, 1, "no [[queue]] defined"));
    }
    for e in &f.queue {
        let name = e.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return cx.err(
                e.name.span(),
                format!("queue name {name:?}: use letters, digits, '-' or '_'"),
            );
        }
        if out.iter().any(|q| &q.name == name) {
            return cx.err(e.name.span(), format!("duplicate queue {name:?}"));
        }
        let greeting = e
            .greeting
            .iter()
            .map(|t| prompt(cx, prompts, t))
            .collect::<Result<Vec<_>, _>>()?;
        let moh = prompt(cx, prompts, &e.moh)?;
        let on_max_wait = match e.on_max_wait.get_ref().as_str() {
            "callback" => Overflow::Callback,
            "hangup" => Overflow::Hangup,
            other => {
                return cx.err(
                    e.on_max_wait.span(),
                    format!("on_max_wait {other:?}: use \"callback\" or \"hangup\""),
                )
            }
        };
        let announce_every = match &e.announce_every_secs {
            None => None,
            Some(v) if *v.get_ref() == 0 => None,
            Some(v) => {
                for p in POSITION_PROMPTS {
                    if !prompts.files.contains_key(p) {
                        return cx.err(
                            v.span(),
                            format!("position announcements need the prompt {p:?}"),
                        );
                    }
                }
                Some(secs(cx, v, "announce_every_secs", 10, 3600)?)
            }
        };
        let callback_key = match &e.callback_key {
            None => None,
            Some(t) => {
                let s = t.get_ref();
                let mut cs = s.chars();
                match (cs.next(), cs.next()) {
                    (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
                    _ => {
                        return cx.err(
                            t.span(),
                            format!("callback_key {s:?} must be one key: 0-9, * or #"),
                        )
                    }
                }
            }
        };
        out.push(Queue {
            name: name.clone(),
            greeting,
            moh,
            max_wait: secs(cx, &e.max_wait_secs, "max_wait_secs", 10, 24 * 3600)?,
            max_length: match &e.max_length {
                None => None,
                Some(v) if (1..=100_000).contains(v.get_ref()) => Some(*v.get_ref() as usize),
                Some(v) => {
                    return cx.err(
                        v.span(),
                        format!(
                            "max_length must be between 1 and 100000, not {}",
                            v.get_ref()
                        ),
                    )
                }
            },
            on_max_wait,
            announce_every,
            announce_expected_wait: match &e.announce_expected_wait {
                Some(v) if *v.get_ref() => {
                    if announce_every.is_none() {
                        return cx
                            .err(v.span(), "announce_expected_wait needs announce_every_secs");
                    }
                    for p in WAIT_PROMPTS {
                        if !prompts.files.contains_key(p) {
                            return cx.err(
                                v.span(),
                                format!("expected-wait announcements need the prompt {p:?}"),
                            );
                        }
                    }
                    true
                }
                _ => false,
            },
            ring_timeout: secs(cx, &e.ring_timeout_secs, "ring_timeout_secs", 5, 300)?,
            wrap_up: secs(cx, &e.wrap_up_secs, "wrap_up_secs", 0, 3600)?,
            rating: e.rating,
            callback_key,
            callback_attempts: cx.range(&e.callback_attempts, "callback_attempts", 0, 10, 3)?
                as u32,
            callback_retry: match &e.callback_retry_secs {
                None => Duration::from_secs(300),
                Some(v) => secs(cx, v, "callback_retry_secs", 30, 24 * 3600)?,
            },
        });
    }
    Ok(out)
}
