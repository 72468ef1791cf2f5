//! Reloading the working-day calendar in the running daemon: `POST /api/v1/reload` and SIGHUP
//! re-read `dialplans/calendar/` with the dialplans, new deadlines follow the new calendar,
//! and a calendar that does not validate is refused (with file:line) while the old one stays.
//! Expected deadlines come from `rexian deadline` run on a snapshot of the files.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use serde_json::Value;
use support::{http_send, wait_for, Daemon, BIN};

fn token(d: &Daemon, role: &str, id: &str) -> String {
    let out = d.cli(&["token", "create", "--role", role, "--id", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Calendar files for `years`, each with the given days off (inclusive ranges).
fn write_calendar(plans: &Path, years: &[i32], off: &[(NaiveDate, NaiveDate)]) {
    let dir = plans.join("calendar");
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    for &y in years {
        let mut text = format!("year = {y}\n");
        for (a, b) in off.iter().filter(|(a, _)| a.year() == y) {
            text.push_str(&format!(
                "\n[[holiday]]\nname = \"检修\"\noff = [\"{a}..{b}\"]\n"
            ));
        }
        std::fs::write(dir.join(format!("{y}.toml")), text).unwrap();
    }
}

/// A copy of what `rexian deadline` reads (calendar and policy), to compute expectations with
/// the files as they are now.
fn snapshot(plans: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to.join("calendar")).unwrap();
    std::fs::copy(plans.join("policy.toml"), to.join("policy.toml")).unwrap();
    for e in std::fs::read_dir(plans.join("calendar")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join("calendar").join(p.file_name().unwrap())).unwrap();
    }
    to.to_path_buf()
}

/// When a consultation started at `from` is due under the calendar in `plans`.
fn expected(plans: &Path, from: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "deadline",
            "--type",
            "consultation",
            "--from",
            from,
            "--dialplans",
        ])
        .arg(plans)
        .env("REXIAN_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Creates a consultation dispatched to u1; returns (started_at, deadline).
fn create(d: &Daemon, agent: &str) -> (String, String) {
    let body = r#"{"type":"consultation","facts":"办事指南","dispatch_to":"u1"}"#;
    let (st, b) = http_send(d.http, "POST", "/api/v1/tickets", Some(agent), body);
    assert_eq!(st, 201, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    (s("started_at"), s("deadline"))
}

#[test]
fn the_calendar_is_reloaded_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plans = support::dialplans_copy(dir.path());
    let today = Utc::now()
        .with_timezone(&rexian::workflow::shanghai())
        .date_naive();
    let years = [today.year(), today.year() + 1];
    write_calendar(&plans, &years, &[]);
    let d = Daemon::start(&["--dialplans", plans.to_str().unwrap()]);
    let admin = token(&d, "admin", "root");
    let agent = token(&d, "agent", "7001");
    let unit = r#"{"id":"u1","name":"市政务服务中心"}"#;
    assert_eq!(
        http_send(d.http, "POST", "/api/v1/units", Some(&admin), unit).0,
        201
    );

    // Weekends only: the daemon counts what `rexian deadline` counts.
    let weekends = snapshot(&plans, &dir.path().join("weekends"));
    let (start, due) = create(&d, &agent);
    assert_eq!(due, expected(&weekends, &start));

    // Two weeks off from tomorrow: after a reload, new tickets count around them.
    let (a, b) = (today + Days::days(1), today + Days::days(14));
    let off: Vec<(NaiveDate, NaiveDate)> = if a.year() == b.year() {
        vec![(a, b)]
    } else {
        let new_year = NaiveDate::from_ymd_opt(b.year(), 1, 1).unwrap();
        vec![(a, new_year - Days::days(1)), (new_year, b)]
    };
    write_calendar(&plans, &years, &off);
    let holidays = snapshot(&plans, &dir.path().join("holidays"));
    let (st, body) = http_send(d.http, "POST", "/api/v1/reload", Some(&admin), "");
    assert_eq!(st, 200, "{body}");
    let (start, due) = create(&d, &agent);
    assert_eq!(due, expected(&holidays, &start));
    assert_ne!(
        due,
        expected(&weekends, &start),
        "the holidays must move the deadline"
    );

    // A calendar that does not validate is refused with its file and line; the old stays.
    let broken = plans.join("calendar").join(format!("{}.toml", years[0]));
    let mut text = std::fs::read_to_string(&broken).unwrap();
    text.push_str(&format!(
        "\n[[holiday]]\nname = \"坏\"\noff = [\"{}-02-30\"]\n",
        years[0]
    ));
    std::fs::write(&broken, text).unwrap();
    let (st, body) = http_send(d.http, "POST", "/api/v1/reload", Some(&admin), "");
    assert_eq!(st, 422, "{body}");
    assert!(body.contains(&format!("{}.toml:", years[0])), "{body}");
    assert!(body.contains("is not a date"), "{body}");
    let (start, due) = create(&d, &agent);
    assert_eq!(due, expected(&holidays, &start));

    // SIGHUP reloads too: back to weekends only.
    write_calendar(&plans, &years, &[]);
    let pid = d.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_for(
        "the calendar reloaded by SIGHUP",
        Duration::from_secs(10),
        || {
            let (start, due) = create(&d, &agent);
            (due == expected(&weekends, &start)).then_some(())
        },
    );
}
