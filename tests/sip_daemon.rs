//! The daemon on real sockets, against sipp: OPTIONS keep-alive, a malformed request answered
//! 400 naming the fault, the HTTP surface and `rexian check`.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::{http_get, sipp, sipp_scenario, Daemon};

#[test]
fn options_is_answered_200_with_allow() {
    let d = Daemon::start(&[]);
    let run = sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("options.xml").to_str().unwrap(),
            "-m",
            "20",
            "-r",
            "20",
        ],
    );
    assert!(
        run.status.success(),
        "sipp failed: {}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn a_request_with_a_bad_content_length_gets_400_naming_the_fault() {
    let d = Daemon::start(&[]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:{0} SIP/2.0\r\nVia: SIP/2.0/UDP {1};branch=z9hG4bKbadcl\r\nFrom: <sip:a@{1}>;tag=1\r\n\
         To: <sip:{0}>\r\nCall-ID: badcl@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 9999\r\n\r\nshort",
        d.sip, me
    );
    sock.send_to(msg.as_bytes(), d.sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock
        .recv_from(&mut buf)
        .expect("an answer to a malformed request");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("SIP/2.0 400 "), "{text}");
    assert!(
        text.lines().next().unwrap().contains("Content-Length"),
        "{text}"
    );
}

#[test]
fn http_needs_a_token_except_for_health_and_metrics() {
    let d = Daemon::start(&[]);
    assert_eq!(http_get(d.http, "/healthz", None).0, 200);
    assert_eq!(http_get(d.http, "/metrics", None).0, 200);
    let (status, body) = http_get(d.http, "/api/v1/registrations", None);
    assert_eq!(status, 401);
    assert!(body.contains("\"error\""), "{body}");
    let agent = String::from_utf8(d.cli(&["token", "create", "--role", "agent"]).stdout).unwrap();
    assert_eq!(
        http_get(d.http, "/api/v1/registrations", Some(agent.trim())).0,
        403
    );
    assert_eq!(
        http_get(d.http, "/api/v1/registrations", Some("rx_forged")).0,
        401
    );
}

#[test]
fn check_accepts_the_demo_dialplans_and_refuses_a_broken_config() {
    let out = std::process::Command::new(support::BIN)
        .args([
            "check",
            "--dialplans",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(&cfg, "sip = \"0.0.0.0:5060\"\nrealm = 5\n").unwrap();
    let out = std::process::Command::new(support::BIN)
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rexian.toml:2:"), "{err}");
}
