//! Helpers for call tests with real peers: dialplan copies with edits, scenario copies with
//! their file paths filled in, a supervisor token, registration waits, and an RTP sink that
//! hears what a caller hears.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{dialplans_copy, http_get, sipp_scenario, wait_for, Daemon};

/// A copy of the demo dialplans under `dir` with each `(file, from, to)` text replacement made
/// (each must match). Prompts stay where they are.
pub fn plans_with(dir: &Path, edits: &[(&str, &str, &str)]) -> PathBuf {
    let plans = dialplans_copy(dir);
    for (file, from, to) in edits {
        let p = plans.join(file);
        let text = std::fs::read_to_string(&p).expect("dialplan file");
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&p, text.replace(from, to)).expect("write dialplan file");
    }
    plans
}

/// The demo queue edits that make calls short: a one-word greeting instead of the 8 s one.
pub const SHORT_GREETING: (&str, &str, &str) = (
    "queues.toml",
    "greeting = [\"greeting\"]",
    "greeting = [\"digit_1\"]",
);

/// A copy of `tests/sipp/<name>` in `dir` with `[placeholder]`s filled in: sipp reads the
/// files named in `rtp_stream`/`play_pcap_audio` when it loads a scenario, so they cannot come
/// from `-key`.
pub fn scenario_filled(dir: &Path, name: &str, fills: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(sipp_scenario(name)).expect("scenario");
    for (k, v) in fills {
        text = text.replace(&format!("[{k}]"), v);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario copy");
    path
}

/// A supervisor's API token for `d`.
pub fn supervisor_token(d: &Daemon) -> String {
    let out = d.cli(&["token", "create", "--role", "supervisor"]);
    assert!(out.status.success(), "token create");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Waits until `account` has a registration binding.
pub fn wait_registered(d: &Daemon, token: &str, account: &str) {
    let needle = format!("\"account\":\"{account}\"");
    wait_for(
        &format!("{account} to register"),
        Duration::from_secs(20),
        || {
            http_get(d.http, "/api/v1/registrations", Some(token))
                .1
                .contains(&needle)
                .then_some(())
        },
    );
}

pub fn sox(args: &[&str]) {
    let ok = Command::new("sox").args(args).status().expect("run sox");
    assert!(ok.success(), "sox {args:?}");
}

/// A µ-law WAV of a sine at `hz` for `secs` (what sipp's `rtp_stream` plays as PCMU).
pub fn tone_wav(path: &Path, hz: u32, secs: u32) {
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-e",
        "u-law",
        path.to_str().expect("utf-8 path"),
        "synth",
        &secs.to_string(),
        "sine",
        &hz.to_string(),
        "vol",
        "0.5",
    ]);
}

/// A UDP socket standing in for a caller's RTP port: it keeps every PCMU payload it receives,
/// in arrival order, until dropped.
pub struct RtpSink {
    pub port: u16,
    payloads: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpSink {
    pub fn start() -> RtpSink {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind RTP sink");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let port = sock.local_addr().expect("local address").port();
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (payloads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, _from)): Result<(usize, SocketAddr), _> = sock.recv_from(&mut buf)
                else {
                    continue;
                };
                // RTP version 2, payload type 0 (PCMU); the fixed 12-byte header plus CSRCs.
                if n < 12 || buf[0] >> 6 != 2 || buf[1] & 0x7f != 0 {
                    continue;
                }
                let start = 12 + 4 * (buf[0] & 0x0f) as usize;
                if start < n {
                    p.lock().expect("sink lock").push(buf[start..n].to_vec());
                }
            }
        });
        RtpSink {
            port,
            payloads,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything heard so far as linear samples.
    pub fn samples(&self) -> Vec<i16> {
        use rexian::media::g711::{decode_into, Law};
        let mut out = Vec::new();
        let mut frame = Vec::new();
        for p in self.payloads.lock().expect("sink lock").iter() {
            decode_into(Law::Ulaw, p, &mut frame);
            out.extend_from_slice(&frame);
        }
        out
    }
}

impl Drop for RtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `heard` contains a second of the demo prompt `name` exactly as rexian sends it
/// (G.711 µ-law, so compared after the same encoding).
pub fn heard_prompt(heard: &[i16], name: &str) -> bool {
    use rexian::media::g711::{decode_into, encode_into, Law};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("prompts/zh")
        .join(format!("{name}.wav"));
    let pcm: Vec<i16> = hound::WavReader::open(&path)
        .expect("prompt WAV")
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let mut codes = Vec::new();
    encode_into(Law::Ulaw, &pcm, &mut codes);
    let mut sent = Vec::new();
    decode_into(Law::Ulaw, &codes, &mut sent);
    // A second from the middle: frames of 160 samples line up with the prompt's start.
    let from = (sent.len() / 2 / 160) * 160;
    let chunk = &sent[from..(from + 8000).min(sent.len())];
    heard.windows(chunk.len()).any(|w| w == chunk)
}

/// Every call record of the daemon whose data directory is `data_dir`, newest first.
pub fn call_records(data_dir: &Path) -> Vec<rexian::store::calls::CallRecordRow> {
    use rexian::store::Store;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let store = Store::open(&Store::sqlite_url(data_dir))
            .await
            .expect("open store");
        let r = store.recent_call_records(100).await.expect("call records");
        store.close().await;
        r
    })
}
