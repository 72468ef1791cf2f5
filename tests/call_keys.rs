//! Feature codes keyed during a call, with real peers, across a reload: sipp as the trunk
//! caller and as agent 7103's phone, which keys `*24` (not ready) as SIP INFO, one key per
//! request, while the call is in progress. The call arrived before the admins renumbered
//! not-ready to `*94`, so its `*24` still counts: after the call the agent is not ready.

mod support;

use std::process::Command;
use std::time::Duration;

use support::calls::{
    plans_with, scenario_filled, supervisor_token, wait_registered, RtpSink, SHORT_GREETING,
};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, http_send, sipp, sipp_scenario, wait_for, Daemon, BIN};

const AGENT: (&str, &str) = ("7103", "secret-7103");

/// Agent 7103's state and the calls in progress, from the status API.
fn status(d: &Daemon, token: &str) -> (String, u64, String) {
    let (code, body) = http_get(d.http, "/api/v1/status", Some(token));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    let agent = v["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"] == AGENT.0))
        .cloned()
        .unwrap_or_default();
    (
        agent["state"].as_str().unwrap_or_default().to_string(),
        v["calls_in_progress"].as_u64().unwrap_or_default(),
        agent["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn set_state(d: &Daemon, token: &str, action: &str) {
    let (code, body) = http_send(
        d.http,
        "POST",
        &format!("/api/v1/agents/{}/state", AGENT.0),
        Some(token),
        &format!("{{\"action\": \"{action}\", \"reason\": \"test\"}}"),
    );
    assert!(code < 300, "{action}: {code} {body}");
}

#[test]
fn a_code_keyed_during_a_call_follows_the_plan_the_call_arrived_under() {
    let work = tempfile::tempdir().unwrap();
    let no_survey = (
        "queues.toml",
        "rating = true                    # 好差评",
        "rating = false                   # 好差评",
    );
    let plans = plans_with(work.path(), &[SHORT_GREETING, no_survey]);
    let agent_scenario = scenario_filled(
        work.path(),
        "agent_three_keys.xml",
        &[("k1", "*"), ("k2", "2"), ("k3", "4")],
    );
    let d = Daemon::start_with_agents(&[AGENT], &["--dialplans", plans.to_str().unwrap()]);
    let token = supervisor_token(&d);
    let agent = SippAgent::start(d.sip, AGENT.0, AGENT.1, agent_scenario.to_str().unwrap());
    wait_registered(&d, &token, AGENT.0);
    // Signed in but not ready: the call waits in the queue.
    set_state(&d, &token, "not_ready");

    let sink = RtpSink::start();
    let caller_rtp = sink.port.to_string();
    let sip = d.sip;
    let caller = std::thread::spawn(move || {
        let media = free_udp_port().to_string();
        sipp(
            sip,
            &[
                "-sf",
                sipp_scenario("trunk_wait_bye.xml").to_str().unwrap(),
                "-s",
                "12345",
                "-mp",
                &media,
                "-key",
                "caller_rtp",
                &caller_rtp,
                "-m",
                "1",
            ],
        )
    });
    wait_for(
        "the call to be in progress",
        Duration::from_secs(20),
        || (status(&d, &token).1 == 1).then_some(()),
    );

    // The admins renumber not-ready while the call waits; it keeps the plan it arrived under.
    let features = plans.join("features.toml");
    let text = std::fs::read_to_string(&features).unwrap();
    std::fs::write(
        &features,
        text.replace("not_ready = \"*24\"", "not_ready = \"*94\""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--http", &d.http.to_string(), "--data"])
        .arg(d.data_dir())
        .env("REXIAN_LOG", "warn")
        .output()
        .expect("rexian reload");
    assert!(
        out.status.success(),
        "reload: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The agent takes the call and keys *24 during it.
    set_state(&d, &token, "ready");
    let run = caller.join().expect("caller thread");
    assert!(
        run.status.success(),
        "caller: {}\n{}",
        run.stdout,
        run.stderr
    );
    let out = agent.finish();
    assert!(
        out.status.success(),
        "agent phone: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let record = support::latest_call(&d.data_dir(), Duration::from_secs(20), |_| true);
    assert_eq!(
        record.agent.as_deref(),
        Some(AGENT.0),
        "the agent took the call"
    );

    // After the wrap-up the agent is not ready by the code, not ready for the next call.
    let (state, _, reason) = wait_for("the wrap-up to end", Duration::from_secs(30), || {
        let s = status(&d, &token);
        (s.0 != "wrap_up" && s.0 != "talking").then_some(s)
    });
    assert_eq!(
        (state.as_str(), reason.as_str()),
        ("not_ready", "feature code")
    );
}
