//! Agents' phones registering with the running daemon over real sockets: sipp (MD5 digest),
//! baresip (a real softphone, MD5) and linphonec (SHA-256, RFC 8760), plus the answers an
//! attacker gets and a clean stop on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use support::{http_get, sipp, sipp_scenario, Daemon};

/// The supervisor view of the registrations, as JSON text.
fn registrations(d: &Daemon, token: &str) -> String {
    let (status, body) = http_get(d.http, "/api/v1/registrations", Some(token));
    assert_eq!(status, 200, "{body}");
    body
}

fn supervisor_token(d: &Daemon) -> String {
    let out = d.cli(&["token", "create", "--role", "supervisor"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Polls `cond` until it holds or `limit` passes; the failure names what was awaited.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn register(d: &Daemon, scenario: &str, user: &str, password: &str) -> support::SippRun {
    sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario(scenario).to_str().unwrap(),
            "-s",
            user,
            "-au",
            user,
            "-ap",
            password,
            "-m",
            "1",
        ],
    )
}

#[test]
fn a_phone_registers_with_md5_digest_and_the_api_lists_it() {
    let d = Daemon::start_with_agents(&[("1001", "secret-1001")], &[]);
    let token = supervisor_token(&d);
    let run = register(&d, "register_auth.xml", "1001", "secret-1001");
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let regs = registrations(&d, &token);
    assert!(regs.contains("\"account\":\"1001\""), "{regs}");
    assert!(regs.contains("\"transport\":\"UDP\""), "{regs}");
    let (_, metrics) = http_get(d.http, "/metrics", None);
    assert!(metrics.contains("rexian_registrations 1"), "{metrics}");
}

#[test]
fn an_agent_added_while_the_daemon_runs_can_register_within_seconds() {
    // Loopback is exempt from lockout here, so the retries below cannot lock the agent out.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(&cfg, "[auth]\nexempt = [\"127.0.0.1\"]\n").unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    d.add_agent("1002", "secret-1002");
    wait_for(
        "the new account to register",
        Duration::from_secs(20),
        || {
            register(&d, "register_auth.xml", "1002", "secret-1002")
                .status
                .success()
        },
    );
}

#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let d = Daemon::start(&[]);
    d.add_agent("1001", "secret-1001");
    let token = supervisor_token(&d);
    // Both scenarios expect 401 to the credentials, never 200, 403 or 404.
    for user in ["1001", "9999"] {
        let run = register(&d, "register_bad_password.xml", user, "not-the-password");
        assert!(
            run.status.success(),
            "{user}: {}\n{}",
            run.stdout,
            run.stderr
        );
    }
    assert_eq!(registrations(&d, &token), "[]");
}

#[test]
fn sigterm_stops_the_daemon_cleanly_with_exit_0() {
    let d = Daemon::start_with_agents(&[("1001", "secret-1001")], &[]);
    let run = register(&d, "register_auth.xml", "1001", "secret-1001");
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let status = d.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
