//! What call control sees of the media engine besides the handle: the ids, parameters,
//! events and counters, and [`MediaError`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::media::dtmf::Digit;
use crate::media::g711::Law;
use crate::media::sdp::Negotiated;

/// A media call: the legs that may ever hear each other (caller, agents, third parties).
/// Legs of one call share one relay, so a transfer inside a call keeps every phone's stream
/// continuous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaCall(pub u32);

/// One leg: one RTP/RTCP port pair of rexian facing one phone or trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaLeg(pub u32);

/// What a leg of a call hears and who hears it, for [`super::MediaHandle::set_roles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyRole {
    /// Hears every other `Full` party and any whisper aimed at it; heard by the `Full`
    /// parties and listeners (a barging supervisor is `Full`).
    Full,
    /// Hears all `Full` parties; heard by nobody and never recorded (监听).
    Listen,
    /// Hears all `Full` parties; heard only by the given `Full` leg (coaching the agent) and
    /// never recorded.
    Whisper(MediaLeg),
}

/// Where rexian receives a new leg's media: put `rtp` in the SDP (`c=` and `m=` port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegInfo {
    pub leg: MediaLeg,
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

/// The far end of a leg as negotiated in SDP (see `From<&Negotiated>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    pub law: Law,
    pub audio_pt: u8,
    /// The telephone-event payload type, when negotiated.
    pub dtmf_pt: Option<u8>,
    /// Where SDP says to send; latching replaces it with the real source once media flows.
    pub rtp: Option<SocketAddr>,
    pub rtcp: Option<SocketAddr>,
    pub ptime_ms: u32,
    /// The peer asked not to receive media (sendonly/inactive/`c=0.0.0.0`).
    pub on_hold: bool,
}

impl From<&Negotiated> for RemoteMedia {
    fn from(n: &Negotiated) -> Self {
        RemoteMedia {
            law: n.law,
            audio_pt: n.audio_pt,
            dtmf_pt: n.dtmf_pt,
            rtp: n.remote_rtp,
            rtcp: n.remote_rtcp,
            ptime_ms: n.ptime_ms,
            on_hold: n.on_hold,
        }
    }
}

/// Starts the recording of a call: `id` names the file (`<dir>/YYYY/MM/DD/<id>.wav`, date
/// of `started` in Asia/Shanghai); `caller` is recorded on the left, everyone else on the
/// right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSpec {
    pub id: Uuid,
    pub started: DateTime<Utc>,
    pub caller: MediaLeg,
}

/// What the engine reports to call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// An RFC 4733 digit finished on a leg.
    DtmfDigit { leg: MediaLeg, digit: Digit },
    /// No RTP nor RTCP from a leg for the dead-media timeout (not while the call is on hold).
    DeadMedia { leg: MediaLeg },
    /// Media from a leg reported dead flows again.
    MediaResumed { leg: MediaLeg },
    /// The peer sent an RTCP BYE.
    RemoteBye { leg: MediaLeg },
    /// A non-looping prompt chain finished on a leg (not sent after `stop_play`).
    PlaybackDone { leg: MediaLeg },
    /// A recording file is complete on disk (or could not be finished: `error`).
    RecordingFinished {
        call: MediaCall,
        id: Uuid,
        path: PathBuf,
        duration: Duration,
        error: Option<String>,
    },
    /// A command that does not wait for the engine (`set_remote`, `play`, `bridge` …)
    /// could not be carried out; `command` names it. Also logged by the engine.
    CommandFailed {
        command: &'static str,
        error: MediaError,
    },
}

pub use super::delay::DelayHistogram;

/// Engine-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub calls: usize,
    pub legs: usize,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Packets the relay refused (unknown payload type, not latched, malformed).
    pub rx_refused: u64,
    pub send_errors: u64,
    /// RTP packets lost on the way in, summed over open legs (RFC 3550 A.3).
    pub lost: u64,
    /// Recording commands dropped because the writer thread was behind.
    pub recorder_dropped: u64,
    /// Loop iterations (waits on the ring or the epoll set).
    pub wakeups: u64,
    /// The longest 20 ms sweep since the previous `stats()` (µs; the largest of any engine
    /// thread).
    pub longest_sweep_us: u64,
    /// How long packets were held, kernel receipt to handled (since the previous `stats()`).
    pub held: DelayHistogram,
    /// How many engine threads read and send through io_uring (the others use epoll).
    pub io_uring_threads: usize,
    /// io_uring receives the kernel ended and the engine armed again (each one a socket
    /// whose datagrams waited for it: the receive buffer pool ran dry, or an error).
    pub rx_rearmed: u64,
}

/// Why a media command failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MediaError {
    #[error("no free RTP port in the configured range")]
    PortsExhausted,
    #[error("cannot bind media socket {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("unknown media call {0:?}")]
    UnknownCall(MediaCall),
    #[error("unknown media leg {0:?}")]
    UnknownLeg(MediaLeg),
    #[error("legs {0:?} and {1:?} belong to different calls")]
    DifferentCalls(MediaLeg, MediaLeg),
    #[error("leg {0:?} has no remote media yet (call set_remote first)")]
    NoRemote(MediaLeg),
    #[error("a conference needs two or more legs")]
    TooFewParties,
    #[error("leg {0:?} is whispered to but is not a full party")]
    WhisperTarget(MediaLeg),
    #[error("leg {0:?} has no telephone-event payload type negotiated")]
    NoDtmf(MediaLeg),
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    BadDigit(char),
    #[error("the media engine has stopped")]
    EngineStopped,
    #[error("cannot start the media engine: {0}")]
    Start(String),
}
