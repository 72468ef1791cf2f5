//! N-party audio mixing (three-way calls, supervisors): each party hears a sum of the others
//! chosen by its [`Role`], summed in i32 and saturated to i16. Driven by 20 ms ticks; each
//! input has a small jitter buffer addressed by RTP timestamp, and a party whose audio is late
//! or lost contributes silence for that tick — it never holds the others back.
//!
//! Roles: a `Full` party hears every other `Full` party and any `Whisper` aimed at it; a
//! `Listen` party hears all `Full` parties and is heard by nobody (its input is not read); a
//! `Whisper(t)` party hears all `Full` parties and is heard only by `t`. A party can be an
//! input only (`output` false: the relay forwards to it directly), so a supervisor listening
//! to a plain two-party call costs two decodes and one mix, not a conference.

use super::playout::{PlayoutRing, WriteOutcome};

/// Samples per tick (20 ms at 8 kHz).
pub const FRAME: usize = 160;

/// What a party hears and who hears it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<K> {
    Full,
    Listen,
    Whisper(K),
}

#[derive(Debug)]
struct Party<K> {
    key: K,
    role: Role<K>,
    /// Whether `tick` emits a frame for this party.
    output: bool,
    ring: PlayoutRing,
    frame: [i16; FRAME],
    late: u64,
}

/// The mixer; `K` names a party (the relay uses its leg id).
#[derive(Debug)]
pub struct Mixer<K> {
    parties: Vec<Party<K>>,
    prefill_frames: usize,
    max_frames: usize,
    sum: [i32; FRAME],
    out: [i16; FRAME],
}

impl<K: Copy + PartialEq> Mixer<K> {
    /// `prefill_frames` of delay absorb jitter; at most `max_frames` are buffered per party.
    pub fn new(prefill_frames: usize, max_frames: usize) -> Self {
        Mixer {
            parties: Vec::new(),
            prefill_frames,
            max_frames: max_frames.max(prefill_frames + 1),
            sum: [0; FRAME],
            out: [0; FRAME],
        }
    }

    /// Adds a `Full` party with output (a conference member), or keeps an existing one.
    pub fn add_party(&mut self, key: K) {
        if !self.parties.iter().any(|p| p.key == key) {
            self.set_party(key, Role::Full, true);
        }
    }

    /// Adds a party or changes its role and output; its buffered audio is kept.
    pub fn set_party(&mut self, key: K, role: Role<K>, output: bool) {
        if let Some(p) = self.parties.iter_mut().find(|p| p.key == key) {
            p.role = role;
            p.output = output;
            return;
        }
        self.parties.push(Party {
            key,
            role,
            output,
            ring: PlayoutRing::new(self.max_frames * FRAME),
            frame: [0; FRAME],
            late: 0,
        });
    }

    pub fn remove_party(&mut self, key: K) {
        self.parties.retain(|p| p.key != key);
    }

    pub fn parties(&self) -> impl Iterator<Item = K> + '_ {
        self.parties.iter().map(|p| p.key)
    }

    /// Packets that arrived too late to be played, for one party.
    pub fn late_packets(&self, key: K) -> u64 {
        self.parties
            .iter()
            .find(|p| p.key == key)
            .map_or(0, |p| p.late)
    }

    /// Adds a party's decoded audio that starts at RTP timestamp `ts`.
    pub fn push(&mut self, key: K, ts: u32, samples: &[i16]) {
        let prefill = (self.prefill_frames * FRAME) as u32;
        let Some(p) = self
            .parties
            .iter_mut()
            .find(|p| p.key == key && p.role != Role::Listen)
        else {
            return;
        };
        match p.ring.write(ts, samples) {
            WriteOutcome::Stored => {}
            WriteOutcome::Late { .. } => p.late += 1,
            WriteOutcome::Unanchored | WriteOutcome::OutOfRange => {
                p.ring.anchor(ts.wrapping_sub(prefill));
                let _ = p.ring.write(ts, samples);
            }
        }
    }

    /// One 20 ms tick: calls `emit(party, frame)` with what each party with output should
    /// hear.
    pub fn tick(&mut self, mut emit: impl FnMut(K, &[i16])) {
        let Mixer {
            parties, sum, out, ..
        } = self;
        *sum = [0; FRAME];
        for p in parties.iter_mut() {
            if p.role == Role::Listen {
                continue;
            }
            p.ring.read_into(&mut p.frame);
            if p.role == Role::Full {
                for (s, &x) in sum.iter_mut().zip(p.frame.iter()) {
                    *s += x as i32;
                }
            }
        }
        for p in parties.iter().filter(|p| p.output) {
            let mut acc = *sum;
            if p.role == Role::Full {
                for (a, &own) in acc.iter_mut().zip(p.frame.iter()) {
                    *a -= own as i32;
                }
            }
            for w in parties.iter().filter(|w| w.role == Role::Whisper(p.key)) {
                for (a, &x) in acc.iter_mut().zip(w.frame.iter()) {
                    *a += x as i32;
                }
            }
            for (o, &a) in out.iter_mut().zip(acc.iter()) {
                *o = a.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            }
            emit(p.key, &out[..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{SineGenerator, ToneDetector};

    #[test]
    fn each_party_hears_the_others_but_not_itself() {
        let mut m = Mixer::new(1, 4);
        for k in 0..3u8 {
            m.add_party(k);
        }
        let mut gens = [
            SineGenerator::new(500.0, 8000, 5000),
            SineGenerator::new(1000.0, 8000, 5000),
            SineGenerator::new(1500.0, 8000, 5000),
        ];
        let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 3];
        for tick in 0..20u32 {
            for (k, g) in gens.iter_mut().enumerate() {
                m.push(k as u8, 1000 * k as u32 + tick * 160, &g.take(FRAME));
            }
            m.tick(|k, f| heard[k as usize].extend_from_slice(f));
        }
        let tail = |k: usize| &heard[k][800..];
        let det = |f: f64| {
            let mut d = ToneDetector::new(f);
            d.min_snr_db = -6.0;
            d
        };
        assert!(
            !det(500.0).present(tail(0))
                && det(1000.0).present(tail(0))
                && det(1500.0).present(tail(0))
        );
        assert!(det(500.0).present(tail(1)) && !det(1000.0).present(tail(1)));
    }

    #[test]
    fn a_silent_party_never_stalls_the_other_two() {
        let mut m = Mixer::new(2, 5);
        for k in 0..3u8 {
            m.add_party(k);
        }
        let mut a = SineGenerator::new(700.0, 8000, 6000);
        let mut b = SineGenerator::new(1300.0, 8000, 6000);
        let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 3];
        for tick in 0..50u32 {
            // Party 1 loses every third packet; party 2 sends nothing at all.
            m.push(0, 5000 + tick * 160, &a.take(FRAME));
            let fb = b.take(FRAME);
            if tick % 3 != 0 {
                m.push(1, 90_000 + tick * 160, &fb);
            }
            m.tick(|k, f| heard[k as usize].extend_from_slice(f));
        }
        assert_eq!(
            heard.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![8000; 3]
        );
        // Gaps from the lost packets spread the tone's energy, so accept a lower SNR.
        let d = |f| {
            let mut d = ToneDetector::new(f);
            d.min_snr_db = -6.0;
            d
        };
        assert!(d(1300.0).present(&heard[0][800..]) && !d(700.0).present(&heard[0][800..]));
        assert!(ToneDetector::new(700.0).present(&heard[1][800..]));
        assert!(d(700.0).present(&heard[2][800..]) && d(1300.0).present(&heard[2][800..]));
    }

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let mut m = Mixer::new(0, 2);
        for k in 0..3u8 {
            m.add_party(k);
        }
        m.push(1, 0, &[30000; FRAME]);
        m.push(2, 0, &[30000; FRAME]);
        let mut got = Vec::new();
        m.tick(|k, f| got.push((k, f[0])));
        assert_eq!(got, vec![(0, i16::MAX), (1, 30000), (2, 30000)]);
    }

    /// Caller 0 at 500 Hz, agent 1 at 1 kHz, supervisor 2 at 1.5 kHz, for `ticks` ticks.
    fn run(m: &mut Mixer<u8>, ticks: u32) -> Vec<Vec<i16>> {
        let mut gens = [500.0, 1000.0, 1500.0].map(|f| SineGenerator::new(f, 8000, 5000));
        let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 3];
        for tick in 0..ticks {
            for (k, g) in gens.iter_mut().enumerate() {
                m.push(k as u8, 7000 * k as u32 + tick * 160, &g.take(FRAME));
            }
            m.tick(|k, f| heard[k as usize].extend_from_slice(f));
        }
        heard
    }

    fn hears(pcm: &[i16], f: f64) -> bool {
        let mut d = ToneDetector::new(f);
        d.min_snr_db = -6.0;
        pcm.len() > 800 && d.present(&pcm[800..])
    }

    #[test]
    fn a_listener_hears_both_parties_and_nobody_hears_the_listener() {
        let mut m = Mixer::new(1, 4);
        m.set_party(0, Role::Full, true);
        m.set_party(1, Role::Full, true);
        m.set_party(2, Role::Listen, true);
        let h = run(&mut m, 20);
        assert!(hears(&h[2], 500.0) && hears(&h[2], 1000.0) && !hears(&h[2], 1500.0));
        assert!(hears(&h[0], 1000.0) && !hears(&h[0], 1500.0) && !hears(&h[0], 500.0));
        assert!(hears(&h[1], 500.0) && !hears(&h[1], 1500.0));
    }

    #[test]
    fn a_whisper_reaches_only_its_target() {
        let mut m = Mixer::new(1, 4);
        m.set_party(0, Role::Full, true);
        m.set_party(1, Role::Full, true);
        m.set_party(2, Role::Whisper(1), true);
        let h = run(&mut m, 20);
        assert!(
            hears(&h[1], 500.0) && hears(&h[1], 1500.0),
            "the agent hears the coach"
        );
        assert!(
            hears(&h[0], 1000.0) && !hears(&h[0], 1500.0),
            "the caller never does"
        );
        assert!(hears(&h[2], 500.0) && hears(&h[2], 1000.0) && !hears(&h[2], 1500.0));
    }

    #[test]
    fn parties_without_output_feed_the_mix_and_get_nothing() {
        // The relay forwards caller and agent to each other; only the listener is mixed.
        let mut m = Mixer::new(1, 4);
        m.set_party(0, Role::Full, false);
        m.set_party(1, Role::Full, false);
        m.set_party(2, Role::Listen, true);
        let h = run(&mut m, 20);
        assert!(h[0].is_empty() && h[1].is_empty());
        assert!(hears(&h[2], 500.0) && hears(&h[2], 1000.0));
    }
}
