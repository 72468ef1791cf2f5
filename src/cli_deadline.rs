//! `rexian deadline`: when is a step of a ticket due, computed from the calendar and policy
//! in the dialplans exactly as the daemon computes it.
//!
//! Exit codes: 0 the due time is printed; 1 the config or dialplans cannot be loaded;
//! 2 bad input (type, step or start time), with a message; 3 the due time is printed but the
//! count reached into a year the calendar does not know (only weekends were skipped there), so
//! it is provisional — stderr says so, and scripts cannot mistake it for a firm answer.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::DateTime;
use clap::Args;

use crate::config::Config;
use crate::workflow::{deadline_for, shanghai, Step, TicketType};

#[derive(Args, Debug, Clone)]
pub struct DeadlineArgs {
    /// consultation, help, suggestion, praise, complaint, report or appeal (or 咨询, 求助 …).
    #[arg(long = "type")]
    pub ticket_type: String,
    /// When the clock starts, RFC 3339 (e.g. 2026-09-30T10:00:00+08:00).
    #[arg(long)]
    pub from: String,
    /// handle (default), sign or return.
    #[arg(long, default_value = "handle")]
    pub step: String,
    /// The dialplans directory (default as for `serve`: the config's, else ./dialplans).
    #[arg(long)]
    pub dialplans: Option<PathBuf>,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Exit code when the due time relies on a year missing from the calendar.
pub const EXIT_BEYOND_CALENDAR: u8 = 3;

fn bad(msg: String) -> ExitCode {
    eprintln!("rexian deadline: {msg}");
    ExitCode::from(2)
}

fn parse_step(s: &str) -> Option<Step> {
    match s.trim() {
        "handle" => Some(Step::Handle),
        "sign" => Some(Step::Sign),
        "return" => Some(Step::Return),
        _ => None,
    }
}

/// Runs the subcommand and returns its exit code; all output is printed here.
pub fn run(args: &DeadlineArgs) -> ExitCode {
    let ty: TicketType = match args.ticket_type.parse() {
        Ok(t) => t,
        Err(e) => return bad(format!("--type: {e}")),
    };
    let Some(step) = parse_step(&args.step) else {
        return bad(format!(
            "--step: unknown step {:?}; expected handle, sign or return",
            args.step
        ));
    };
    let from = match DateTime::parse_from_rfc3339(args.from.trim()) {
        Ok(t) => t,
        Err(e) => {
            return bad(format!(
                "--from: {:?} is not an RFC 3339 time such as 2026-09-30T10:00:00+08:00 ({e})",
                args.from
            ))
        }
    };
    let mut config = match &args.config {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rexian deadline: {e}");
                return ExitCode::from(1);
            }
        },
        None => Config::default(),
    };
    if let Some(d) = &args.dialplans {
        config.dialplans = d.clone();
    }
    let calendar = match crate::dialplan::calendar::load(&config.dialplans) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rexian deadline: {e}");
            return ExitCode::from(1);
        }
    };
    let policy = match crate::dialplan::policy::load(&config.dialplans) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rexian deadline: {e}");
            return ExitCode::from(1);
        }
    };
    let due = match deadline_for(&calendar, &policy, ty, step, from) {
        Ok(d) => d,
        Err(e) => return bad(format!("--from {}: {e}", args.from)),
    };
    println!("{}", due.at.with_timezone(&shanghai()).to_rfc3339());
    if due.beyond_calendar {
        let last = calendar
            .years()
            .map(|(_, last)| last.to_string())
            .unwrap_or_else(|| "none".to_string());
        eprintln!(
            "rexian deadline: warning: the count reaches past the last calendar year ({last}); \
             only weekends were skipped there, so this time is provisional. Add that year's \
             calendar under {}/calendar/",
            config.dialplans.display()
        );
        return ExitCode::from(EXIT_BEYOND_CALENDAR);
    }
    ExitCode::SUCCESS
}
