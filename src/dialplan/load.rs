//! Reads every call-handling file under `dialplans/` in dependency order and builds one
//! validated [`Dialplan`]. Later files are checked against earlier ones (a queue names
//! prompts, a line names a queue, an agent names lines, a schedule names agents …).
//!
//! `prompts.toml`, `queues.toml`, `numbers.toml` and `trunks.toml` are required; the others
//! are optional and default as their modules say.

use std::path::{Path, PathBuf};

use super::{
    abuse, agents, emergency, experts, features, numbers, outbound, prompts, queues, schedules,
    trunks,
};
use super::{Ctx, DialplanError};
use crate::call::plan::{Agents, Dialplan};

/// The call-handling files, in the order they are read.
pub const FILES: [&str; 11] = [
    "prompts.toml",
    "queues.toml",
    "numbers.toml",
    "agents.toml",
    "schedules.toml",
    "experts.toml",
    "trunks.toml",
    "emergency.toml",
    "outbound.toml",
    "features.toml",
    "abuse.toml",
];

const REQUIRED: [&str; 4] = ["prompts.toml", "queues.toml", "numbers.toml", "trunks.toml"];

/// Loads `dir`.
pub fn load(dir: &Path) -> Result<Dialplan, DialplanError> {
    load_str(dir, &[])
}

/// Loads `dir`, with some files' text given instead of read (tests, and an admin API that
/// validates an edit before writing it).
pub fn load_str(dir: &Path, given: &[(&str, &str)]) -> Result<Dialplan, DialplanError> {
    let mut texts: Vec<(PathBuf, String)> = Vec::new();
    for name in FILES {
        let path = dir.join(name);
        let text = match given.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => t.to_string(),
            None => match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !REQUIRED.contains(&name) => {
                    String::new()
                }
                Err(e) => return Err(DialplanError::new(&path, 0, format!("cannot read: {e}"))),
            },
        };
        texts.push((path, text));
    }
    let cx = |i: usize| Ctx {
        file: &texts[i].0,
        text: &texts[i].1,
    };
    let prompts = prompts::parse(&cx(0), dir)?;
    let queues = queues::parse(&cx(1), &prompts)?;
    let nums = numbers::parse(&cx(2), &queues)?;
    let agents: Agents = agents::parse(&cx(3), &nums.lines, &nums.main)?;
    let sched = schedules::parse(&cx(4), &agents, &nums.lines)?;
    let experts = experts::parse(&cx(5), &nums.lines)?;
    let trunks = trunks::parse(&cx(6), &nums.lines)?;
    let emergency = emergency::parse(&cx(7), &trunks)?;
    let outbound = outbound::parse(&cx(8), &trunks, &nums.main)?;
    let features = features::parse(&cx(9))?;
    let abuse = abuse::parse(&cx(10), &nums.area_code)?;
    Ok(Dialplan {
        main: nums.main,
        area_code: nums.area_code,
        priority_callers: nums.priority_callers,
        utc_offset_secs: sched.utc_offset_secs,
        lines: nums.lines,
        queues,
        agents,
        experts,
        leader_windows: sched.leaders,
        trunks,
        prompts,
        emergency,
        outbound,
        features,
        abuse,
    })
}
