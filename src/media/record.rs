//! The recording assembler (sans-IO): takes each leg's audio packets (as the relay emits them,
//! with a per-leg continuous RTP timestamp) and produces stereo 20 ms frames — left the
//! caller, right the saturating sum of everyone else — aligned by timestamp, with silence for
//! gaps. Parties can come and go (hold, transfer, three-way); the recording just continues.
//!
//! Alignment: the first packet of a leg is placed at the position its arrival time gives
//! (relative to the recording start); later packets follow by RTP timestamp. Frames are
//! emitted `delay` behind real time so reordered packets still land in place.

use std::time::{Duration, Instant};

use super::g711::{self, Law};
use super::playout::{PlayoutRing, WriteOutcome};
use super::relay::LegId;
use super::stream::samples_in;

/// Samples per channel in one frame (20 ms).
pub const FRAME: usize = 160;
/// A leg whose timestamps drift this far (samples) from arrival time is re-anchored.
const MAX_DRIFT: i64 = 8000;
/// How far past the read point (beyond `delay`) a track buffers: 0.5 s. A packet further
/// ahead re-anchors its track. Sized so two tracks of a call stay near 20 KiB.
const AHEAD: usize = 4000;

/// Which channel a leg is recorded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The citizen.
    Left,
    /// Agents, third parties, prompts.
    Right,
}

#[derive(Debug)]
struct Track {
    leg: LegId,
    side: Side,
    ring: PlayoutRing,
}

/// Builds the stereo recording of one call.
#[derive(Debug)]
pub struct RecordAssembler {
    start: Instant,
    delay: u64,
    emitted: u64,
    tracks: Vec<Track>,
    pcm: Vec<i16>,
    mono: [i16; FRAME],
    acc: [[i32; FRAME]; 2],
    frame: [i16; 2 * FRAME],
    late_packets: u64,
}

impl RecordAssembler {
    /// Starts a recording at `now`; frames trail real time by `delay` (e.g. 200 ms).
    pub fn new(now: Instant, delay: Duration) -> Self {
        RecordAssembler {
            start: now,
            delay: samples_in(delay) as u64,
            emitted: 0,
            tracks: Vec::new(),
            pcm: Vec::with_capacity(FRAME * 2),
            mono: [0; FRAME],
            acc: [[0; FRAME]; 2],
            frame: [0; 2 * FRAME],
            late_packets: 0,
        }
    }

    /// Puts a leg on a side (a leg not set here is recorded on the right).
    pub fn set_side(&mut self, leg: LegId, side: Side) {
        match self.tracks.iter_mut().find(|t| t.leg == leg) {
            Some(t) => t.side = side,
            None => self.tracks.push(Track {
                leg,
                side,
                ring: PlayoutRing::new(self.delay as usize + AHEAD),
            }),
        }
    }

    /// Drops a leg that left the call (what it already sent is still recorded).
    pub fn remove(&mut self, leg: LegId) {
        self.tracks.retain(|t| t.leg != leg);
    }

    /// Samples emitted so far (per channel).
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Packets that arrived after their place had been written out.
    pub fn late_packets(&self) -> u64 {
        self.late_packets
    }

    /// One leg's audio packet that arrived at `at`.
    pub fn push(&mut self, at: Instant, leg: LegId, timestamp: u32, law: Law, payload: &[u8]) {
        g711::decode_into(law, payload, &mut self.pcm);
        self.place(at, leg, timestamp);
    }

    /// Audio rexian itself sent (a prompt frame), on its own track `track` with its own
    /// continuous timestamp; recorded on the right unless `set_side` said otherwise.
    pub fn push_pcm(&mut self, at: Instant, track: LegId, timestamp: u32, samples: &[i16]) {
        self.pcm.clear();
        self.pcm.extend_from_slice(samples);
        self.place(at, track, timestamp);
    }

    fn place(&mut self, at: Instant, leg: LegId, timestamp: u32) {
        if !self.tracks.iter().any(|t| t.leg == leg) {
            self.set_side(leg, Side::Right);
        }
        let arrival = samples_in(at.saturating_duration_since(self.start)) as u64;
        let emitted = self.emitted;
        let Some(t) = self.tracks.iter_mut().find(|t| t.leg == leg) else {
            return;
        };
        // The timestamp that should sit at the read point (= recording position `emitted`).
        let anchor = timestamp.wrapping_sub(arrival.wrapping_sub(emitted) as u32);
        let drifted = t.ring.next_ts().is_some_and(|next| {
            let pos = emitted as i64 + timestamp.wrapping_sub(next) as i32 as i64;
            (pos - arrival as i64).abs() > MAX_DRIFT
        });
        if drifted || !t.ring.is_anchored() {
            t.ring.anchor(anchor);
        }
        match t.ring.write(timestamp, &self.pcm) {
            WriteOutcome::Stored => {}
            WriteOutcome::Late { .. } => self.late_packets += 1,
            WriteOutcome::OutOfRange | WriteOutcome::Unanchored => {
                t.ring.anchor(anchor);
                let _ = t.ring.write(timestamp, &self.pcm);
            }
        }
    }

    /// The next stereo frame (interleaved L R, 320 samples) once it is `delay` old.
    pub fn poll_frame(&mut self, now: Instant) -> Option<&[i16]> {
        let now_pos = samples_in(now.saturating_duration_since(self.start)) as u64;
        if self.emitted + FRAME as u64 + self.delay > now_pos {
            return None;
        }
        Some(self.next_frame())
    }

    /// At the end of the call: the next frame while any leg still has buffered audio.
    pub fn drain_frame(&mut self) -> Option<&[i16]> {
        if self.tracks.iter().all(|t| t.ring.buffered() == 0) {
            return None;
        }
        Some(self.next_frame())
    }

    fn next_frame(&mut self) -> &[i16] {
        self.acc = [[0; FRAME]; 2];
        for t in &mut self.tracks {
            if !t.ring.is_anchored() {
                continue;
            }
            t.ring.read_into(&mut self.mono);
            let acc = &mut self.acc[(t.side == Side::Right) as usize];
            for (a, &s) in acc.iter_mut().zip(self.mono.iter()) {
                *a += s as i32;
            }
        }
        for i in 0..FRAME {
            self.frame[2 * i] = self.acc[0][i].clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            self.frame[2 * i + 1] = self.acc[1][i].clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        self.emitted += FRAME as u64;
        &self.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{SineGenerator, ToneDetector};

    fn enc(samples: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        g711::encode_into(Law::Alaw, samples, &mut v);
        v
    }

    fn collect(rec: &mut RecordAssembler, now: Instant, out: &mut Vec<i16>) {
        while let Some(f) = rec.poll_frame(now) {
            out.extend_from_slice(f);
        }
    }

    #[test]
    fn a_tone_at_a_known_time_lands_at_the_right_offset_and_channel() {
        let t0 = Instant::now();
        let mut rec = RecordAssembler::new(t0, Duration::from_millis(200));
        let (caller, agent) = (LegId(1), LegId(2));
        rec.set_side(caller, Side::Left);
        rec.set_side(agent, Side::Right);
        let tone = SineGenerator::new(1000.0, 8000, 8000).take(160 * 101);
        let mut out = Vec::new();
        for i in 0..150u32 {
            let at = t0 + Duration::from_millis(20 * i as u64);
            // The caller is silent; the agent joins at 1.000 s with a tone and an unrelated
            // timestamp base; after its first packet, packets arrive swapped in pairs.
            if i >= 50 {
                let k = match i {
                    50 => 50,
                    _ if i % 2 == 1 => i + 1,
                    _ => i - 1,
                };
                let ts = 777_000u32.wrapping_add(160 * (k - 50));
                let n = 160 * (k - 50) as usize;
                rec.push(at, agent, ts, Law::Alaw, &enc(&tone[n..n + 160]));
            }
            rec.push(at, caller, 5 + 160 * i, Law::Alaw, &enc(&[0; 160]));
            collect(&mut rec, at, &mut out);
        }
        let right: Vec<i16> = out.iter().skip(1).step_by(2).copied().collect();
        let left: Vec<i16> = out.iter().step_by(2).copied().collect();
        let first = right.iter().position(|&s| s.abs() > 50).unwrap();
        // Sample 8000 is 1.000 s; the sine starts at phase 0 so the first audible sample is 8001.
        assert!((8000..=8002).contains(&first), "tone starts at {first}");
        assert!(ToneDetector::new(1000.0).present(&right[8000..9600]));
        assert!(
            left.iter().all(|&s| s.abs() <= 8),
            "caller channel stays silent"
        );
    }

    #[test]
    fn gaps_are_silence_and_parties_can_leave_and_join() {
        let t0 = Instant::now();
        let mut rec = RecordAssembler::new(t0, Duration::from_millis(100));
        rec.set_side(LegId(1), Side::Left);
        let mut out = Vec::new();
        for i in 0..100u32 {
            let at = t0 + Duration::from_millis(20 * i as u64);
            if !(20..40).contains(&i) {
                rec.push(at, LegId(1), 160 * i, Law::Alaw, &enc(&[1000; 160]));
            }
            if i == 60 {
                rec.remove(LegId(2));
            }
            if (10..60).contains(&i) {
                rec.push(at, LegId(2), 9 + 160 * i, Law::Alaw, &enc(&[-1000; 160]));
            }
            if i >= 70 {
                rec.push(at, LegId(3), 160 * i, Law::Alaw, &enc(&[-500; 160]));
            }
            collect(&mut rec, at, &mut out);
        }
        while let Some(f) = rec.drain_frame() {
            out.extend_from_slice(f);
        }
        assert_eq!(out.len(), 2 * 160 * 100);
        let l = |i: usize| out[2 * i];
        let r = |i: usize| out[2 * i + 1];
        assert!(l(100) > 900 && l(160 * 30) == 0 && l(160 * 50) > 900);
        assert!(r(100) == 0 && r(160 * 30) < -900 && r(160 * 65) == 0 && r(160 * 80) < -450);
    }

    #[test]
    fn our_own_audio_goes_to_the_right_channel_at_the_time_it_was_sent() {
        let t0 = Instant::now();
        let mut rec = RecordAssembler::new(t0, Duration::from_millis(100));
        let (caller, prompt) = (LegId(1), LegId(0x8000_0001));
        rec.set_side(caller, Side::Left);
        let mut out = Vec::new();
        for i in 0..60u32 {
            let at = t0 + Duration::from_millis(20 * i as u64);
            rec.push(at, caller, 160 * i, Law::Alaw, &enc(&[0; 160]));
            // A prompt from 0.4 s to 0.8 s, with its own timestamps.
            if (20..40).contains(&i) {
                rec.push_pcm(at, prompt, 160 * (i - 20), &[700; 160]);
            }
            collect(&mut rec, at, &mut out);
        }
        let r = |i: usize| out[2 * i + 1];
        let l = |i: usize| out[2 * i];
        assert_eq!(r(160 * 10), 0);
        assert_eq!(r(160 * 25), 700);
        assert_eq!(r(160 * 45), 0);
        assert!((0..out.len() / 2).all(|i| l(i).abs() <= 8));
    }
}
