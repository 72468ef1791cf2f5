//! The media engine shell: real sockets and a clock around the sans-IO [`crate::media`] core.
//!
//! [`MediaEngine::start`] spawns `[media] threads` engine threads (default one). Each owns the
//! RTP/RTCP sockets of its calls and every such call's [`crate::media::relay::Relay`],
//! recording log, prompt players and DTMF senders, plus a recording writer thread that
//! builds and writes the recordings ([`crate::shell::recorder`]). Calls go to the threads in turn; all legs of a call live on
//! its thread. Call control talks to them only through [`MediaHandle`] (async, clonable,
//! `Send`) and listens to [`MediaEvent`]s. Files: `handle.rs` (the handle, commands, ids),
//! `types.rs` (ids, parameters, events, errors), `engine.rs` (one thread's loop),
//! `commands.rs` (what a thread does with each command), `ports.rs`, `config.rs`,
//! `prompts.rs` (loading prompt files), `delay.rs` (the holding-time histogram), `io.rs` (the
//! loop's socket I/O: io_uring or epoll), `uring.rs` (the io_uring backend) and `sys.rs`
//! (epoll, eventfd, stamped receive); the last two hold all the `unsafe`.
//!
//! Commands that need no answer return as soon as they are queued; a failure arrives as
//! [`MediaEvent::CommandFailed`]. Only `close_leg`, `leg_stats`, `stats` and a `move_leg`
//! between threads wait for an engine thread.
//!
//! How call control drives a call:
//!
//! 1. `new_call()` once per call; `open_leg(call, local_ip)` per party — put the returned
//!    `LegInfo::rtp` into the SDP offer or answer (`LocalMedia::new(ip, rtp.port(), …)`).
//! 2. `set_remote(leg, (&negotiated).into())` once the party's SDP is known, and again after
//!    every re-INVITE (hold by the phone is carried in `RemoteMedia::on_hold`).
//! 3. IVR: `play(leg, prompts, false)`, wait for `PlaybackDone`/`DtmfDigit`.
//! 4. Agent answers: `bridge(caller, agent, Some(RecordingSpec { … }))`. Hold with music:
//!    `hold(caller)` + `play(caller, moh, true)`; back with `stop_play` + `unhold`.
//! 5. Transfer: `open_leg` the new agent in the same call, `bridge(caller, new)`, then
//!    `close_leg(old)` — the caller's stream and the recording run on without a jump. A
//!    consult call made as its own media call joins with `move_leg(leg, caller_call)`;
//!    `send_dtmf(leg, "…")` sends digits to a phone (RFC 4733).
//! 6. Three-way: `conference(vec![caller, agent, expert], None)`. A supervisor: open a leg
//!    in the call and `set_roles(vec![(caller, Full), (agent, Full), (sup, Listen)], None)`;
//!    again with `Whisper(agent)` or `Full` (barge) to switch live; `close_leg(sup)` leaves
//!    caller and agent talking directly as before.
//! 7. `end_call(call)` on BYE; `RecordingFinished { path, … }` follows for the store row.
//!    `DeadMedia { leg }` means the call should be torn down.
//!
//! Why engine threads of their own and not a tokio task per call: see `ARCHITECTURE.md`
//! (Media engine); the short form is that a packet costs no task wake-up or channel hop (one
//! `io_uring_enter` carries a whole loop round's receives and sends), and 20 ms timers for
//! thousands of calls are one sweep per thread.

mod commands;
mod config;
mod delay;
mod engine;
mod filter;
mod handle;
mod io;
mod ports;
pub(crate) mod sys;
mod types;
mod uring;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub use config::{MediaConfig, PortRange, PortRangeError};
pub use handle::MediaHandle;
pub use ports::PortAllocator;
pub use prompts::{load_prompt, LoadPromptError};
pub use types::{
    DelayHistogram, EngineStats, LegInfo, MediaCall, MediaError, MediaEvent, MediaLeg, PartyRole,
    RecordingSpec, RemoteMedia,
};

use crate::shell::recorder::{repair_unfinished, RecorderHandle};

mod prompts;

/// Whether this kernel (and seccomp profile) lets the engine use io_uring: builds and
/// enables a ring as an engine thread does, then drops it.
pub fn io_uring_available() -> bool {
    let Ok(wake) = sys::EventFd::new() else {
        return false;
    };
    uring::Uring::new(wake.raw(), false).is_ok_and(|mut u| u.enable().is_ok())
}

/// The running engine: its handle, its event stream, and its threads.
pub struct MediaEngine {
    pub handle: MediaHandle,
    /// Events for call control; take it once (`Option::take`).
    pub events: Option<UnboundedReceiver<MediaEvent>>,
    /// Where recordings are written.
    pub recordings: PathBuf,
    threads: Vec<JoinHandle<()>>,
}

impl MediaEngine {
    /// Repairs recordings a killed process left unfinished, then starts the engine threads
    /// (`[media] threads`), each with its own recording writer thread. `default_recordings`
    /// is used when the config names no directory.
    pub fn start(cfg: &MediaConfig, default_recordings: PathBuf) -> Result<Self, MediaError> {
        let dir = cfg.recordings.clone().unwrap_or(default_recordings);
        let start = |e: std::io::Error| MediaError::Start(e.to_string());
        std::fs::create_dir_all(&dir).map_err(start)?;
        for f in repair_unfinished(&dir).map_err(start)? {
            tracing::info!(file = %f.display(), "repaired unfinished recording");
        }
        let ports = Arc::new(Mutex::new(PortAllocator::new(cfg.rtp_ports)));
        let (ev_tx, ev_rx) = unbounded_channel();
        let mut shards = Vec::new();
        let mut threads = Vec::new();
        for i in 0..cfg.engine_threads() {
            let recorder = RecorderHandle::spawn(
                dir.clone(),
                Duration::from_secs(cfg.recording_flush_secs.max(1)),
                16_384,
            )
            .map_err(start)?;
            let wake = Arc::new(sys::EventFd::new().map_err(start)?);
            let armed = Arc::new(AtomicBool::new(false));
            let (tx, rx) = mpsc::channel();
            let engine = engine::Engine::new(
                engine::Settings {
                    dead_media_after: cfg.dead_media_after(),
                    measure_holding: cfg.measure_holding,
                    io_uring: cfg.io_uring,
                    recording_delay: Duration::from_millis(cfg.recording_delay_ms),
                    recordings: dir.clone(),
                },
                ports.clone(),
                wake.clone(),
                armed.clone(),
                rx,
                ev_tx.clone(),
                recorder,
            )
            .map_err(start)?;
            let name = if i == 0 {
                "media".to_string()
            } else {
                format!("media-{i}")
            };
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || engine.run())
                .map_err(start)?;
            shards.push(handle::Shard { tx, wake, armed });
            threads.push(thread);
        }
        Ok(MediaEngine {
            handle: MediaHandle::new(shards, ports, cfg.measure_holding),
            events: Some(ev_rx),
            recordings: dir,
            threads,
        })
    }

    /// Ends every call (finishing recordings), stops the threads and waits for them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.shutdown_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        self.stop();
    }
}
