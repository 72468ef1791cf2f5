//! Agents' own outbound calls end to end with real peers: sipp as agent 7001's phone (digest
//! on REGISTER and on the INVITE), sipp as the far end behind the trunk answering with its own
//! 1.5 kHz tone while the agent speaks a 440 Hz one. The far end's INVITE, the call record
//! (direction, ticket) and the stereo recording show what happened; numbers no dialplan
//! allows and strangers' INVITEs are refused.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rexian::media::tone::ToneDetector;
use rexian::store::Store;
use support::far_end::{watch_events, FarEnd};
use support::keys::{agent_end, scenario, tail_channels, tone, AgentEnd};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, http_send, latest_call, sipp, wait_for, Daemon};

/// The demo dialplans with the trunk's outbound address at `far`.
fn plans(dir: &Path, far: u16) -> PathBuf {
    let plans = support::dialplans_copy(dir);
    let p = plans.join("trunks.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let from = "address = \"127.0.0.1:5080\"";
    assert!(text.contains(from));
    std::fs::write(
        &p,
        text.replace(from, &format!("address = \"127.0.0.1:{far}\"")),
    )
    .unwrap();
    plans
}

fn daemon(dir: &Path, far: u16) -> Daemon {
    let plans = plans(dir, far);
    Daemon::start_with_agents(
        &[("7001", "secret-7001")],
        &["--dialplans", plans.to_str().unwrap()],
    )
}

fn register(d: &Daemon) {
    let r = sipp(
        d.sip,
        &[
            "-sf",
            support::sipp_scenario("register_auth.xml")
                .to_str()
                .unwrap(),
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
    assert!(r.status.success(), "REGISTER: {}", r.stderr);
}

/// Agent 7001's phone dials `number` with the scenario `sf`.
fn phone_dials(sip: std::net::SocketAddr, sf: &Path, number: &str) -> support::SippRun {
    sipp(
        sip,
        &[
            "-sf",
            sf.to_str().unwrap(),
            "-s",
            number,
            "-key",
            "agent",
            "7001",
            "-au",
            "7001",
            "-ap",
            "secret-7001",
            "-mp",
            &free_udp_port().to_string(),
            "-m",
            "1",
        ],
    )
}

/// (direction, ticket) of a call record.
fn direction(data_dir: &Path, id: &str) -> (String, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&Store::sqlite_url(data_dir)).await.unwrap();
        let d = store.call_direction(id).await.unwrap().expect("the record");
        store.close().await;
        d
    })
}

fn security_events(data_dir: &Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&Store::sqlite_url(data_dir)).await.unwrap();
        let evs = store.security_events(50).await.unwrap();
        store.close().await;
        evs.into_iter()
            .map(|e| format!("{} {}", e.kind, e.detail))
            .collect()
    })
}

#[test]
fn an_agent_dials_a_mobile_from_the_phone_over_the_trunk_presenting_12345_and_is_recorded() {
    let work = tempfile::tempdir().unwrap();
    let far_port = free_udp_port();
    let d = daemon(work.path(), far_port);
    register(&d);
    let far = FarEnd::start(work.path(), far_port, "far");
    let wav = work.path().join("agent440.wav");
    tone(&wav, "440");
    let sf = scenario(
        work.path(),
        "agent_dial.xml",
        &[
            ("[agent_wav]", wav.display().to_string()),
            ("[talk_ms]", "6000".into()),
        ],
    );
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let sip = d.sip;
    let first = std::thread::spawn(move || phone_dials(sip, &sf, "13800138000"));
    wait_for("agent 7001 talking", Duration::from_secs(15), || {
        let (_, body) = http_get(d.http, "/api/v1/status", Some(&token));
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["agents"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "7001" && a["state"] == "talking")
            .map(|_| ())
    });
    // A second number dialled from the phone during the call is refused.
    let second = phone_dials(
        d.sip,
        &support::sipp_scenario("agent_dial_refused.xml"),
        "13800138001",
    );
    assert!(second.status.success(), "second call: {}", second.stdout);
    let phone = first.join().unwrap();
    assert!(
        phone.status.success(),
        "phone: {}\n{}",
        phone.stdout,
        phone.stderr
    );
    let invite = far.invite();
    let out = far.finish();
    assert!(
        out.status.success(),
        "far end: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        invite.starts_with("INVITE sip:13800138000@127.0.0.1"),
        "{invite}"
    );
    assert!(
        invite.contains("From: <sip:12345@"),
        "the hotline's number is presented: {invite}"
    );
    assert!(
        invite.contains("P-Asserted-Identity: <sip:12345@"),
        "{invite}"
    );

    let record = latest_call(&d.data_dir(), Duration::from_secs(30), |r| {
        r.recording.is_some()
    });
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.dialled, "13800138000");
    assert_eq!(record.trunk.as_deref(), Some("loopback"));
    assert_eq!(record.hangup_cause, "agent_hangup");
    assert!(record.answered_ms.is_some());
    assert_eq!(
        direction(&d.data_dir(), &record.id),
        ("outbound".to_string(), None)
    );
    // One stereo recording: the called party on the left, the agent on the right.
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(1500.0).present(&left), "the far end");
    assert!(ToneDetector::new(440.0).present(&right), "the agent");
    assert!(!ToneDetector::new(440.0).present(&left), "channels apart");
}

#[test]
fn a_busy_far_end_gives_the_phone_486_and_the_record_says_busy() {
    let work = tempfile::tempdir().unwrap();
    let far_port = free_udp_port();
    let d = daemon(work.path(), far_port);
    register(&d);
    let far = Command::new("sipp")
        .arg("-sf")
        .arg(support::sipp_scenario("far_busy.xml"))
        .args(["-i", "127.0.0.1", "-p", &far_port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sipp");
    // The phone hears ringing, then busy.
    let sf = scenario(
        work.path(),
        "agent_dial_refused.xml",
        &[(
            "<recv response=\"403\"/>",
            "<recv response=\"180\"/>\n  <recv response=\"486\"/>".into(),
        )],
    );
    let phone = phone_dials(d.sip, &sf, "13800138000");
    assert!(
        phone.status.success(),
        "phone: {}\n{}",
        phone.stdout,
        phone.stderr
    );
    let out = far.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "far end: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let record = latest_call(&d.data_dir(), Duration::from_secs(10), |r| {
        r.hangup_cause == "busy"
    });
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.answered_ms, None);
    assert_eq!(record.recording, None, "nothing to record");
    assert_eq!(direction(&d.data_dir(), &record.id).0, "outbound");
}

#[test]
fn a_number_no_dialplan_allows_gets_403_and_a_strangers_invite_never_reaches_a_trunk() {
    let work = tempfile::tempdir().unwrap();
    let d = daemon(work.path(), free_udp_port());
    register(&d);
    // The agent, authenticated, dials a 400 service number no pattern allows.
    let sf = support::sipp_scenario("agent_dial_refused.xml");
    let phone = phone_dials(d.sip, &sf, "4001234567");
    assert!(
        phone.status.success(),
        "phone: {}\n{}",
        phone.stdout,
        phone.stderr
    );

    // A stranger: not a trunk's address (the demo trunk admits 127.0.0.1 only), not an
    // account, no credentials, asking for an outside number.
    let out = Command::new("sipp")
        .arg(d.sip.to_string())
        .arg("-sf")
        .arg(support::sipp_scenario("stranger_invite.xml"))
        .args(["-s", "13800138000", "-i", "127.0.0.2"])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-mp", &free_udp_port().to_string(), "-m", "1", "-nostdin"])
        .args(["-timeout", "30s", "-timeout_error"])
        .output()
        .expect("run sipp");
    assert!(
        out.status.success(),
        "stranger: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let evs = wait_for("two security events", Duration::from_secs(10), || {
        let evs = security_events(&d.data_dir());
        let refused = evs.iter().filter(|e| e.starts_with("call_refused")).count();
        (refused >= 2).then_some(evs)
    });
    assert!(
        evs.iter().any(|e| e.contains("agent call with no route")),
        "{evs:?}"
    );
    assert!(
        evs.iter().any(|e| e.contains("not from a trunk")),
        "{evs:?}"
    );
}

#[test]
fn click_to_dial_rings_the_agents_phone_then_the_number_and_the_record_names_the_ticket() {
    let work = tempfile::tempdir().unwrap();
    let far_port = free_udp_port();
    let d = daemon(work.path(), far_port);
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let far = FarEnd::start(work.path(), far_port, "far");
    // The agent's phone answers rexian's INVITE and hangs up 4 s later.
    let sf = scenario(
        work.path(),
        "agent_keys.xml",
        &[
            ("<!-- KEYS -->", "<pause milliseconds=\"3000\"/>".into()),
            ("<!-- END -->", agent_end(AgentEnd::LeavesAfter(0))),
        ],
    );
    let agent = SippAgent::start(d.sip, "7001", "secret-7001", sf.to_str().unwrap());
    wait_for("agent 7001 to register", Duration::from_secs(20), || {
        let (_, regs) = http_get(d.http, "/api/v1/registrations", Some(&token));
        regs.contains("\"account\":\"7001\"").then_some(())
    });
    // A number no dialplan allows is refused before anything rings.
    let (code, body) = http_send(
        d.http,
        "POST",
        "/api/v1/agents/7001/dial",
        Some(&token),
        r#"{"number": "4001234567"}"#,
    );
    assert_eq!(code, 422, "{body}");
    // The ticket the call is about (回访 of ticket …); an unknown one is refused.
    let (code, body) = http_send(
        d.http,
        "POST",
        "/api/v1/agents/7001/dial",
        Some(&token),
        r#"{"number": "13800138000", "ticket": "no-such-ticket"}"#,
    );
    assert_eq!(code, 422, "{body}");
    let (code, body) = http_send(
        d.http,
        "POST",
        "/api/v1/tickets",
        Some(&token),
        r#"{"type": "help", "facts": "回访: 路灯不亮"}"#,
    );
    assert_eq!(code, 201, "{body}");
    let ticket = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = watch_events(
        d.http,
        &token,
        &["\"kind\":\"outbound\"", "\"state\":\"answered\""],
    );
    let (code, body) = http_send(
        d.http,
        "POST",
        "/api/v1/agents/7001/dial",
        Some(&token),
        &format!(r#"{{"number": "13800138000", "ticket": "{ticket}"}}"#),
    );
    assert_eq!(code, 202, "{body}");
    // Busy while the call lasts: the status shows the agent talking on it.
    let call = serde_json::from_str::<serde_json::Value>(&body).unwrap()["call"].clone();
    wait_for("agent 7001 talking", Duration::from_secs(10), || {
        let (_, body) = http_get(d.http, "/api/v1/status", Some(&token));
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["agents"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "7001" && a["state"] == "talking" && a["call"] == call)
            .map(|_| ())
    });
    let answered = events.join().unwrap().expect("an outbound event");
    assert!(
        answered.contains(&format!("\"ticket\":\"{ticket}\"")),
        "{answered}"
    );
    assert!(
        !answered.contains("13800138000"),
        "no number on the stream: {answered}"
    );
    let out = agent.finish();
    assert!(
        out.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let invite = far.invite();
    assert!(
        invite.starts_with("INVITE sip:13800138000@127.0.0.1"),
        "{invite}"
    );
    assert!(invite.contains("From: <sip:12345@"), "{invite}");
    assert!(
        invite.contains(&format!("X-Rexian-Ticket: {ticket}")),
        "the far end's INVITE names the ticket: {invite}"
    );
    let _ = far.finish();
    let record = latest_call(&d.data_dir(), Duration::from_secs(30), |r| {
        r.recording.is_some()
    });
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "agent_hangup");
    assert_eq!(
        direction(&d.data_dir(), &record.id),
        ("outbound".to_string(), Some(ticket))
    );
}
