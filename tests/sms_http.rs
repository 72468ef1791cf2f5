//! The SMS HTTP surface on a real daemon: the inbound webhook (JSON and form), delivery
//! reports, gateway-token checks, 4xx answers to bad requests, and the supervisor's views.

#[path = "support/sms_gateway.rs"]
mod sms_gateway;
#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use rexian::pii::Pii;
use rexian::sms::outbox::{self, enqueue, NewSms, SmsKind};
use rexian::store::Store;
use sms_gateway::RecordingGateway;
use support::{http_get, wait_for, Daemon};

fn http_post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read http");
    let status = buf.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn token(d: &Daemon, role: &str, id: &str) -> String {
    let out = d.cli(&["token", "create", "--role", role, "--id", id]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_reports_and_supervisor_views() {
    let gw = RecordingGateway::start(None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sms]\n[sms.http]\nurl = \"http://{}/send\"\nquery = {{ id = \"{{id}}\", to = \"{{to}}\", text = \"{{text}}\" }}\n",
            gw.addr
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let gw_tok = token(&d, "unit", "sms-gateway");
    let sup = token(&d, "supervisor", "s1");
    let agent = token(&d, "agent", "7001");
    let store = Store::open(&Store::sqlite_url(&d.data_dir()))
        .await
        .unwrap();
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let survey = enqueue(
        &mut tx,
        NewSms {
            phone: Pii::new("13800138000".into()),
            kind: SmsKind::Survey,
            body: "【12345热线】回复1满意，2基本满意，3不满意。".into(),
            ticket_id: Some("GD7".into()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    wait_for("the survey at the gateway", Duration::from_secs(60), || {
        gw.ids().contains(&survey).then_some(())
    });

    // Gateway token checks and bad requests.
    let json = "application/json";
    let (s, b) = http_post(d.http, "/api/v1/sms/inbound", None, json, "{}");
    assert_eq!(s, 401, "{b}");
    let (s, b) = http_post(d.http, "/api/v1/sms/inbound", Some(&sup), json, "{}");
    assert_eq!(s, 403, "{b}");
    let (s, b) = http_post(
        d.http,
        "/api/v1/sms/inbound",
        Some(&gw_tok),
        json,
        r#"{"text":"1"}"#,
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("from"), "{b}");
    let (s, b) = http_post(
        d.http,
        "/api/v1/sms/inbound",
        Some(&gw_tok),
        json,
        "not json",
    );
    assert_eq!(s, 400, "{b}");
    let (s, _) = http_post(
        d.http,
        "/api/v1/sms/inbound",
        Some(&gw_tok),
        "text/xml",
        "<x/>",
    );
    assert_eq!(s, 415);

    // A reply as a form, a reply as JSON.
    let (s, b) = http_post(
        d.http,
        "/api/v1/sms/inbound",
        Some(&gw_tok),
        "application/x-www-form-urlencoded",
        "from=13900139000&text=%E4%BD%A0%E5%A5%BD",
    );
    assert_eq!(s, 200, "{b}");
    assert!(b.contains(r#""matched":false"#), "{b}");
    let (s, b) = http_post(
        d.http,
        "/api/v1/sms/inbound",
        Some(&gw_tok),
        json,
        r#"{"from":"+8613800138000","text":"3"}"#,
    );
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["matched"], true);
    assert_eq!(v["sms_id"], survey.as_str());
    assert_eq!(v["answer"], "unsatisfied");
    let visit = v["return_visit"].as_i64().unwrap();

    // Delivery reports: Kannel's type codes and status words; unknown ids are 404.
    let q = format!("/api/v1/sms/dlr?token={gw_tok}&id={survey}&type=1");
    let (s, b) = http_get(d.http, &q, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        outbox::get(store.pool(), &survey)
            .await
            .unwrap()
            .unwrap()
            .state,
        "delivered"
    );
    let (s, _) = http_get(
        d.http,
        &format!("/api/v1/sms/dlr?token={gw_tok}&id=nope&type=1"),
        None,
    );
    assert_eq!(s, 404);
    let (s, b) = http_get(
        d.http,
        &format!("/api/v1/sms/dlr?token={gw_tok}&id={survey}&type=3"),
        None,
    );
    assert_eq!(s, 400, "{b}");

    // Supervisor views; numbers masked in the outbox; agents are refused.
    let (s, b) = http_get(d.http, "/api/v1/sms/outbox", Some(&sup));
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("*********00") && !b.contains("13800138000"),
        "{b}"
    );
    let (s, _) = http_get(d.http, "/api/v1/sms/outbox?state=bogus", Some(&sup));
    assert_eq!(s, 400);
    let (s, _) = http_get(d.http, "/api/v1/sms/unmatched", Some(&agent));
    assert_eq!(s, 403);
    let (s, b) = http_get(d.http, "/api/v1/sms/unmatched", Some(&sup));
    assert_eq!(s, 200);
    assert!(b.contains("你好"), "{b}");
    let (s, b) = http_get(d.http, "/api/v1/sms/return-visits", Some(&sup));
    assert_eq!(s, 200);
    assert!(b.contains(r#""ticket_id":"GD7""#), "{b}");
    let done = format!("/api/v1/sms/return-visits/{visit}/done");
    assert_eq!(http_post(d.http, &done, Some(&sup), json, "").0, 204);
    assert_eq!(http_post(d.http, &done, Some(&sup), json, "").0, 404);
    let (_, b) = http_get(d.http, "/api/v1/sms/return-visits", Some(&sup));
    assert_eq!(b, "[]");
    assert!(d.terminate().success());
}

#[test]
fn a_bad_template_stops_the_daemon_at_load_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        "[sms]\n[sms.templates]\nsurvey = \"工单{ticket_no}，{satisfaction}\"\n[sms.http]\nurl = \"http://127.0.0.1:1/\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(support::BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:", cfg.display())) && err.contains("{satisfaction}"),
        "{err}"
    );
}

/// Numbers never reach the log: a daemon at debug level sends through a gateway that is down
/// and then up, takes a reply and a report, and its whole log is searched for the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_number_reaches_the_log() {
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let gw_addr: SocketAddr = format!("127.0.0.1:{}", support::free_tcp_port())
        .parse()
        .unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", support::free_tcp_port())
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sms]\nretry_base_secs = 1\nretry_max_secs = 1\n[sms.http]\nurl = \"http://{gw_addr}/send\"\n\
             query = {{ id = \"{{id}}\", to = \"{{to}}\", text = \"{{text}}\" }}\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(support::BIN)
        .args([
            "token",
            "create",
            "--role",
            "unit",
            "--id",
            "sms-gateway",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let gw_tok = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let log_path = dir.path().join("rexian.log");
    let mut daemon = Kill(
        std::process::Command::new(support::BIN)
            .args(["serve", "--sip", "127.0.0.1:0", "--http", &http.to_string()])
            .arg("--data")
            .arg(&data)
            .arg("--recordings")
            .arg(dir.path().join("recordings"))
            .arg("--config")
            .arg(&cfg)
            .env("REXIAN_LOG", "debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the daemon's HTTP port", Duration::from_secs(60), || {
        std::net::TcpStream::connect(http).ok().map(|_| ())
    });
    let store = Store::open(&Store::sqlite_url(&data)).await.unwrap();
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let id = enqueue(
        &mut tx,
        NewSms {
            phone: Pii::new("13812345678".into()),
            kind: SmsKind::Survey,
            body: "【12345热线】回复1满意，2基本满意，3不满意。".into(),
            ticket_id: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut last = None;
    let failed_once = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let m = outbox::get(store.pool(), &id).await.unwrap().unwrap();
            if m.attempts >= 1 && m.state == "queued" {
                return;
            }
            last = Some(m.state);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(failed_once.is_ok(), "no failed attempt seen: {last:?}");
    let gw = RecordingGateway::start_on(gw_addr, None);
    wait_for("the survey at the gateway", Duration::from_secs(60), || {
        gw.ids().contains(&id).then_some(())
    });
    let json = "application/json";
    for body in [
        r#"{"from":"13812345678","text":"1"}"#,
        r#"{"from":"13812345678","text":"还有问题"}"#,
    ] {
        let (s, b) = http_post(http, "/api/v1/sms/inbound", Some(&gw_tok), json, body);
        assert_eq!(s, 200, "{b}");
    }
    let pid = daemon.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(daemon.0.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("*********78"),
        "the masked number shows the log was written: {log}"
    );
    assert!(!log.contains("13812345678"), "a number in the log:\n{log}");
}
