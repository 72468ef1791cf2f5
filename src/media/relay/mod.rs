//! The per-call RTP relay: every leg of a call (citizen via trunk, agent softphone, a third
//! party) sends its media to a rexian port, and the relay forwards it to the other leg(s).
//!
//! - **Latching** (symmetric RTP): a leg's real source address is learnt from its first
//!   packets, whatever SDP said (NAT). Another address takes over only once the latched one
//!   has been quiet for `relatch_guard` (a new SSRC after a re-INVITE, or a NAT rebinding).
//! - **Continuity**: each receiver sees one stream with our SSRC; sequence numbers and
//!   timestamps are rewritten across SSRC changes, jumps and transfers ([`super::stream`]).
//! - **Codecs**: same law → payload untouched, only the header is rewritten; A-law ↔ µ-law
//!   by table. telephone-event payload types are mapped per leg.
//! - **RTCP** is terminated: each leg gets SR/RR built from our own counters, optionally at
//!   randomised intervals (RFC 3550 §6.3.1) so calls set up together do not report at once.
//! - **Dead media**: a leg silent (no RTP nor RTCP) for `dead_media_after` raises an event,
//!   paused while any leg is on hold.
//! - **Conference and supervisors**: legs given party roles are mixed on 20 ms ticks
//!   ([`Role`]: full parties hear each other, a listener hears them unheard, a whisperer is
//!   heard by one leg only); a two-party call with only listeners added keeps its direct
//!   forwarding and feeds the listener's mix on the side (`roles.rs`).
//!
//! Sans-IO: `handle_packet`/`handle_timeout` take `now`; `poll_output` yields transmits,
//! recording packets, events and the next deadline. Buffers are recycled (`recycle`) so the
//! two-leg same-codec path does not allocate.

mod moves;
mod reports;
mod roles;
mod types;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use super::mixer::Role;
pub use moves::DetachedLeg;
pub use types::*;

use super::dtmf::DtmfReceiver;
use super::g711;
use super::mixer::{Mixer, FRAME};
use super::rtp::{self, ReceiveStats, RtpHeader};
use super::stream::{samples_in, Continuity, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Isolated,
    /// Its packets are forwarded to this leg.
    Peer(LegId),
}

#[derive(Debug)]
struct Leg {
    id: LegId,
    cfg: LegConfig,
    route: Route,
    /// Its role in the call's mix, when it is a party of one ([`Relay::set_roles`]).
    party: Option<Role<LegId>>,
    /// Its audio is decoded into the mixer (someone mixed hears it).
    mix_in: bool,
    /// It hears the mixer's output for it.
    hears_mix: bool,
    latched: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    in_ssrc: Option<u32>,
    last_from_latched: Instant,
    last_rx: Instant,
    dead: bool,
    rx: ReceiveStats,
    stats: LegStats,
    dtmf: DtmfReceiver,
    last_sr: Option<(u32, Instant)>,
    next_rtcp: Instant,
    out_ssrc: u32,
    out: Continuity,
    out_packets: u32,
    out_octets: u32,
    out_packets_at_report: u32,
    local_seq: u16,
    local_ts: u32,
    local_until: Option<Instant>,
    /// The RTP timestamp of the telephone event being sent to this leg.
    event_ts: u32,
    rec: Continuity,
}

impl Leg {
    fn rtp_dst(&self) -> Option<SocketAddr> {
        self.latched.or(self.cfg.remote_rtp)
    }
    fn rtcp_dst(&self) -> Option<SocketAddr> {
        self.latched_rtcp.or(self.cfg.remote_rtcp).or_else(|| {
            self.latched
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        })
    }
}

/// The relay for one call.
pub struct Relay {
    cfg: RelayConfig,
    start: Instant,
    /// The latest `now` given to any input (commands without a clock of their own use it).
    now: Instant,
    legs: Vec<Leg>,
    out: VecDeque<Output>,
    pool: Vec<Vec<u8>>,
    timeout_due: bool,
    mixer: Mixer<LegId>,
    next_mix: Option<Instant>,
    mix_ticks: u32,
    mix_frames: Vec<(LegId, [i16; FRAME])>,
    pcm: Vec<i16>,
}

const POOL_BUF: usize = 1500;

impl Relay {
    pub fn new(cfg: RelayConfig, now: Instant) -> Self {
        Relay {
            cfg,
            start: now,
            now,
            legs: Vec::with_capacity(4),
            out: VecDeque::with_capacity(16),
            pool: Vec::new(),
            timeout_due: true,
            mixer: Mixer::new(2, 6),
            next_mix: None,
            mix_ticks: 0,
            mix_frames: Vec::with_capacity(4),
            pcm: Vec::with_capacity(FRAME * 2),
        }
    }

    /// Adds a leg (isolated until [`Relay::connect`] or [`Relay::conference`]).
    pub fn add_leg(&mut self, now: Instant, id: LegId, cfg: LegConfig) {
        self.now = self.now.max(now);
        self.remove_leg(id);
        let first_seq: u16 = rand::random();
        let first_ts: u32 = rand::random();
        self.legs.push(Leg {
            id,
            cfg,
            route: Route::Isolated,
            party: None,
            mix_in: false,
            hears_mix: false,
            latched: None,
            latched_rtcp: None,
            in_ssrc: None,
            last_from_latched: now,
            last_rx: now,
            dead: false,
            rx: ReceiveStats::default(),
            stats: LegStats::default(),
            dtmf: DtmfReceiver::new(),
            last_sr: None,
            next_rtcp: now + self.rtcp_interval(),
            out_ssrc: rand::random(),
            out: Continuity::new(now, first_seq, first_ts),
            out_packets: 0,
            out_octets: 0,
            out_packets_at_report: 0,
            local_seq: 0,
            local_ts: 0,
            local_until: None,
            event_ts: 0,
            rec: Continuity::new(now, 0, 0),
        });
        self.timeout_due = true;
    }

    /// Applies a new SDP result for a leg (re-INVITE): codec, addresses, hold. A changed
    /// remote address drops the latch so the new source is learnt at once.
    pub fn update_leg(
        &mut self,
        now: Instant,
        id: LegId,
        cfg: LegConfig,
    ) -> Result<(), RelayError> {
        let was_held = self.any_hold();
        let leg = self.leg_mut(id)?;
        if leg.cfg.remote_rtp != cfg.remote_rtp && cfg.remote_rtp.is_some() {
            leg.latched = None;
            leg.latched_rtcp = None;
        }
        leg.cfg = cfg;
        self.after_hold_change(now, was_held);
        Ok(())
    }

    /// Starts or stops emitting [`Output::Record`] (a call's recording can begin once the
    /// relay already runs, e.g. when the caller reaches an agent after the IVR).
    pub fn set_record(&mut self, record: bool) {
        self.cfg.record = record;
    }

    /// Sets or clears hold on a leg (the call layer's view, e.g. an agent pressed hold).
    pub fn set_hold(&mut self, now: Instant, id: LegId, hold: bool) -> Result<(), RelayError> {
        let was_held = self.any_hold();
        self.leg_mut(id)?.cfg.on_hold = hold;
        self.after_hold_change(now, was_held);
        Ok(())
    }

    fn after_hold_change(&mut self, now: Instant, was_held: bool) {
        if was_held && !self.any_hold() {
            // Dead-media detection restarts from now rather than counting the hold.
            for l in &mut self.legs {
                l.last_rx = now;
            }
        }
        self.timeout_due = true;
    }

    /// Removes a leg. If it was a party of the mix, the others are re-planned (a supervisor
    /// leaving a two-party call puts the other two back on direct forwarding).
    pub fn remove_leg(&mut self, id: LegId) {
        let was_party = self.legs.iter().any(|l| l.id == id && l.party.is_some());
        self.legs.retain(|l| l.id != id);
        self.after_leg_gone(id, was_party);
    }

    fn after_leg_gone(&mut self, id: LegId, was_party: bool) {
        self.mixer.remove_party(id);
        for l in &mut self.legs {
            if l.route == Route::Peer(id) {
                l.route = Route::Isolated;
            }
        }
        if was_party {
            self.replan();
        }
    }

    /// Bridges two legs: each hears the other.
    pub fn connect(&mut self, a: LegId, b: LegId) -> Result<(), RelayError> {
        self.isolate(a)?;
        self.isolate(b)?;
        self.leg_mut(a)?.route = Route::Peer(b);
        self.leg_mut(b)?.route = Route::Peer(a);
        Ok(())
    }

    /// Stops forwarding to and from a leg (IVR, parked, about to be transferred). A party of
    /// the mix leaves it, and the other parties are re-planned.
    pub fn isolate(&mut self, id: LegId) -> Result<(), RelayError> {
        let l = self.leg_mut(id)?;
        let (route, was_party) = (l.route, l.party.take().is_some());
        l.route = Route::Isolated;
        l.mix_in = false;
        l.hears_mix = false;
        self.mixer.remove_party(id);
        if was_party {
            self.replan();
        } else if let Route::Peer(p) = route {
            if let Ok(peer) = self.leg_mut(p) {
                peer.route = Route::Isolated;
            }
        }
        Ok(())
    }

    pub fn stats(&self, id: LegId) -> Option<LegStats> {
        self.legs.iter().find(|l| l.id == id).map(|l| {
            let mut s = l.stats;
            s.lost = l.rx.lost();
            s.jitter = l.rx.jitter();
            s
        })
    }

    /// Where a leg's media currently comes from (after latching).
    pub fn latched(&self, id: LegId) -> Option<SocketAddr> {
        self.legs
            .iter()
            .find(|l| l.id == id)
            .and_then(|l| l.latched)
    }

    /// The one RTP source a leg accepts at `now`, if it accepts only one: latched, and heard
    /// within `relatch_guard`. While this is `Some`, [`Self::handle_packet`] refuses every
    /// other source of the leg's RTP, so a shell may filter them out before they reach it
    /// (a connected socket); once it is `None` any source may take over.
    pub fn exclusive_source(&self, id: LegId, now: Instant) -> Option<SocketAddr> {
        let l = self.legs.iter().find(|l| l.id == id)?;
        let fresh = now.saturating_duration_since(l.last_from_latched) < self.cfg.relatch_guard;
        l.latched.filter(|_| fresh)
    }

    /// Gives a transmit or record buffer back for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < 64 {
            buf.clear();
            self.pool.push(buf);
        }
    }

    fn buf(&mut self) -> Vec<u8> {
        self.pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(POOL_BUF))
    }

    /// The time to a leg's next report: the interval, times a random factor in [0.5, 1.5)
    /// when `rtcp_randomised` (RFC 3550 §6.3.1).
    fn rtcp_interval(&self) -> Duration {
        if self.cfg.rtcp_randomised {
            self.cfg.rtcp_interval.mul_f64(0.5 + rand::random::<f64>())
        } else {
            self.cfg.rtcp_interval
        }
    }

    fn any_hold(&self) -> bool {
        self.legs.iter().any(|l| l.cfg.on_hold)
    }

    fn leg_mut(&mut self, id: LegId) -> Result<&mut Leg, RelayError> {
        self.legs
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or(RelayError::UnknownLeg(id))
    }

    fn index(&self, id: LegId) -> Result<usize, RelayError> {
        self.legs
            .iter()
            .position(|l| l.id == id)
            .ok_or(RelayError::UnknownLeg(id))
    }

    /// A datagram arrived on `leg`'s RTP or RTCP socket from `src`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        leg: LegId,
        src: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), RelayError> {
        let i = self.index(leg)?;
        self.now = self.now.max(now);
        self.timeout_due = true;
        if rtp::is_rtcp(bytes) {
            return self.handle_rtcp(now, i, src, bytes);
        }
        let hdr = match RtpHeader::parse(bytes) {
            Ok(h) => h,
            Err(e) => {
                self.legs[i].stats.malformed += 1;
                return Err(e.into());
            }
        };
        self.accept_source(now, i, src)?;
        let l = &mut self.legs[i];
        l.stats.rx_packets += 1;
        l.stats.rx_bytes += bytes.len() as u64;
        if l.in_ssrc != Some(hdr.ssrc) {
            if l.in_ssrc.is_some() {
                self.out.push_back(Output::Event(Event::SourceChanged {
                    leg,
                    ssrc: hdr.ssrc,
                }));
            }
            l.in_ssrc = Some(hdr.ssrc);
            l.rx.reset();
        }
        let arrival = samples_in(now.saturating_duration_since(self.start));
        l.rx.update(hdr.sequence, hdr.timestamp, arrival);
        let payload = hdr.payload(bytes);
        let cfg = l.cfg;
        if Some(hdr.payload_type) == cfg.dtmf_pt {
            if let Ok(Some(d)) = l.dtmf.on_packet(hdr.timestamp, payload) {
                self.out
                    .push_back(Output::Event(Event::Dtmf { leg, digit: d }));
                if let Some(d2) = self.legs[i].dtmf.take_pending() {
                    self.out
                        .push_back(Output::Event(Event::Dtmf { leg, digit: d2 }));
                }
            }
        } else if hdr.payload_type != cfg.audio_pt {
            return Err(RelayError::UnknownPayloadType(hdr.payload_type));
        }
        let is_audio = hdr.payload_type == cfg.audio_pt;
        let (route, mix_in, party) = {
            let l = &self.legs[i];
            (l.route, l.mix_in, l.party)
        };
        // The recording holds what the caller hears: never a listener or a whisperer.
        let heard_by_all = matches!(party, None | Some(Role::Full));
        if is_audio && self.cfg.record && heard_by_all {
            let src_key = Source::Leg(i as u32, hdr.ssrc);
            if let Some(m) = self.legs[i]
                .rec
                .map(src_key, hdr.sequence, hdr.timestamp, now)
            {
                let mut b = self.buf();
                b.extend_from_slice(payload);
                self.out.push_back(Output::Record(RecordPacket {
                    leg,
                    at: now,
                    timestamp: m.ts,
                    law: cfg.law,
                    payload: b,
                }));
            }
        }
        if mix_in && is_audio {
            g711::decode_into(cfg.law, payload, &mut self.pcm);
            self.mixer.push(leg, hdr.timestamp, &self.pcm);
        }
        if let Route::Peer(p) = route {
            let j = self.index(p)?;
            self.forward(now, i, j, &hdr, payload, is_audio);
        }
        Ok(())
    }

    /// Latching: learn the source, or refuse a stranger while the latched source is alive
    /// (a new SSRC or a NAT rebinding takes over once the old source has been quiet).
    fn accept_source(&mut self, now: Instant, i: usize, src: SocketAddr) -> Result<(), RelayError> {
        let guard = self.cfg.relatch_guard;
        let l = &mut self.legs[i];
        match l.latched {
            Some(a) if a == src => {}
            Some(_) if now.saturating_duration_since(l.last_from_latched) < guard => {
                l.stats.rejected += 1;
                return Err(RelayError::NotLatched(src));
            }
            _ => {
                l.latched = Some(src);
                self.out.push_back(Output::Event(Event::Latched {
                    leg: l.id,
                    channel: Channel::Rtp,
                    addr: src,
                }));
            }
        }
        l.last_from_latched = now;
        self.note_alive(now, i);
        Ok(())
    }

    fn note_alive(&mut self, now: Instant, i: usize) {
        let l = &mut self.legs[i];
        l.last_rx = now;
        if l.dead {
            l.dead = false;
            self.out
                .push_back(Output::Event(Event::MediaResumed { leg: l.id }));
        }
    }

    fn forward(
        &mut self,
        now: Instant,
        i: usize,
        j: usize,
        hdr: &RtpHeader,
        payload: &[u8],
        audio: bool,
    ) {
        let (from_law, from_id) = (self.legs[i].cfg.law, i as u32);
        let to = &self.legs[j];
        if to.cfg.on_hold || to.local_until.is_some_and(|t| now < t) {
            return;
        }
        let pt = if audio {
            Some(to.cfg.audio_pt)
        } else {
            to.cfg.dtmf_pt
        };
        let (Some(pt), Some(dst)) = (pt, to.rtp_dst()) else {
            return;
        };
        let to_law = to.cfg.law;
        let mut b = self.buf();
        let to = &mut self.legs[j];
        let Some(m) = to.out.map(
            Source::Leg(from_id, hdr.ssrc),
            hdr.sequence,
            hdr.timestamp,
            now,
        ) else {
            self.recycle(b);
            return;
        };
        rtp::write_header(
            &mut b,
            hdr.marker || (audio && m.rebased),
            pt,
            m.seq,
            m.ts,
            to.out_ssrc,
        );
        b.extend_from_slice(payload);
        if audio && from_law != to_law {
            g711::transcode_in_place(from_law, to_law, &mut b[rtp::FIXED_HEADER_LEN..]);
        }
        Self::count_tx(to, payload.len(), b.len());
        let leg = to.id;
        self.out.push_back(Output::Transmit(Transmit {
            leg,
            channel: Channel::Rtp,
            dst,
            bytes: b,
        }));
    }

    fn count_tx(to: &mut Leg, payload: usize, total: usize) {
        to.out_packets = to.out_packets.wrapping_add(1);
        to.out_octets = to.out_octets.wrapping_add(payload as u32);
        to.stats.tx_packets += 1;
        to.stats.tx_bytes += total as u64;
    }

    /// Sends audio produced by rexian (a prompt frame, music on hold) to a leg. While this
    /// continues, forwarded media to that leg is suppressed.
    pub fn send_audio(
        &mut self,
        now: Instant,
        id: LegId,
        samples: &[i16],
    ) -> Result<(), RelayError> {
        let i = self.index(id)?;
        self.send_local(now, i, samples);
        self.legs[i].local_until = Some(now + Duration::from_millis(100));
        Ok(())
    }

    fn send_local(&mut self, now: Instant, i: usize, samples: &[i16]) {
        let Some(dst) = self.legs[i].rtp_dst() else {
            return;
        };
        let mut b = self.buf();
        let l = &mut self.legs[i];
        let (seq, ts) = (l.local_seq, l.local_ts);
        l.local_seq = seq.wrapping_add(1);
        l.local_ts = ts.wrapping_add(samples.len() as u32);
        let Some(m) = l.out.map(Source::Local, seq, ts, now) else {
            self.recycle(b);
            return;
        };
        rtp::write_header(&mut b, m.rebased, l.cfg.audio_pt, m.seq, m.ts, l.out_ssrc);
        g711::encode_into(l.cfg.law, samples, &mut b);
        Self::count_tx(l, samples.len(), b.len());
        let leg = l.id;
        self.out.push_back(Output::Transmit(Transmit {
            leg,
            channel: Channel::Rtp,
            dst,
            bytes: b,
        }));
    }

    /// Drives timers: RTCP reports, dead-media checks and conference mixing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.timeout_due = true;
        for i in 0..self.legs.len() {
            if now >= self.legs[i].next_rtcp {
                self.legs[i].next_rtcp = now + self.rtcp_interval();
                self.send_rtcp(now, i, false);
            }
        }
        if !self.any_hold() {
            for l in &mut self.legs {
                if !l.dead && now.saturating_duration_since(l.last_rx) >= self.cfg.dead_media_after
                {
                    l.dead = true;
                    self.out
                        .push_back(Output::Event(Event::DeadMedia { leg: l.id }));
                }
            }
        }
        while let Some(t) = self.next_mix.filter(|t| now >= *t) {
            self.mix_tick(t);
            self.next_mix = Some(t + Duration::from_millis(20));
        }
    }

    fn mix_tick(&mut self, now: Instant) {
        if !self.legs.iter().any(|l| l.hears_mix) {
            self.next_mix = None;
            return;
        }
        self.mix_ticks = self.mix_ticks.wrapping_add(1);
        let mut frames = std::mem::take(&mut self.mix_frames);
        frames.clear();
        self.mixer.tick(|k, f| {
            let mut a = [0i16; FRAME];
            a.copy_from_slice(f);
            frames.push((k, a));
        });
        for (k, f) in &frames {
            let (k, f) = (*k, *f);
            if let Ok(i) = self.index(k) {
                // A prompt or music playing to the leg takes precedence over the mix.
                let playing = self.legs[i].local_until.is_some_and(|t| now < t);
                if !self.legs[i].cfg.on_hold && !playing {
                    self.send_local(now, i, &f);
                }
            }
        }
        self.mix_frames = frames;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut t = self.next_mix;
        let mut take = |x: Instant| t = Some(t.map_or(x, |t: Instant| t.min(x)));
        let held = self.any_hold();
        for l in &self.legs {
            take(l.next_rtcp);
            if !held && !l.dead {
                take(l.last_rx + self.cfg.dead_media_after);
            }
        }
        t
    }

    /// The next output. Queued outputs come first; then, once after each input, the next
    /// deadline as [`Output::Timeout`]; then `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        if self.timeout_due {
            self.timeout_due = false;
            return self.next_deadline().map(Output::Timeout);
        }
        None
    }
}
