//! Shared by the media tests on real sockets: test phones (a UDP socket sending a G.711 tone
//! as 20 ms RTP and keeping what it hears), paced rounds with a bounded wait, and events.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use rexian::media::g711::{self, Law};
use rexian::media::rtp::{write_header, RtpHeader};
use rexian::media::tone::{SineGenerator, ToneDetector};
use rexian::shell::media::{
    LegInfo, MediaCall, MediaConfig, MediaEngine, MediaEvent, MediaHandle, RemoteMedia,
};
use tokio::sync::mpsc::UnboundedReceiver;

pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Bound on every wait for a condition (never reached when things work).
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn engine(
    ports: &str,
    dir: &Path,
    dead_secs: u64,
) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    engine_with_threads(ports, dir, dead_secs, 1)
}

/// An engine with `threads` engine threads (calls go to them in turn).
pub fn engine_with_threads(
    ports: &str,
    dir: &Path,
    dead_secs: u64,
    threads: usize,
) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    let cfg = MediaConfig {
        rtp_ports: ports.parse().unwrap(),
        dead_media_secs: dead_secs,
        recordings: Some(dir.to_path_buf()),
        threads,
        ..MediaConfig::default()
    };
    engine_with(cfg, dir)
}

/// An engine with the given settings, its recordings in `dir`.
pub fn engine_with(cfg: MediaConfig, dir: &Path) -> (MediaEngine, UnboundedReceiver<MediaEvent>) {
    let mut e = MediaEngine::start(&cfg, dir.to_path_buf()).unwrap();
    let ev = e.events.take().unwrap();
    (e, ev)
}

/// A phone: one socket, one outgoing tone stream, and what it has heard.
pub struct Phone {
    pub sock: UdpSocket,
    pub law: Law,
    pub tone: Option<SineGenerator>,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub to: SocketAddr,
    pub heard: Vec<(SocketAddr, RtpHeader, Vec<u8>)>,
}

impl Phone {
    pub fn new(law: Law, freq: Option<f64>, to: SocketAddr) -> Phone {
        let sock = UdpSocket::bind((LOCAL, 0)).unwrap();
        Phone {
            sock,
            law,
            tone: freq.map(|f| SineGenerator::new(f, 8000, 8000)),
            seq: 1000,
            ts: 5000,
            ssrc: rand::random(),
            to,
            heard: Vec::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// What to put in SDP for this phone: an address it does not send from (NAT).
    pub fn sdp(&self, claimed: &str) -> RemoteMedia {
        let rtp: SocketAddr = claimed.parse().unwrap();
        RemoteMedia {
            law: self.law,
            audio_pt: self.law.static_payload_type(),
            dtmf_pt: Some(101),
            rtp: Some(rtp),
            rtcp: Some(SocketAddr::new(rtp.ip(), rtp.port() + 1)),
            ptime_ms: 20,
            on_hold: false,
        }
    }

    pub fn send_raw(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut p = Vec::with_capacity(12 + payload.len());
        write_header(&mut p, marker, pt, self.seq, ts, self.ssrc);
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.sock.send_to(&p, self.to).unwrap();
    }

    pub fn send_frame(&mut self) {
        let Some(g) = &mut self.tone else { return };
        let mut pcm = [0i16; 160];
        g.fill(&mut pcm);
        let mut payload = Vec::new();
        g711::encode_into(self.law, &pcm, &mut payload);
        let pt = self.law.static_payload_type();
        self.send_raw(pt, false, self.ts, &payload);
        self.ts = self.ts.wrapping_add(160);
    }

    /// Reads whatever arrives until `until`.
    pub fn listen_until(&mut self, until: Instant) {
        let mut buf = [0u8; 2048];
        loop {
            // Past the deadline, still take what is already queued (without waiting).
            let left = until.saturating_duration_since(Instant::now());
            self.sock.set_nonblocking(left.is_zero()).unwrap();
            if !left.is_zero() {
                self.sock.set_read_timeout(Some(left)).unwrap();
            }
            match self.sock.recv_from(&mut buf) {
                Ok((n, src)) => {
                    if let Ok(h) = RtpHeader::parse(&buf[..n]) {
                        let payload = h.payload(&buf[..n]).to_vec();
                        self.heard.push((src, h, payload));
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// The last `packets` audio packets heard, decoded.
    pub fn last_audio(&self, packets: usize) -> Vec<i16> {
        let n = self.heard.len();
        let mut out = Vec::new();
        for (_, h, p) in &self.heard[n.saturating_sub(packets)..] {
            let law = if h.payload_type == 8 {
                Law::Alaw
            } else {
                Law::Ulaw
            };
            let mut pcm = Vec::new();
            g711::decode_into(law, p, &mut pcm);
            out.extend_from_slice(&pcm);
        }
        out
    }
}

/// Runs 20 ms rounds (every phone sends one frame, then all listen) until `done` holds;
/// fails naming `what` if it does not within the patience bound.
pub fn rounds(phones: &mut [&mut Phone], what: &str, mut done: impl FnMut(&[&mut Phone]) -> bool) {
    let give_up = Instant::now() + PATIENCE;
    let mut next = Instant::now();
    while !done(phones) {
        if Instant::now() >= give_up {
            let heard: Vec<_> = phones
                .iter()
                .map(|p| {
                    let sizes: Vec<usize> = p.heard.iter().take(5).map(|x| x.2.len()).collect();
                    (p.heard.len(), sizes)
                })
                .collect();
            panic!("gave up waiting: {what}; heard (count, first sizes) {heard:?}");
        }
        for p in phones.iter_mut() {
            p.send_frame();
        }
        next += Duration::from_millis(20);
        for p in phones.iter_mut() {
            p.listen_until(next);
        }
    }
}

pub async fn leg(h: &MediaHandle, call: MediaCall) -> LegInfo {
    h.open_leg(call, LOCAL).await.unwrap()
}

pub async fn next_event(
    ev: &mut UnboundedReceiver<MediaEvent>,
    what: &str,
    mut pick: impl FnMut(&MediaEvent) -> bool,
) -> MediaEvent {
    let wait = async {
        loop {
            match ev.recv().await {
                Some(e) if pick(&e) => return e,
                Some(_) => {}
                None => panic!("event stream closed while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

pub fn onset(samples: &[i16], freq: f64) -> Option<usize> {
    let det = ToneDetector::new(freq);
    samples
        .chunks(160)
        .position(|c| det.present(c))
        .map(|i| i * 160)
}
