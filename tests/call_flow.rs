//! A citizen's call end to end, with real peers: sipp as the carrier trunk (INVITE, a 440 Hz
//! tone as the caller's voice, BYE) and baresip as agent 7001 (registered, auto-answering,
//! a 1 kHz tone as the agent's voice), through the demo dialplans: greeting, queue, ringing,
//! bridge. The call record and the stereo recording show who said what.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rexian::media::tone::ToneDetector;
use support::phones::Baresip;
use support::{free_udp_port, http_get, sipp, Daemon};

/// Polls `probe` until it gives a value or `limit` passes; the failure names what was awaited.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sox(args: &[&str]) {
    let ok = Command::new("sox").args(args).status().expect("run sox");
    assert!(ok.success(), "sox {args:?}");
}

/// The trunk scenario with the caller's audio file filled in (sipp reads `rtp_stream` paths
/// when it loads the scenario, so they cannot come from `-key`).
fn trunk_scenario(dir: &Path, audio: &Path) -> std::path::PathBuf {
    let template = std::fs::read_to_string(support::sipp_scenario("trunk_call.xml")).unwrap();
    let path = dir.join("trunk_call.xml");
    std::fs::write(
        &path,
        template.replace("[caller_wav]", &audio.display().to_string()),
    )
    .unwrap();
    path
}

/// Left and right channels of a stereo WAV.
fn channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut wav = hound::WavReader::open(path).expect("a readable WAV");
    assert_eq!(wav.spec().channels, 2, "stereo: caller left, agent right");
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.unwrap()).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

#[test]
fn a_trunk_call_is_greeted_queued_answered_by_an_agent_and_recorded_both_ways() {
    let work = tempfile::tempdir().unwrap();
    let caller_wav = work.path().join("caller440.wav");
    let agent_wav = work.path().join("agent1k.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-e",
        "u-law",
        caller_wav.to_str().unwrap(),
        "synth",
        "40",
        "sine",
        "440",
        "vol",
        "0.5",
    ]);
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        agent_wav.to_str().unwrap(),
        "synth",
        "90",
        "sine",
        "1000",
        "vol",
        "0.5",
    ]);

    let d = Daemon::start_with_agents(&[("7001", "secret-7001")], &[]);
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let _agent = Baresip::start(d.sip, "7001", "secret-7001", Some(&agent_wav));
    wait_for("agent 7001 to register", Duration::from_secs(20), || {
        let (_, regs) = http_get(d.http, "/api/v1/registrations", Some(&token));
        regs.contains("\"account\":\"7001\"").then_some(())
    });

    // The greeting (about 8 s) plays first; the caller stays 18 s in all.
    let scenario = trunk_scenario(work.path(), &caller_wav);
    let media_port = free_udp_port().to_string();
    let run = sipp(
        d.sip,
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-s",
            "12345",
            "-mp",
            &media_port,
            "-m",
            "1",
            "-d",
            "18000",
        ],
    );
    assert!(run.status.success(), "sipp: {}\n{}", run.stdout, run.stderr);

    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(30));
    assert_eq!(record.line, "12345");
    assert_eq!(record.caller, "13800138000");
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "caller_hangup");
    assert!(!record.abandoned);
    assert!(record.answered_ms.is_some());
    assert!(
        record.service_level_met,
        "answered within 15 s of the INVITE"
    );

    let wav = Path::new(record.recording.as_deref().unwrap()).to_path_buf();
    let (left, right) = channels(&wav);
    // Look at the last two seconds, well inside the conversation.
    let tail = |v: &[i16]| v[v.len().saturating_sub(16_000)..].to_vec();
    let (left, right) = (tail(&left), tail(&right));
    assert!(
        ToneDetector::new(440.0).present(&left),
        "the caller on the left"
    );
    assert!(
        ToneDetector::new(1000.0).present(&right),
        "the agent on the right"
    );
    assert!(
        !ToneDetector::new(1000.0).present(&left),
        "channels kept apart"
    );
}
