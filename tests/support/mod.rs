//! Shared helpers for integration tests: a real `rexian` daemon on loopback with a fresh data
//! directory and ephemeral ports, and real peers (sipp) pointed at it.
#![allow(dead_code)]

pub mod calls;
pub mod far_end;
pub mod keys;
pub mod phones;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rexian");

/// A running daemon; killed (and its data removed) on drop.
pub struct Daemon {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `rexian serve` on 127.0.0.1 with ephemeral ports and waits for its ready line.
    pub fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        Daemon::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Daemon {
        Daemon::start_in_with_http(dir, "127.0.0.1:0", extra)
    }

    /// Like [`Daemon::start_in`] with a chosen HTTP address, for peers that must know the
    /// daemon's URL before it starts (gateway callbacks).
    pub fn start_in_with_http(dir: tempfile::TempDir, http: &str, extra: &[&str]) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(["--sip", "127.0.0.1:0", "--http", http])
            .arg("--data")
            .arg(dir.path().join("data"))
            .arg("--recordings")
            .arg(dir.path().join("recordings"))
            .args(extra)
            .env("REXIAN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn rexian");
        let stdout = child.stdout.take().expect("piped stdout");
        // The daemon prints one line `rexian ready sip=… http=… [tls=…]` once it listens.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("rexian ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("wait for rexian");
                panic!("rexian exited before it was ready ({status}); its stderr is above");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("rexian did not report ready within 60 s");
            }
        };
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .map(|v| v.parse::<SocketAddr>().expect("address in ready line"))
        };
        Daemon {
            sip: field("sip").expect("sip address"),
            http: field("http").expect("http address"),
            tls: field("tls"),
            child,
            dir,
        }
    }

    /// Starts a daemon whose store already holds these agents (`rexian agent add` before
    /// `serve`), so they can register at once.
    pub fn start_with_agents(agents: &[(&str, &str)], extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (id, password) in agents {
            let out = Command::new(BIN)
                .args(["agent", "add", id, "--password", password, "--data"])
                .arg(dir.path().join("data"))
                .env("REXIAN_LOG", "warn")
                .output()
                .expect("run rexian");
            assert!(
                out.status.success(),
                "agent add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Daemon::start_in(dir, extra)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a `rexian` subcommand against this daemon's store.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .arg("--data")
            .arg(self.data_dir())
            .env("REXIAN_LOG", "warn")
            .output()
            .expect("run rexian")
    }

    pub fn add_agent(&self, id: &str, password: &str) {
        let out = self.cli(&["agent", "add", id, "--password", password]);
        assert!(
            out.status.success(),
            "agent add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for rexian")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The scenario directory.
pub fn sipp_scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// Outcome of one sipp run.
pub struct SippRun {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs sipp as a client against `target` with a hard time limit.
pub fn sipp(target: SocketAddr, args: &[&str]) -> SippRun {
    let port = free_udp_port().to_string();
    let out = Command::new("sipp")
        .arg(target.to_string())
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(args)
        .output()
        .expect("run sipp (install sip-tester)");
    SippRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tiny blocking HTTP GET over a raw socket, for /healthz and /metrics.
pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    http_send(addr, "GET", path, token, "")
}

/// The same with a JSON body and any method.
pub fn http_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read http");
    let status = buf.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A TCP port that was free a moment ago (the OS picks it).
pub fn free_tcp_port() -> u16 {
    let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind ephemeral");
    s.local_addr().expect("local address").port()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit` with `what`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A UDP port that was free a moment ago (the OS picks it).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind ephemeral");
    s.local_addr().expect("local address").port()
}

/// The daemon's latest call record once `ready` holds for it; fails after `limit`.
pub fn latest_call(
    data_dir: &Path,
    limit: Duration,
    ready: impl Fn(&rexian::store::calls::CallRecordRow) -> bool,
) -> rexian::store::calls::CallRecordRow {
    use rexian::store::Store;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let start = std::time::Instant::now();
    loop {
        let latest = rt.block_on(async {
            let store = Store::open(&Store::sqlite_url(data_dir)).await.ok()?;
            let r = store.recent_call_records(1).await.ok()?.pop();
            store.close().await;
            r
        });
        match latest {
            Some(r) if ready(&r) => return r,
            _ => {
                assert!(
                    start.elapsed() < limit,
                    "no such call record within {limit:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The daemon's latest call record once its recording is noted in it (the file is then
/// complete).
pub fn recorded_call(data_dir: &Path, limit: Duration) -> rexian::store::calls::CallRecordRow {
    latest_call(data_dir, limit, |r| r.recording.is_some())
}

/// A copy of the demo dialplans the test may break; prompts stay where they are.
pub fn dialplans_copy(dir: &Path) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plans = dir.join("dialplans");
    std::fs::create_dir_all(plans.join("calendar")).unwrap();
    for entry in std::fs::read_dir(repo.join("dialplans")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, plans.join(p.file_name().unwrap())).unwrap();
        }
    }
    for entry in std::fs::read_dir(repo.join("dialplans/calendar")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, plans.join("calendar").join(p.file_name().unwrap())).unwrap();
    }
    std::os::unix::fs::symlink(repo.join("prompts"), dir.join("prompts")).unwrap();
    plans
}
