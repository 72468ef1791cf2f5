//! What a call's recording received, in order, as an append-only log (sans-IO).
//!
//! The relay thread must not spend its time building stereo frames: decoding, placing by
//! timestamp and mixing down touch every sample twice, 200 ms apart, which is cache-cold work
//! done for every call every 20 ms. So the relay side only appends what arrived — a packet's
//! payload as it came off the wire, a prompt frame, a leg changing side or leaving — and hands
//! the log over every 200 ms. The writer side replays it into the call's [`RecordAssembler`]:
//! before each entry the assembler is asked for the frames due at that entry's time, so the
//! result is what the assembler would have produced had it been fed live.

use std::time::Instant;

use super::g711::Law;
use super::record::{RecordAssembler, Side};
use super::relay::LegId;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Packet(Law),
    Pcm,
    Side(Side),
    Remove,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    leg: LegId,
    timestamp: u32,
    kind: Kind,
    /// Where the entry's bytes start in `data`, and how many (payload bytes, or 2 per sample).
    start: u32,
    len: u32,
}

/// The recording input of one call for a stretch of time.
#[derive(Debug, Default)]
pub struct RecordLog {
    entries: Vec<Entry>,
    data: Vec<u8>,
}

impl RecordLog {
    /// An empty log with room for `packets` packets of `bytes` payload bytes each.
    pub fn with_capacity(packets: usize, bytes: usize) -> Self {
        RecordLog {
            entries: Vec::with_capacity(packets),
            data: Vec::with_capacity(packets * bytes),
        }
    }

    /// Entries logged.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&mut self, at: Instant, leg: LegId, timestamp: u32, kind: Kind, bytes: usize) {
        let start = (self.data.len() - bytes) as u32;
        self.entries.push(Entry {
            at,
            leg,
            timestamp,
            kind,
            start,
            len: bytes as u32,
        });
    }

    /// A leg's audio packet (G.711 payload) that arrived at `at`.
    pub fn packet(&mut self, at: Instant, leg: LegId, timestamp: u32, law: Law, payload: &[u8]) {
        self.data.extend_from_slice(payload);
        self.entry(at, leg, timestamp, Kind::Packet(law), payload.len());
    }

    /// Audio rexian sent itself (a prompt frame) on track `track`.
    pub fn pcm(&mut self, at: Instant, track: LegId, timestamp: u32, samples: &[i16]) {
        for s in samples {
            self.data.extend_from_slice(&s.to_le_bytes());
        }
        self.entry(at, track, timestamp, Kind::Pcm, 2 * samples.len());
    }

    /// Puts a leg on a side from `at` on.
    pub fn set_side(&mut self, at: Instant, leg: LegId, side: Side) {
        self.entry(at, leg, 0, Kind::Side(side), 0);
    }

    /// A leg left the recording at `at` (what it sent before is kept).
    pub fn remove(&mut self, at: Instant, leg: LegId) {
        self.entry(at, leg, 0, Kind::Remove, 0);
    }

    /// Feeds the log to `asm` in order, appending every frame that falls due on the way to
    /// `out`. Frames due after the last entry are left for the caller to poll.
    pub fn replay(&self, asm: &mut RecordAssembler, out: &mut Vec<i16>, pcm: &mut Vec<i16>) {
        for e in &self.entries {
            while let Some(f) = asm.poll_frame(e.at) {
                out.extend_from_slice(f);
            }
            let bytes = &self.data[e.start as usize..(e.start + e.len) as usize];
            match e.kind {
                Kind::Packet(law) => asm.push(e.at, e.leg, e.timestamp, law, bytes),
                Kind::Pcm => {
                    pcm.clear();
                    pcm.extend(
                        bytes
                            .chunks_exact(2)
                            .map(|b| i16::from_le_bytes([b[0], b[1]])),
                    );
                    asm.push_pcm(e.at, e.leg, e.timestamp, pcm);
                }
                Kind::Side(side) => asm.set_side(e.leg, side),
                Kind::Remove => asm.remove(e.leg),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::media::g711;
    use crate::media::tone::{SineGenerator, ToneDetector};

    const MS20: Duration = Duration::from_millis(20);

    /// The same input fed live (polled every 20 ms) and through a log replayed in 200 ms
    /// batches gives the same samples.
    #[test]
    fn a_replayed_log_gives_what_live_feeding_gives() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(200);
        let (caller, agent, prompt) = (LegId(1), LegId(2), LegId(0x8000_0002));
        let mut live = RecordAssembler::new(t0, delay);
        let mut later = RecordAssembler::new(t0, delay);
        live.set_side(caller, Side::Left);
        later.set_side(caller, Side::Left);
        let mut tone_l = SineGenerator::new(440.0, 8000, 8000);
        let mut tone_r = SineGenerator::new(1000.0, 8000, 8000);
        let (mut out_live, mut out_later, mut pcm) = (Vec::new(), Vec::new(), Vec::new());
        let mut log = RecordLog::default();
        for i in 0..100u32 {
            let at = t0 + MS20 * i + Duration::from_micros(300);
            let mut a = Vec::new();
            g711::encode_into(Law::Ulaw, &tone_l.take(160), &mut a);
            let ts = 1000 + 160 * i;
            live.push(at, caller, ts, Law::Ulaw, &a);
            log.packet(at, caller, ts, Law::Ulaw, &a);
            if i < 50 {
                let b = tone_r.take(160);
                live.push_pcm(at, prompt, 160 * i, &b);
                log.pcm(at, prompt, 160 * i, &b);
            } else {
                let mut b = Vec::new();
                g711::encode_into(Law::Alaw, &tone_r.take(160), &mut b);
                live.push(at, agent, 7 * i, Law::Alaw, &b);
                log.packet(at, agent, 7 * i, Law::Alaw, &b);
            }
            if i == 50 {
                live.remove(prompt);
                log.remove(at, prompt);
            }
            let tick = t0 + MS20 * (i + 1);
            while let Some(f) = live.poll_frame(tick) {
                out_live.extend_from_slice(f);
            }
            if (i + 1) % 10 == 0 {
                log.replay(&mut later, &mut out_later, &mut pcm);
                while let Some(f) = later.poll_frame(tick) {
                    out_later.extend_from_slice(f);
                }
                log = RecordLog::default();
            }
        }
        assert_eq!(out_live.len(), out_later.len());
        assert!(out_live.len() >= 2 * 160 * 85);
        assert_eq!(out_live, out_later);
        // And the log kept the content: the caller's tone on the left.
        let left: Vec<i16> = out_later.iter().step_by(2).copied().collect();
        assert!(ToneDetector::new(440.0).present(&left[1600..3200]));
    }

    #[test]
    fn sides_and_removals_take_effect_in_order() {
        let t0 = Instant::now();
        let mut asm = RecordAssembler::new(t0, Duration::from_millis(40));
        let mut log = RecordLog::default();
        let loud = [8000i16; 160];
        log.set_side(t0, LegId(5), Side::Left);
        log.pcm(t0, LegId(5), 0, &loud);
        log.pcm(t0 + MS20, LegId(5), 160, &loud);
        log.remove(t0 + MS20 * 4, LegId(5));
        log.pcm(t0 + MS20 * 4, LegId(5), 640, &loud);
        assert_eq!(log.len(), 5);
        let (mut out, mut pcm) = (Vec::new(), Vec::new());
        log.replay(&mut asm, &mut out, &mut pcm);
        while let Some(f) = asm.poll_frame(t0 + MS20 * 10) {
            out.extend_from_slice(f);
        }
        // On the left while it was there; after its removal the same leg id is a new track,
        // which goes on the right.
        let frame = |i: usize| &out[2 * 160 * i..2 * 160 * (i + 1)];
        assert!(frame(0).chunks_exact(2).all(|s| s == [8000, 0]));
        assert!(frame(1).chunks_exact(2).all(|s| s == [8000, 0]));
        assert!(frame(4).chunks_exact(2).all(|s| s == [0, 8000]));
    }
}
