//! In-call feature codes typed on the agent's keypad (RFC 4733 events or SIP INFO arrive one
//! key at a time): collected per call and decoded against the plan the call arrived under.
//! An emergency code completes on its last digit; codes with a number on `#` or a pause.

use std::time::{Duration, Instant};

use super::{CallControl, Phase, Timer};
use crate::call::agent::CallId;
use crate::call::plan::Dialplan;

/// How long the agent may pause between the digits of an in-call feature code.
pub const DIGIT_TIMEOUT: Duration = Duration::from_secs(3);

/// A feature code typed on the keypad during a call, as far as it has come.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Digits {
    /// Wait for more (or the `#` terminator, or the pause).
    More,
    /// A whole code: carry it out.
    Done(String),
    /// Not a code.
    Invalid,
}

/// Classifies the keys typed so far against the call's feature codes and emergency numbers.
/// Emergency codes complete on the last digit of a listed number (no `#` needed when every
/// second counts); the other codes with a number complete on `#` or after a pause.
pub(super) fn classify(plan: &Dialplan, typed: &str, paused: bool) -> Digits {
    let f = &plan.features;
    let simple = [
        &f.login,
        &f.logout,
        &f.ready,
        &f.not_ready,
        &f.complete,
        &f.back,
    ];
    let with_number = [&f.three_way, &f.emergency, &f.blind_transfer, &f.consult];
    if simple.iter().any(|c| c.as_str() == typed) {
        return Digits::Done(typed.to_string());
    }
    if let Some(n) = typed.strip_prefix(f.emergency.as_str()) {
        let longer = |n: &str| {
            plan.emergency
                .numbers
                .iter()
                .any(|(x, _)| x.len() > n.len() && x.starts_with(n))
        };
        if plan.is_emergency(n) && !longer(n) {
            return Digits::Done(typed.to_string());
        }
    }
    if let Some(body) = typed.strip_suffix('#') {
        let is_prefix_code = with_number.iter().any(|c| c.as_str() == typed);
        if !is_prefix_code && with_number.iter().any(|c| body.starts_with(c.as_str())) {
            return Digits::Done(body.to_string());
        }
    }
    let has_number = with_number
        .iter()
        .any(|c| typed.len() > c.len() && typed.starts_with(c.as_str()));
    if paused {
        return if has_number {
            Digits::Done(typed.to_string())
        } else {
            Digits::Invalid
        };
    }
    let could_grow = simple
        .iter()
        .chain(with_number.iter())
        .any(|c| c.starts_with(typed) || typed.starts_with(c.as_str()));
    if could_grow {
        Digits::More
    } else {
        Digits::Invalid
    }
}

impl CallControl {
    /// One key from an agent on a call: collects feature codes (`*3` 12320 `#`, `*0110` …).
    pub(super) fn agent_key(&mut self, agent: String, call: CallId, key: char, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.digits.is_empty() && key != '*' && key != '#' {
            return; // an ordinary key press (an IVR at the far end, say): not ours
        }
        c.digits.push(key);
        c.digits_gen += 1;
        let gen = c.digits_gen;
        let verdict = classify(&c.plan, &c.digits, false);
        match verdict {
            Digits::More => self.arm(now + DIGIT_TIMEOUT, Timer::Digits { call, gen }),
            Digits::Done(code) => {
                c.digits.clear();
                self.feature(agent, Some(call), code, now);
            }
            Digits::Invalid => {
                let typed = std::mem::take(&mut c.digits);
                self.refuse(&agent, &typed, "unknown feature code");
            }
        }
    }

    /// The agent paused while typing a code.
    pub(super) fn digits_paused(&mut self, call: CallId, gen: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.digits_gen != gen || c.digits.is_empty() {
            return;
        }
        let typed = std::mem::take(&mut c.digits);
        let agent = match c.phase {
            Phase::Talking { agent } => self.acd.get(agent).id().to_string(),
            _ => return,
        };
        match classify(&self.calls[&call].plan, &typed, true) {
            Digits::Done(code) => self.feature(agent, Some(call), code, now),
            _ => self.refuse(&agent, &typed, "unknown feature code"),
        }
    }
}
