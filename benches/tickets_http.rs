//! Ticket creation over HTTP: the real daemon (`rexian serve`, SQLite in a temporary
//! directory, no SMS) and C client threads, each on one keep-alive connection, sending
//! `POST /api/v1/tickets` back to back; every answer must be a 201. Measures tickets/s at each
//! concurrency, plain and with `dispatch_to` (which adds the dispatch and its light to the
//! same transaction).
//!
//! `cargo bench --bench tickets_http` (REXIAN_BENCH_N tickets per run, default 4000; the data
//! directory in REXIAN_BENCH_DIR if set). Not run in CI; figures go to docs/benchmarks.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_rexian");

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    write: TcpStream,
    read: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            write: s.try_clone().expect("clone"),
            read: BufReader::new(s),
        }
    }

    /// Sends one request; returns the status and the body.
    fn send(&mut self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        write!(
            self.write,
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write request");
        let mut line = String::new();
        self.read.read_line(&mut line).expect("status line");
        let status = line.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.read.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().expect("content-length");
                }
            }
        }
        let mut buf = vec![0; length];
        self.read.read_exact(&mut buf).expect("body");
        (status, String::from_utf8_lossy(&buf).into_owned())
    }
}

fn cli(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("REXIAN_LOG", "warn")
        .output()
        .expect("run rexian");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start(dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--sip",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.join("data"))
        .arg("--recordings")
        .arg(dir.join("recordings"))
        .env("REXIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn rexian");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map(|l| l.expect("stdout"))
        .find(|l| l.starts_with("rexian ready"))
        .expect("ready line");
    std::thread::spawn(move || for _ in lines {});
    let http = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .expect("http address")
        .parse()
        .expect("address");
    (child, http)
}

/// `n` creations by `clients` threads; returns tickets/s.
fn run(addr: SocketAddr, token: &str, clients: usize, n: usize, dispatch: bool) -> f64 {
    let per = n / clients;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let token = token.to_string();
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for i in 0..per {
                    let to = if dispatch { r#","dispatch_to":"u1""# } else { "" };
                    let body = format!(
                        r#"{{"type":"complaint","contact":"138{c:04}{i:04}","facts":"第 {c}-{i} 号：夜间施工噪音扰民","address":"建设路 1 号"{to}}}"#
                    );
                    let (st, b) = conn.send("POST", "/api/v1/tickets", &token, &body);
                    assert_eq!(st, 201, "{b}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    (per * clients) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("REXIAN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dir = match std::env::var_os("REXIAN_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let admin = cli(
        &data,
        &["token", "create", "--role", "admin", "--id", "root"],
    );
    let agent = cli(
        &data,
        &["token", "create", "--role", "agent", "--id", "7001"],
    );
    let (mut child, addr) = start(dir.path());
    let mut c = Conn::open(addr);
    let (st, b) = c.send(
        "POST",
        "/api/v1/units",
        &admin,
        r#"{"id":"u1","name":"市住建局"}"#,
    );
    assert_eq!(st, 201, "{b}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    for dispatch in [false, true] {
        for clients in [1, 8, 32, 64] {
            let rate = run(addr, &agent, clients, n, dispatch);
            let what = if dispatch {
                "create+dispatch"
            } else {
                "create"
            };
            println!("http {what:<16} {clients:>3} clients: {rate:>8.0} tickets/s");
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
