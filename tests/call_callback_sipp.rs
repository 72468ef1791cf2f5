//! A callback (回拨) end to end with real peers: sipp as the carrier trunk delivering a
//! citizen's call that presses the callback key (SIP INFO) while queued and is hung up after
//! the acknowledgement; sipp as agent 7001, not ready until then; and sipp as the citizen's
//! phone behind the trunk, which gets rexian's INVITE once the agent is free, answers with
//! its own tone and talks with the agent (another tone). The far end's INVITE, the call
//! records, the callback rows and the stereo recording show what happened.

mod support;

use std::time::Duration;

use rexian::media::tone::ToneDetector;
use rexian::store::Store;
use support::far_end::{watch_events, FarEnd};
use support::keys::{channels, scenario, tone};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, http_send, sipp, wait_for};

/// Whether some second of `samples` holds the tone.
fn tone_in(samples: &[i16], hz: f64) -> bool {
    let d = ToneDetector::new(hz);
    samples
        .chunks(8000)
        .any(|w| w.len() == 8000 && d.present(w))
}

#[test]
fn a_caller_who_pressed_the_key_is_called_back_over_the_trunk_and_talks_with_the_agent() {
    let work = tempfile::tempdir().unwrap();
    let citizen_port = free_udp_port();
    let plans = support::calls::plans_with(
        work.path(),
        &[
            support::calls::SHORT_GREETING,
            (
                "trunks.toml",
                "address = \"127.0.0.1:5080\"",
                &format!("address = \"127.0.0.1:{citizen_port}\""),
            ),
        ],
    );
    let d = support::Daemon::start_with_agents(
        &[("7001", "secret-7001")],
        &["--dialplans", plans.to_str().unwrap()],
    );
    let token = support::calls::supervisor_token(&d);
    let agent_wav = work.path().join("agent800.wav");
    tone(&agent_wav, "800");
    let agent_sf = scenario(
        work.path(),
        "agent_answer_tone.xml",
        &[
            ("[agent_wav]", agent_wav.display().to_string()),
            ("[hold_ms]", "6000".into()),
        ],
    );
    let agent = SippAgent::start(d.sip, "7001", "secret-7001", agent_sf.to_str().unwrap());
    support::calls::wait_registered(&d, &token, "7001");
    let state = |action: &str| {
        let body = format!(r#"{{"action": "{action}", "reason": "meeting"}}"#);
        let (code, text) = http_send(
            d.http,
            "POST",
            "/api/v1/agents/7001/state",
            Some(&token),
            &body,
        );
        assert_eq!(code, 200, "{text}");
    };
    state("not_ready");
    let citizen = FarEnd::start(work.path(), citizen_port, "citizen");

    // The citizen calls 12345 from 13500135000, waits, presses 1 (INFO) once a second until
    // rexian hangs up after the acknowledgement.
    let caller = sipp(
        d.sip,
        &[
            "-sf",
            support::sipp_scenario("trunk_rating_info.xml")
                .to_str()
                .unwrap(),
            "-s",
            "12345",
            "-key",
            "key",
            "1",
            "-base_cseq",
            "100",
            "-m",
            "1",
        ],
    );
    assert!(
        caller.status.success(),
        "caller: {}\n{}",
        caller.stdout,
        caller.stderr
    );
    let origin = support::latest_call(&d.data_dir(), Duration::from_secs(20), |r| {
        r.callback_requested
    });
    assert_eq!(origin.hangup_cause, "callback_requested");
    let (_, status) = http_get(d.http, "/api/v1/status", Some(&token));
    assert!(status.contains("\"pending_callbacks\":1"), "{status}");
    assert!(
        status.contains("\"waiting\":1"),
        "the request waits in the queue: {status}"
    );

    // The agent becomes free: rexian calls the citizen over the trunk presenting 12345.
    let events = watch_events(d.http, &token, &["\"kind\":\"callback_answered\""]);
    state("ready");
    let invite = citizen.invite();
    assert!(
        invite.starts_with("INVITE sip:13500135000@127.0.0.1"),
        "{invite}"
    );
    assert!(invite.contains("From: <sip:12345@"), "{invite}");
    assert!(
        invite.contains("P-Asserted-Identity: <sip:12345@"),
        "{invite}"
    );

    let answered = events.join().unwrap().expect("a callback_answered event");
    for field in [
        "\"number\":\"13500135000\"",
        "\"agent\":\"7001\"",
        "\"trunk\":\"loopback\"",
        "\"attempt\":1",
    ] {
        assert!(answered.contains(field), "{field} in {answered}");
    }
    // Citizen and agent talk; the agent hangs up after 6 s, the citizen hears the survey.
    let agent_out = agent.finish();
    assert!(
        agent_out.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&agent_out.stdout)
    );
    let citizen_out = citizen.child.wait_with_output().unwrap();
    assert!(
        citizen_out.status.success(),
        "citizen: {}",
        String::from_utf8_lossy(&citizen_out.stdout)
    );
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(40));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.caller, "13500135000");
    assert_eq!(record.trunk.as_deref(), Some("loopback"));
    assert_ne!(record.id, origin.id);
    // The citizen's leg on the left, the agent on the right: each voice reached rexian and
    // went into the one recording, apart.
    let (left, right) = channels(record.recording.as_deref().unwrap(), f64::INFINITY);
    assert!(tone_in(&left, 1500.0), "the citizen");
    assert!(tone_in(&right, 800.0), "the agent");
    assert!(!tone_in(&left, 800.0), "channels apart");

    // The request and its attempt are on record, linked to both calls.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (reqs, attempts) = rt.block_on(async {
        let store = Store::open(&Store::sqlite_url(&d.data_dir()))
            .await
            .unwrap();
        let reqs = store.recent_callbacks(10).await.unwrap();
        let attempts = store.callback_attempts(&reqs[0].id).await.unwrap();
        store.close().await;
        (reqs, attempts)
    });
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].origin_record, origin.id);
    assert_eq!(reqs[0].number, "13500135000");
    assert_eq!(reqs[0].state, "answered");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome.as_deref(), Some("answered"));
    assert_eq!(attempts[0].agent.as_deref(), Some("7001"));
    assert_eq!(attempts[0].trunk.as_deref(), Some("loopback"));
    assert_eq!(attempts[0].call_record.as_deref(), Some(record.id.as_str()));
}

#[test]
fn a_request_left_open_is_taken_up_again_by_a_restarted_daemon() {
    let work = tempfile::tempdir().unwrap();
    let citizen_port = free_udp_port();
    let plans = support::calls::plans_with(
        work.path(),
        &[
            support::calls::SHORT_GREETING,
            (
                "trunks.toml",
                "address = \"127.0.0.1:5080\"",
                &format!("address = \"127.0.0.1:{citizen_port}\""),
            ),
        ],
    );
    let args = ["--dialplans", plans.to_str().unwrap()];
    let mut first = support::Daemon::start_with_agents(&[("7001", "secret-7001")], &args);
    let token = support::calls::supervisor_token(&first);
    // 7001 is logged in but busy with something else: the caller queues and presses 1.
    // Its phone registers (a contact nobody answers on: it is never rung in this run).
    let port = free_udp_port().to_string();
    let reg = sipp(
        first.sip,
        &[
            "-sf",
            support::sipp_scenario("agent_register.xml")
                .to_str()
                .unwrap(),
            "-s",
            "7001",
            "-au",
            "7001",
            "-ap",
            "secret-7001",
            "-key",
            "contact_port",
            &port,
            "-m",
            "1",
        ],
    );
    assert!(reg.status.success(), "REGISTER: {}", reg.stderr);
    support::calls::wait_registered(&first, &token, "7001");
    let (code, text) = http_send(
        first.http,
        "POST",
        "/api/v1/agents/7001/state",
        Some(&token),
        r#"{"action": "not_ready", "reason": "meeting"}"#,
    );
    assert_eq!(code, 200, "{text}");
    let caller = sipp(
        first.sip,
        &[
            "-sf",
            support::sipp_scenario("trunk_rating_info.xml")
                .to_str()
                .unwrap(),
            "-s",
            "12345",
            "-key",
            "key",
            "1",
            "-base_cseq",
            "100",
            "-m",
            "1",
        ],
    );
    assert!(caller.status.success(), "caller: {}", caller.stderr);
    let data = first.data_dir();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let open = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let store = Store::open(&Store::sqlite_url(&data)).await.unwrap();
            let open = store.open_callbacks().await.unwrap();
            store.close().await;
            open
        })
    };
    wait_for("the request on record", Duration::from_secs(20), || {
        (open(&rt).len() == 1).then_some(())
    });

    // The daemon dies; a new one on the same data takes the request up.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().unwrap());
    drop(first);
    let second = support::Daemon::start_in(dir, &args);
    let token = support::calls::supervisor_token(&second);
    let (_, status) = http_get(second.http, "/api/v1/status", Some(&token));
    assert!(status.contains("\"pending_callbacks\":1"), "{status}");
    let citizen = FarEnd::start(work.path(), citizen_port, "citizen");
    let agent_wav = work.path().join("agent800.wav");
    tone(&agent_wav, "800");
    let agent_sf = scenario(
        work.path(),
        "agent_answer_tone.xml",
        &[
            ("[agent_wav]", agent_wav.display().to_string()),
            ("[hold_ms]", "2000".into()),
        ],
    );
    // The agent's phone registers with the new daemon and is free: the citizen is called.
    let agent = SippAgent::start(
        second.sip,
        "7001",
        "secret-7001",
        agent_sf.to_str().unwrap(),
    );
    let invite = citizen.invite();
    assert!(
        invite.starts_with("INVITE sip:13500135000@127.0.0.1"),
        "{invite}"
    );
    assert!(invite.contains("From: <sip:12345@"), "{invite}");
    let agent_out = agent.finish();
    assert!(
        agent_out.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&agent_out.stdout)
    );
    let _ = citizen.child.wait_with_output();
    let record = support::recorded_call(&second.data_dir(), Duration::from_secs(40));
    assert_eq!(record.caller, "13500135000");
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert!(open(&rt).is_empty(), "answered: no longer open");
}
