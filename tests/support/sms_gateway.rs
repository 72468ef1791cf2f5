//! A recording HTTP gateway for SMS tests: answers `202` to every request and keeps the `id`
//! query parameter of each, in arrival order. It can hold the answer to the Nth request until
//! released, to catch the sender between the gateway's acceptance and its own record.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct RecordingGateway {
    pub addr: SocketAddr,
    ids: Arc<Mutex<Vec<String>>>,
    release: Arc<AtomicBool>,
}

impl RecordingGateway {
    /// Starts the gateway; `hold_nth` (1-based) is the request whose answer waits for
    /// [`RecordingGateway::release`].
    pub fn start(hold_nth: Option<usize>) -> RecordingGateway {
        RecordingGateway::start_on("127.0.0.1:0".parse().expect("literal"), hold_nth)
    }

    /// Like [`RecordingGateway::start`] on a given address (a gateway coming back up).
    pub fn start_on(addr: SocketAddr, hold_nth: Option<usize>) -> RecordingGateway {
        let listener = TcpListener::bind(addr).expect("bind gateway");
        let addr = listener.local_addr().expect("gateway address");
        let ids = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(AtomicBool::new(false));
        let (ids2, release2) = (ids.clone(), release.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (ids, release) = (ids2.clone(), release2.clone());
                std::thread::spawn(move || serve(conn, ids, release, hold_nth));
            }
        });
        RecordingGateway { addr, ids, release }
    }

    /// The message ids received so far, repeats included.
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }

    /// Lets the held request go: its connection is closed without an answer.
    pub fn release(&self) {
        self.release.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut conn: TcpStream,
    ids: Arc<Mutex<Vec<String>>>,
    release: Arc<AtomicBool>,
    hold: Option<usize>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("");
    let id = target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("id="))
        .unwrap_or("")
        .to_string();
    let nth = {
        let mut ids = ids.lock().unwrap();
        ids.push(id);
        ids.len()
    };
    if Some(nth) == hold {
        while !release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        return;
    }
    let _ = conn.write_all(
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 9\r\nConnection: close\r\n\r\nAccepted\n",
    );
}
