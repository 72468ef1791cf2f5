//! Hold by the agent's phone, with real peers: sipp as the carrier trunk (its RTP port is a
//! socket of this test, so the test hears what the caller hears) and sipp as agent 7102's
//! phone, which talks (a 1 kHz tone it never stops sending), puts the caller on hold with a
//! re-INVITE `a=sendonly`, takes the call back with `a=sendrecv`, and hangs up.
//!
//! The caller must hear the agent, then rexian's music on hold and not the agent, then the
//! agent again; the agent's phone checks rexian answered the hold `recvonly` and the resume
//! `sendrecv`; and it all stays one call with one record.

mod support;

use std::time::Duration;

use rexian::media::tone::ToneDetector;
use support::calls::{
    call_records, plans_with, scenario_filled, supervisor_token, tone_wav, wait_registered,
    RtpSink, SHORT_GREETING,
};
use support::phones::SippAgent;
use support::{free_udp_port, latest_call, sipp, sipp_scenario, Daemon};

const AGENT: (&str, &str) = ("7102", "secret-7102");

/// 50 ms at 8 kHz.
const BLOCK: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Agent,
    Moh,
    Other,
}

/// The demo music on hold is a four-note pattern (C5, E5, G5, E5); the agent is a 1 kHz tone.
fn classify(block: &[i16]) -> Heard {
    if ToneDetector::new(1000.0).present(block) {
        Heard::Agent
    } else if [523.25, 659.25, 783.99]
        .iter()
        .any(|&f| ToneDetector::new(f).present(block))
    {
        Heard::Moh
    } else {
        Heard::Other
    }
}

/// Runs of at least `min` blocks of the agent's tone, as block ranges.
fn agent_runs(heard: &[Heard], min: usize) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, h) in heard.iter().chain([Heard::Other].iter()).enumerate() {
        match (h, start) {
            (Heard::Agent, None) => start = Some(i),
            (Heard::Agent, Some(_)) => {}
            (_, Some(s)) => {
                if i - s >= min {
                    runs.push(s..i);
                }
                start = None;
            }
            (_, None) => {}
        }
    }
    runs
}

#[test]
fn the_agent_holds_the_caller_hears_music_then_the_agent_again_in_one_call() {
    let work = tempfile::tempdir().unwrap();
    // No survey after the agent hangs up, so the call ends with the agent's BYE.
    let plans = plans_with(
        work.path(),
        &[
            SHORT_GREETING,
            (
                "queues.toml",
                "rating = true                    # 好差评",
                "rating = false                   # 好差评",
            ),
        ],
    );
    let agent_wav = work.path().join("agent1k.wav");
    tone_wav(&agent_wav, 1000, 60);
    let agent_scenario = scenario_filled(
        work.path(),
        "agent_hold.xml",
        &[
            ("agent_wav", agent_wav.to_str().unwrap()),
            ("phase_ms", "3000"),
        ],
    );

    let d = Daemon::start_with_agents(&[AGENT], &["--dialplans", plans.to_str().unwrap()]);
    let token = supervisor_token(&d);
    let agent = SippAgent::start(d.sip, AGENT.0, AGENT.1, agent_scenario.to_str().unwrap());
    wait_registered(&d, &token, AGENT.0);

    let sink = RtpSink::start();
    let caller_rtp = sink.port.to_string();
    let media = free_udp_port().to_string();
    let run = sipp(
        d.sip,
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
    );
    assert!(
        run.status.success(),
        "caller: {}\n{}",
        run.stdout,
        run.stderr
    );
    let out = agent.finish();
    assert!(
        out.status.success(),
        "agent phone (hold answered recvonly, resume sendrecv): {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the caller heard, 50 ms at a time.
    let samples = sink.samples();
    let heard: Vec<Heard> = samples.chunks_exact(BLOCK).map(classify).collect();
    // Talking before and after the hold: 3 s each; a run of at least 1 s counts.
    let runs = agent_runs(&heard, 20);
    assert!(
        runs.len() >= 2,
        "the agent heard before and after the hold: runs {runs:?}"
    );
    let (before, after) = (&runs[0], &runs[1]);
    // The hold in between (3 s); its edges may hold a packet or two in flight.
    let hold = &heard[before.end + 2..after.start.saturating_sub(2)];
    assert!(
        hold.len() >= 40,
        "a hold of about 3 s: {} blocks",
        hold.len()
    );
    assert!(
        !hold.contains(&Heard::Agent),
        "the agent's audio does not reach the caller on hold"
    );
    let moh = hold.iter().filter(|h| **h == Heard::Moh).count();
    assert!(
        moh * 10 >= hold.len() * 6,
        "music on hold during the hold: {moh} of {} blocks",
        hold.len()
    );

    // One call, one record, answered by the agent who held it.
    let record = latest_call(&d.data_dir(), Duration::from_secs(20), |r| {
        r.recording.is_some()
    });
    assert_eq!(record.agent.as_deref(), Some(AGENT.0));
    assert_eq!(record.hangup_cause, "agent_hangup");
    assert_eq!(record.rating, None, "no survey on this queue");
    assert_eq!(call_records(&d.data_dir()).len(), 1, "still one call");
}
