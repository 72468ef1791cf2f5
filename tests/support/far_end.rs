//! Peers behind the carrier trunk and the operator event stream, shared by the transfer,
//! outbound and callback tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::keys::{scenario, tone};
use super::{free_udp_port, wait_for};

/// The far end behind the trunk (110, a sub-centre, a citizen's phone): sipp answering one
/// call with a 1.5 kHz tone as its voice, logging the messages.
pub struct FarEnd {
    pub child: Child,
    pub log: PathBuf,
}

impl FarEnd {
    /// Listens on `port`; `name` names its tone file and message log in `dir`.
    pub fn start(dir: &Path, port: u16, name: &str) -> FarEnd {
        let wav = dir.join(format!("{name}1500.wav"));
        tone(&wav, "1500");
        let sf = scenario(
            dir,
            "centre_answer.xml",
            &[("[centre_wav]", wav.display().to_string())],
        );
        let log = dir.join(format!("{name}.log"));
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&sf)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &free_udp_port().to_string(), "-m", "1", "-nostdin"])
            .args(["-timeout", "120s", "-timeout_error"])
            .args(["-trace_msg", "-message_file"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sipp");
        FarEnd { child, log }
    }

    /// The INVITE the far end received, once it has.
    pub fn invite(&self) -> String {
        wait_for(
            "rexian's INVITE at the far end",
            Duration::from_secs(30),
            || {
                let text = std::fs::read_to_string(&self.log).ok()?;
                let start = text.find("INVITE sip:")?;
                text[start..].split("\n\n").next().map(str::to_string)
            },
        )
    }

    pub fn finish(self) -> std::process::Output {
        self.child.wait_with_output().expect("far end sipp")
    }
}

/// Reads the operator event stream until an event holds all of `wanted`; gives that event.
pub fn watch_events(
    http: std::net::SocketAddr,
    token: &str,
    wanted: &'static [&'static str],
) -> std::thread::JoinHandle<Option<String>> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(http).expect("connect http");
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    std::thread::spawn(move || {
        BufReader::new(s)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("data:") && wanted.iter().all(|w| l.contains(w)))
    })
}
