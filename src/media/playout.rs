//! A timestamp-addressed sample ring: packets are written where their RTP timestamp says
//! (overwriting, so duplicates are harmless and reordering is undone), and the reader takes
//! one frame at a time, getting silence where nothing arrived. The mixer's jitter buffers and
//! the recording assembler are both built on it.

/// What happened to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// All samples stored.
    Stored,
    /// Some or all samples were older than the read point and dropped.
    Late { dropped: usize },
    /// The samples lie beyond the ring's capacity (or far in the past): the caller should
    /// re-anchor the ring. Nothing was stored.
    OutOfRange,
    /// The ring has no anchor yet: the caller must call [`PlayoutRing::anchor`] first.
    Unanchored,
}

/// A ring of `capacity` samples whose read position corresponds to RTP timestamp `next_ts`.
#[derive(Debug, Clone)]
pub struct PlayoutRing {
    buf: Vec<i16>,
    read: usize,
    next_ts: Option<u32>,
    /// One past the highest timestamp written, relative to `next_ts` (how much is buffered).
    ahead: usize,
}

impl PlayoutRing {
    pub fn new(capacity: usize) -> Self {
        PlayoutRing {
            buf: vec![0; capacity.max(1)],
            read: 0,
            next_ts: None,
            ahead: 0,
        }
    }

    /// Clears the ring and makes `ts` the timestamp of the next sample read.
    pub fn anchor(&mut self, ts: u32) {
        self.buf.iter_mut().for_each(|s| *s = 0);
        self.read = 0;
        self.next_ts = Some(ts);
        self.ahead = 0;
    }

    pub fn is_anchored(&self) -> bool {
        self.next_ts.is_some()
    }

    /// Timestamp of the next sample to be read.
    pub fn next_ts(&self) -> Option<u32> {
        self.next_ts
    }

    /// Samples buffered ahead of the read point (up to the furthest one written).
    pub fn buffered(&self) -> usize {
        self.ahead
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Stores `samples` starting at timestamp `ts`.
    pub fn write(&mut self, ts: u32, samples: &[i16]) -> WriteOutcome {
        let Some(next) = self.next_ts else {
            return WriteOutcome::Unanchored;
        };
        let cap = self.buf.len();
        let offset = ts.wrapping_sub(next) as i32 as i64;
        let end = offset + samples.len() as i64;
        if end > cap as i64 || end < -(cap as i64) {
            return WriteOutcome::OutOfRange;
        }
        let skip = if offset < 0 { (-offset) as usize } else { 0 };
        if skip >= samples.len() {
            return WriteOutcome::Late {
                dropped: samples.len(),
            };
        }
        let start = offset.max(0) as usize;
        // `end <= cap` bounds what is stored to one lap of the ring: at most two slices.
        let src = &samples[skip..];
        let idx = (self.read + start) % cap;
        let first = (cap - idx).min(src.len());
        self.buf[idx..idx + first].copy_from_slice(&src[..first]);
        self.buf[..src.len() - first].copy_from_slice(&src[first..]);
        self.ahead = self.ahead.max(end as usize);
        if skip > 0 {
            WriteOutcome::Late { dropped: skip }
        } else {
            WriteOutcome::Stored
        }
    }

    /// Reads (and clears) the next `out.len()` samples; silence where nothing was written.
    /// An unanchored ring reads as silence and does not advance.
    pub fn read_into(&mut self, out: &mut [i16]) {
        let Some(next) = self.next_ts else {
            out.iter_mut().for_each(|s| *s = 0);
            return;
        };
        let cap = self.buf.len();
        let mut done = 0;
        while done < out.len() {
            let take = (cap - self.read).min(out.len() - done);
            let seg = &mut self.buf[self.read..self.read + take];
            out[done..done + take].copy_from_slice(seg);
            seg.fill(0);
            self.read += take;
            if self.read == cap {
                self.read = 0;
            }
            done += take;
        }
        self.next_ts = Some(next.wrapping_add(out.len() as u32));
        self.ahead = self.ahead.saturating_sub(out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_and_duplicate_writes_read_back_in_order() {
        let mut r = PlayoutRing::new(640);
        r.anchor(u32::MAX - 100); // crosses the timestamp wrap
        let a: Vec<i16> = (0..160).collect();
        let b: Vec<i16> = (160..320).collect();
        assert_eq!(
            r.write((u32::MAX - 100).wrapping_add(160), &b),
            WriteOutcome::Stored
        );
        assert_eq!(r.write(u32::MAX - 100, &a), WriteOutcome::Stored);
        assert_eq!(r.write(u32::MAX - 100, &a), WriteOutcome::Stored);
        assert_eq!(r.buffered(), 320);
        let mut out = vec![0; 320];
        r.read_into(&mut out);
        assert_eq!(out, (0..320).collect::<Vec<i16>>());
        r.read_into(&mut out[..160]);
        assert!(out[..160].iter().all(|&s| s == 0));
    }

    #[test]
    fn late_and_far_writes_are_reported() {
        let mut r = PlayoutRing::new(320);
        assert_eq!(r.write(0, &[1; 10]), WriteOutcome::Unanchored);
        r.anchor(1000);
        assert_eq!(r.write(990, &[1; 20]), WriteOutcome::Late { dropped: 10 });
        assert_eq!(r.write(900, &[1; 20]), WriteOutcome::Late { dropped: 20 });
        assert_eq!(r.write(1000 + 310, &[1; 20]), WriteOutcome::OutOfRange);
        assert_eq!(r.write(5, &[1; 20]), WriteOutcome::OutOfRange);
    }

    #[test]
    fn writes_and_reads_that_straddle_the_end_of_the_ring_wrap_around() {
        let mut r = PlayoutRing::new(300);
        r.anchor(0);
        let mut out = [0i16; 160];
        r.read_into(&mut out); // read point now at 160 of 300
        let a: Vec<i16> = (1..=200).collect();
        assert_eq!(r.write(160, &a), WriteOutcome::Stored);
        r.read_into(&mut out);
        assert_eq!(&out[..], &a[..160]);
        let mut rest = [0i16; 60];
        r.read_into(&mut rest);
        assert_eq!(&rest[..40], &a[160..]);
        assert_eq!(&rest[40..], &[0; 20][..], "read samples are cleared");
        r.read_into(&mut out);
        assert!(
            out.iter().all(|&s| s == 0),
            "a full lap later, only silence"
        );
    }
}
