//! Outbound trunks end to end with sipp as the carrier (`tests/sipp/carrier.xml`): rexian
//! registers to it with digest (sipp checks the Authorization with `verifyauth`) and pings
//! it with OPTIONS; an emergency hand-off skips a trunk whose pings go unanswered and goes
//! over the carrier, answering its 407 with the trunk's account. The citizen's call, the agent
//! typing `*0110` by SIP INFO and the recording are set up as in `call_transfer_sipp.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rexian::media::tone::ToneDetector;
use support::keys::{agent_end, info_keys, scenario, tail_channels, tone, AgentEnd};
use support::phones::SippAgent;
use support::{free_udp_port, http_get, sipp, wait_for, Daemon};

const USER: &str = "0398123450";
const PASSWORD: &str = "carrier-pw";

/// The carrier's gateway: registrar, OPTIONS answerer and called party; runs until killed.
struct Carrier {
    child: Child,
    log: PathBuf,
}

impl Carrier {
    fn start(dir: &Path, port: u16) -> Carrier {
        let wav = dir.join("carrier1500.wav");
        tone(&wav, "1500");
        let sf = scenario(
            dir,
            "carrier.xml",
            &[
                ("[user]", USER.to_string()),
                ("[password]", PASSWORD.to_string()),
                ("[carrier_wav]", wav.display().to_string()),
            ],
        );
        let log = dir.join("carrier.log");
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&sf)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &free_udp_port().to_string(), "-nostdin"])
            .args(["-trace_msg", "-message_file"])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run sipp");
        Carrier { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The requests the carrier received whose first line starts with `start`.
    fn received(&self, start: &str) -> Vec<String> {
        self.log()
            .split("\n\n")
            .filter_map(|m| m.find(start).map(|i| m[i..].to_string()))
            .filter(|m| m.starts_with(start))
            .collect()
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo dialplans with `trunks` as trunks.toml and emergency calls over `emergency`.
fn plans(dir: &Path, trunks: &str, emergency: &str) -> PathBuf {
    let plans = support::dialplans_copy(dir);
    std::fs::write(plans.join("trunks.toml"), trunks).unwrap();
    let edit = |file: &str, from: &str, to: &str| {
        let p = plans.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} holds {from}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "queues.toml",
        "greeting = [\"greeting\"]",
        "greeting = [\"digit_1\"]",
    );
    edit("emergency.toml", "trunks = [\"loopback\"]", emergency);
    plans
}

fn carrier_trunk(port: u16) -> String {
    format!(
        r#"
[[trunk]]
name = "carrier"
address = "127.0.0.1:{port}"
max_calls = 10
options_interval_secs = 2
register = true
[trunk.auth]
username = "{USER}"
password = "{PASSWORD}"
realm = "carrier.test"
"#
    )
}

fn metric(d: &Daemon, line: &str) -> Option<()> {
    let (_, m) = http_get(d.http, "/metrics", None);
    m.lines().any(|l| l == line).then_some(())
}

#[test]
fn rexian_registers_to_the_carrier_with_digest_and_sees_it_up() {
    let work = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let carrier = Carrier::start(work.path(), port);
    let trunks = format!(
        r#"
[[trunk]]
name = "loopback"
acl = ["127.0.0.1/32"]
address = "127.0.0.1:5080"
max_calls = 500
options_interval_secs = 0
{}"#,
        carrier_trunk(port)
    );
    let plans = plans(work.path(), &trunks, "trunks = [\"loopback\"]");
    let d = Daemon::start(&["--dialplans", plans.to_str().unwrap()]);
    wait_for(
        "the carrier to accept the registration",
        Duration::from_secs(20),
        || metric(&d, "rexian_trunk_registered{trunk=\"carrier\"} 1"),
    );
    wait_for(
        "the carrier to answer OPTIONS",
        Duration::from_secs(20),
        || metric(&d, "rexian_trunk_up{trunk=\"carrier\"} 1"),
    );
    let regs = carrier.received("REGISTER sip:127.0.0.1:");
    assert!(regs.len() >= 2, "{regs:?}");
    assert!(!regs[0].contains("Authorization:"), "{}", regs[0]);
    let authed = &regs[1];
    assert!(
        authed.contains(&format!("Authorization: Digest username=\"{USER}\"")),
        "{authed}"
    );
    assert!(authed.contains("realm=\"carrier.test\""), "{authed}");
    assert!(
        authed.contains("qop=auth") && authed.contains("nc=00000001"),
        "{authed}"
    );
    assert!(!authed.contains(PASSWORD), "the password never travels");
    assert!(authed.contains(&format!("Contact: <sip:{USER}@127.0.0.1:{}>", d.sip.port())));
    let pings = carrier.received("OPTIONS sip:127.0.0.1:");
    assert!(!pings.is_empty());
    // The status of a trunk that is not pinged is not shown.
    assert!(metric(&d, "rexian_trunk_up{trunk=\"loopback\"} 0").is_none());
    // `rexian status` shows the trunk.
    let out = Command::new(support::BIN)
        .args(["status", "--data"])
        .arg(d.data_dir())
        .args(["--http", &d.http.to_string()])
        .env("REXIAN_LOG", "warn")
        .output()
        .expect("run rexian status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("trunk carrier")
            && l.contains(" up ")
            && l.contains("registered, expires in")),
        "{text}"
    );
    assert!(d.terminate().success());
}

#[test]
fn a_wrong_password_is_refused_by_the_carrier_and_the_trunk_stays_unregistered() {
    let work = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let carrier = Carrier::start(work.path(), port);
    let trunks = format!(
        r#"
[[trunk]]
name = "loopback"
acl = ["127.0.0.1/32"]
address = "127.0.0.1:5080"
max_calls = 500
options_interval_secs = 0
{}"#,
        carrier_trunk(port).replace(PASSWORD, "not-the-password")
    );
    let plans = plans(work.path(), &trunks, "trunks = [\"loopback\"]");
    let d = Daemon::start(&["--dialplans", plans.to_str().unwrap()]);
    wait_for(
        "the carrier to refuse the credentials",
        Duration::from_secs(20),
        || {
            carrier
                .log()
                .contains("SIP/2.0 403 Forbidden")
                .then_some(())
        },
    );
    wait_for(
        "the trunk to be up all the same",
        Duration::from_secs(20),
        || metric(&d, "rexian_trunk_up{trunk=\"carrier\"} 1"),
    );
    assert!(metric(&d, "rexian_trunk_registered{trunk=\"carrier\"} 1").is_none());
    assert!(d.terminate().success());
}

#[test]
fn a_hand_off_skips_a_trunk_that_stopped_answering_and_answers_the_carriers_407() {
    let work = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    // Nothing listens here: the first trunk's pings go unanswered.
    let dead = free_udp_port();
    let carrier = Carrier::start(work.path(), port);
    let trunks = format!(
        r#"
[[trunk]]
name = "loopback"
acl = ["127.0.0.1/32"]
address = "127.0.0.1:{dead}"
max_calls = 500
options_interval_secs = 1
{}"#,
        carrier_trunk(port)
    );
    let plans = plans(work.path(), &trunks, "trunks = [\"loopback\", \"carrier\"]");
    let d = Daemon::start_with_agents(
        &[("7001", "secret-7001")],
        &["--dialplans", plans.to_str().unwrap()],
    );
    wait_for(
        "the silent trunk to go down",
        Duration::from_secs(20),
        || metric(&d, "rexian_trunk_up{trunk=\"loopback\"} 0"),
    );
    wait_for("the carrier to be up", Duration::from_secs(20), || {
        metric(&d, "rexian_trunk_up{trunk=\"carrier\"} 1")
    });
    let token = String::from_utf8(d.cli(&["token", "create", "--role", "supervisor"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let agent_sf = scenario(
        work.path(),
        "agent_keys.xml",
        &[
            ("<!-- KEYS -->", info_keys("*0110")),
            ("<!-- END -->", agent_end(AgentEnd::LeavesAfter(3000))),
        ],
    );
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
    let caller = sipp(
        d.sip,
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
            "16000",
        ],
    );
    assert!(
        caller.status.success(),
        "caller: {}\n{}",
        caller.stdout,
        caller.stderr
    );
    let agent = agent.finish();
    assert!(
        agent.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&agent.stdout)
    );

    // The carrier got the hand-off: first without credentials (407), then with them.
    let invites = carrier.received("INVITE sip:110@127.0.0.1");
    assert_eq!(invites.len(), 2, "{invites:?}");
    assert!(
        !invites[0].contains("Proxy-Authorization"),
        "{}",
        invites[0]
    );
    assert!(
        invites[1].contains(&format!("Proxy-Authorization: Digest username=\"{USER}\"")),
        "{}",
        invites[1]
    );
    assert!(invites[1].contains("CSeq: 2 INVITE"), "{}", invites[1]);
    assert!(invites[1].contains("Priority: emergency"), "{}", invites[1]);

    let record = support::recorded_call(&d.data_dir(), Duration::from_secs(30));
    assert_eq!(record.agent.as_deref(), Some("7001"));
    assert_eq!(record.hangup_cause, "caller_hangup");
    // At the end the caller talks with 110 over the carrier: the carrier's tone on the right.
    let (left, right) = tail_channels(record.recording.as_deref().unwrap());
    assert!(ToneDetector::new(440.0).present(&left), "the caller");
    assert!(
        ToneDetector::new(1500.0).present(&right),
        "110 over the carrier"
    );
}
