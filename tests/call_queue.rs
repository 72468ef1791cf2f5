//! Queue behaviour with real peers and quick timers (a copy of the demo dialplans with a
//! short greeting, 5 s ring timeout and 3 s dual-number overflow): an agent that does not
//! pick up is skipped and set not-ready, a caller who hangs up while an agent rings is an
//! abandoned call, a dual-number line overflows to 12345 agents when its own seats are
//! away, and the agent is in wrap-up after the call.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::phones::SippAgent;
use support::{free_udp_port, latest_call, sipp, sipp_scenario, Daemon, SippRun, BIN};

/// The demo dialplans with timers short enough for a test.
fn quick_plans(dir: &Path) -> std::path::PathBuf {
    let plans = support::dialplans_copy(dir);
    let queues = plans.join("queues.toml");
    let text = std::fs::read_to_string(&queues)
        .unwrap()
        .replace("greeting = [\"greeting\"]", "greeting = [\"digit_1\"]")
        .replace("ring_timeout_secs = 15", "ring_timeout_secs = 5")
        .replace("wrap_up_secs = 10", "wrap_up_secs = 30")
        .replace("wrap_up_secs = 15", "wrap_up_secs = 30");
    std::fs::write(&queues, text).unwrap();
    let numbers = plans.join("numbers.toml");
    let text = std::fs::read_to_string(&numbers)
        .unwrap()
        .replace("overflow_after_secs = 30", "overflow_after_secs = 3");
    std::fs::write(&numbers, text).unwrap();
    plans
}

fn call(d: &Daemon, number: &str, hold_ms: u32) -> SippRun {
    let media = free_udp_port().to_string();
    sipp(
        d.sip,
        &[
            "-sf",
            sipp_scenario("trunk_late_offer.xml").to_str().unwrap(),
            "-s",
            number,
            "-mp",
            &media,
            "-m",
            "1",
            "-d",
            &hold_ms.to_string(),
        ],
    )
}

fn status(d: &Daemon) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["status", "--json", "--http", &d.http.to_string(), "--data"])
        .arg(d.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn agent_state(v: &serde_json::Value, id: &str) -> String {
    v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .map(|a| a["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn start(dir: &Path, agents: &[(&str, &str)]) -> Daemon {
    let plans = quick_plans(dir);
    Daemon::start_with_agents(agents, &["--dialplans", plans.to_str().unwrap()])
}

#[test]
fn an_agent_who_does_not_pick_up_is_skipped_and_set_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        &[("7001", "secret-7001"), ("7002", "secret-7002")],
    );
    // 7001 registers first, so it has been idle longest and is rung first.
    let silent = SippAgent::start(d.sip, "7001", "secret-7001", "agent_noanswer.xml");
    let answers = SippAgent::start(d.sip, "7002", "secret-7002", "agent_100rel.xml");
    let run = call(&d, "12345", 9000);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(20));
    assert_eq!(record.agent.as_deref(), Some("7002"));
    assert_eq!(record.ring_attempts, 2);
    let v = status(&d);
    assert_eq!(agent_state(&v, "7001"), "not_ready");
    assert_eq!(
        agent_state(&v, "7002"),
        "wrap_up",
        "after the call: 话后处理"
    );
    assert!(silent.finish().status.success(), "the CANCEL reached 7001");
    assert!(answers.finish().status.success());
}

#[test]
fn a_caller_who_hangs_up_while_an_agent_rings_is_an_abandoned_call() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &[("7001", "secret-7001")]);
    let ringing = SippAgent::start(d.sip, "7001", "secret-7001", "agent_noanswer.xml");
    let run = call(&d, "12345", 2500);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let record = latest_call(&d.data_dir(), Duration::from_secs(10), |_| true);
    assert!(record.abandoned);
    assert_eq!(record.hangup_cause, "abandoned");
    assert_eq!(record.agent, None);
    assert!(!record.service_level_met);
    assert!(
        ringing.finish().status.success(),
        "the ringing phone got CANCEL"
    );
}

#[test]
fn a_dual_number_line_overflows_to_12345_agents_when_its_own_seats_are_away() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &[("7003", "secret-7003")]);
    // 12320's own seat (7201) is not registered; 7003 takes 12345 calls by default.
    let agent = SippAgent::start(d.sip, "7003", "secret-7003", "agent_100rel.xml");
    let run = call(&d, "12320", 9000);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(20));
    assert_eq!(record.line, "12320");
    assert_eq!(record.agent.as_deref(), Some("7003"));
    let waited = record.answered_ms.unwrap() - record.arrived_ms;
    assert!(waited >= 3000, "not before the overflow wait: {waited} ms");
    assert!(agent.finish().status.success());
}

#[test]
fn a_reload_in_the_middle_of_a_call_leaves_the_call_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &[("7001", "secret-7001")]);
    let agent = SippAgent::start(d.sip, "7001", "secret-7001", "agent_100rel.xml");
    let caller = std::thread::spawn({
        let d_sip = d.sip;
        move || {
            let media = free_udp_port().to_string();
            sipp(
                d_sip,
                &[
                    "-sf",
                    sipp_scenario("trunk_late_offer.xml").to_str().unwrap(),
                    "-s",
                    "12345",
                    "-mp",
                    &media,
                    "-m",
                    "1",
                    "-d",
                    "8000",
                ],
            )
        }
    });
    // Once the agent talks, change the plan under the call and reload it.
    let start = std::time::Instant::now();
    while agent_state(&status(&d), "7001") != "talking" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the agent never talked"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let queues = dir.path().join("dialplans/queues.toml");
    let text = std::fs::read_to_string(&queues)
        .unwrap()
        .replace("wrap_up_secs = 30", "wrap_up_secs = 5");
    std::fs::write(&queues, text).unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--http", &d.http.to_string(), "--data"])
        .arg(d.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = caller.join().unwrap();
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(20));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "caller_hangup");
    assert!(agent.finish().status.success());
}
