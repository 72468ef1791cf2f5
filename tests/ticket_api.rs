//! The ticket API through the real daemon: tokens and roles, unit isolation, 4xx with a JSON
//! message on bad input, a whole ticket life over HTTP, the OpenAPI document, tickets linked
//! to call records (written through the store API the daemon uses), direct answers, and many
//! concurrent creations through the group-commit writer.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;

use serde_json::{json, Value};
use support::Daemon;

/// One HTTP/1.1 request with a JSON body; returns the status and the parsed JSON body
/// (`Value::Null` when there is none).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let ctype = if body.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{ctype}Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read http");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let rest = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&rest)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {rest}"))
    };
    (status, json)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn token(d: &Daemon, role: &str, id: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--role", role];
    if let Some(id) = id {
        args.extend(["--id", id]);
    }
    let out = d.cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Writes a finished call to the daemon's store through the store API the daemon itself uses.
fn call_record(d: &Daemon, id: &str, caller: &str, kind: &str, recording: Option<&str>) {
    let url = rexian::store::Store::sqlite_url(&d.data_dir());
    let row = rexian::store::calls::CallRecordRow {
        id: id.into(),
        line: "12315".into(),
        line_name: "市场监管".into(),
        dialled: "12315".into(),
        trunk: Some("loopback".into()),
        caller: caller.into(),
        caller_kind: kind.into(),
        arrived_ms: 1_790_000_000_000,
        queue: Some("main".into()),
        queued_ms: Some(1_790_000_001_000),
        wait_ms: Some(4_000),
        ring_attempts: 1,
        agent: Some("7001".into()),
        answered_ms: Some(1_790_000_005_000),
        ended_ms: 1_790_000_100_000,
        hangup_cause: "caller".into(),
        recording: recording.map(str::to_string),
        recording_secs: recording.map(|_| 95.0),
        abandoned: false,
        rating: None,
        callback_requested: false,
        service_level_met: true,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = rexian::store::Store::open(&url)
                .await
                .expect("open the daemon's store");
            store
                .insert_call_record(&row)
                .await
                .expect("insert call record");
            store.close().await;
        });
}

struct Api {
    addr: SocketAddr,
}

impl Api {
    fn get(&self, path: &str, t: &str) -> (u16, Value) {
        call(self.addr, "GET", path, Some(t), None)
    }
    fn post(&self, path: &str, t: &str, body: Value) -> (u16, Value) {
        call(self.addr, "POST", path, Some(t), Some(&body))
    }
    /// A POST that must succeed; returns the body.
    fn ok(&self, path: &str, t: &str, body: Value) -> Value {
        let (st, v) = self.post(path, t, body);
        assert!(st == 200 || st == 201, "POST {path}: {st} {v}");
        v
    }
}

/// A 4xx with a JSON `error` message.
fn refused(r: (u16, Value), status: u16, says: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    let msg = r.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", r.1));
    assert!(msg.contains(says), "{msg:?} should say {says:?}");
}

#[test]
fn tickets_over_http_with_roles_isolation_and_openapi() {
    let d = Daemon::start(&[]);
    call_record(
        &d,
        "c-42",
        "13800138000",
        "mobile",
        Some("recordings/c-42.wav"),
    );
    let api = Api { addr: d.http };
    let admin = token(&d, "admin", Some("root"));
    let sup = token(&d, "supervisor", Some("s1"));
    let agent = token(&d, "agent", Some("7001"));
    let u1 = token(&d, "unit", Some("u1"));
    let u2 = token(&d, "unit", Some("u2"));
    let nameless_unit = token(&d, "unit", None);

    // OpenAPI: served without a token, parseable, naming every route.
    let (st, doc) = call(d.http, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/history",
        "/api/v1/tickets/{id}/dispatch",
        "/api/v1/tickets/{id}/sign",
        "/api/v1/tickets/{id}/handle",
        "/api/v1/tickets/{id}/reply",
        "/api/v1/tickets/{id}/return",
        "/api/v1/tickets/{id}/return/approve",
        "/api/v1/tickets/{id}/return/refuse",
        "/api/v1/tickets/{id}/extension",
        "/api/v1/tickets/{id}/extension/approve",
        "/api/v1/tickets/{id}/extension/refuse",
        "/api/v1/tickets/{id}/supervise",
        "/api/v1/tickets/{id}/visit",
        "/api/v1/tickets/{id}/close",
        "/api/v1/tickets/{id}/close-as-repeat",
        "/api/v1/tickets/{id}/reopen",
        "/api/v1/tickets/{id}/answer",
        "/api/v1/tickets/{id}/assisting",
        "/api/v1/units",
        "/api/v1/units/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "OpenAPI lacks {p}");
    }

    // Units: admins manage them; others read them without contacts.
    let unit = |id: &str| json!({ "id": id, "name": format!("单位 {id}"), "contacts": [{ "name": "李科长", "phone": "13900139000" }] });
    refused(api.post("/api/v1/units", &agent, unit("u1")), 403, "admin");
    api.ok("/api/v1/units", &admin, unit("u1"));
    api.ok("/api/v1/units", &admin, unit("u2"));
    refused(
        api.post("/api/v1/units", &admin, unit("u1")),
        409,
        "already exists",
    );
    refused(
        api.post(
            "/api/v1/units",
            &admin,
            json!({ "id": "bad id!", "name": "x" }),
        ),
        400,
        "unit id",
    );
    let (st, list) = api.get("/api/v1/units", &agent);
    assert_eq!(st, 200);
    assert_eq!(list["units"].as_array().unwrap().len(), 2);
    assert!(list["units"][0].get("contacts").is_none());
    let (_, list) = api.get("/api/v1/units", &admin);
    assert_eq!(list["units"][0]["contacts"][0]["phone"], "13900139000");

    // Creating: agents (from a call), not units; bad input is a 4xx with a message.
    let new = json!({
        "type": "complaint", "line": "12345", "requester": "王女士", "contact": "13800138000",
        "facts": "夜间施工噪音", "address": "建设路 1 号",
        "call_id": "c-42", "recording": "recordings/c-42.wav", "dispatch_to": "u1"
    });
    refused(
        call(d.http, "POST", "/api/v1/tickets", None, Some(&new)),
        401,
        "Bearer",
    );
    refused(
        api.post("/api/v1/tickets", &u1, new.clone()),
        403,
        "units do not create",
    );
    refused(
        api.post(
            "/api/v1/tickets",
            &agent,
            json!({ "type": "gripe", "facts": "x" }),
        ),
        400,
        "unknown ticket type",
    );
    let (st, v) = api.post("/api/v1/tickets", &agent, json!({ "type": "help" }));
    assert!((400..500).contains(&st), "{st} {v}");
    assert!(v["error"].as_str().unwrap().contains("facts"), "{v}");
    refused(
        api.post(
            "/api/v1/tickets",
            &agent,
            json!({ "type": "help", "facts": "x", "dispatch_to": "nowhere" }),
        ),
        400,
        "unit nowhere not found",
    );
    let t = api.ok("/api/v1/tickets", &agent, new.clone());
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), "20261123-000001".len(), "{id}");
    assert_eq!(t["status"], "dispatched");
    assert_eq!(t["lead_unit"], "u1");
    assert_eq!(t["light"], "green");
    assert_eq!(t["call_id"], "c-42");
    assert_eq!(t["contact"], "13800138000");
    let tp = format!("/api/v1/tickets/{id}");

    // Isolation: u2 does not see u1's ticket at all.
    refused(api.get(&tp, &u2), 404, "not found");
    refused(api.get(&format!("{tp}/history"), &u2), 404, "not found");
    refused(
        api.post(&format!("{tp}/sign"), &u2, json!({})),
        404,
        "not found",
    );
    let (_, mine) = api.get("/api/v1/tickets", &u2);
    assert!(mine["tickets"].as_array().unwrap().is_empty());
    refused(api.get("/api/v1/tickets?unit=u1", &u2), 403, "own tickets");
    let (_, mine) = api.get("/api/v1/tickets", &u1);
    assert_eq!(mine["tickets"][0]["id"], id.as_str());
    refused(
        api.post(&format!("{tp}/sign"), &nameless_unit, json!({})),
        404,
        "not found",
    );

    // An assisting unit sees the ticket but may not act as the lead.
    let (st, _) = call(
        d.http,
        "PUT",
        &format!("{tp}/assisting"),
        Some(&sup),
        Some(&json!({ "units": ["u2"] })),
    );
    assert_eq!(st, 200);
    assert_eq!(api.get(&tp, &u2).1["assisting_units"], json!(["u2"]));
    refused(
        api.post(&format!("{tp}/sign"), &u2, json!({})),
        403,
        "dispatched to unit",
    );

    // The life of the ticket; refusals name the state and the action.
    refused(
        api.post(&format!("{tp}/reply"), &u1, json!({})),
        409,
        "cannot reply: ticket is Dispatched",
    );
    assert_eq!(
        api.ok(&format!("{tp}/sign"), &u1, json!({}))["status"],
        "signed"
    );
    refused(
        api.post(
            &format!("{tp}/extension"),
            &u1,
            json!({ "limit": "soon", "reason": "x" }),
        ),
        400,
        "a limit is a number and a unit",
    );
    refused(
        api.post(
            &format!("{tp}/extension"),
            &u1,
            json!({ "limit": "30 wd", "reason": "需检测" }),
        ),
        422,
        "longer than the original limit",
    );
    assert_eq!(
        api.ok(
            &format!("{tp}/extension"),
            &u1,
            json!({ "limit": "5 wd", "reason": "需检测" })
        )["pending"],
        "extension"
    );
    refused(
        api.post(&format!("{tp}/extension/approve"), &u1, json!({})),
        403,
        "may not",
    );
    let before = api.get(&tp, &sup).1["deadline"].clone();
    let after = api.ok(&format!("{tp}/extension/approve"), &sup, json!({}));
    assert_ne!(after["deadline"], before);
    refused(
        api.post(
            &format!("{tp}/supervise"),
            &sup,
            json!({ "kind": "loud", "note": "x" }),
        ),
        400,
        "supervision kind",
    );
    api.ok(
        &format!("{tp}/supervise"),
        &sup,
        json!({ "kind": "phone", "note": "电话催办" }),
    );
    api.ok(
        &format!("{tp}/handle"),
        &u1,
        json!({ "summary": "已责令停工" }),
    );
    api.ok(&format!("{tp}/reply"), &u1, json!({}));
    api.ok(
        &format!("{tp}/visit"),
        &agent,
        json!({ "satisfied": false, "reasonable": true }),
    );
    refused(
        api.post(&format!("{tp}/close"), &agent, json!({})),
        409,
        "reopen",
    );
    refused(
        api.post(&format!("{tp}/reopen"), &agent, json!({})),
        403,
        "may not",
    );
    assert_eq!(
        api.ok(&format!("{tp}/reopen"), &sup, json!({}))["status"],
        "dispatched"
    );
    api.ok(
        &format!("{tp}/return"),
        &u1,
        json!({ "reason": "不属于本单位", "basis": "职责清单" }),
    );
    let t = api.ok(
        &format!("{tp}/return/approve"),
        &sup,
        json!({ "redispatch_to": "u2" }),
    );
    assert_eq!(t["lead_unit"], "u2");
    refused(api.get(&tp, &u1), 404, "not found");

    // History: every step, who and why, oldest first.
    let (st, h) = api.get(&format!("{tp}/history"), &sup);
    assert_eq!(st, 200);
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "light")
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "assisting",
            "signed",
            "extension_requested",
            "extension_approved",
            "supervised",
            "handled",
            "replied",
            "visited",
            "reopened",
            "return_requested",
            "return_approved",
            "dispatched"
        ]
    );
    let seqs: Vec<i64> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    // Search filters, and 400 on bad ones.
    let other = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "consultation", "line": "12315", "facts": "社保查询" }),
    );
    let found = |q: &str| -> Vec<String> {
        let (st, v) = api.get(&format!("/api/v1/tickets?{q}"), &sup);
        assert_eq!(st, 200, "{q}: {v}");
        v["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(found("line=12315"), [other["id"].as_str().unwrap()]);
    assert_eq!(found("status=dispatched&type=complaint"), [id.as_str()]);
    assert_eq!(found("unit=u2"), [id.as_str()]);
    assert_eq!(found("q=%E5%99%AA%E9%9F%B3"), [id.as_str()]); // 噪音
    assert!(found("overdue=true").is_empty());
    refused(
        api.get("/api/v1/tickets?status=lost", &sup),
        400,
        "unknown status",
    );
    refused(
        api.get("/api/v1/tickets?from=yesterday", &sup),
        400,
        "RFC 3339",
    );
    refused(
        api.get("/api/v1/tickets?overdue=perhaps", &sup),
        400,
        "overdue",
    );
    refused(
        api.get("/api/v1/tickets/20000101-000001", &sup),
        404,
        "not found",
    );
}

#[test]
fn tickets_from_calls_direct_answers_and_concurrent_creations() {
    let d = Daemon::start(&[]);
    let api = Api { addr: d.http };
    let admin = token(&d, "admin", Some("root"));
    let agent = token(&d, "agent", Some("7001"));
    let other_agent = token(&d, "agent", Some("7002"));
    let sup = token(&d, "supervisor", Some("s1"));
    let u1 = token(&d, "unit", Some("u1"));
    api.ok(
        "/api/v1/units",
        &admin,
        json!({ "id": "u1", "name": "市场监管局", "contacts": [{ "name": "李科长", "phone": "13900139000" }] }),
    );
    call_record(
        &d,
        "c-7",
        "13800138007",
        "mobile",
        Some("recordings/2026/11/23/c-7.wav"),
    );
    call_record(&d, "c-anon", "", "anonymous", None);

    // From a call: line, contact and recording come from the call record.
    let t = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "complaint", "facts": "商品质量问题", "call_id": "c-7", "dispatch_to": "u1" }),
    );
    assert_eq!(t["line"], "12315");
    assert_eq!(t["contact"], "13800138007");
    assert_eq!(t["recording"], "recordings/2026/11/23/c-7.wav");
    assert_eq!(t["call_id"], "c-7");
    assert_eq!(t["status"], "dispatched");
    // What the agent gives wins over the record.
    let t = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "help", "facts": "代人求助", "call_id": "c-7", "contact": "13700137000", "line": "12345" }),
    );
    assert_eq!(
        (t["line"].as_str(), t["contact"].as_str()),
        (Some("12345"), Some("13700137000"))
    );
    // An anonymous caller leaves the contact empty.
    let t = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "consultation", "facts": "咨询", "call_id": "c-anon" }),
    );
    assert_eq!(t["contact"], Value::Null);
    assert_eq!(t["recording"], Value::Null);
    // An unknown call is refused with a message, and nothing is created.
    let (_, before) = api.get("/api/v1/tickets", &sup);
    refused(
        api.post(
            "/api/v1/tickets",
            &agent,
            json!({ "type": "help", "facts": "x", "call_id": "no-such-call" }),
        ),
        422,
        "call no-such-call is not in the call records",
    );
    let (_, after) = api.get("/api/v1/tickets", &sup);
    assert_eq!(
        before["tickets"].as_array().unwrap().len(),
        after["tickets"].as_array().unwrap().len()
    );

    // 直接办结: created and closed with the answer in one request.
    let t = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "consultation", "facts": "社保卡补办", "call_id": "c-7", "answer": "带身份证到社保大厅办理" }),
    );
    assert_eq!(t["status"], "closed");
    let id = t["id"].as_str().unwrap().to_string();
    let (_, h) = api.get(&format!("/api/v1/tickets/{id}/history"), &agent);
    let events: Vec<(&str, &str)> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .filter(|(k, _)| *k != "light")
        .collect();
    assert_eq!(events, [("created", "7001"), ("answered_directly", "7001")]);
    assert_eq!(h["events"][1]["why"], "带身份证到社保大厅办理");
    refused(
        api.get(&format!("/api/v1/tickets/{id}"), &u1),
        404,
        "not found",
    );
    refused(
        api.post(
            "/api/v1/tickets",
            &agent,
            json!({ "type": "complaint", "facts": "噪音", "answer": "已解释" }),
        ),
        422,
        "complaint tickets go to a handling unit",
    );
    refused(
        api.post(
            "/api/v1/tickets",
            &agent,
            json!({ "type": "consultation", "facts": "x", "answer": "y", "dispatch_to": "u1" }),
        ),
        400,
        "exclude each other",
    );
    // Or afterwards, by the agent who took it — not by another agent, nor by a unit.
    let t = api.ok(
        "/api/v1/tickets",
        &agent,
        json!({ "type": "consultation", "facts": "公积金提取条件" }),
    );
    let tp = format!("/api/v1/tickets/{}", t["id"].as_str().unwrap());
    refused(
        api.post(
            &format!("{tp}/answer"),
            &other_agent,
            json!({ "reply": "x" }),
        ),
        403,
        "did not take this ticket",
    );
    refused(
        api.post(&format!("{tp}/answer"), &u1, json!({ "reply": "x" })),
        404,
        "not found",
    );
    refused(
        api.post(&format!("{tp}/answer"), &agent, json!({ "reply": " " })),
        422,
        "reason",
    );
    let t = api.ok(
        &format!("{tp}/answer"),
        &agent,
        json!({ "reply": "连续缴存满 6 个月" }),
    );
    assert_eq!(t["status"], "closed");

    // Many concurrent creations share commits; each is answered 201 with its own ticket.
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let (addr, agent) = (d.http, agent.clone());
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let body = json!({ "type": "help", "facts": format!("并发 {w}-{i}"), "dispatch_to": "u1" });
                        let (st, v) = call(addr, "POST", "/api/v1/tickets", Some(&agent), Some(&body));
                        assert_eq!(st, 201, "{v}");
                        assert_eq!(v["status"], "dispatched");
                        v["id"].as_str().unwrap().to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    let (_, mine) = api.get("/api/v1/tickets?unit=u1&limit=500", &u1);
    assert_eq!(mine["tickets"].as_array().unwrap().len(), 81);
}
