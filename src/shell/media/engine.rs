//! One engine thread (a *shard*): it owns the media sockets of its calls, every call's sans-IO
//! [`Relay`], recording [`RecordLog`], prompt [`Player`]s and DTMF senders, and loops on its
//! [`Io`] (an io_uring, or a level-triggered epoll set):
//!
//! - a packet in (a receive completion, or a readable socket and one `recv_from`) →
//!   `Relay::handle_packet` → its outputs at once (sends from the receiving leg's peer
//!   socket, queued for the ring's next round or sent straight away with epoll; recording
//!   packets appended to the call's log; events to call control);
//! - every 20 ms a sweep over the calls: relay timers that are due (RTCP, dead media,
//!   mixing), prompt and DTMF packets, and every 200 ms the call's recording log handed to
//!   the writer thread, never waiting on it (the writer builds the stereo frames). The sweep
//!   goes in chunks of [`SWEEP_CHUNK`] calls and reads the sockets that became readable
//!   between chunks, so a long sweep does not hold forwarded packets back;
//! - the eventfd → commands from [`super::MediaHandle`] ([`super::commands`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use super::filter::SourceFilter;
use super::handle::Command;
use super::io::Io;
use super::ports::PortAllocator;
use super::sys::{recv_stamped, EventFd};
use super::types::{EngineStats, MediaEvent, MediaLeg};
use super::uring::Done;
use crate::media::dtmf_send::DtmfSender;
use crate::media::prompt::Player;
use crate::media::record_log::RecordLog;
use crate::media::relay::{Channel, Event, LegId, Output, Relay};
use crate::shell::recorder::RecorderHandle;

/// The loop's timer granularity: prompts, mixing and recording frames are 20 ms.
pub(super) const TICK: Duration = Duration::from_millis(20);
pub(super) const WAKE_TOKEN: u64 = u64::MAX;
/// A call's recording log is handed to the writer thread this often.
pub(super) const RECORD_BATCH: Duration = Duration::from_millis(200);
/// Room for one batch: two talking legs' 20 ms packets.
const LOG_PACKETS: usize = 2 * 10 + 4;
/// Calls handled per chunk of a sweep before the sockets are read again.
const SWEEP_CHUNK: usize = 128;
/// Every this many sweeps (100 ms), each leg's socket filter is brought in line with its
/// relay: connected to a source that latched, freed once it has been quiet for the
/// relatch guard.
pub(super) const FILTER_EVERY: u32 = 5;
/// Marks a leg's prompt track in its call's recording assembler (leg ids stay below 2^31).
pub(super) const PROMPT_TRACK: u32 = 0x8000_0000;

/// Legs and calls by id. Ids are the handle's counters, never chosen by a peer, so the
/// packet path's three lookups need no DoS-resistant hash: a multiply spreads them.
pub(super) type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHash>>;

#[derive(Default)]
pub(super) struct IdHash(u64);

impl Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(super) struct Settings {
    pub dead_media_after: Duration,
    /// Sockets stamp arrivals; packets are read with their stamp and holding times kept.
    pub measure_holding: bool,
    /// Use io_uring when the kernel offers it (else, and when false, epoll).
    pub io_uring: bool,
    pub recording_delay: Duration,
    pub recordings: std::path::PathBuf,
}

pub(super) struct LegSlot {
    pub call: u32,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
    /// The RTP socket connected to the relay's one accepted source ([`super::filter`]).
    pub filter: SourceFilter,
    pub in_relay: bool,
}

pub(super) struct Recording {
    pub id: Uuid,
    pub started: chrono::DateTime<chrono::Utc>,
    /// What the recording received since the last hand-over to the writer thread.
    pub log: RecordLog,
    /// The recorded caller: prompts played to this leg go into the right channel.
    pub caller: u32,
    /// The timestamp of the caller's prompt track (continuous over every prompt played).
    pub prompt_ts: u32,
    /// When the log goes to the writer next (the first hand-over of each call comes after a
    /// per-call share of [`RECORD_BATCH`], so calls started together hand over apart).
    pub hand_over_at: Instant,
}

pub(super) struct CallState {
    pub relay: Relay,
    pub legs: Vec<u32>,
    pub wake_at: Option<Instant>,
    pub players: Vec<(u32, Player)>,
    pub dtmf: Vec<(u32, DtmfSender)>,
    pub rec: Option<Recording>,
}

pub(super) struct Engine {
    pub settings: Settings,
    pub io: Io,
    pub wake: Arc<EventFd>,
    pub armed: Arc<AtomicBool>,
    pub cmds: Receiver<Command>,
    pub events: UnboundedSender<MediaEvent>,
    pub recorder: RecorderHandle,
    pub ports: Arc<Mutex<PortAllocator>>,
    pub legs: IdMap<LegSlot>,
    pub calls: IdMap<CallState>,
    pub stats: EngineStats,
    ready: Vec<u64>,
    done: Vec<Done>,
    /// Receives (io_uring) to arm again at the next sweep.
    rearm: Vec<u64>,
    sweep: Vec<u32>,
    /// Sweeps so far (every [`FILTER_EVERY`]th also checks the socket filters).
    sweeps: u32,
    buf: Box<[u8; 2048]>,
}

/// Sends what a call's relay produced; records recording packets; forwards events.
pub(super) fn drain(
    c: &mut CallState,
    legs: &IdMap<LegSlot>,
    io: &mut Io,
    stats: &mut EngineStats,
    events: &UnboundedSender<MediaEvent>,
) {
    while let Some(o) = c.relay.poll_output() {
        match o {
            Output::Transmit(t) => {
                if let Some(l) = legs.get(&t.leg.0) {
                    let (s, connected) = match t.channel {
                        Channel::Rtp => (&l.rtp, l.filter.peer() == Some(t.dst)),
                        Channel::Rtcp => (&l.rtcp, false),
                    };
                    match io.send(s, &t.bytes, t.dst, connected) {
                        true => stats.tx_packets += 1,
                        false => stats.send_errors += 1,
                    }
                }
                c.relay.recycle(t.bytes);
            }
            Output::Record(p) => {
                if let Some(r) = &mut c.rec {
                    r.log.packet(p.at, p.leg, p.timestamp, p.law, &p.payload);
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
                    // The address is the caller's: not logged.
                    Event::Latched { leg, channel, .. } => {
                        tracing::debug!(?leg, ?channel, "media latched");
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

/// Connects or frees each leg's RTP socket to match the one source its relay accepts.
fn follow_filters(c: &CallState, legs: &mut IdMap<LegSlot>, now: Instant) {
    for id in &c.legs {
        if let Some(l) = legs.get_mut(id) {
            let only = match l.in_relay {
                true => c.relay.exclusive_source(LegId(*id), now),
                false => None,
            };
            l.filter.follow(&l.rtp, only);
        }
    }
}

/// One 20 ms step of a call: due relay timers, prompt and DTMF packets, recording frames.
fn tick_call(
    c: &mut CallState,
    now: Instant,
    events: &UnboundedSender<MediaEvent>,
    recorder: &RecorderHandle,
) {
    if c.wake_at.is_some_and(|t| t <= now) {
        c.wake_at = None;
        c.relay.handle_timeout(now);
    }
    if !c.players.is_empty() {
        let CallState {
            relay,
            players,
            rec,
            ..
        } = c;
        let mut finished = false;
        for (leg, p) in players.iter_mut() {
            while let Some(f) = p.poll_frame(now) {
                let _ = relay.send_audio(now, LegId(*leg), f);
                if let Some(r) = rec.as_mut().filter(|r| r.caller == *leg) {
                    r.log.pcm(now, LegId(*leg | PROMPT_TRACK), r.prompt_ts, f);
                    r.prompt_ts = r.prompt_ts.wrapping_add(f.len() as u32);
                }
            }
            finished |= p.is_finished();
        }
        if finished {
            players.retain(|(leg, p)| {
                if p.is_finished() {
                    let _ = events.send(MediaEvent::PlaybackDone {
                        leg: MediaLeg(*leg),
                    });
                }
                !p.is_finished()
            });
        }
    }
    if !c.dtmf.is_empty() {
        for (leg, s) in &mut c.dtmf {
            while let Some(p) = s.poll(now) {
                let _ = c.relay.send_event(now, LegId(*leg), p.payload, p.start);
            }
        }
        c.dtmf.retain(|(_, s)| !s.is_finished());
    }
    if let Some(r) = &mut c.rec {
        if now >= r.hand_over_at {
            r.hand_over_at += RECORD_BATCH;
            if r.hand_over_at <= now {
                r.hand_over_at = now + RECORD_BATCH;
            }
            let log = std::mem::replace(&mut r.log, new_log());
            recorder.log(r.id, log, now);
        }
    }
}

/// A leg socket's token (what the loop reports it by): the leg id, and which socket.
pub(super) fn token(leg: u32, rtcp: bool) -> u64 {
    ((leg as u64) << 1) | rtcp as u64
}

pub(super) fn leg_of(tok: u64) -> u32 {
    (tok >> 1) as u32
}

/// The socket a token names, while its leg is here.
fn leg_socket(legs: &IdMap<LegSlot>, tok: u64) -> Option<&UdpSocket> {
    let slot = legs.get(&leg_of(tok))?;
    Some(if tok & 1 == 0 { &slot.rtp } else { &slot.rtcp })
}

/// An empty recording log sized for one batch.
pub(super) fn new_log() -> RecordLog {
    RecordLog::with_capacity(LOG_PACKETS, 160)
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        settings: Settings,
        ports: Arc<Mutex<PortAllocator>>,
        wake: Arc<EventFd>,
        armed: Arc<AtomicBool>,
        cmds: Receiver<Command>,
        events: UnboundedSender<MediaEvent>,
        recorder: RecorderHandle,
    ) -> io::Result<Engine> {
        let io = Io::new(
            wake.raw(),
            WAKE_TOKEN,
            settings.io_uring,
            settings.measure_holding,
        )?;
        Ok(Engine {
            settings,
            io,
            wake,
            armed,
            cmds,
            events,
            recorder,
            ports,
            legs: IdMap::default(),
            calls: IdMap::default(),
            stats: EngineStats::default(),
            ready: Vec::with_capacity(1024),
            done: Vec::with_capacity(1024),
            rearm: Vec::new(),
            sweep: Vec::new(),
            sweeps: 0,
            buf: Box::new([0; 2048]),
        })
    }

    /// Runs until every handle is gone (or a shutdown command), then finishes recordings.
    pub(super) fn run(mut self) {
        if let Err(e) = self.io.enable(self.wake.raw(), WAKE_TOKEN) {
            tracing::error!(error = %e, "media engine thread cannot poll its sockets");
            return;
        }
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let Some(commands) = self.wait(wait) else {
                break;
            };
            let now = Instant::now();
            if commands && !self.commands(now) {
                break;
            }
            if now >= next_tick {
                let started = Instant::now();
                self.tick(now);
                let took = started.elapsed().as_micros() as u64;
                self.stats.longest_sweep_us = self.stats.longest_sweep_us.max(took);
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

    /// Waits up to `timeout` and handles the packets that came in; `Some(true)` when commands
    /// are waiting, `None` when polling failed.
    fn wait(&mut self, timeout: Duration) -> Option<bool> {
        let commands = match self.io {
            Io::Epoll(_) => self.wait_epoll(timeout),
            Io::Uring(_) => self.wait_uring(timeout),
        };
        let commands = match commands {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "media poll failed");
                return None;
            }
        };
        self.stats.wakeups += 1;
        if commands {
            // Cleared before the channel is read: a command sent from now on wakes us again.
            self.armed.store(false, Ordering::SeqCst);
            self.wake.drain();
        }
        Some(commands)
    }

    fn wait_epoll(&mut self, timeout: Duration) -> io::Result<bool> {
        self.ready.clear();
        if let Io::Epoll(p) = &mut self.io {
            self.ready.extend(p.wait(timeout)?);
        }
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
        Ok(commands)
    }

    fn wait_uring(&mut self, timeout: Duration) -> io::Result<bool> {
        let mut done = std::mem::take(&mut self.done);
        done.clear();
        let res = match &mut self.io {
            Io::Uring(u) => u.wait(timeout, &mut done),
            Io::Epoll(_) => Ok(()),
        };
        let now = Instant::now();
        let mut commands = false;
        for &d in &done {
            let Done::Recv {
                token,
                res,
                flags,
                more,
            } = d
            else {
                commands = true;
                continue;
            };
            let got = match &mut self.io {
                Io::Uring(u) => u.packet(res, flags, &mut self.buf[..]),
                Io::Epoll(_) => None,
            };
            if let Some((n, src, stamp)) = got {
                self.packet(token, n, src, stamp, now);
            }
            if !more {
                // The kernel ended this socket's receive. Out of buffers (its datagrams wait
                // in the socket): arm it again now. An error: at the next sweep, so one that
                // persists costs one attempt per 20 ms, not a spinning loop.
                if res >= 0 || res == -libc::ENOBUFS {
                    self.rearm_now(token);
                } else {
                    tracing::debug!(error = res, "media receive ended; armed again next sweep");
                    self.rearm.push(token);
                }
            }
        }
        self.done = done;
        if let Io::Uring(u) = &mut self.io {
            // Counted as sent when queued; the kernel refused these afterwards.
            let refused = std::mem::take(&mut u.send_errors);
            self.stats.send_errors += refused;
            self.stats.tx_packets = self.stats.tx_packets.saturating_sub(refused);
        }
        res.map(|_| commands)
    }

    /// Arms a leg socket's receive again (io_uring), or tries at the next sweep.
    fn rearm_now(&mut self, tok: u64) {
        let Some(sock) = leg_socket(&self.legs, tok) else {
            return; // the leg has left
        };
        match self.io.watch(sock, tok) {
            Ok(()) => self.stats.rx_rearmed += 1,
            Err(e) => {
                tracing::warn!(error = %e, "media receive cannot be armed; trying next sweep");
                self.rearm.push(tok);
            }
        }
    }

    /// A readable socket of the epoll set: one datagram.
    fn readable(&mut self, tok: u64, now: Instant) {
        let Some(sock) = leg_socket(&self.legs, tok) else {
            return;
        };
        // recvmsg (for the stamp) costs a little more than recvfrom: only when measuring.
        let got = if self.settings.measure_holding {
            recv_stamped(sock.as_raw_fd(), &mut self.buf[..])
        } else {
            sock.recv_from(&mut self.buf[..])
                .map(|(n, src)| (n, src, None))
        };
        if let Ok((n, src, stamp)) = got {
            self.packet(tok, n, src, stamp, now);
        }
    }

    /// One datagram (in `self.buf`) for the leg and channel of `tok`, through its call's
    /// relay.
    fn packet(
        &mut self,
        tok: u64,
        n: usize,
        src: std::net::SocketAddr,
        stamp: Option<Duration>,
        now: Instant,
    ) {
        let id = leg_of(tok);
        let Some(slot) = self.legs.get(&id) else {
            return;
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
        drain(c, &self.legs, &mut self.io, &mut self.stats, &self.events);
        if let (Some(at), Ok(done)) = (stamp, SystemTime::now().duration_since(UNIX_EPOCH)) {
            self.stats.held.record(done.saturating_sub(at));
        }
    }

    /// The 20 ms sweep, in chunks with the sockets read in between.
    fn tick(&mut self, now: Instant) {
        for tok in std::mem::take(&mut self.rearm) {
            self.rearm_now(tok);
        }
        self.sweeps = self.sweeps.wrapping_add(1);
        let filters = self.sweeps % FILTER_EVERY == 0;
        let mut ids = std::mem::take(&mut self.sweep);
        ids.clear();
        ids.extend(self.calls.keys().copied());
        for (k, chunk) in ids.chunks(SWEEP_CHUNK).enumerate() {
            if k > 0 {
                // Commands wait for the loop, which reads them right after the sweep.
                let _ = self.wait(Duration::ZERO);
            }
            for id in chunk {
                if let Some(c) = self.calls.get_mut(id) {
                    tick_call(c, now, &self.events, &self.recorder);
                    drain(c, &self.legs, &mut self.io, &mut self.stats, &self.events);
                    if filters {
                        follow_filters(c, &mut self.legs, now);
                    }
                }
            }
        }
        self.sweep = ids;
    }

    /// Runs queued commands; false once every handle is gone or shutdown was asked.
    pub(super) fn commands(&mut self, now: Instant) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(Command::Shutdown) => return false,
                Ok(c) => self.command(c, now),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }
}
