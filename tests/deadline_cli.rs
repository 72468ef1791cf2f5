//! `rexian deadline` as operators run it: the real binary, the shipped 2026 calendar and
//! policy (and variants of the policy in a temporary dialplans directory), across the 2026
//! holidays, make-up working days, clock hours and working hours.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn run_in(dialplans: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(support::BIN);
    cmd.arg("deadline").args(args);
    if let Some(d) = dialplans {
        cmd.arg("--dialplans").arg(d);
    }
    // The default dialplans directory is ./dialplans; tests run from the crate root.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rexian deadline")
}

/// Runs with the shipped dialplans and returns stdout, asserting exit 0.
fn due(ty: &str, from: &str, step: Option<&str>) -> String {
    let mut args = vec!["--type", ty, "--from", from];
    if let Some(s) = step {
        args.extend(["--step", s]);
    }
    let out = run_in(None, &args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A dialplans directory with the shipped calendar and the given policy file.
fn dialplans_with_policy(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    std::fs::create_dir(dir.path().join("calendar")).unwrap();
    std::fs::copy(
        root.join("calendar/2026.toml"),
        dir.path().join("calendar/2026.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    dir
}

#[test]
fn a_complaint_from_the_eve_of_national_day_counts_saturday_10_october() {
    // 1–7 Oct off; 8, 9, 10 (Sat, make-up), 12–16, 19–23, 26, 27 → the 15th is 27 Oct.
    assert_eq!(
        due("complaint", "2026-09-30T10:00:00+08:00", None),
        "2026-10-27T23:59:59+08:00"
    );
}

#[test]
fn a_consultation_before_spring_festival_counts_saturday_14_february() {
    assert_eq!(
        due("consultation", "2026-02-13T16:00:00+08:00", None),
        "2026-02-24T23:59:59+08:00"
    );
    // The Chinese word is accepted too.
    assert_eq!(
        due("咨询", "2026-02-13T16:00:00+08:00", Some("handle")),
        "2026-02-24T23:59:59+08:00"
    );
}

#[test]
fn help_over_labour_day_counts_saturday_9_may() {
    // Thu 30 Apr; 1–5 May off; 6, 7, 8, 9 (Sat, make-up), 11 → the 5th is Mon 11 May.
    assert_eq!(
        due("help", "2026-04-30T09:00:00+08:00", None),
        "2026-05-11T23:59:59+08:00"
    );
}

#[test]
fn signing_on_new_year_s_day_is_due_on_sunday_4_january() {
    // 00:00 UTC on 1 Jan is 08:00 in Shanghai; 1–3 Jan off, Sun 4 Jan is a working day.
    assert_eq!(
        due("help", "2026-01-01T00:00:00Z", Some("sign")),
        "2026-01-04T23:59:59+08:00"
    );
}

#[test]
fn a_return_before_qingming_waits_for_the_holiday_to_end() {
    // Fri 3 Apr; 4–6 Apr off → Tue 7 Apr.
    assert_eq!(
        due("report", "2026-04-03T15:00:00+08:00", Some("return")),
        "2026-04-07T23:59:59+08:00"
    );
}

#[test]
fn clock_hours_run_through_holidays_and_nights() {
    let dir = dialplans_with_policy("[sign]\nall = \"2 h\"\n");
    let out = run_in(
        Some(dir.path()),
        &[
            "--type",
            "help",
            "--from",
            "2026-02-17T23:00:00+08:00",
            "--step",
            "sign",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2026-02-18T01:00:00+08:00"
    );
}

#[test]
fn working_hours_count_only_office_time_and_make_up_days() {
    let dir = dialplans_with_policy("[sign]\nall = \"1 wh\"\n");
    let sign = |from: &str| {
        let out = run_in(
            Some(dir.path()),
            &["--type", "complaint", "--from", from, "--step", "sign"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    // Fri 13 Feb 17:00: 30 min left that day, the other 30 on make-up Saturday 14 Feb.
    assert_eq!(
        sign("2026-02-13T17:00:00+08:00"),
        "2026-02-14T09:00:00+08:00"
    );
    // During National Day: the count starts at 08:30 on Thu 8 Oct.
    assert_eq!(
        sign("2026-10-03T10:00:00+08:00"),
        "2026-10-08T09:30:00+08:00"
    );
    // Over lunch: 11:30 → 30 min before 12:00, 30 min after 13:30.
    assert_eq!(
        sign("2026-03-02T11:30:00+08:00"),
        "2026-03-02T14:00:00+08:00"
    );
}

#[test]
fn a_count_past_the_last_calendar_year_prints_the_time_but_warns_and_exits_3() {
    let out = run_in(
        None,
        &[
            "--type",
            "consultation",
            "--from",
            "2026-12-30T09:00:00+08:00",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2027-01-01T23:59:59+08:00"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("past the last calendar year (2026)"), "{err}");
}

#[test]
fn bad_input_exits_2_with_a_message() {
    for (args, says) in [
        (
            vec!["--type", "gripe", "--from", "2026-03-02T10:00:00+08:00"],
            "unknown ticket type \"gripe\"",
        ),
        (
            vec!["--type", "help", "--from", "2026-03-02 10:00"],
            "is not an RFC 3339 time",
        ),
        (
            vec![
                "--type",
                "help",
                "--from",
                "2026-03-02T10:00:00+08:00",
                "--step",
                "visit",
            ],
            "unknown step \"visit\"",
        ),
    ] {
        let out = run_in(None, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_dialplans_directory_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        Some(&dir.path().join("nowhere")),
        &["--type", "help", "--from", "2026-03-02T10:00:00+08:00"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}
