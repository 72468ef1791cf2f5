//! The satisfaction rating (好差评) with real peers: sipp as the carrier trunk and as agent
//! 7101's phone (registered with digest, answering, talking — a tone — then hanging up first). The caller stays on
//! the line, hears the survey and presses a key — RFC 4733 telephone-events or SIP INFO
//! `application/dtmf-relay` — or none; the call record holds the rating and the hangup cause.
//!
//! The callers press their key once a second from the moment they are answered until rexian
//! hangs up, so no test has to guess when the survey starts: a key means nothing before the
//! survey (it is not the callback key), and the first one during it is the rating.

mod support;

use std::path::Path;
use std::time::Duration;

use support::calls::{
    heard_prompt, plans_with, scenario_filled, supervisor_token, tone_wav, wait_registered,
    RtpSink, SHORT_GREETING,
};
use support::phones::SippAgent;
use support::{free_udp_port, latest_call, sipp, Daemon};

const AGENT: (&str, &str) = ("7101", "secret-7101");

/// One call to 12345 from the trunk scenario `caller` (extra sipp arguments `extra`) that
/// agent 7101 answers and hangs up first; the call record once it is written.
fn rated_call(work: &Path, caller: &Path, extra: &[&str]) -> rexian::store::calls::CallRecordRow {
    let plans = plans_with(work, &[SHORT_GREETING]);
    let agent_wav = work.join("agent1k.wav");
    tone_wav(&agent_wav, 1000, 30);
    let agent_scenario = scenario_filled(
        work,
        "agent_bye.xml",
        &[("agent_wav", agent_wav.to_str().unwrap())],
    );
    let d = Daemon::start_with_agents(&[AGENT], &["--dialplans", plans.to_str().unwrap()]);
    let token = supervisor_token(&d);
    let agent = SippAgent::start(d.sip, AGENT.0, AGENT.1, agent_scenario.to_str().unwrap());
    wait_registered(&d, &token, AGENT.0);

    let media = free_udp_port().to_string();
    let mut args = vec![
        "-sf",
        caller.to_str().unwrap(),
        "-s",
        "12345",
        "-mp",
        &media,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-m", "1"]);
    let run = sipp(d.sip, &args);
    assert!(
        run.status.success(),
        "trunk caller: {}\n{}",
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
    latest_call(&d.data_dir(), Duration::from_secs(20), |_| true)
}

fn assert_agent_hung_up_first(r: &rexian::store::calls::CallRecordRow) {
    assert_eq!(r.line, "12345");
    assert_eq!(r.agent.as_deref(), Some(AGENT.0));
    assert!(r.answered_ms.is_some(), "answered by the agent");
    assert!(!r.abandoned);
    assert_eq!(r.hangup_cause, "agent_hangup");
}

#[test]
fn a_key_sent_as_rfc4733_events_during_the_survey_is_the_rating() {
    let work = tempfile::tempdir().unwrap();
    let caller = scenario_filled(
        work.path(),
        "trunk_rating.xml",
        &[
            ("dtmf_pcap", "/usr/share/sip-tester/dtmf_2833_3.pcap"),
            ("filler_pcap", "/usr/share/sip-tester/dtmf_2833_5.pcap"),
        ],
    );
    let r = rated_call(work.path(), &caller, &[]);
    assert_agent_hung_up_first(&r);
    assert_eq!(r.rating.as_deref(), Some("unsatisfied"), "key 3");
}

#[test]
fn a_key_sent_as_sip_info_during_the_survey_is_the_rating() {
    let work = tempfile::tempdir().unwrap();
    let caller = support::sipp_scenario("trunk_rating_info.xml");
    let r = rated_call(
        work.path(),
        &caller,
        &["-key", "key", "2", "-base_cseq", "100"],
    );
    assert_agent_hung_up_first(&r);
    assert_eq!(r.rating.as_deref(), Some("basically_satisfied"), "key 2");
}

#[test]
fn no_key_after_the_survey_leaves_the_call_unrated() {
    let work = tempfile::tempdir().unwrap();
    let caller = support::sipp_scenario("trunk_wait_bye.xml");
    // This caller says nothing; the test listens on its RTP port to hear what it hears.
    let sink = RtpSink::start();
    let port = sink.port.to_string();
    let r = rated_call(work.path(), &caller, &["-key", "caller_rtp", &port]);
    assert_agent_hung_up_first(&r);
    assert!(
        heard_prompt(&sink.samples(), "survey"),
        "the caller heard the survey prompt"
    );
    assert_eq!(
        r.rating.as_deref(),
        Some("no_answer"),
        "the survey was played and no key came"
    );
}
