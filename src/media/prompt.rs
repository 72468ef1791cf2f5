//! Voice prompts: loading WAV bytes (8 kHz mono 16-bit PCM only), and a [`Player`] that turns
//! a chain of prompts ("您前面还有" + "3" + "位") into 20 ms frames paced by `now`, optionally
//! looping (music on hold) and stoppable. The shell reads the files; this module only sees
//! bytes and the name the caller gives them.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Samples per frame (20 ms at 8 kHz).
pub const FRAME: usize = 160;
const FRAME_TIME: Duration = Duration::from_millis(20);

/// Why a prompt was refused.
#[derive(Debug, Error)]
pub enum PromptError {
    #[error("prompt {name}: not a readable WAV file: {source}")]
    Wav {
        name: String,
        #[source]
        source: hound::Error,
    },
    #[error(
        "prompt {name}: must be 8000 Hz mono 16-bit integer PCM, \
         got {rate} Hz, {channels} channel(s), {bits}-bit {format}"
    )]
    Format {
        name: String,
        rate: u32,
        channels: u16,
        bits: u16,
        format: &'static str,
    },
    #[error("prompt {name}: contains no audio")]
    Empty { name: String },
}

/// A loaded prompt; cheap to clone (shared samples).
#[derive(Debug, Clone)]
pub struct Prompt {
    name: Arc<str>,
    samples: Arc<[i16]>,
}

impl Prompt {
    /// Loads a prompt from WAV bytes; `name` (e.g. the file path) appears in errors.
    pub fn from_wav_bytes(name: &str, bytes: &[u8]) -> Result<Prompt, PromptError> {
        let wav_err = |source| PromptError::Wav {
            name: name.to_string(),
            source,
        };
        let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(wav_err)?;
        let spec = reader.spec();
        if spec.sample_rate != 8000
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(PromptError::Format {
                name: name.to_string(),
                rate: spec.sample_rate,
                channels: spec.channels,
                bits: spec.bits_per_sample,
                format: match spec.sample_format {
                    hound::SampleFormat::Int => "integer",
                    hound::SampleFormat::Float => "float",
                },
            });
        }
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(wav_err)?;
        Prompt::from_samples(name, samples)
    }

    /// A prompt from raw 8 kHz samples (tones, tests).
    pub fn from_samples(name: &str, samples: Vec<i16>) -> Result<Prompt, PromptError> {
        if samples.is_empty() {
            return Err(PromptError::Empty {
                name: name.to_string(),
            });
        }
        Ok(Prompt {
            name: name.into(),
            samples: samples.into(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 125)
    }
}

/// The names of the demo prompts that say "there are `n` callers ahead of you" (n ≤ 99),
/// e.g. 3 → queue_ahead, digit_3, queue_unit, queue_waiting.
pub fn queue_position_names(n: u32) -> Vec<String> {
    let mut v = vec!["queue_ahead".to_string()];
    let n = n.min(99);
    let d = |k: u32, compound: bool| {
        if compound && k == 2 {
            "digit_2_compound".to_string()
        } else {
            format!("digit_{k}")
        }
    };
    match n {
        0..=10 => v.push(d(n, false)),
        11..=19 => {
            v.push(d(10, false));
            v.push(d(n - 10, true));
        }
        _ => {
            v.push(d(n / 10, true));
            v.push(d(10, false));
            if n % 10 != 0 {
                v.push(d(n % 10, true));
            }
        }
    }
    v.push("queue_unit".into());
    v.push("queue_waiting".into());
    v
}

/// Plays a chain of prompts as 20 ms frames, one due every 20 ms from `start`.
#[derive(Debug, Clone)]
pub struct Player {
    chain: Vec<Prompt>,
    looping: bool,
    item: usize,
    pos: usize,
    next_due: Option<Instant>,
    finished: bool,
    frame: [i16; FRAME],
}

impl Player {
    /// A player for `chain`; `looping` restarts the chain at its end (music on hold).
    pub fn new(chain: Vec<Prompt>, looping: bool) -> Self {
        Player {
            finished: chain.is_empty(),
            chain,
            looping,
            item: 0,
            pos: 0,
            next_due: None,
            frame: [0; FRAME],
        }
    }

    /// Starts playing: the first frame is due at `now`.
    pub fn start(&mut self, now: Instant) {
        if !self.finished {
            self.next_due = Some(now);
        }
    }

    /// Stops at once; no more frames.
    pub fn stop(&mut self) {
        self.finished = true;
        self.next_due = None;
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// When the next frame is due (for the caller's timer).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_due
    }

    /// The next frame if one is due at `now`. Call until `None` to catch up after a late
    /// wake-up; the last frame of a non-looping chain is padded with silence.
    pub fn poll_frame(&mut self, now: Instant) -> Option<&[i16; FRAME]> {
        let due = self.next_due?;
        if now < due || self.finished {
            return None;
        }
        let mut filled = 0;
        while filled < FRAME {
            let Some(p) = self.chain.get(self.item) else {
                if self.looping {
                    self.item = 0;
                    self.pos = 0;
                    continue;
                }
                self.frame[filled..].iter_mut().for_each(|s| *s = 0);
                break;
            };
            let take = (FRAME - filled).min(p.samples.len() - self.pos);
            self.frame[filled..filled + take]
                .copy_from_slice(&p.samples[self.pos..self.pos + take]);
            filled += take;
            self.pos += take;
            if self.pos == p.samples.len() {
                self.item += 1;
                self.pos = 0;
            }
        }
        if !self.looping && self.item >= self.chain.len() {
            self.finished = true;
            self.next_due = None;
        } else {
            self.next_due = Some(due + FRAME_TIME);
        }
        Some(&self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16, n: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for i in 0..n * channels as usize {
            if bits == 16 {
                w.write_sample(i as i16).unwrap();
            } else {
                w.write_sample((i % 100) as i8).unwrap();
            }
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    #[test]
    fn only_8khz_mono_16bit_is_accepted_and_errors_name_the_file() {
        let p = Prompt::from_wav_bytes("zh/greeting.wav", &wav(8000, 1, 16, 400)).unwrap();
        assert_eq!(p.samples().len(), 400);
        assert_eq!(p.duration(), Duration::from_millis(50));
        let e = Prompt::from_wav_bytes("zh/bad.wav", &wav(16000, 1, 16, 10)).unwrap_err();
        assert!(
            e.to_string().contains("zh/bad.wav") && e.to_string().contains("16000 Hz"),
            "{e}"
        );
        let e = Prompt::from_wav_bytes("stereo.wav", &wav(8000, 2, 16, 10)).unwrap_err();
        assert!(matches!(e, PromptError::Format { channels: 2, .. }));
        let e = Prompt::from_wav_bytes("u8.wav", &wav(8000, 1, 8, 10)).unwrap_err();
        assert!(matches!(e, PromptError::Format { bits: 8, .. }));
        let e = Prompt::from_wav_bytes("junk.wav", b"not a wav").unwrap_err();
        assert!(e.to_string().starts_with("prompt junk.wav:"));
    }

    #[test]
    fn a_chain_plays_in_order_paced_by_now_and_pads_the_last_frame() {
        let a = Prompt::from_samples("a", vec![1; 100]).unwrap();
        let b = Prompt::from_samples("b", vec![2; 250]).unwrap();
        let mut p = Player::new(vec![a, b], false);
        let t0 = Instant::now();
        assert!(p.poll_frame(t0).is_none(), "not started");
        p.start(t0);
        let f = *p.poll_frame(t0).unwrap();
        assert_eq!((&f[..100], &f[100..]), (&[1; 100][..], &[2; 60][..]));
        assert!(p.poll_frame(t0 + Duration::from_millis(19)).is_none());
        let f = *p.poll_frame(t0 + Duration::from_millis(20)).unwrap();
        assert_eq!(&f[..], &[2; 160][..]);
        let f = *p.poll_frame(t0 + Duration::from_millis(45)).unwrap();
        assert_eq!((&f[..30], &f[30..]), (&[2; 30][..], &[0; 130][..]));
        assert!(p.is_finished() && p.poll_frame(t0 + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn looping_music_on_hold_wraps_and_stops_on_request() {
        let moh = Prompt::from_samples("moh", (0..200).collect()).unwrap();
        let mut p = Player::new(vec![moh], true);
        let t0 = Instant::now();
        p.start(t0);
        let mut got = Vec::new();
        // A late wake-up at 100 ms catches up on the six frames due.
        while let Some(f) = p.poll_frame(t0 + Duration::from_millis(100)) {
            got.extend_from_slice(f);
        }
        assert_eq!(got.len(), 6 * FRAME);
        assert!(got.iter().enumerate().all(|(i, &s)| s == (i % 200) as i16));
        p.stop();
        assert!(p.poll_frame(t0 + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn queue_positions_compose_from_digit_prompts() {
        assert_eq!(queue_position_names(3)[1..2], ["digit_3".to_string()]);
        assert_eq!(
            queue_position_names(12)[1..3],
            ["digit_10".to_string(), "digit_2_compound".into()]
        );
        assert_eq!(
            queue_position_names(20)[1..3],
            ["digit_2_compound".to_string(), "digit_10".into()]
        );
        assert_eq!(queue_position_names(37).len(), 6);
    }
}
