//! Tickets and SMS together through the real daemon and the fake SMSC of
//! `tests/support/fake_smsc.rs`: a ticket created and dispatched over the REST API reaches the
//! caller (its number) and the unit's phone (the reminder); closing it sends the survey, and an
//! unsatisfied reply on the webhook opens a return-visit task for that ticket; the person's
//! visit (unsatisfied, reasonable) closes the task and the reopened ticket reminds the unit
//! again.

#[path = "support/fake_smsc.rs"]
mod fake_smsc;
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use fake_smsc::{FakeSmsc, Received};
use serde_json::{json, Value};
use support::{wait_for, Daemon};

/// One HTTP/1.1 request with an optional JSON body; the status and the JSON answer.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read http");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let rest = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v = serde_json::from_str(rest).unwrap_or(Value::Null);
    (status, v)
}

/// A POST that must succeed.
fn ok(d: &Daemon, path: &str, token: &str, body: Value) -> Value {
    let (st, v) = call(d.http, "POST", path, token, Some(body));
    assert!(st == 200 || st == 201, "POST {path}: {st} {v}");
    v
}

fn token(d: &Daemon, role: &str, id: &str) -> String {
    let out = d.cli(&["token", "create", "--role", role, "--id", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Waits until the fake SMSC has seen a message to `phone` mentioning `ticket` and `says`.
fn wait_sms(smsc: &FakeSmsc, phone: &str, ticket: &str, says: &str) -> Received {
    let what = format!("an SMS to {phone} about {ticket} saying {says:?}");
    wait_for(&what, Duration::from_secs(60), || {
        smsc.received().into_iter().find(|r| {
            r.destination == format!("86{phone}")
                && r.text.contains(ticket)
                && r.text.contains(says)
        })
    })
}

#[test]
fn dispatch_reminds_the_unit_and_an_unsatisfied_survey_opens_a_return_visit() {
    let smsc = FakeSmsc::start("secret");
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sms]\nrate_per_sec = 50\nretry_base_secs = 1\nretry_max_secs = 2\n[sms.smpp]\n\
             addr = \"{}\"\nsystem_id = \"rexian\"\npassword = \"secret\"\nsource_addr = \"12345\"\n",
            smsc.addr
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let admin = token(&d, "admin", "root");
    let agent = token(&d, "agent", "7001");
    let sup = token(&d, "supervisor", "s1");
    let unit = token(&d, "unit", "zj");
    let gateway = token(&d, "unit", "sms-gateway");

    let contacts = json!([
        { "name": "李科长", "phone": "13900000001" },
        { "name": "值班室", "phone": "0469-4222222" },
    ]);
    ok(
        &d,
        "/api/v1/units",
        &admin,
        json!({ "id": "zj", "name": "市住建局", "contacts": contacts }),
    );
    let created = ok(
        &d,
        "/api/v1/tickets",
        &agent,
        json!({ "type": "complaint", "contact": "13800138000", "requester": "王女士",
                "facts": "小区路灯不亮" }),
    );
    let id = created["id"].as_str().expect("ticket id").to_string();
    wait_sms(&smsc, "13800138000", &id, "工单编号");

    ok(
        &d,
        &format!("/api/v1/tickets/{id}/dispatch"),
        &agent,
        json!({ "unit": "zj" }),
    );
    let reminder = wait_sms(&smsc, "13900000001", &id, "市住建局");
    assert!(reminder.text.contains("请及时签收"), "{}", reminder.text);

    let t = |step: &str| format!("/api/v1/tickets/{id}/{step}");
    ok(&d, &t("sign"), &unit, json!({}));
    ok(&d, &t("handle"), &unit, json!({ "summary": "已更换灯具" }));
    ok(&d, &t("reply"), &unit, json!({}));
    ok(
        &d,
        &t("visit"),
        &agent,
        json!({ "satisfied": true, "reasonable": true }),
    );
    ok(&d, &t("close"), &agent, json!({}));
    wait_sms(&smsc, "13800138000", &id, "回复1满意");

    // Each message once; the landline got none.
    let got = smsc.received();
    assert_eq!(got.len(), 3, "ticket number, reminder, survey: {got:?}");
    assert!(got.iter().all(|r| !r.destination.contains("4222222")));

    // The caller answers 3 on the webhook: a return-visit task for this ticket.
    let reply = ok(
        &d,
        "/api/v1/sms/inbound",
        &gateway,
        json!({ "from": "13800138000", "text": "3" }),
    );
    assert_eq!(reply["matched"], true, "{reply}");
    let (st, visits) = call(d.http, "GET", "/api/v1/sms/return-visits", &sup, None);
    assert_eq!(st, 200, "{visits}");
    let visits = visits.as_array().expect("a list of return visits").clone();
    assert_eq!(visits.len(), 1, "{visits:?}");
    assert_eq!(visits[0]["ticket_id"], id.as_str());

    // A person calls back: unsatisfied, reasonable. The task is done, the ticket opens again
    // and the supervisor reopens it: back to the unit, which gets a new reminder.
    let v = ok(
        &d,
        &t("visit"),
        &agent,
        json!({ "satisfied": false, "reasonable": true }),
    );
    assert_eq!(v["status"], "visited", "{v}");
    let (_, open) = call(
        d.http,
        "GET",
        "/api/v1/sms/return-visits?open=true",
        &sup,
        None,
    );
    assert_eq!(open, json!([]));
    let v = ok(&d, &t("reopen"), &sup, json!({}));
    assert_eq!(
        (v["status"].as_str(), v["lead_unit"].as_str()),
        (Some("dispatched"), Some("zj"))
    );
    wait_for(
        "a second reminder to the unit",
        Duration::from_secs(60),
        || {
            let n = smsc
                .received()
                .iter()
                .filter(|r| r.destination == "8613900000001" && r.text.contains(&id))
                .count();
            (n == 2).then_some(())
        },
    );
    let (_, h) = call(d.http, "GET", &t("history"), &sup, None);
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "light")
        .collect();
    assert_eq!(
        kinds[kinds.len() - 4..],
        ["closed", "survey", "revisited", "reopened"]
    );
    assert!(d.terminate().success());
}
