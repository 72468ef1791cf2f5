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

#[test]
fn baresip_registers_as_an_agent_with_md5() {
    let d = Daemon::start_with_agents(&[("7001", "secret-7001")], &[]);
    let token = supervisor_token(&d);
    let phone = support::phones::Baresip::start(d.sip, "7001", "secret-7001", None);
    let source = format!("\"source\":\"127.0.0.1:{}\"", phone.sip_port);
    wait_for("baresip's binding", Duration::from_secs(20), || {
        let regs = registrations(&d, &token);
        regs.contains("\"account\":\"7001\"") && regs.contains(&source)
    });
}

#[test]
fn linphonec_registers_with_sha256_when_the_site_requires_it() {
    // With SHA-256 alone, an MD5 answer is refused: a binding proves SHA-256 digest worked.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(&cfg, "[auth]\nalgorithms = [\"SHA-256\"]\n").unwrap();
    let d = Daemon::start_with_agents(
        &[("7002", "secret-7002")],
        &["--config", cfg.to_str().unwrap()],
    );
    let token = supervisor_token(&d);
    let phone = support::phones::Linphonec::start(d.sip, "7002", "secret-7002", "rexian");
    let source = format!("\"source\":\"127.0.0.1:{}\"", phone.sip_port);
    wait_for("linphonec's binding", Duration::from_secs(20), || {
        let regs = registrations(&d, &token);
        regs.contains("\"account\":\"7002\"") && regs.contains(&source)
    });
    // The challenge itself offers SHA-256 alone.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let msg = format!(
        "REGISTER sip:{0} SIP/2.0\r\nVia: SIP/2.0/UDP {1};branch=z9hG4bKsha\r\n\
         From: <sip:7002@{0}>;tag=1\r\nTo: <sip:7002@{0}>\r\nCall-ID: sha@test\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:7002@{1}>\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        d.sip, me
    );
    sock.send_to(msg.as_bytes(), d.sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("a challenge");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("SIP/2.0 401 "), "{text}");
    assert_eq!(text.matches("WWW-Authenticate:").count(), 1, "{text}");
    assert!(text.contains("algorithm=SHA-256"), "{text}");
}
