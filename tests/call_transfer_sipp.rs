//! Transfers and emergency hand-offs end to end with real peers: sipp as the carrier trunk
//! delivering a citizen's call (a 440 Hz tone as the caller's voice), sipp as agent 7001
//! typing an in-call feature code as SIP INFO, and sipp as the far end behind the trunk
//! (110, a sub-centre, an outside number) answering with its own 1.5 kHz tone. The far end's
//! INVITE, the call record and the stereo recording show what happened.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rexian::media::tone::ToneDetector;
use support::far_end::{watch_events, FarEnd};
use support::keys::{
    agent_end, channels, info_keys, scenario, scenario_as, tail_channels, tone, AgentEnd,
};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, sipp, wait_for, Daemon};

/// The demo dialplans with a short greeting, the trunk's outbound address at `centre`.
fn plans(dir: &Path, centre: u16) -> PathBuf {
    let plans = support::dialplans_copy(dir);
    let edit = |file: &str, from: &str, to: &str| {
        let p = plans.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} holds {from}");
        std::fs::write(&p, text.replace(from, to)).unwrap();
    };
    edit(
        "queues.toml",
        "greeting = [\"greeting\"]",
        "greeting = [\"digit_1\"]",
    );
    edit(
        "trunks.toml",
        "address = \"127.0.0.1:5080\"",
        &format!("address = \"127.0.0.1:{centre}\""),
    );
    plans
}

struct Run {
    _work: tempfile::TempDir,
    daemon: Daemon,
    token: String,
    centre: FarEnd,
    agent: SippAgent,
    /// The citizen's call, running.
    caller: std::thread::JoinHandle<support::SippRun>,
}

/// One citizen call: agent 7001 answers, types `keys` after a second and ends as `end` says;
/// the caller stays `hold_ms` in all.
fn run(keys: &str, end: AgentEnd, hold_ms: u32) -> Run {
    let keys = info_keys(keys);
    run_with(
        move |dir| {
            scenario(
                dir,
                "agent_keys.xml",
                &[("<!-- KEYS -->", keys), ("<!-- END -->", agent_end(end))],
            )
        },
        hold_ms,
    )
}

/// One citizen call answered by agent 7001 running the scenario `agent` writes.
fn run_with(agent: impl FnOnce(&Path) -> PathBuf, hold_ms: u32) -> Run {
    let work = tempfile::tempdir().unwrap();
    let centre_port = free_udp_port();
    let plans = plans(work.path(), centre_port);
    // 9001 is a supervisor's phone (it takes no queue calls until it registers).
    let d = Daemon::start_with_agents(
        &[("7001", "secret-7001"), ("9001", "secret-9001")],
        &["--dialplans", plans.to_str().unwrap()],
    );
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let centre = FarEnd::start(work.path(), centre_port, "centre");
    let agent_sf = agent(work.path());
    let agent = SippAgent::start(d.sip, "7001", "secret-7001", agent_sf.to_str().unwrap());
    wait_for("agent 7001 to register", Duration::from_secs(20), || {
        let (_, regs) = http_get(d.http, "/api/v1/registrations", Some(&token));
        regs.contains("\"account\":\"7001\"").then_some(())
    });
    let caller_wav = work.path().join("caller440.wav");
    tone(&caller_wav, "440");
    let sf = scenario(
        work.path(),
        "trunk_call.xml",
        &[("[caller_wav]", caller_wav.display().to_string())],
    );
    let sip = d.sip;
    let caller = std::thread::spawn(move || {
        sipp(
            sip,
            &[
                "-sf",
                sf.to_str().unwrap(),
                "-s",
                "12345",
                "-mp",
                &free_udp_port().to_string(),
                "-m",
                "1",
                "-d",
                &hold_ms.to_string(),
            ],
        )
    });
    Run {
        _work: work,
        daemon: d,
        token,
        centre,
        agent,
        caller,
    }
}

/// The call agent 7001 talks on, once it does (as `rexian status` shows it).
fn talking_call(d: &Daemon, token: &str) -> u64 {
    wait_for("agent 7001 talking", Duration::from_secs(20), || {
        let (_, body) = http_get(d.http, "/api/v1/status", Some(token));
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["agents"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "7001" && a["state"] == "talking")
            .and_then(|a| a["call"].as_u64())
    })
}

#[test]
fn an_emergency_hand_off_reaches_110_with_the_citizens_number_and_the_agent_can_leave() {
    // The agent types *0110, briefs 110 for 3 s in a three-way call, then hangs up; caller
    // and 110 go on talking until the caller hangs up.
    let r = run("*0110", AgentEnd::LeavesAfter(3000), 16_000);
    let caller = r.caller.join().unwrap();
    assert!(
        caller.status.success(),
        "caller: {}\n{}",
        caller.stdout,
        caller.stderr
    );
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let invite = r.centre.invite();
    let centre = r.centre.finish();
    assert!(
        centre.status.success(),
        "centre: {}",
        String::from_utf8_lossy(&centre.stdout)
    );
    assert!(invite.starts_with("INVITE sip:110@127.0.0.1"), "{invite}");
    assert!(
        invite.contains("From: <sip:13800138000@"),
        "the centre sees the citizen's number: {invite}"
    );
    assert!(
        invite.contains("P-Asserted-Identity: <sip:13800138000@"),
        "{invite}"
    );
    assert!(invite.contains("Priority: emergency"), "{invite}");

    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "caller_hangup");
    // One recording for the whole call: at its end the agent has gone and the caller talks
    // with 110 — the caller on the left, the centre on the right.
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(440.0).present(&left), "the caller");
    assert!(
        ToneDetector::new(1500.0).present(&right),
        "110 on the right"
    );
    assert!(!ToneDetector::new(1500.0).present(&left), "channels apart");
}

#[test]
fn a_blind_transfer_to_a_sub_centre_connects_the_caller_and_releases_the_agent() {
    // ##12366# hands the caller to the tax sub-centre over the trunk; the agent's phone gets
    // rexian's BYE at once.
    let r = run("##12366#", AgentEnd::Released, 12_000);
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let invite = r.centre.invite();
    assert!(invite.starts_with("INVITE sip:12366@127.0.0.1"), "{invite}");
    assert!(
        invite.contains("From: <sip:12345@"),
        "ordinary transfers present the hotline's number: {invite}"
    );
    assert!(!invite.contains("Priority: emergency"));
    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(440.0).present(&left), "the caller");
    assert!(
        ToneDetector::new(1500.0).present(&right),
        "the sub-centre on the right"
    );
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "the agent was released: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let _ = r.centre.finish();
}

#[test]
fn an_attended_transfer_consults_the_sub_centre_then_hands_the_caller_over() {
    // The desk asks for a consultation with the tax sub-centre, naming the call's ticket; the
    // caller hears music while the agent talks to the sub-centre, then the agent presses *5
    // to complete the transfer: rexian releases the agent's phone and the caller talks with
    // the sub-centre, in the same recording.
    let r = run("   *5", AgentEnd::Released, 18_000);
    let call = talking_call(&r.daemon, &r.token);
    // The desk writes the ticket during the call, then consults with its number.
    let body = format!(r#"{{"type":"consultation","facts":"个税汇算","call_id":"{call}"}}"#);
    let (status, created) = support::http_send(
        r.daemon.http,
        "POST",
        "/api/v1/tickets",
        Some(&r.token),
        &body,
    );
    assert_eq!(status, 201, "{created}");
    let ticket: serde_json::Value = serde_json::from_str(&created).unwrap();
    let ticket = ticket["id"].as_str().unwrap().to_string();
    let body = format!(r#"{{"action":"consult","target":"12366","ticket":"{ticket}"}}"#);
    let (status, answer) = support::http_send(
        r.daemon.http,
        "POST",
        "/api/v1/agents/7001/call",
        Some(&r.token),
        &body,
    );
    assert_eq!(status, 202, "{answer}");
    let unknown = r#"{"action":"consult","target":"12366","ticket":"GD20991231-9999"}"#;
    let (status, _) = support::http_send(
        r.daemon.http,
        "POST",
        "/api/v1/agents/7001/call",
        Some(&r.token),
        unknown,
    );
    assert_eq!(status, 422, "a ticket that does not exist is refused");
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let invite = r.centre.invite();
    assert!(invite.starts_with("INVITE sip:12366@127.0.0.1"), "{invite}");
    assert!(invite.contains("From: <sip:12345@"), "{invite}");
    assert!(
        invite.contains(&format!("X-Rexian-Ticket: {ticket}"))
            && invite.contains("X-Rexian-Line: 12345"),
        "the sub-centre gets the caller's context: {invite}"
    );
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "the agent was released after completing: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "caller_hangup");
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(440.0).present(&left), "the caller");
    assert!(
        ToneDetector::new(1500.0).present(&right),
        "the sub-centre on the right"
    );
    assert!(!ToneDetector::new(1500.0).present(&left), "channels apart");
    let _ = r.centre.finish();
}

#[test]
fn the_phone_consults_by_dialling_and_completes_with_refer_replaces() {
    // Desk phones do attended transfer themselves: the agent's phone dials a handling unit's
    // number (one outbound.toml allows) while on the call — a second dialog with rexian,
    // which rexian turns into a consultation and dials over the trunk —
    // then sends REFER on the first dialog with Replaces naming the second. rexian resolves
    // Replaces against its own dialogs, reports NOTIFY 200, releases both of the phone's
    // dialogs and connects the caller with the unit.
    let refer_to = "sip:13800138000@127.0.0.1?Replaces=consult-7001-b%3Bto-tag%3Dx%3Bfrom-tag%3Dy";
    let r = run_with(
        |dir| {
            scenario(
                dir,
                "agent_refer.xml",
                &[
                    ("[refer_to]", refer_to.to_string()),
                    ("[frag_status]", "200".to_string()),
                    ("<!-- END -->", agent_end(AgentEnd::Released)),
                    (
                        "<pause milliseconds=\"1000\"/>",
                        "<pause milliseconds=\"7000\"/>".to_string(),
                    ),
                ],
            )
        },
        18_000,
    );
    talking_call(&r.daemon, &r.token);
    let consult = scenario(
        r._work.path(),
        "agent_feature.xml",
        &[(
            "<recv response=\"200\"/>",
            "<recv response=\"180\" optional=\"true\"/>\n  <recv response=\"200\"/>".to_string(),
        )],
    );
    let phone = support::sipp(
        r.daemon.sip,
        &[
            "-sf",
            consult.to_str().unwrap(),
            "-s",
            "13800138000",
            "-cid_str",
            "consult-7001-b",
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
    );
    assert!(
        phone.status.success(),
        "the consultation dialog was answered, then released: {}\n{}",
        phone.stdout,
        phone.stderr
    );
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "NOTIFY 200, then the agent's first dialog released: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let invite = r.centre.invite();
    assert!(
        invite.starts_with("INVITE sip:13800138000@127.0.0.1"),
        "{invite}"
    );
    assert!(invite.contains("From: <sip:12345@"), "{invite}");
    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    assert_eq!(record.hangup_cause, "caller_hangup");
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(440.0).present(&left), "the caller");
    assert!(
        ToneDetector::new(1500.0).present(&right),
        "the unit on the right"
    );
    let _ = r.centre.finish();
}

#[test]
fn the_desk_api_hands_a_caller_to_120_and_supervisors_see_it_live_and_on_record() {
    // The agent's phone only talks; the hand-off is asked for from the agent's desk.
    let r = run("", AgentEnd::LeavesAfter(6000), 14_000);
    let d = &r.daemon;
    let events = watch_events(
        d.http,
        &r.token,
        &[
            "\"kind\":\"handoff\"",
            "\"outcome\":\"connected\"",
            "\"number\":\"120\"",
        ],
    );
    let call = talking_call(d, &r.token);
    let other = String::from_utf8(
        d.cli(&["token", "create", "--role", "agent", "--id", "7002"])
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let body = r#"{"action":"emergency","number":"120","reason":"chest pain"}"#;
    let (status, _) = support::http_send(
        d.http,
        "POST",
        "/api/v1/agents/7001/call",
        Some(&other),
        body,
    );
    assert_eq!(status, 403, "another agent may not act on 7001's call");
    let (status, _) = support::http_send(
        d.http,
        "POST",
        "/api/v1/agents/7001/call",
        Some(&r.token),
        r#"{"action":"dance"}"#,
    );
    assert_eq!(status, 400);
    let own = String::from_utf8(
        d.cli(&["token", "create", "--role", "agent", "--id", "7001"])
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let (status, answer) =
        support::http_send(d.http, "POST", "/api/v1/agents/7001/call", Some(&own), body);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains(&format!("\"call\":{call}")), "{answer}");

    let seen = events
        .join()
        .unwrap()
        .expect("the hand-off on the event stream");
    assert!(seen.contains("\"caller\":\"13800138000\""), "{seen}");
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    assert!(r.centre.invite().starts_with("INVITE sip:120@127.0.0.1"));
    let _ = r.agent.finish();
    let _ = r.centre.finish();
    let rows = wait_for(
        "the hand-off's end on record",
        Duration::from_secs(10),
        || {
            let (_, body) = http_get(d.http, "/api/v1/handoffs", Some(&r.token));
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let row = v.as_array()?.first()?.clone();
            row["ended_ms"].is_i64().then_some(row)
        },
    );
    assert_eq!(rows["number"], "120");
    assert_eq!(rows["agent"], "7001");
    assert_eq!(rows["caller"], "13800138000");
    assert_eq!(rows["reason"], "chest pain");
    assert_eq!(rows["outcome"], "connected");
    assert_eq!(rows["alarm"], false);
    assert!(
        rows["answered_ms"].is_i64() && rows["agent_left_ms"].is_i64(),
        "{rows}"
    );
}

/// The agent's phone transfers with REFER to `refer_to`, expecting `frag` in the NOTIFY.
fn refer_agent(
    refer_to: &'static str,
    frag: &'static str,
    end: AgentEnd,
) -> impl FnOnce(&Path) -> PathBuf {
    move |dir| {
        scenario(
            dir,
            "agent_refer.xml",
            &[
                ("[refer_to]", refer_to.to_string()),
                ("[frag_status]", frag.to_string()),
                ("<!-- END -->", agent_end(end)),
            ],
        )
    }
}

#[test]
fn a_refer_from_the_agents_phone_is_carried_out_by_rexian_and_reported_by_notify() {
    let r = run_with(
        refer_agent("sip:12366@127.0.0.1", "200", AgentEnd::Released),
        12_000,
    );
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "NOTIFY 200 then released: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let invite = r.centre.invite();
    assert!(invite.starts_with("INVITE sip:12366@127.0.0.1"), "{invite}");
    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    let (_, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(1500.0).present(&right), "the sub-centre");
    let _ = r.centre.finish();
}

#[test]
fn a_refer_to_a_number_no_dialplan_allows_is_refused_and_the_call_goes_on() {
    let r = run_with(
        refer_agent(
            "sip:0012125550100@127.0.0.1",
            "403",
            AgentEnd::LeavesAfter(1000),
        ),
        6_000,
    );
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let agent = r.agent.finish();
    assert!(
        agent.status.success(),
        "NOTIFY 403, still on the call: {}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let record = support::recorded_call(&r.daemon.data_dir(), Duration::from_secs(30));
    assert_eq!(
        record.hangup_cause, "agent_hangup",
        "the agent hung up itself"
    );
    let centre = r.centre;
    assert!(
        !std::fs::read_to_string(&centre.log)
            .unwrap_or_default()
            .contains("INVITE sip:"),
        "nothing reached the trunk"
    );
    let mut child = centre.child;
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_supervisor_barges_in_from_its_registered_phone() {
    let r = run("", AgentEnd::LeavesAfter(8000), 12_000);
    let d = &r.daemon;
    let phone = scenario_as(
        r._work.path(),
        "agent_keys.xml",
        "supervisor.xml",
        &[
            ("<!-- KEYS -->", String::new()),
            ("<!-- END -->", agent_end(AgentEnd::LeavesAfter(1500))),
        ],
    );
    let supervisor = SippAgent::start(d.sip, "9001", "secret-9001", phone.to_str().unwrap());
    let call = talking_call(d, &r.token);
    let nameless = &r.token;
    let path = format!("/api/v1/calls/{call}/barge");
    let (status, _) = support::http_send(d.http, "POST", &path, Some(nameless), "");
    assert_eq!(status, 400, "a token that names no phone cannot barge");
    let token = String::from_utf8(
        d.cli(&["token", "create", "--role", "supervisor", "--id", "9001"])
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let (status, body) = support::http_send(d.http, "POST", &path, Some(&token), "");
    assert_eq!(status, 202, "{body}");
    let out = supervisor.finish();
    assert!(
        out.status.success(),
        "the supervisor's phone was called in and left: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let agent = r.agent.finish();
    assert!(agent.status.success(), "the agent stayed until its own BYE");
    let mut centre = r.centre.child;
    let _ = centre.kill();
    let _ = centre.wait();
}

#[test]
fn a_supervisor_listens_then_whispers_and_is_never_heard_by_the_caller() {
    // Supervisor 9001's phone plays a 1 kHz tone as its voice. It is called in to listen,
    // then switched to whisper (heard by the agent only), then hangs up. The caller hears
    // neither, so the recording (what the caller says and hears) never holds 1 kHz.
    let r = run("", AgentEnd::LeavesAfter(9000), 12_000);
    let d = &r.daemon;
    let wav = r._work.path().join("supervisor1000.wav");
    tone(&wav, "1000");
    let phone = scenario_as(
        r._work.path(),
        "agent_keys.xml",
        "supervisor.xml",
        &[
            (
                "<recv request=\"ACK\"/>",
                format!(
                    "<recv request=\"ACK\"/>\n  <nop><action><exec rtp_stream=\"{},-1,0\"/></action></nop>",
                    wav.display()
                ),
            ),
            ("<!-- KEYS -->", String::new()),
            ("<!-- END -->", agent_end(AgentEnd::LeavesAfter(3500))),
        ],
    );
    let supervisor = SippAgent::start(d.sip, "9001", "secret-9001", phone.to_str().unwrap());
    let call = talking_call(d, &r.token);
    let token = String::from_utf8(
        d.cli(&["token", "create", "--role", "supervisor", "--id", "9001"])
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let post = |what: &str| {
        let path = format!("/api/v1/calls/{call}/{what}");
        support::http_send(d.http, "POST", &path, Some(&token), "")
    };
    let answered = watch_events(d.http, &token, &["\"kind\":\"transfer_connected\""]);
    let (status, body) = post("listen");
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("\"mode\":\"listen\""), "{body}");
    // The supervisor's phone answers and listens for a second (the recording then covers a
    // listening stretch); then the same supervisor switches to whisper on the leg it is on.
    assert!(
        answered.join().unwrap().is_some(),
        "the supervisor's phone answered"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let (status, body) = post("whisper");
    assert_eq!(status, 202, "{body}");
    let out = supervisor.finish();
    assert!(
        out.status.success(),
        "the supervisor's phone was called in and left: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let caller = r.caller.join().unwrap();
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let agent = r.agent.finish();
    assert!(agent.status.success(), "the agent stayed until its own BYE");
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(30));
    let (left, right) = channels(record.recording.as_deref().unwrap(), 60.0);
    for (side, samples) in [("left", &left), ("right", &right)] {
        for (i, second) in samples.chunks(8000).enumerate() {
            assert!(
                !ToneDetector::new(1000.0).present(second),
                "the supervisor was heard on the {side} channel in second {i}"
            );
        }
    }
    assert!(
        ToneDetector::new(440.0).present(&left[..16_000])
            || ToneDetector::new(440.0).present(&left[left.len() - 16_000..])
    );
    let mut centre = r.centre.child;
    let _ = centre.kill();
    let _ = centre.wait();
}
