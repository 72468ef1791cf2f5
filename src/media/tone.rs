//! Tone generation and detection: a phase-continuous sine generator and a Goertzel detector
//! that says whether one frequency dominates a block of samples. Used by tests (does the far
//! end hear the tone?) and by real-socket checks.

use std::f64::consts::PI;

/// A phase-continuous sine generator at 8 kHz (or any rate).
#[derive(Debug, Clone)]
pub struct SineGenerator {
    phase: f64,
    step: f64,
    amplitude: f64,
}

impl SineGenerator {
    /// `amplitude` is the peak in linear PCM units (e.g. 8000 ≈ −12 dBFS).
    pub fn new(freq_hz: f64, sample_rate: u32, amplitude: i16) -> Self {
        SineGenerator {
            phase: 0.0,
            step: 2.0 * PI * freq_hz / sample_rate as f64,
            amplitude: amplitude as f64,
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            *s = (self.phase.sin() * self.amplitude).round() as i16;
            self.phase += self.step;
            if self.phase > 2.0 * PI {
                self.phase -= 2.0 * PI;
            }
        }
    }

    /// The next `n` samples as a new vector.
    pub fn take(&mut self, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Power of `freq_hz` in `samples` by the Goertzel algorithm (unnormalised).
pub fn goertzel_power(samples: &[i16], freq_hz: f64, sample_rate: u32) -> f64 {
    let n = samples.len() as f64;
    if samples.is_empty() {
        return 0.0;
    }
    let k = (n * freq_hz / sample_rate as f64).round();
    let w = 2.0 * PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Detects one frequency in a block: present when its Goertzel power is at least
/// `min_snr_db` above the rest of the block's energy and the block is not near-silent.
#[derive(Debug, Clone, Copy)]
pub struct ToneDetector {
    pub freq_hz: f64,
    pub sample_rate: u32,
    pub min_snr_db: f64,
    /// Minimum RMS level (linear units) for a block to count at all.
    pub min_rms: f64,
}

impl ToneDetector {
    pub fn new(freq_hz: f64) -> Self {
        ToneDetector {
            freq_hz,
            sample_rate: 8000,
            min_snr_db: 10.0,
            min_rms: 100.0,
        }
    }

    /// Whether the tone is present in `samples`.
    pub fn present(&self, samples: &[i16]) -> bool {
        if samples.is_empty() {
            return false;
        }
        let n = samples.len() as f64;
        let energy: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
        if (energy / n).sqrt() < self.min_rms {
            return false;
        }
        // A pure sine of amplitude A over N samples gives power ≈ (A·N/2)², while its energy
        // is A²·N/2; so tone energy ≈ 2·power/N.
        let tone_energy = 2.0 * goertzel_power(samples, self.freq_hz, self.sample_rate) / n;
        let rest = (energy - tone_energy).max(energy * 1e-6);
        10.0 * (tone_energy / rest).log10() >= self.min_snr_db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_finds_the_generated_tone_and_not_another() {
        let block = SineGenerator::new(1000.0, 8000, 8000).take(400);
        assert!(ToneDetector::new(1000.0).present(&block));
        assert!(!ToneDetector::new(1400.0).present(&block));
    }

    #[test]
    fn detector_ignores_silence_and_a_sum_splits_the_energy() {
        assert!(!ToneDetector::new(1000.0).present(&[0; 400]));
        let a = SineGenerator::new(600.0, 8000, 6000).take(400);
        let b = SineGenerator::new(1400.0, 8000, 6000).take(400);
        let sum: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let mut d = ToneDetector::new(600.0);
        d.min_snr_db = -1.0;
        assert!(d.present(&sum));
        d.freq_hz = 1000.0;
        assert!(!d.present(&sum));
    }
}
