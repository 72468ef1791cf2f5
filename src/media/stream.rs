//! Stream continuity for the relay: maps the sequence numbers and timestamps of whatever is
//! feeding a receiver (a leg's source that may change SSRC or jump, another leg after a
//! transfer, the mixer, a prompt) onto one continuous outgoing stream, so the receiver never
//! sees a jump. A change of source or a jump is rebased onto the wall clock: the next packet
//! gets the next sequence number and a timestamp advanced by the real elapsed time.

use std::time::{Duration, Instant};

/// Who feeds a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A leg's RTP source: leg index in the relay and its SSRC.
    Leg(u32, u32),
    /// Audio produced inside rexian (mixer, prompts).
    Local,
}

/// Sequence jumps beyond this (either way) on one source are a restart, not reordering.
const MAX_SEQ_JUMP: i16 = 100;
/// Timestamps further than this from where the wall clock says they should be are a jump.
const MAX_TS_DRIFT: i64 = 8000 * 2;
/// A packet of the source we switched away from is a straggler while the current source has
/// sent within this long; after that the old source may take the stream back (music on hold
/// or a survey prompt after an agent talked, the agent after the music).
const STRAGGLER_WINDOW: Duration = Duration::from_millis(200);

/// Samples of an 8 kHz clock in `d`.
pub fn samples_in(d: Duration) -> u32 {
    (d.as_micros() as u64 * 8 / 1000).min(u32::MAX as u64) as u32
}

/// The rewrite state of one outgoing stream (or one leg's recording timeline).
#[derive(Debug, Clone)]
pub struct Continuity {
    started: bool,
    last_seq: u16,
    last_ts: u32,
    last_at: Instant,
    source: Option<Source>,
    prev_source: Option<Source>,
    seq_off: u16,
    ts_off: u32,
    src_max_seq: u16,
    src_last_ts: u32,
    src_last_at: Instant,
}

/// A mapped packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub seq: u16,
    pub ts: u32,
    /// Set on the first packet after a rebase (RFC 3551: marker after a discontinuity).
    pub rebased: bool,
}

impl Continuity {
    /// A stream whose first packet will carry `first_seq` and `first_ts`.
    pub fn new(now: Instant, first_seq: u16, first_ts: u32) -> Self {
        Continuity {
            started: false,
            last_seq: first_seq.wrapping_sub(1),
            last_ts: first_ts,
            last_at: now,
            source: None,
            prev_source: None,
            seq_off: 0,
            ts_off: 0,
            src_max_seq: 0,
            src_last_ts: 0,
            src_last_at: now,
        }
    }

    /// The last sequence number and timestamp sent, and when.
    pub fn last(&self) -> (u16, u32, Instant) {
        (self.last_seq, self.last_ts, self.last_at)
    }

    pub fn started(&self) -> bool {
        self.started
    }

    /// Maps a packet of `source`. `None` for a straggler of the source we switched away from.
    pub fn map(&mut self, source: Source, seq: u16, ts: u32, now: Instant) -> Option<Mapped> {
        let rebase = if self.source == Some(source) {
            let d = seq.wrapping_sub(self.src_max_seq) as i16;
            if !(-MAX_SEQ_JUMP..=MAX_SEQ_JUMP).contains(&d) {
                true
            } else if d > 0 {
                let elapsed = samples_in(now.saturating_duration_since(self.src_last_at));
                let expected = self.src_last_ts.wrapping_add(elapsed);
                (ts.wrapping_sub(expected) as i32 as i64).abs() > MAX_TS_DRIFT
            } else {
                false
            }
        } else if self.prev_source == Some(source)
            && self.source.is_some()
            && now.saturating_duration_since(self.src_last_at) < STRAGGLER_WINDOW
        {
            return None;
        } else {
            true
        };
        if rebase {
            let next_seq = self.last_seq.wrapping_add(1);
            let next_ts = if self.started {
                let e = samples_in(now.saturating_duration_since(self.last_at));
                self.last_ts.wrapping_add(e.max(1))
            } else {
                self.last_ts
            };
            self.seq_off = next_seq.wrapping_sub(seq);
            self.ts_off = next_ts.wrapping_sub(ts);
            if self.source != Some(source) {
                self.prev_source = self.source;
                self.source = Some(source);
            }
            self.src_max_seq = seq;
            self.src_last_ts = ts;
            self.src_last_at = now;
        } else if (seq.wrapping_sub(self.src_max_seq) as i16) > 0 {
            self.src_max_seq = seq;
            self.src_last_ts = ts;
            self.src_last_at = now;
        }
        let out = Mapped {
            seq: seq.wrapping_add(self.seq_off),
            ts: ts.wrapping_add(self.ts_off),
            rebased: rebase,
        };
        if !self.started || (out.seq.wrapping_sub(self.last_seq) as i16) > 0 {
            self.last_seq = out.seq;
            self.last_ts = out.ts;
            self.last_at = now;
        }
        self.started = true;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrc_change_continues_sequence_and_advances_time_by_wall_clock() {
        let t0 = Instant::now();
        let mut c = Continuity::new(t0, 1000, 50_000);
        let a = Source::Leg(0, 0xAAAA);
        let b = Source::Leg(0, 0xBBBB);
        for i in 0..10u16 {
            let m = c
                .map(
                    a,
                    7 + i,
                    123 + 160 * i as u32,
                    t0 + Duration::from_millis(20 * i as u64),
                )
                .unwrap();
            assert_eq!((m.seq, m.ts), (1000 + i, 50_000 + 160 * i as u32));
        }
        let m = c
            .map(b, 40_000, 9, t0 + Duration::from_millis(200))
            .unwrap();
        assert_eq!((m.seq, m.ts, m.rebased), (1010, 50_000 + 1600, true));
        // A straggler of the old source is dropped, not allowed to flip the mapping back.
        assert_eq!(
            c.map(a, 17, 123 + 1600, t0 + Duration::from_millis(201)),
            None
        );
        let m = c
            .map(b, 40_001, 169, t0 + Duration::from_millis(220))
            .unwrap();
        assert_eq!((m.seq, m.ts, m.rebased), (1011, 50_000 + 1760, false));
    }

    #[test]
    fn the_old_source_takes_the_stream_back_once_the_current_one_is_quiet() {
        // A prompt (local), then the agent's leg, then music on hold (local again) while the
        // agent's packets are no longer forwarded.
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = Continuity::new(t0, 1, 0);
        let agent = Source::Leg(1, 7);
        for i in 0..5u16 {
            c.map(Source::Local, i, 160 * i as u32, ms(20 * i as u64))
                .unwrap();
        }
        for i in 0..5u16 {
            c.map(agent, 900 + i, 160 * i as u32, ms(100 + 20 * i as u64))
                .unwrap();
        }
        // Right after the agent's last packet a local frame is a straggler…
        assert_eq!(c.map(Source::Local, 5, 800, ms(200)), None);
        // …but once the agent has been quiet for the window, local audio takes over.
        let m = c.map(Source::Local, 20, 3200, ms(420)).unwrap();
        assert!(m.rebased);
        let (seq, _, _) = c.last();
        assert_eq!(seq, m.seq);
        assert_eq!(m.seq, 11, "the sequence goes on without a jump");
        // And the agent, back from hold, takes it again once the music stops.
        assert_eq!(
            c.map(agent, 960, 9600, ms(440)),
            None,
            "music still playing"
        );
        let m = c.map(agent, 970, 11200, ms(700)).unwrap();
        assert_eq!((m.seq, m.rebased), (12, true));
    }

    #[test]
    fn sequence_and_timestamp_jumps_on_one_source_are_hidden() {
        let t0 = Instant::now();
        let mut c = Continuity::new(t0, 1, 0);
        let s = Source::Leg(1, 5);
        c.map(s, 10, 1000, t0).unwrap();
        let m = c
            .map(s, 30_000, 1160, t0 + Duration::from_millis(20))
            .unwrap();
        assert_eq!((m.seq, m.ts, m.rebased), (2, 160, true));
        let m = c
            .map(s, 30_001, 9_000_000, t0 + Duration::from_millis(40))
            .unwrap();
        assert_eq!((m.seq, m.ts, m.rebased), (3, 320, true));
        // Reordering inside the window maps consistently.
        let m = c
            .map(s, 29_999, 9_000_000 - 320, t0 + Duration::from_millis(41))
            .unwrap();
        assert_eq!((m.seq, m.ts, m.rebased), (1, 0, false));
    }
}
