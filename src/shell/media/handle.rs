//! [`MediaHandle`]: the command side of the engine (clonable, `Send`, async methods).
//!
//! Most commands need no answer: they are put on the channel of the engine thread (the
//! *shard*) that owns the call and the method returns at once; the engine carries them out in
//! the order they were sent (one channel per shard keeps a call's commands in order) and
//! reports a failure as [`MediaEvent::CommandFailed`]. `new_call` and `open_leg` need no round
//! trip either: ids come from atomic counters here, and `open_leg` binds the RTP/RTCP socket
//! pair in the calling thread from the shared port allocator and hands the sockets over.
//! Only the questions (`close_leg`'s counters, `leg_stats`, `stats`) and a `move_leg` between
//! shards wait for an engine thread.
//!
//! Ids carry their shard: a call id `c` lives on shard `c % N`, and a leg id is chosen so
//! that `leg % N` is the shard of its call. A leg moved to a call of another shard is noted
//! in a small table consulted only once such a move has happened.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::oneshot;

use super::filter::SourceFilter;
use super::ports::PortAllocator;
use super::sys::EventFd;
use super::types::{
    EngineStats, LegInfo, MediaCall, MediaError, MediaLeg, PartyRole, RecordingSpec, RemoteMedia,
};
use crate::media::dtmf::digit_to_event;
use crate::media::prompt::Prompt;
use crate::media::relay::{DetachedLeg, LegStats};

pub(super) type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

/// Ids stay below 2^31 (the top bit marks a leg's prompt track in a recording).
const ID_SPACE: u64 = 0x7FFF_FFFF;

/// A leg's socket pair, bound by the handle and owned by the engine from then on.
pub(super) struct BoundLeg {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
    /// Where the RTP socket is connected (it moves with the socket).
    pub filter: SourceFilter,
}

/// A leg taken out of its call by `move_leg`, on its way to a call of another shard.
pub(super) struct MovingLeg {
    pub sockets: BoundLeg,
    /// The relay's state of the leg (outgoing SSRC, sequence, timestamp …), if it had one.
    pub relay: Option<DetachedLeg>,
}

/// A command to an engine thread.
pub(super) enum Command {
    NewCall(u32),
    OpenLeg(MediaCall, MediaLeg, BoundLeg),
    SetRemote(MediaLeg, RemoteMedia),
    Bridge(MediaLeg, MediaLeg, Option<RecordingSpec>),
    Unbridge(MediaLeg),
    Hold(MediaLeg, bool),
    Play(MediaLeg, Vec<Prompt>, bool),
    StopPlay(MediaLeg),
    Conference(Vec<MediaLeg>, Option<RecordingSpec>),
    SetRoles(Vec<(MediaLeg, PartyRole)>, Option<RecordingSpec>),
    StopRecording(MediaCall),
    SendDtmf(MediaLeg, String),
    CloseLeg(MediaLeg, Option<Reply<LegStats>>),
    EndCall(MediaCall),
    /// `move_leg` within one shard.
    MoveLeg(MediaLeg, MediaCall),
    /// `move_leg` between shards: out of the old one …
    TakeLeg(MediaLeg, Reply<MovingLeg>),
    /// … and into the new one.
    AdoptLeg(MediaCall, MediaLeg, MovingLeg),
    LegStats(MediaLeg, Reply<(LegStats, Option<SocketAddr>)>),
    Stats(Reply<EngineStats>),
    Shutdown,
}

/// One engine thread's inbox: its channel and the eventfd that wakes it.
pub(super) struct Shard {
    pub tx: Sender<Command>,
    pub wake: Arc<EventFd>,
    /// Set while a wake-up is pending, so a burst of commands costs one eventfd write.
    pub armed: Arc<AtomicBool>,
}

pub(super) struct Shared {
    shards: Vec<Shard>,
    ports: Arc<Mutex<PortAllocator>>,
    next_call: AtomicU64,
    next_leg: AtomicU64,
    moved: RwLock<HashMap<u32, usize>>,
    any_moved: AtomicBool,
    /// New sockets stamp arrivals (`[media] measure_holding`).
    stamp_arrivals: bool,
}

/// The engine's command side. Clone it freely; no method waits on a socket or the disk, and
/// only `close_leg`, `leg_stats`, `stats` and a `move_leg` between engine threads wait for
/// an engine thread at all.
#[derive(Clone)]
pub struct MediaHandle {
    shared: Arc<Shared>,
}

/// Locks the port allocator; a poisoned lock is taken over (its operations cannot leave it
/// half-updated, so the data is sound).
fn lock(ports: &Mutex<PortAllocator>) -> std::sync::MutexGuard<'_, PortAllocator> {
    ports.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives a leg's port back to the shared allocator.
pub(super) fn release_port(ports: &Mutex<PortAllocator>, port: u16) {
    lock(ports).release(port);
}

/// Binds a nonblocking RTP/RTCP pair on `ip` from the allocator, skipping ports another
/// program holds.
pub(super) fn bind_leg(
    ports: &Mutex<PortAllocator>,
    ip: IpAddr,
    stamp_arrivals: bool,
) -> Result<BoundLeg, MediaError> {
    let mut tries = lock(ports).available();
    loop {
        let port = lock(ports).allocate().ok_or(MediaError::PortsExhausted)?;
        match bind_pair(ip, port, stamp_arrivals) {
            Ok((rtp, rtcp)) => {
                let filter = SourceFilter::new(&rtp);
                return Ok(BoundLeg {
                    rtp,
                    rtcp,
                    port,
                    filter,
                });
            }
            Err(e) => {
                // Taken by another program: put it back at the end and try the next.
                lock(ports).release(port);
                tries = tries.saturating_sub(1);
                if tries == 0 {
                    return Err(e);
                }
            }
        }
    }
}

fn bind_pair(
    ip: IpAddr,
    port: u16,
    stamp_arrivals: bool,
) -> Result<(UdpSocket, UdpSocket), MediaError> {
    let bind = |p: u16| {
        let a = SocketAddr::new(ip, p);
        let err = |e: std::io::Error| MediaError::Bind {
            addr: a,
            reason: e.to_string(),
        };
        let s = UdpSocket::bind(a).map_err(err)?;
        s.set_nonblocking(true).map_err(err)?;
        if stamp_arrivals {
            super::sys::enable_receive_timestamps(s.as_raw_fd()).map_err(err)?;
        }
        Ok::<_, MediaError>(s)
    };
    let rtp = bind(port)?;
    let rtcp = bind(port + 1)?;
    Ok((rtp, rtcp))
}

impl MediaHandle {
    pub(super) fn new(
        shards: Vec<Shard>,
        ports: Arc<Mutex<PortAllocator>>,
        stamp_arrivals: bool,
    ) -> MediaHandle {
        MediaHandle {
            shared: Arc::new(Shared {
                shards,
                ports,
                next_call: AtomicU64::new(1),
                next_leg: AtomicU64::new(1),
                moved: RwLock::new(HashMap::new()),
                any_moved: AtomicBool::new(false),
                stamp_arrivals,
            }),
        }
    }

    /// Asks every engine thread to finish its calls and stop.
    pub(super) fn shutdown_all(&self) {
        for s in &self.shared.shards {
            let _ = s.tx.send(Command::Shutdown);
            s.wake.notify();
        }
    }

    fn n(&self) -> u64 {
        self.shared.shards.len() as u64
    }

    fn call_shard(&self, call: MediaCall) -> usize {
        (call.0 as u64 % self.n()) as usize
    }

    fn leg_shard(&self, leg: MediaLeg) -> usize {
        if self.shared.any_moved.load(Ordering::Acquire) {
            let moved = self.shared.moved.read().unwrap_or_else(|e| e.into_inner());
            if let Some(&s) = moved.get(&leg.0) {
                return s;
            }
        }
        (leg.0 as u64 % self.n()) as usize
    }

    fn send(&self, shard: usize, cmd: Command) -> Result<(), MediaError> {
        let s = &self.shared.shards[shard];
        s.tx.send(cmd).map_err(|_| MediaError::EngineStopped)?;
        if !s.armed.swap(true, Ordering::SeqCst) {
            s.wake.notify();
        }
        Ok(())
    }

    async fn ask<T>(
        &self,
        shard: usize,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.send(shard, make(tx))?;
        rx.await.map_err(|_| MediaError::EngineStopped)?
    }

    /// A new, empty media call, on the next engine thread in turn.
    pub async fn new_call(&self) -> Result<MediaCall, MediaError> {
        let n = self.n();
        let c = self.shared.next_call.fetch_add(1, Ordering::Relaxed);
        // A multiple of n, so `id % n` goes round the shards even across the wrap.
        let id = (c % ((ID_SPACE / n) * n)) as u32;
        let call = MediaCall(id);
        self.send(self.call_shard(call), Command::NewCall(id))?;
        Ok(call)
    }

    /// Binds a port pair on `local_ip` for a new leg of `call`. The leg is silent (nothing is
    /// forwarded to or from it) until `set_remote` and then `bridge`/`conference`/`play`.
    /// Fails at once when no port is free; an unknown call is reported as
    /// [`MediaEvent::CommandFailed`](super::MediaEvent::CommandFailed) (the ports go back).
    pub async fn open_leg(&self, call: MediaCall, local_ip: IpAddr) -> Result<LegInfo, MediaError> {
        let n = self.n();
        let shard = self.call_shard(call);
        let sockets = bind_leg(&self.shared.ports, local_ip, self.shared.stamp_arrivals)?;
        let k = self.shared.next_leg.fetch_add(1, Ordering::Relaxed) % (ID_SPACE / n);
        let leg = MediaLeg((k * n) as u32 + shard as u32);
        let info = LegInfo {
            leg,
            rtp: SocketAddr::new(local_ip, sockets.port),
            rtcp: SocketAddr::new(local_ip, sockets.port + 1),
        };
        self.send(shard, Command::OpenLeg(call, leg, sockets))?;
        Ok(info)
    }

    /// Applies the SDP result for a leg; call again after every re-INVITE.
    pub async fn set_remote(&self, leg: MediaLeg, remote: RemoteMedia) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::SetRemote(leg, remote))
    }

    /// Lets `a` and `b` (of one call) hear each other, leaving any earlier bridge or
    /// conference. With `recording`, starts the call's recording unless it already runs (a
    /// recording continues across transfers and conferences until `stop_recording` or the
    /// end of the call).
    pub async fn bridge(
        &self,
        a: MediaLeg,
        b: MediaLeg,
        recording: Option<RecordingSpec>,
    ) -> Result<(), MediaError> {
        self.send(self.leg_shard(a), Command::Bridge(a, b, recording))
    }

    /// Stops forwarding to and from `leg` (its peer is isolated too).
    pub async fn unbridge(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::Unbridge(leg))
    }

    /// Stops sending forwarded media to `leg` (dead-media detection pauses for its call).
    pub async fn hold(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::Hold(leg, true))
    }

    pub async fn unhold(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::Hold(leg, false))
    }

    /// Plays a chain of prompts to `leg` (replacing what was playing), 20 ms per packet;
    /// `looping` for music on hold. While it plays, forwarded media to `leg` is muted.
    /// [`MediaEvent::PlaybackDone`](super::MediaEvent::PlaybackDone) follows the end of a
    /// non-looping chain. Prompts played to the recorded caller go into the recording's
    /// right channel.
    pub async fn play(
        &self,
        leg: MediaLeg,
        prompts: Vec<Prompt>,
        looping: bool,
    ) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::Play(leg, prompts, looping))
    }

    pub async fn stop_play(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.send(self.leg_shard(leg), Command::StopPlay(leg))
    }

    /// Mixes `legs` (of one call, two or more): each hears the sum of the others.
    pub async fn conference(
        &self,
        legs: Vec<MediaLeg>,
        recording: Option<RecordingSpec>,
    ) -> Result<(), MediaError> {
        let Some(&first) = legs.first().filter(|_| legs.len() >= 2) else {
            return Err(MediaError::TooFewParties);
        };
        self.send(self.leg_shard(first), Command::Conference(legs, recording))
    }

    /// Sets who hears whom among the legs of one call (the whole set of its mixed parties;
    /// see [`PartyRole`]): `Full` parties hear each other and any whisper aimed at them, a
    /// `Listen` leg hears the `Full` parties unheard, a `Whisper(agent)` leg is heard by the
    /// agent only. Call again to switch roles live; all `Full` is a conference. Caller and
    /// agent with only a listener beside them stay on direct forwarding (the listener gets a
    /// mix of the two). Legs not named that were mixed before are isolated. The recording
    /// (started here with `recording`, as in `bridge`) never holds listeners or whisperers.
    pub async fn set_roles(
        &self,
        parties: Vec<(MediaLeg, PartyRole)>,
        recording: Option<RecordingSpec>,
    ) -> Result<(), MediaError> {
        let Some(&(first, _)) = parties.first() else {
            return Err(MediaError::TooFewParties);
        };
        for &(_, role) in &parties {
            if let PartyRole::Whisper(t) = role {
                if !parties.contains(&(t, PartyRole::Full)) {
                    return Err(MediaError::WhisperTarget(t));
                }
            }
        }
        self.send(self.leg_shard(first), Command::SetRoles(parties, recording))
    }

    /// Ends the call's recording now
    /// ([`MediaEvent::RecordingFinished`](super::MediaEvent::RecordingFinished) follows).
    pub async fn stop_recording(&self, call: MediaCall) -> Result<(), MediaError> {
        self.send(self.call_shard(call), Command::StopRecording(call))
    }

    /// Sends `digits` (0-9, *, #, A-D) to the leg's phone as RFC 4733 events with the leg's
    /// negotiated telephone-event payload type: 100 ms each, 60 ms apart, in the leg's own
    /// outgoing stream (forwarded audio to the leg pauses meanwhile). A bad digit is refused
    /// here; a leg without telephone-event is reported as `CommandFailed`.
    pub async fn send_dtmf(&self, leg: MediaLeg, digits: &str) -> Result<(), MediaError> {
        if let Some(bad) = digits.chars().find(|&d| digit_to_event(d).is_none()) {
            return Err(MediaError::BadDigit(bad));
        }
        self.send(
            self.leg_shard(leg),
            Command::SendDtmf(leg, digits.to_string()),
        )
    }

    /// Moves a leg, with its socket, into another call (a consult call joining the
    /// caller's call): it arrives isolated (bridge or conference it there), what it hears keeps
    /// its SSRC, sequence and timestamp running as in a transfer, and a recording of its old
    /// call stops taking its audio. Commands for the leg sent after this returns go to its new
    /// call.
    pub async fn move_leg(&self, leg: MediaLeg, to_call: MediaCall) -> Result<(), MediaError> {
        let from = self.leg_shard(leg);
        let to = self.call_shard(to_call);
        if from == to {
            return self.send(from, Command::MoveLeg(leg, to_call));
        }
        let moving = self.ask(from, |r| Command::TakeLeg(leg, r)).await?;
        {
            let mut moved = self.shared.moved.write().unwrap_or_else(|e| e.into_inner());
            if leg.0 as u64 % self.n() == to as u64 {
                moved.remove(&leg.0);
            } else {
                moved.insert(leg.0, to);
                self.shared.any_moved.store(true, Ordering::Release);
            }
        }
        self.send(to, Command::AdoptLeg(to_call, leg, moving))
    }

    /// Releases a leg's ports and returns its final counters. The call lives on (a transfer
    /// opens the next leg in it) until `end_call`.
    pub async fn close_leg(&self, leg: MediaLeg) -> Result<LegStats, MediaError> {
        let shard = self.leg_shard(leg);
        self.forget_move(leg);
        self.ask(shard, |r| Command::CloseLeg(leg, Some(r))).await
    }

    /// `close_leg` without waiting for the counters.
    pub async fn release_leg(&self, leg: MediaLeg) -> Result<(), MediaError> {
        let shard = self.leg_shard(leg);
        self.forget_move(leg);
        self.send(shard, Command::CloseLeg(leg, None))
    }

    fn forget_move(&self, leg: MediaLeg) {
        if self.shared.any_moved.load(Ordering::Acquire) {
            let mut moved = self.shared.moved.write().unwrap_or_else(|e| e.into_inner());
            moved.remove(&leg.0);
        }
    }

    /// Closes every leg of the call and finishes its recording.
    pub async fn end_call(&self, call: MediaCall) -> Result<(), MediaError> {
        self.send(self.call_shard(call), Command::EndCall(call))
    }

    /// A leg's counters and the address its media was latched to.
    pub async fn leg_stats(
        &self,
        leg: MediaLeg,
    ) -> Result<(LegStats, Option<SocketAddr>), MediaError> {
        self.ask(self.leg_shard(leg), |r| Command::LegStats(leg, r))
            .await
    }

    /// Engine-wide counters, summed over the engine threads.
    pub async fn stats(&self) -> Result<EngineStats, MediaError> {
        let mut sum = EngineStats::default();
        for shard in 0..self.shared.shards.len() {
            let s = self.ask(shard, Command::Stats).await?;
            sum.calls += s.calls;
            sum.legs += s.legs;
            sum.rx_packets += s.rx_packets;
            sum.tx_packets += s.tx_packets;
            sum.rx_refused += s.rx_refused;
            sum.send_errors += s.send_errors;
            sum.lost += s.lost;
            sum.recorder_dropped += s.recorder_dropped;
            sum.wakeups += s.wakeups;
            sum.longest_sweep_us = sum.longest_sweep_us.max(s.longest_sweep_us);
            sum.held.merge(&s.held);
            sum.io_uring_threads += s.io_uring_threads;
            sum.rx_rearmed += s.rx_rearmed;
        }
        Ok(sum)
    }

    /// How many engine threads carry the calls.
    pub fn threads(&self) -> usize {
        self.shared.shards.len()
    }
}
