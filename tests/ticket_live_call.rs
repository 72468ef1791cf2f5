//! A ticket written while its call is still in progress, through the daemon with real peers:
//! sipp as the carrier delivering a citizen's call, sipp as agent 7001 answering it. During the
//! call `POST /api/v1/tickets` names the call by its number on the operator event stream (as
//! the agent's desk learns it); the ticket is created at once with the call's line and the
//! caller's number, and links to the call record by the record's id. Once the call has ended
//! and its recording is written, the ticket carries the recording. An id that is neither live
//! nor recorded is still 422.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::keys::{scenario, tone};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, http_send, sipp, wait_for, Daemon};

/// The demo dialplans with a short greeting.
fn plans(dir: &Path) -> PathBuf {
    let plans = support::dialplans_copy(dir);
    let p = plans.join("queues.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("greeting = [\"greeting\"]"));
    std::fs::write(
        &p,
        text.replace("greeting = [\"greeting\"]", "greeting = [\"digit_1\"]"),
    )
    .unwrap();
    plans
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn a_ticket_written_during_the_call_links_to_it_and_gets_its_recording() {
    let work = tempfile::tempdir().unwrap();
    let plans = plans(work.path());
    let d = Daemon::start_with_agents(
        &[("7001", "secret-7001")],
        &["--dialplans", plans.to_str().unwrap()],
    );
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let agent = SippAgent::start(d.sip, "7001", "secret-7001", "agent_answer.xml");
    wait_for("agent 7001 to register", Duration::from_secs(20), || {
        let (_, regs) = http_get(d.http, "/api/v1/registrations", Some(&token));
        regs.contains("\"account\":\"7001\"").then_some(())
    });
    let wav = work.path().join("caller440.wav");
    tone(&wav, "440");
    let sf = scenario(
        work.path(),
        "trunk_call.xml",
        &[("[caller_wav]", wav.display().to_string())],
    );
    let sip = d.sip;
    let caller = std::thread::spawn(move || {
        let mp = free_udp_port().to_string();
        let sf = sf.to_str().unwrap().to_string();
        sipp(
            sip,
            &[
                "-sf", &sf, "-s", "12345", "-mp", &mp, "-m", "1", "-d", "6000",
            ],
        )
    });

    // The call's number as the desk knows it (the event stream's `call`; status shows the same).
    let call = wait_for("agent 7001 talking", Duration::from_secs(20), || {
        let (_, body) = http_get(d.http, "/api/v1/status", Some(&token));
        let v: Value = serde_json::from_str(&body).ok()?;
        v["agents"]
            .as_array()?
            .iter()
            .find(|a| a["id"] == "7001" && a["state"] == "talking")
            .and_then(|a| a["call"].as_u64())
    });
    let body = format!(r#"{{"type":"help","facts":"路灯不亮","call_id":"{call}"}}"#);
    let (code, created) = http_send(d.http, "POST", "/api/v1/tickets", Some(&token), &body);
    assert_eq!(code, 201, "{created}");
    let created = json(&created);
    let record_id = created["call_id"].as_str().unwrap().to_string();
    assert_eq!(record_id.len(), 36, "the call record's id: {record_id}");
    assert_eq!(created["line"], "12345");
    assert_eq!(created["contact"], "13800138000");
    assert!(created["recording"].is_null(), "not written yet: {created}");
    let ticket = created["id"].as_str().unwrap().to_string();
    // The record id names the same live call.
    let body = format!(r#"{{"type":"help","facts":"再次反映","call_id":"{record_id}"}}"#);
    let (code, again) = http_send(d.http, "POST", "/api/v1/tickets", Some(&token), &body);
    assert_eq!(code, 201, "{again}");
    assert_eq!(json(&again)["call_id"], record_id.as_str());
    // Neither live nor recorded: 422, as before.
    for id in ["987654", "00000000-0000-4000-8000-000000000000", "call-x"] {
        let body = format!(r#"{{"type":"help","facts":"x","call_id":"{id}"}}"#);
        let (code, e) = http_send(d.http, "POST", "/api/v1/tickets", Some(&token), &body);
        assert_eq!(code, 422, "{id}: {e}");
    }

    let run = caller.join().unwrap();
    assert!(
        run.status.success(),
        "caller: {}\n{}",
        run.stdout,
        run.stderr
    );
    let out = agent.finish();
    assert!(
        out.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(30));
    assert_eq!(record.id, record_id, "the ticket names the call record");
    let recording = record.recording.expect("recorded");
    let (code, now) = http_get(d.http, &format!("/api/v1/tickets/{ticket}"), Some(&token));
    assert_eq!(code, 200, "{now}");
    assert_eq!(json(&now)["recording"], recording.as_str());
    // The call record's id also works once the call has ended; its number no longer does.
    let body = format!(r#"{{"type":"help","facts":"补充","call_id":"{record_id}"}}"#);
    let (code, late) = http_send(d.http, "POST", "/api/v1/tickets", Some(&token), &body);
    assert_eq!(code, 201, "{late}");
    assert_eq!(json(&late)["recording"], recording.as_str());
    let body = format!(r#"{{"type":"help","facts":"x","call_id":"{call}"}}"#);
    let (code, _) = http_send(d.http, "POST", "/api/v1/tickets", Some(&token), &body);
    assert_eq!(code, 422);
}
