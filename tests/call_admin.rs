//! The operator's side of live calls: `rexian status` (queues, agents, calls) and
//! `rexian reload` against a running daemon, a dialplan that does not validate refused with
//! its file and line while the old one stays, and SIGHUP.

mod support;

use std::process::Command;

use support::{http_get, sipp, sipp_scenario, Daemon, BIN};

fn rexian(d: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(d.data_dir())
        .args(["--http", &d.http.to_string()])
        .env("REXIAN_LOG", "warn")
        .output()
        .expect("run rexian")
}

#[test]
fn status_shows_a_registered_agent_ready_and_no_calls() {
    let d = Daemon::start_with_agents(&[("7001", "secret-7001")], &[]);
    let run = sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("register_auth.xml").to_str().unwrap(),
            "-s",
            "7001",
            "-au",
            "7001",
            "-ap",
            "secret-7001",
            "-m",
            "1",
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    let out = rexian(&d, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls_in_progress"], 0);
    let agent = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "7001")
        .expect("agent 7001 listed");
    assert_eq!(agent["state"], "ready");
    assert_eq!(agent["registered"], true);
    let text = String::from_utf8(rexian(&d, &["status"]).stdout).unwrap();
    assert!(text.contains("queue main: 0 waiting"), "{text}");
    assert!(text.contains("7001"), "{text}");
    // Without a token the API refuses; the CLI used its own, kept private.
    assert_eq!(http_get(d.http, "/api/v1/status", None).0, 401);
    let mode = std::fs::metadata(d.data_dir().join("cli.token")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_broken_dialplan_is_refused_on_reload_and_the_old_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let plans = support::dialplans_copy(dir.path());
    let d = Daemon::start(&["--dialplans", plans.to_str().unwrap()]);
    let ok = rexian(&d, &["reload"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("queues"));

    let queues = plans.join("queues.toml");
    let mut text = std::fs::read_to_string(&queues).unwrap();
    text.push_str("\nbogus_key = 1\n");
    std::fs::write(&queues, &text).unwrap();
    let bad = rexian(&d, &["reload"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("queues.toml:"), "{err}");
    assert!(err.contains("bogus_key"), "{err}");
    // SIGHUP with the same broken plan: logged and refused, the daemon carries on.
    let pid = d.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    // The old plan still routes calls: a trunk call is answered with the greeting.
    let run = sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("trunk_late_offer.xml").to_str().unwrap(),
            "-s",
            "12345",
            "-m",
            "1",
            "-d",
            "500",
        ],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(http_get(d.http, "/healthz", None).0, 200);
}

#[test]
fn a_restricted_caller_is_told_so_and_the_call_ends_until_the_restriction_is_lifted() {
    let d = Daemon::start(&[]);
    let add = rexian(
        &d,
        &[
            "restrict",
            "add",
            "13900139000",
            "--minutes",
            "30",
            "--note",
            "test",
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let listed = String::from_utf8(rexian(&d, &["restrict", "list"]).stdout).unwrap();
    assert!(
        listed.contains("13900139000") && listed.contains("supervisor"),
        "{listed}"
    );
    // The trunk scenario calls from 13900139000; rexian plays the notice and hangs up first,
    // so sipp's own ending is not what is checked here: the call record is.
    let _ = sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("trunk_late_offer.xml").to_str().unwrap(),
            "-s",
            "12345",
            "-m",
            "1",
            "-d",
            "30000",
        ],
    );
    let record = support::latest_call(&d.data_dir(), std::time::Duration::from_secs(40), |_| true);
    assert_eq!(record.hangup_cause, "restricted");
    assert_eq!(record.caller, "13900139000");
    let lift = rexian(&d, &["restrict", "lift", "13900139000"]);
    assert!(
        lift.status.success(),
        "{}",
        String::from_utf8_lossy(&lift.stderr)
    );
    assert!(String::from_utf8_lossy(&lift.stdout).contains("no caller is restricted"));
    let bad = rexian(&d, &["restrict", "add", "not-a-number", "--minutes", "5"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("400"));
}

#[test]
fn agents_change_their_own_state_and_supervisors_anyones() {
    let d = Daemon::start_with_agents(&[("7001", "secret-7001")], &[]);
    let token = |role: &str, id: &str| {
        let out = d.cli(&["token", "create", "--role", role, "--id", id]);
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let own = token("agent", "7001");
    let other = token("agent", "7002");
    let boss = token("supervisor", "zhang");
    let path = "/api/v1/agents/7001/state";
    let (code, body) = support::http_send(
        d.http,
        "POST",
        path,
        Some(&own),
        r#"{"action": "not_ready", "reason": "话后整理"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"], "not_ready");
    assert_eq!(v["reason"], "话后整理");
    let (code, _) =
        support::http_send(d.http, "POST", path, Some(&other), r#"{"action": "ready"}"#);
    assert_eq!(code, 403, "another agent may not");
    let (code, body) =
        support::http_send(d.http, "POST", path, Some(&boss), r#"{"action": "ready"}"#);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"state\":\"ready\""), "{body}");
    let (code, body) =
        support::http_send(d.http, "POST", path, Some(&boss), r#"{"action": "nap"}"#);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("not_ready"),
        "the error says what is accepted: {body}"
    );
}

#[test]
fn an_agent_dials_feature_codes_from_the_softphone() {
    let d = Daemon::start_with_agents(&[("7001", "secret-7001")], &[]);
    let register = sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("register_auth.xml").to_str().unwrap(),
            "-s",
            "7001",
            "-au",
            "7001",
            "-ap",
            "secret-7001",
            "-m",
            "1",
        ],
    );
    assert!(register.status.success(), "{}", register.stderr);
    let dial = |code: &str| {
        let media = support::free_udp_port().to_string();
        sipp(
            d.sip,
            &[
                "-sf",
                sipp_scenario("agent_feature.xml").to_str().unwrap(),
                "-s",
                code,
                "-key",
                "agent",
                "7001",
                "-au",
                "7001",
                "-ap",
                "secret-7001",
                "-mp",
                &media,
                "-m",
                "1",
            ],
        )
    };
    let state = || {
        let out = rexian(&d, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "7001")
            .map(|a| a["state"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(state(), "ready");
    // 407, answered, a short confirmation, BYE from rexian: the scenario checks each step.
    let run = dial("*24");
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(state(), "not_ready");
    let run = dial("*23");
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(state(), "ready");
}
