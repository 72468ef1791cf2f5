//! Helpers for transfer and trunk tests with real peers: sipp scenarios from `tests/sipp` with
//! their placeholders filled in, an agent phone's keys as SIP INFO requests and how its call
//! ends, tones to play, and the end of a stereo recording to listen to.

use std::path::{Path, PathBuf};

use super::calls::sox;

/// A 60 s µ-law tone at `hz`, as a party's voice.
pub fn tone(path: &Path, hz: &str) {
    let p = path.to_str().unwrap();
    sox(&[
        "-n", "-r", "8000", "-c", "1", "-e", "u-law", p, "synth", "60", "sine", hz, "vol", "0.5",
    ]);
}

/// A scenario from `tests/sipp` with its placeholders filled in, written to `dir`.
pub fn scenario(dir: &Path, name: &str, fill: &[(&str, String)]) -> PathBuf {
    scenario_as(dir, name, name, fill)
}

/// [`scenario`] written under another name (two phones from one template).
pub fn scenario_as(dir: &Path, name: &str, out: &str, fill: &[(&str, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(super::sipp_scenario(name)).unwrap();
    for (k, v) in fill {
        text = text.replace(k, v);
    }
    let path = dir.join(out);
    std::fs::write(&path, text).unwrap();
    path
}

/// SIP INFO requests carrying `keys`, one per key, as the agent's phone sends them.
pub fn info_keys(keys: &str) -> String {
    let mut out = String::new();
    for (i, k) in keys.chars().enumerate() {
        if k == ' ' {
            // A space in `keys`: the agent talks for 3 s before the next code.
            out.push_str("<pause milliseconds=\"3000\"/>\n  ");
            continue;
        }
        if i > 0 {
            out.push_str("<pause milliseconds=\"150\"/>\n  ");
        }
        out.push_str(&format!(
            r#"<send retrans="500"><![CDATA[
      INFO [$peer_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$own_to];tag=[pid]SIPpTag01[call_number]
      To: [$peer_from]
      [last_Call-ID:]
      CSeq: {} INFO
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={k}
      Duration=160
    ]]></send>
  <recv response="200"/>
  "#,
            100 + i
        ));
    }
    out
}

/// How the agent's call ends: its own BYE after `ms`, or rexian's BYE (blind transfer).
pub enum AgentEnd {
    LeavesAfter(u32),
    Released,
}

pub fn agent_end(end: AgentEnd) -> String {
    match end {
        AgentEnd::LeavesAfter(ms) => format!(
            r#"<pause milliseconds="{ms}"/>
  <send retrans="500"><![CDATA[
      BYE [$peer_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$own_to];tag=[pid]SIPpTag01[call_number]
      To: [$peer_from]
      [last_Call-ID:]
      CSeq: 200 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200"/>
"#
        ),
        AgentEnd::Released => r#"<recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#
        .to_string(),
    }
}

/// Left and right channels of the last two seconds of a stereo recording.
pub fn tail_channels(path: &str) -> (Vec<i16>, Vec<i16>) {
    channels(path, 2.0)
}

/// The last `secs` seconds of a stereo recording (all of it for a longer span), per channel.
pub fn channels(path: &str, secs: f64) -> (Vec<i16>, Vec<i16>) {
    let mut wav = hound::WavReader::open(path).expect("a readable WAV");
    assert_eq!(wav.spec().channels, 2);
    let s: Vec<i16> = wav.samples::<i16>().map(|s| s.unwrap()).collect();
    let s = &s[s.len().saturating_sub((secs * 16_000.0) as usize)..];
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}
