//! The engine thread: one OS thread owns every media socket, every call's sans-IO
//! [`Relay`], [`RecordAssembler`] and [`Player`]s, and loops on one level-triggered epoll set:
//!
//! - a readable leg socket → one `recv_from` → `Relay::handle_packet` → its outputs at once
//!   (`send_to` from the receiving leg's peer socket; recording packets into the call's
//!   assembler; events to call control);
//! - every 20 ms a tick: relay timers that are due (RTCP, dead media, mixing), prompt frames,
//!   recording frames (handed to the writer thread in 200 ms batches, never waiting on it);
//! - the eventfd → commands from [`super::MediaHandle`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use super::handle::{
    Command, EngineStats, LegInfo, MediaCall, MediaError, MediaEvent, MediaLeg, RecordingSpec,
    RemoteMedia,
};
use super::ports::PortAllocator;
use super::sys::{Epoll, EventFd};
use crate::media::prompt::{Player, Prompt};
use crate::media::record::{RecordAssembler, Side};
use crate::media::relay::{Channel, Event, LegConfig, LegId, LegStats, Output, Relay, RelayConfig};
use crate::shell::recorder::{recording_path, RecorderHandle};

/// The loop's timer granularity: prompts, mixing and recording frames are 20 ms.
pub(super) const TICK: Duration = Duration::from_millis(20);
const WAKE_TOKEN: u64 = u64::MAX;
/// Recording frames are handed to the writer thread in batches of this many 20 ms frames.
const RECORD_BATCH_FRAMES: usize = 10;
/// Seconds between 1900 (NTP era) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

pub(super) struct Settings {
    pub dead_media_after: Duration,
    pub recording_delay: Duration,
    pub recordings: std::path::PathBuf,
}

struct LegSlot {
    call: u32,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    port: u16,
    in_relay: bool,
}

struct Recording {
    id: Uuid,
    started: chrono::DateTime<chrono::Utc>,
    asm: RecordAssembler,
    pending: Vec<i16>,
}

struct CallState {
    relay: Relay,
    legs: Vec<u32>,
    wake_at: Option<Instant>,
    players: Vec<(u32, Player)>,
    rec: Option<Recording>,
}

pub(super) struct Engine {
    settings: Settings,
    poll: Epoll,
    wake: Arc<EventFd>,
    cmds: Receiver<Command>,
    events: UnboundedSender<MediaEvent>,
    recorder: RecorderHandle,
    ports: PortAllocator,
    legs: HashMap<u32, LegSlot>,
    calls: HashMap<u32, CallState>,
    next_id: u32,
    stats: EngineStats,
    ready: Vec<u64>,
    buf: Box<[u8; 2048]>,
}

fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | frac
}

fn leg_config(r: &RemoteMedia) -> LegConfig {
    LegConfig {
        law: r.law,
        audio_pt: r.audio_pt,
        dtmf_pt: r.dtmf_pt,
        remote_rtp: r.rtp,
        remote_rtcp: r.rtcp,
        on_hold: r.on_hold,
    }
}

/// Sends what a call's relay produced; records recording packets; forwards events.
fn drain(
    c: &mut CallState,
    legs: &HashMap<u32, LegSlot>,
    stats: &mut EngineStats,
    events: &UnboundedSender<MediaEvent>,
) {
    while let Some(o) = c.relay.poll_output() {
        match o {
            Output::Transmit(t) => {
                if let Some(l) = legs.get(&t.leg.0) {
                    let s = match t.channel {
                        Channel::Rtp => &l.rtp,
                        Channel::Rtcp => &l.rtcp,
                    };
                    match s.send_to(&t.bytes, t.dst) {
                        Ok(_) => stats.tx_packets += 1,
                        Err(_) => stats.send_errors += 1,
                    }
                }
                c.relay.recycle(t.bytes);
            }
            Output::Record(p) => {
                if let Some(r) = &mut c.rec {
                    r.asm.push(p.at, p.leg, p.timestamp, p.law, &p.payload);
                }
                c.relay.recycle(p.payload);
            }
            Output::Event(e) => {
                let ev = match e {
                    Event::Dtmf { leg, digit } => MediaEvent::DtmfDigit {
                        leg: MediaLeg(leg.0),
                        digit,
                    },
                    Event::DeadMedia { leg } => MediaEvent::DeadMedia {
                        leg: MediaLeg(leg.0),
                    },
                    Event::MediaResumed { leg } => MediaEvent::MediaResumed {
                        leg: MediaLeg(leg.0),
                    },
                    Event::RemoteBye { leg } => MediaEvent::RemoteBye {
                        leg: MediaLeg(leg.0),
                    },
                    Event::Latched { leg, channel, addr } => {
                        tracing::debug!(?leg, ?channel, %addr, "media latched");
                        continue;
                    }
                    Event::SourceChanged { leg, ssrc } => {
                        tracing::debug!(?leg, ssrc, "media source changed");
                        continue;
                    }
                };
                let _ = events.send(ev);
            }
            Output::Timeout(t) => c.wake_at = Some(t),
        }
    }
}

impl Engine {
    pub(super) fn new(
        settings: Settings,
        ports: PortAllocator,
        wake: Arc<EventFd>,
        cmds: Receiver<Command>,
        events: UnboundedSender<MediaEvent>,
        recorder: RecorderHandle,
    ) -> io::Result<Engine> {
        let poll = Epoll::new(1024)?;
        poll.add(wake.raw(), WAKE_TOKEN)?;
        Ok(Engine {
            settings,
            poll,
            wake,
            cmds,
            events,
            recorder,
            ports,
            legs: HashMap::new(),
            calls: HashMap::new(),
            next_id: 1,
            stats: EngineStats::default(),
            ready: Vec::with_capacity(1024),
            buf: Box::new([0; 2048]),
        })
    }

    /// Runs until every handle is gone (or a shutdown command), then finishes recordings.
    pub(super) fn run(mut self) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            self.ready.clear();
            match self.poll.wait(wait) {
                Ok(tokens) => self.ready.extend(tokens),
                Err(e) => {
                    tracing::error!(error = %e, "media poll failed");
                    break;
                }
            }
            self.stats.wakeups += 1;
            let now = Instant::now();
            let mut commands = false;
            for i in 0..self.ready.len() {
                let tok = self.ready[i];
                if tok == WAKE_TOKEN {
                    commands = true;
                } else {
                    self.readable(tok, now);
                }
            }
            if commands {
                self.wake.drain();
                if !self.commands(now) {
                    break;
                }
            }
            if now >= next_tick {
                self.tick(now);
                if !self.commands(now) {
                    break;
                }
                next_tick += TICK;
                if next_tick <= now {
                    next_tick = now + TICK;
                }
            }
        }
        let ids: Vec<u32> = self.calls.keys().copied().collect();
        for id in ids {
            self.end_call(id, Instant::now());
        }
    }

    fn readable(&mut self, tok: u64, now: Instant) {
        let id = (tok >> 1) as u32;
        let Some(slot) = self.legs.get(&id) else {
            return;
        };
        let sock = if tok & 1 == 0 { &slot.rtp } else { &slot.rtcp };
        let (n, src) = match sock.recv_from(&mut self.buf[..]) {
            Ok(x) => x,
            Err(_) => return,
        };
        self.stats.rx_packets += 1;
        let (call, in_relay) = (slot.call, slot.in_relay);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !in_relay {
            self.stats.rx_refused += 1;
            return;
        }
        if c.relay
            .handle_packet(now, LegId(id), src, &self.buf[..n])
            .is_err()
        {
            self.stats.rx_refused += 1;
        }
        drain(c, &self.legs, &mut self.stats, &self.events);
    }

    fn tick(&mut self, now: Instant) {
        for c in self.calls.values_mut() {
            if c.wake_at.is_some_and(|t| t <= now) {
                c.wake_at = None;
                c.relay.handle_timeout(now);
            }
            let mut finished = Vec::new();
            for (leg, p) in &mut c.players {
                while let Some(f) = p.poll_frame(now) {
                    let _ = c.relay.send_audio(now, LegId(*leg), f);
                }
                if p.is_finished() {
                    finished.push(*leg);
                }
            }
            for leg in finished {
                c.players.retain(|(l, _)| *l != leg);
                let _ = self
                    .events
                    .send(MediaEvent::PlaybackDone { leg: MediaLeg(leg) });
            }
            if let Some(r) = &mut c.rec {
                while let Some(f) = r.asm.poll_frame(now) {
                    r.pending.extend_from_slice(f);
                }
                if r.pending.len() >= RECORD_BATCH_FRAMES * 2 * 160 {
                    let batch = std::mem::replace(
                        &mut r.pending,
                        Vec::with_capacity(RECORD_BATCH_FRAMES * 2 * 160),
                    );
                    self.recorder.frames(r.id, batch);
                }
            }
            drain(c, &self.legs, &mut self.stats, &self.events);
        }
    }

    /// Runs queued commands; false once every handle is gone or shutdown was asked.
    fn commands(&mut self, now: Instant) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(Command::Shutdown) => return false,
                Ok(c) => self.command(c, now),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::NewCall(r) => {
                let id = self.fresh_id();
                let cfg = RelayConfig {
                    dead_media_after: self.settings.dead_media_after,
                    ntp_at_start: ntp_now(),
                    ..RelayConfig::default()
                };
                self.calls.insert(
                    id,
                    CallState {
                        relay: Relay::new(cfg, now),
                        legs: Vec::new(),
                        wake_at: None,
                        players: Vec::new(),
                        rec: None,
                    },
                );
                let _ = r.send(Ok(MediaCall(id)));
            }
            Command::OpenLeg(call, ip, r) => {
                let _ = r.send(self.open_leg(call, ip));
            }
            Command::SetRemote(leg, remote, r) => {
                let res = self.with_leg(leg, |c, slot| {
                    let cfg = leg_config(&remote);
                    if slot.in_relay {
                        let _ = c.relay.update_leg(now, LegId(leg.0), cfg);
                    } else {
                        c.relay.add_leg(now, LegId(leg.0), cfg);
                        slot.in_relay = true;
                    }
                    Ok(())
                });
                self.after(leg.0);
                let _ = r.send(res);
            }
            Command::Bridge(a, b, rec, r) => {
                let res = self.same_call(&[a, b]).and_then(|call| {
                    let c = self.calls.get_mut(&call).ok_or(MediaError::UnknownLeg(a))?;
                    c.relay
                        .connect(LegId(a.0), LegId(b.0))
                        .map_err(|_| MediaError::UnknownLeg(a))?;
                    self.start_recording(call, rec, now);
                    Ok(())
                });
                let _ = r.send(res);
            }
            Command::Conference(legs, rec, r) => {
                let res = if legs.len() < 2 {
                    Err(MediaError::TooFewParties)
                } else {
                    self.same_call(&legs).and_then(|call| {
                        let c = self
                            .calls
                            .get_mut(&call)
                            .ok_or(MediaError::UnknownLeg(legs[0]))?;
                        let ids: Vec<LegId> = legs.iter().map(|l| LegId(l.0)).collect();
                        c.relay
                            .conference(now, &ids)
                            .map_err(|_| MediaError::UnknownLeg(legs[0]))?;
                        self.start_recording(call, rec, now);
                        self.after_call(call);
                        Ok(())
                    })
                };
                let _ = r.send(res);
            }
            Command::Unbridge(leg, r) => {
                let res = self.with_relay_leg(leg, |c| {
                    let _ = c.relay.isolate(LegId(leg.0));
                });
                let _ = r.send(res);
            }
            Command::Hold(leg, hold, r) => {
                let res = self.with_relay_leg(leg, |c| {
                    let _ = c.relay.set_hold(now, LegId(leg.0), hold);
                });
                self.after(leg.0);
                let _ = r.send(res);
            }
            Command::Play(leg, prompts, looping, r) => {
                let res = self.with_leg(leg, |c, _| {
                    c.players.retain(|(l, _)| *l != leg.0);
                    let mut p = Player::new(prompts, looping);
                    p.start(now);
                    c.players.push((leg.0, p));
                    Ok(())
                });
                let _ = r.send(res);
            }
            Command::StopPlay(leg, r) => {
                let res = self.with_leg(leg, |c, _| {
                    c.players.retain(|(l, _)| *l != leg.0);
                    Ok(())
                });
                let _ = r.send(res);
            }
            Command::StopRecording(call, r) => {
                let res = if self.calls.contains_key(&call.0) {
                    self.finish_recording(call.0, now);
                    Ok(())
                } else {
                    Err(MediaError::UnknownCall(call))
                };
                let _ = r.send(res);
            }
            Command::CloseLeg(leg, r) => {
                let _ = r.send(self.close_leg(leg.0));
            }
            Command::EndCall(call, r) => {
                let res = if self.calls.contains_key(&call.0) {
                    self.end_call(call.0, now);
                    Ok(())
                } else {
                    Err(MediaError::UnknownCall(call))
                };
                let _ = r.send(res);
            }
            Command::LegStats(leg, r) => {
                let res = self.with_leg(leg, |c, _| {
                    Ok((
                        c.relay.stats(LegId(leg.0)).unwrap_or_default(),
                        c.relay.latched(LegId(leg.0)),
                    ))
                });
                let _ = r.send(res);
            }
            Command::Stats(r) => {
                let mut s = self.stats;
                s.calls = self.calls.len();
                s.legs = self.legs.len();
                s.recorder_dropped = self.recorder.dropped();
                s.lost = self
                    .calls
                    .values()
                    .flat_map(|c| c.legs.iter().filter_map(|&l| c.relay.stats(LegId(l))))
                    .map(|st| st.lost)
                    .sum();
                let _ = r.send(Ok(s));
            }
            Command::Shutdown => {}
        }
    }

    fn fresh_id(&mut self) -> u32 {
        let id = self.next_id;
        // Ids only need to be unique among live calls and legs; 2^31 of them never wrap in
        // practice, and the top bit stays clear so a leg id shifted into a token never
        // collides with the wake token.
        self.next_id = (self.next_id + 1) & 0x7FFF_FFFF;
        id
    }

    fn open_leg(&mut self, call: MediaCall, ip: IpAddr) -> Result<LegInfo, MediaError> {
        if !self.calls.contains_key(&call.0) {
            return Err(MediaError::UnknownCall(call));
        }
        let mut tries = self.ports.available();
        let (port, rtp, rtcp) = loop {
            let port = self.ports.allocate().ok_or(MediaError::PortsExhausted)?;
            match bind_pair(ip, port) {
                Ok((a, b)) => break (port, a, b),
                Err(e) => {
                    // Taken by another program: put it back at the end and try the next.
                    self.ports.release(port);
                    tries = tries.saturating_sub(1);
                    if tries == 0 {
                        return Err(e);
                    }
                }
            }
        };
        let id = self.fresh_id();
        let bind = |e: io::Error| MediaError::Bind {
            addr: SocketAddr::new(ip, port),
            reason: e.to_string(),
        };
        self.poll
            .add(rtp.as_raw_fd(), (id as u64) << 1)
            .map_err(bind)?;
        self.poll
            .add(rtcp.as_raw_fd(), ((id as u64) << 1) | 1)
            .map_err(bind)?;
        let info = LegInfo {
            leg: MediaLeg(id),
            rtp: SocketAddr::new(ip, port),
            rtcp: SocketAddr::new(ip, port + 1),
        };
        self.legs.insert(
            id,
            LegSlot {
                call: call.0,
                rtp,
                rtcp,
                port,
                in_relay: false,
            },
        );
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.legs.push(id);
        }
        Ok(info)
    }

    fn close_leg(&mut self, leg: u32) -> Result<LegStats, MediaError> {
        let slot = self
            .legs
            .remove(&leg)
            .ok_or(MediaError::UnknownLeg(MediaLeg(leg)))?;
        self.poll.remove(slot.rtp.as_raw_fd());
        self.poll.remove(slot.rtcp.as_raw_fd());
        self.ports.release(slot.port);
        let mut stats = LegStats::default();
        if let Some(c) = self.calls.get_mut(&slot.call) {
            stats = c.relay.stats(LegId(leg)).unwrap_or_default();
            c.relay.remove_leg(LegId(leg));
            c.legs.retain(|&l| l != leg);
            c.players.retain(|(l, _)| *l != leg);
            drain(c, &self.legs, &mut self.stats, &self.events);
        }
        Ok(stats)
    }

    fn end_call(&mut self, call: u32, now: Instant) {
        let legs = self
            .calls
            .get(&call)
            .map(|c| c.legs.clone())
            .unwrap_or_default();
        for l in legs {
            let _ = self.close_leg(l);
        }
        self.finish_recording(call, now);
        self.calls.remove(&call);
    }

    fn start_recording(&mut self, call: u32, spec: Option<RecordingSpec>, now: Instant) {
        let (Some(spec), Some(c)) = (spec, self.calls.get_mut(&call)) else {
            return;
        };
        if c.rec.is_some() {
            return;
        }
        let mut asm = RecordAssembler::new(now, self.settings.recording_delay);
        asm.set_side(LegId(spec.caller.0), Side::Left);
        self.recorder.start(spec.id, spec.started);
        c.relay.set_record(true);
        c.rec = Some(Recording {
            id: spec.id,
            started: spec.started,
            asm,
            pending: Vec::with_capacity(RECORD_BATCH_FRAMES * 2 * 160),
        });
    }

    fn finish_recording(&mut self, call: u32, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.relay.set_record(false);
        let Some(mut r) = c.rec.take() else {
            return;
        };
        while let Some(f) = r.asm.poll_frame(now) {
            r.pending.extend_from_slice(f);
        }
        while let Some(f) = r.asm.drain_frame() {
            r.pending.extend_from_slice(f);
        }
        if !r.pending.is_empty() {
            self.recorder.frames(r.id, std::mem::take(&mut r.pending));
        }
        let events = self.events.clone();
        let path = recording_path(&self.settings.recordings, r.started, r.id);
        let duration = Duration::from_micros(r.asm.emitted() * 125);
        let id = r.id;
        self.recorder.finish_then(id, move |res| {
            let _ = events.send(MediaEvent::RecordingFinished {
                call: MediaCall(call),
                id,
                path: res.as_ref().cloned().unwrap_or(path),
                duration,
                error: res.err().map(|e| e.to_string()),
            });
        });
    }

    fn same_call(&self, legs: &[MediaLeg]) -> Result<u32, MediaError> {
        let mut call = None;
        for &l in legs {
            let slot = self.legs.get(&l.0).ok_or(MediaError::UnknownLeg(l))?;
            if !slot.in_relay {
                return Err(MediaError::NoRemote(l));
            }
            match call {
                None => call = Some(slot.call),
                Some(c) if c != slot.call => {
                    return Err(MediaError::DifferentCalls(legs[0], l));
                }
                Some(_) => {}
            }
        }
        call.ok_or(MediaError::TooFewParties)
    }

    fn with_leg<T>(
        &mut self,
        leg: MediaLeg,
        f: impl FnOnce(&mut CallState, &mut LegSlot) -> Result<T, MediaError>,
    ) -> Result<T, MediaError> {
        let slot = self
            .legs
            .get_mut(&leg.0)
            .ok_or(MediaError::UnknownLeg(leg))?;
        let c = self
            .calls
            .get_mut(&slot.call)
            .ok_or(MediaError::UnknownLeg(leg))?;
        f(c, slot)
    }

    fn with_relay_leg(
        &mut self,
        leg: MediaLeg,
        f: impl FnOnce(&mut CallState),
    ) -> Result<(), MediaError> {
        self.with_leg(leg, |c, slot| {
            if !slot.in_relay {
                return Err(MediaError::NoRemote(leg));
            }
            f(c);
            Ok(())
        })
    }

    /// Sends whatever a command made the leg's relay produce.
    fn after(&mut self, leg: u32) {
        if let Some(call) = self.legs.get(&leg).map(|s| s.call) {
            self.after_call(call);
        }
    }

    fn after_call(&mut self, call: u32) {
        if let Some(c) = self.calls.get_mut(&call) {
            drain(c, &self.legs, &mut self.stats, &self.events);
        }
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> Result<(UdpSocket, UdpSocket), MediaError> {
    let bind = |p: u16| {
        let a = SocketAddr::new(ip, p);
        let s = UdpSocket::bind(a).map_err(|e| MediaError::Bind {
            addr: a,
            reason: e.to_string(),
        })?;
        s.set_nonblocking(true).map_err(|e| MediaError::Bind {
            addr: a,
            reason: e.to_string(),
        })?;
        Ok::<_, MediaError>(s)
    };
    let rtp = bind(port)?;
    let rtcp = bind(port + 1)?;
    Ok((rtp, rtcp))
}

/// Loads a prompt file (8 kHz mono 16-bit WAV) for [`super::MediaHandle::play`].
pub async fn load_prompt(path: &std::path::Path) -> Result<Prompt, LoadPromptError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| LoadPromptError::Read {
            path: path.display().to_string(),
            source,
        })?;
    Ok(Prompt::from_wav_bytes(&path.display().to_string(), &bytes)?)
}

/// Why a prompt file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadPromptError {
    #[error("cannot read prompt {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(transparent)]
    Prompt(#[from] crate::media::prompt::PromptError),
}
