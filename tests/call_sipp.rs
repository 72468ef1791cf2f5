//! The call path against sipp as the carrier trunk and as an agent's phone, for what
//! carriers and phones send: a late-offer INVITE, an UPDATE and a hold re-INVITE mid-call,
//! reliable early media (100rel/PRACK) from the agent's phone, and calls that survive 10 %
//! message loss by retransmission.

mod support;

use std::time::{Duration, Instant};

use support::phones::SippAgent;
use support::{free_udp_port, http_get, sipp, sipp_scenario, Daemon, SippRun};

fn must_pass(what: &str, run: &SippRun) {
    assert!(
        run.status.success(),
        "{what}: sipp failed\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

fn trunk(d: &Daemon, scenario: &str, extra: &[&str]) -> SippRun {
    let media = free_udp_port().to_string();
    let sf = sipp_scenario(scenario);
    let mut args = vec!["-sf", sf.to_str().unwrap(), "-s", "12345", "-mp", &media];
    args.extend_from_slice(extra);
    sipp(d.sip, &args)
}

/// A metric's value from a `/metrics` page (`name value` lines without labels).
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_late_offer_invite_is_answered_with_our_offer() {
    let d = Daemon::start(&[]);
    let run = trunk(&d, "trunk_late_offer.xml", &["-m", "1", "-d", "2000"]);
    must_pass("late offer", &run);
    // The greeting went out as RTP, and the media engine's counters say so on /metrics
    // (read every 5 s by their own task).
    let start = Instant::now();
    loop {
        let page = http_get(d.http, "/metrics", None).1;
        let out = metric(&page, "rexian_media_packets_out_total").unwrap_or(0.0);
        if out > 0.0 {
            assert_eq!(
                metric(&page, "rexian_media_recording_drops_total"),
                Some(0.0)
            );
            // The daemon's one engine thread uses io_uring wherever the kernel offers it.
            let expected = if rexian::shell::media::io_uring_available() {
                1.0
            } else {
                0.0
            };
            assert_eq!(
                metric(&page, "rexian_media_io_uring_threads"),
                Some(expected)
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no media packets counted on /metrics:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_update_offer_and_a_hold_reinvite_are_answered_mid_call() {
    let d = Daemon::start(&[]);
    let run = trunk(&d, "trunk_update_hold.xml", &["-m", "1"]);
    must_pass("UPDATE and hold", &run);
}

#[test]
fn calls_complete_when_one_message_in_ten_is_lost() {
    let d = Daemon::start(&[]);
    let run = trunk(
        &d,
        "trunk_late_offer.xml",
        &[
            "-m", "10", "-r", "5", "-l", "10", "-d", "1000", "-lost", "10",
        ],
    );
    must_pass("10 % loss", &run);
}

#[test]
fn an_agent_phone_with_reliable_early_media_is_pracked_and_bridged() {
    let d = Daemon::start_with_agents(&[("7002", "secret-7002")], &[]);
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let agent = SippAgent::start(d.sip, "7002", "secret-7002", "agent_100rel.xml");
    let start = Instant::now();
    while !http_get(d.http, "/api/v1/registrations", Some(&token))
        .1
        .contains("\"account\":\"7002\"")
    {
        assert!(start.elapsed() < Duration::from_secs(10), "agent binding");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The greeting (about 8 s) first, then the agent is rung; the caller stays 12 s.
    let run = trunk(&d, "trunk_late_offer.xml", &["-m", "1", "-d", "12000"]);
    must_pass("trunk caller", &run);
    // Bridged means recorded: the call record gets its recording.
    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(20));
    assert_eq!(record.agent.as_deref(), Some("7002"));
    let out = agent.finish();
    assert!(
        out.status.success(),
        "agent phone: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
