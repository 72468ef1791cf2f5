//! The recording writer: stereo 8 kHz 16-bit WAV files at
//! `<dir>/YYYY/MM/DD/<call-uuid>.wav` (date in Asia/Shanghai, UTC+8), built and written by a
//! dedicated thread that drains a bounded queue — the media path only ever `try_send`s and
//! never waits on the disk. What arrives is each call's [`RecordLog`] (the packets as
//! received, every 200 ms); this thread replays it into the call's [`RecordAssembler`] and
//! appends the frames. Headers are rewritten every `flush_every` so a killed process leaves
//! a file playable up to the last flush; [`repair_unfinished`] fixes the sizes of such files
//! at start-up.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use uuid::Uuid;

use crate::media::record::RecordAssembler;
use crate::media::record_log::RecordLog;

const SAMPLE_RATE: u32 = 8000;
const CHANNELS: u16 = 2;
const BLOCK_ALIGN: u16 = CHANNELS * 2;
const HEADER_LEN: u64 = 44;
/// The writer's longest stretch of work before it lets a waiting engine thread run.
const YIELD_AFTER: Duration = Duration::from_micros(250);

/// Where a call's recording lives: the date is the call's start in Asia/Shanghai (UTC+8, no
/// daylight saving); `call` is rexian's own call id, never a SIP Call-ID.
pub fn recording_path(dir: &Path, started: DateTime<Utc>, call: Uuid) -> PathBuf {
    // 8 hours is well inside FixedOffset's ±24 h range.
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let d = started.with_timezone(&cst);
    dir.join(format!("{:04}", d.year()))
        .join(format!("{:02}", d.month()))
        .join(format!("{:02}", d.day()))
        .join(format!("{call}.wav"))
}

fn header(data_bytes: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&CHANNELS.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * BLOCK_ALIGN as u32).to_le_bytes());
    h[32..34].copy_from_slice(&BLOCK_ALIGN.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// One recording file being written.
#[derive(Debug)]
pub struct WavFile {
    out: BufWriter<File>,
    data_bytes: u64,
    path: PathBuf,
}

impl WavFile {
    /// Creates the file (and its date directories) with an empty-data header.
    pub fn create(path: &Path) -> io::Result<WavFile> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        // The media side hands over 200 ms (6.4 KB) at a time; thousands of files are open.
        let mut out = BufWriter::with_capacity(16 * 1024, File::create(path)?);
        out.write_all(&header(0))?;
        Ok(WavFile {
            out,
            data_bytes: 0,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends interleaved stereo samples.
    pub fn append(&mut self, samples: &[i16]) -> io::Result<()> {
        let mut bytes = [0u8; 1024];
        for chunk in samples.chunks(bytes.len() / 2) {
            for (b, s) in bytes.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.out.write_all(&bytes[..2 * chunk.len()])?;
        }
        self.data_bytes += 2 * samples.len() as u64;
        Ok(())
    }

    /// Pushes buffered samples to the OS and rewrites the header sizes to match.
    pub fn flush_header(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let data = self.data_bytes.min(u32::MAX as u64 - 36) as u32;
        let f = self.out.get_mut();
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header(data))?;
        f.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Final header and a sync to disk.
    pub fn finalize(mut self) -> io::Result<PathBuf> {
        self.flush_header()?;
        self.out.get_ref().sync_data()?;
        Ok(self.path)
    }
}

/// Fixes the header of one WAV file whose sizes don't match its length (a writer that died).
/// Returns whether it changed anything; files that aren't RIFF/WAVE with a data chunk are left.
pub fn repair_file(path: &Path) -> io::Result<bool> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 12];
    if len < HEADER_LEN
        || f.read_exact(&mut head).is_err()
        || &head[0..4] != b"RIFF"
        || &head[8..12] != b"WAVE"
    {
        return Ok(false);
    }
    let mut pos = 12u64;
    let mut align = BLOCK_ALIGN as u64;
    let (data_at, stored) = loop {
        let mut ch = [0u8; 8];
        f.seek(SeekFrom::Start(pos))?;
        if pos + 8 > len || f.read_exact(&mut ch).is_err() {
            return Ok(false);
        }
        let size = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]) as u64;
        if &ch[0..4] == b"data" {
            break (pos + 8, size);
        }
        if &ch[0..4] == b"fmt " && size >= 16 {
            let mut fmt = [0u8; 16];
            f.read_exact(&mut fmt)?;
            align = u16::from_le_bytes([fmt[12], fmt[13]]).max(1) as u64;
        }
        pos += 8 + size + (size & 1);
    };
    let data = ((len - data_at) / align * align).min(u32::MAX as u64 - data_at);
    let riff = data_at + data - 8;
    f.seek(SeekFrom::Start(4))?;
    let mut riff_now = [0u8; 4];
    f.read_exact(&mut riff_now)?;
    if stored == data && u32::from_le_bytes(riff_now) as u64 == riff && data_at + data == len {
        return Ok(false);
    }
    f.set_len(data_at + data)?;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&(riff as u32).to_le_bytes())?;
    f.seek(SeekFrom::Start(data_at - 4))?;
    f.write_all(&(data as u32).to_le_bytes())?;
    f.sync_data()?;
    Ok(true)
}

/// Walks `dir` and repairs every unfinished `.wav` (run at start-up). Returns the files fixed.
pub fn repair_unfinished(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut fixed = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                match repair_file(&path) {
                    Ok(true) => fixed.push(path),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "recording repair failed")
                    }
                }
            }
        }
    }
    Ok(fixed)
}

/// What the media side sends to the writer thread.
#[derive(Debug)]
pub enum Command {
    /// A recording starts at `at` (the media clock): frames trail it by `delay`. Who is on
    /// which side comes in the log.
    Start {
        call: Uuid,
        started: DateTime<Utc>,
        at: Instant,
        delay: Duration,
    },
    /// What the call's recording received up to `until`.
    Log {
        call: Uuid,
        log: RecordLog,
        until: Instant,
    },
    /// The recording ends at `at` with the last of its log.
    Finish {
        call: Uuid,
        log: RecordLog,
        at: Instant,
        done: Option<FinishHook>,
    },
}

/// What a finished recording reports: the file (or why there is none) and the audio's length.
pub type FinishHookFn = dyn FnOnce(io::Result<PathBuf>, Duration) + Send;

/// Called on the writer thread once a recording is finalised (or failed to be).
pub struct FinishHook(pub Box<FinishHookFn>);

impl std::fmt::Debug for FinishHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FinishHook")
    }
}

/// The media side's handle on the writer thread. Every method returns at once.
pub struct RecorderHandle {
    tx: Option<SyncSender<Command>>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl RecorderHandle {
    /// Starts the writer thread for `dir`, rewriting headers every `flush_every`, with a
    /// queue of `queue` commands (a full queue drops frames rather than wait).
    pub fn spawn(dir: PathBuf, flush_every: Duration, queue: usize) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Command>(queue.max(1));
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                // Writing is never urgent (frames wait in the queue); the engine thread it
                // may share a core with is: let the scheduler prefer the engine.
                crate::shell::media::sys::lower_this_thread_priority(5);
                writer_loop(&dir, flush_every, rx)
            })?;
        Ok(RecorderHandle {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
            thread: Some(thread),
        })
    }

    fn send(&self, c: Command) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(c) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A recording starts at `at`; frames trail that clock by `delay`.
    pub fn start(&self, call: Uuid, started: DateTime<Utc>, at: Instant, delay: Duration) -> bool {
        self.send(Command::Start {
            call,
            started,
            at,
            delay,
        })
    }

    /// What the recording received up to `until`.
    pub fn log(&self, call: Uuid, log: RecordLog, until: Instant) -> bool {
        self.send(Command::Log { call, log, until })
    }

    /// Ends the recording at `at` with the last of its log, then runs `done` on the writer
    /// thread with the finalised file's path and the audio's length. A finish that cannot be queued runs
    /// `done` at once with an error.
    pub fn finish_then(
        &self,
        call: Uuid,
        log: RecordLog,
        at: Instant,
        done: impl FnOnce(io::Result<PathBuf>, Duration) + Send + 'static,
    ) -> bool {
        let Some(tx) = &self.tx else {
            done(Err(io::Error::other("recorder stopped")), Duration::ZERO);
            return false;
        };
        let c = Command::Finish {
            call,
            log,
            at,
            done: Some(FinishHook(Box::new(done))),
        };
        match tx.try_send(c) {
            Ok(()) => true,
            Err(TrySendError::Full(c)) | Err(TrySendError::Disconnected(c)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if let Command::Finish { done: Some(h), .. } = c {
                    (h.0)(
                        Err(io::Error::other("recording queue full")),
                        Duration::ZERO,
                    );
                }
                false
            }
        }
    }

    /// Commands dropped because the queue was full (the disk is behind).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Closes the queue, lets the thread finalize every open file, and waits for it.
    pub fn shutdown(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One recording being built and written.
struct Open {
    file: WavFile,
    asm: RecordAssembler,
}

/// The writer thread's state: open recordings and reusable sample buffers.
struct Writer {
    dir: PathBuf,
    open: HashMap<Uuid, Open>,
    frames: Vec<i16>,
    pcm: Vec<i16>,
}

impl Writer {
    fn start(&mut self, call: Uuid, started: DateTime<Utc>, at: Instant, delay: Duration) {
        match WavFile::create(&recording_path(&self.dir, started, call)) {
            Ok(file) => {
                let asm = RecordAssembler::new(at, delay);
                self.open.insert(call, Open { file, asm });
            }
            Err(e) => tracing::warn!(%call, error = %e, "cannot create recording"),
        }
    }

    /// Replays `log` into the call's assembler and appends the frames due by `until`; at the
    /// end of the call (`last`), everything still buffered too.
    fn replay(&mut self, call: Uuid, log: &RecordLog, until: Instant, last: bool) {
        let Some(o) = self.open.get_mut(&call) else {
            return;
        };
        self.frames.clear();
        log.replay(&mut o.asm, &mut self.frames, &mut self.pcm);
        while let Some(f) = o.asm.poll_frame(until) {
            self.frames.extend_from_slice(f);
        }
        if last {
            while let Some(f) = o.asm.drain_frame() {
                self.frames.extend_from_slice(f);
            }
        }
        if let Err(e) = o.file.append(&self.frames) {
            tracing::warn!(%call, error = %e, "recording write failed");
        }
    }

    fn finish(&mut self, call: Uuid, log: &RecordLog, at: Instant, done: Option<FinishHook>) {
        self.replay(call, log, at, true);
        let (result, duration) = match self.open.remove(&call) {
            Some(o) => (
                o.file.finalize(),
                Duration::from_micros(o.asm.emitted() * 125),
            ),
            None => (
                Err(io::Error::other("recording was never started")),
                Duration::ZERO,
            ),
        };
        if let Err(e) = &result {
            tracing::warn!(%call, error = %e, "recording finalize failed");
        }
        if let Some(h) = done {
            (h.0)(result, duration);
        }
    }
}

/// When the writer last let others run.
struct Turn(Instant);

impl Turn {
    fn maybe_yield(&mut self) {
        if self.0.elapsed() >= YIELD_AFTER {
            std::thread::yield_now();
            self.0 = Instant::now();
        }
    }
}

fn writer_loop(dir: &Path, flush_every: Duration, rx: mpsc::Receiver<Command>) {
    let mut w = Writer {
        dir: dir.to_path_buf(),
        open: HashMap::new(),
        frames: Vec::new(),
        pcm: Vec::new(),
    };
    let mut last_flush = Instant::now();
    let mut turn = Turn(Instant::now());
    loop {
        let got = match rx.try_recv() {
            Ok(c) => Ok(c),
            Err(TryRecvError::Empty) => {
                let got = rx.recv_timeout(flush_every);
                // The writer slept: its stretch of work starts afresh.
                turn.0 = Instant::now();
                got
            }
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(Command::Start {
                call,
                started,
                at,
                delay,
            }) => w.start(call, started, at, delay),
            Ok(Command::Log { call, log, until }) => w.replay(call, &log, until, false),
            Ok(Command::Finish {
                call,
                log,
                at,
                done,
            }) => w.finish(call, &log, at, done),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // The engine thread this one may share a core with must not wait behind a run of
        // commands: the scheduler lets a running thread finish its slice (1–3 ms) before a
        // woken one, whatever their nice values. One command is tens of µs; yielding after
        // every one would cost a pair of context switches each time the engine is busy.
        turn.maybe_yield();
        if last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            for (call, o) in w.open.iter_mut() {
                if let Err(e) = o.file.flush_header() {
                    tracing::warn!(%call, error = %e, "recording header update failed");
                }
                turn.maybe_yield();
            }
        }
    }
    for (_, o) in w.open.drain() {
        let _ = o.file.finalize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::record::Side;
    use crate::media::relay::LegId;
    use chrono::TimeZone;

    fn frames(n: usize, base: i16) -> Vec<i16> {
        (0..n * 2).map(|i| base.wrapping_add(i as i16)).collect()
    }

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        (spec, r.into_samples::<i16>().map(Result::unwrap).collect())
    }

    #[test]
    fn path_uses_the_shanghai_date_and_our_uuid() {
        let call = Uuid::new_v4();
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 16, 30, 0).unwrap();
        let p = recording_path(Path::new("/rec"), t, call);
        assert_eq!(p, PathBuf::from(format!("/rec/2027/01/01/{call}.wav")));
    }

    #[test]
    fn finished_file_reads_back_as_stereo_8khz() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.wav");
        let mut w = WavFile::create(&path).unwrap();
        w.append(&frames(160, 0)).unwrap();
        w.append(&frames(160, 1000)).unwrap();
        w.finalize().unwrap();
        let (spec, s) = read(&path);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        assert_eq!(s.len(), 640);
        assert_eq!(s[320], 1000);
        assert!(
            !repair_file(&path).unwrap(),
            "a finished file needs no repair"
        );
    }

    #[test]
    fn a_killed_writer_leaves_a_playable_file_and_repair_recovers_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording_path(dir.path(), Utc::now(), Uuid::new_v4());
        let mut w = WavFile::create(&path).unwrap();
        w.append(&frames(8000, 0)).unwrap();
        w.flush_header().unwrap(); // the periodic flush
        w.append(&frames(800, 7)).unwrap();
        // kill -9: the process vanishes; nothing after the flush is finalised.
        std::mem::forget(w);
        let (_, s) = read(&path);
        assert_eq!(s.len(), 16000, "playable up to the last flush");
        // Data the OS did get after the last header update (plus a torn half-frame).
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let tail: Vec<u8> = frames(400, 5)
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        f.write_all(&tail).unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        drop(f);
        let fixed = repair_unfinished(dir.path()).unwrap();
        assert_eq!(fixed, vec![path.clone()]);
        let (_, s) = read(&path);
        assert_eq!(s.len(), 16000 + 800);
        assert_eq!(s[16000], 5);
        assert!(repair_unfinished(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_writer_thread_drains_the_queue_into_dated_files() {
        let dir = tempfile::tempdir().unwrap();
        let h =
            RecorderHandle::spawn(dir.path().to_path_buf(), Duration::from_millis(50), 64).unwrap();
        let call = Uuid::new_v4();
        let started = Utc.with_ymd_and_hms(2026, 5, 1, 1, 0, 0).unwrap();
        let t0 = Instant::now();
        let ms20 = Duration::from_millis(20);
        let (caller, agent) = (LegId(1), LegId(2));
        assert!(h.start(call, started, t0, Duration::from_millis(40)));
        // One second of both sides, handed over in five logs; the caller's level is 1000, the
        // agent's -2000 (sent as prompt-style PCM to keep the values exact).
        for batch in 0..5u32 {
            let mut log = RecordLog::default();
            if batch == 0 {
                log.set_side(t0, caller, Side::Left);
            }
            for i in 10 * batch..10 * (batch + 1) {
                log.pcm(t0 + ms20 * i, caller, 160 * i, &[1000; 160]);
                log.pcm(t0 + ms20 * i, agent, 160 * i, &[-2000; 160]);
            }
            assert!(h.log(call, log, t0 + ms20 * 10 * (batch + 1)));
        }
        let (done_tx, done_rx) = mpsc::channel();
        let end = t0 + ms20 * 50;
        assert!(
            h.finish_then(call, RecordLog::default(), end, move |r, d| done_tx
                .send((r.unwrap(), d))
                .unwrap())
        );
        let (path, duration) = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(path.ends_with(format!("2026/05/01/{call}.wav")));
        assert_eq!(duration, Duration::from_secs(1));
        h.shutdown();
        let (_, s) = read(&dir.path().join(format!("2026/05/01/{call}.wav")));
        assert_eq!(s.len(), 2 * 8000);
        assert!(s.chunks_exact(2).all(|f| f == [1000, -2000]));
        assert!(repair_unfinished(Path::new("/nonexistent/rexian"))
            .unwrap()
            .is_empty());
    }
}
