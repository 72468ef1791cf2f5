//! What call control sees of the media engine: [`MediaHandle`] (clonable, `Send`, async
//! methods that each send one command to the engine thread and await its answer), the ids,
//! parameters and events, and [`MediaError`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::sys::EventFd;
use crate::media::dtmf::Digit;
use crate::media::g711::Law;
use crate::media::prompt::Prompt;
use crate::media::relay::LegStats;
use crate::media::sdp::Negotiated;

/// A media call: the legs that may ever hear each other (caller, agents, third parties).
/// Legs of one call share one relay, so a transfer inside a call keeps every phone's stream
/// continuous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaCall(pub u32);

/// One leg: one RTP/RTCP port pair of rexian facing one phone or trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaLeg(pub u32);

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
}

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
    /// Loop iterations (epoll waits) and the datagrams they read.
    pub wakeups: u64,
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
    #[error("the media engine has stopped")]
    EngineStopped,
    #[error("cannot start the media engine: {0}")]
    Start(String),
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

/// A command to the engine thread.
pub(super) enum Command {
    NewCall(Reply<MediaCall>),
    OpenLeg(MediaCall, IpAddr, Reply<LegInfo>),
    SetRemote(MediaLeg, RemoteMedia, Reply<()>),
    Bridge(MediaLeg, MediaLeg, Option<RecordingSpec>, Reply<()>),
    Unbridge(MediaLeg, Reply<()>),
    Hold(MediaLeg, bool, Reply<()>),
    Play(MediaLeg, Vec<Prompt>, bool, Reply<()>),
    StopPlay(MediaLeg, Reply<()>),
    Conference(Vec<MediaLeg>, Option<RecordingSpec>, Reply<()>),
    StopRecording(MediaCall, Reply<()>),
    CloseLeg(MediaLeg, Reply<LegStats>),
    EndCall(MediaCall, Reply<()>),
    LegStats(MediaLeg, Reply<(LegStats, Option<SocketAddr>)>),
    Stats(Reply<EngineStats>),
    Shutdown,
}

/// The engine's command side. Clone it freely; every method is one round trip to the engine
/// thread (microseconds) and never waits on a socket or the disk.
#[derive(Clone)]
pub struct MediaHandle {
    pub(super) tx: Sender<Command>,
    pub(super) wake: Arc<EventFd>,
}

impl MediaHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| MediaError::EngineStopped)?;
        self.wake.notify();
        rx.await.map_err(|_| MediaError::EngineStopped)?
    }

    /// A new, empty media call.
    pub async fn new_call(&self) -> Result<MediaCall, MediaError> {
        self.ask(Command::NewCall).await
    }

    /// Binds a port pair on `local_ip` for a new leg of `call`. The leg is silent (nothing is
    /// forwarded to or from it) until `set_remote` and then `bridge`/`conference`/`play`.
    pub async fn open_leg(&self, call: MediaCall, local_ip: IpAddr) -> Result<LegInfo, MediaError> {
        self.ask(|r| Command::OpenLeg(call, local_ip, r)).await
    }

    /// Applies the SDP result for a leg; call again after every re-INVITE.
    pub async fn set_remote(&self, leg: MediaLeg, remote: RemoteMedia) -> Result<(), MediaError> {
        self.ask(|r| Command::SetRemote(leg, remote, r)).await
    }

    /// Lets `a` and `b` (of one call) hear each other, leaving any earlier bridge or
    /// conference. With `recording`, starts the call's recording unless it already runs (a
    /// recording continues across transfers and conferences until `stop_recording` or the
    /// end of the call).
    pub async fn bridge(
        &self,
        a: MediaLeg,
        b: MediaLeg,
        recording: Option<RecordingSpec>,
    ) -> Result<(), MediaError> {
        self.ask(|r| Command::Bridge(a, b, recording, r)).await
    }

    /// Stops forwarding to and from `leg` (its peer is isolated too).
    pub async fn unbridge(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.ask(|r| Command::Unbridge(leg, r)).await
    }

    /// Stops sending forwarded media to `leg` (dead-media detection pauses for its call).
    pub async fn hold(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.ask(|r| Command::Hold(leg, true, r)).await
    }

    pub async fn unhold(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.ask(|r| Command::Hold(leg, false, r)).await
    }

    /// Plays a chain of prompts to `leg` (replacing what was playing), 20 ms per packet;
    /// `looping` for music on hold. While it plays, forwarded media to `leg` is muted.
    /// [`MediaEvent::PlaybackDone`] follows the end of a non-looping chain.
    pub async fn play(
        &self,
        leg: MediaLeg,
        prompts: Vec<Prompt>,
        looping: bool,
    ) -> Result<(), MediaError> {
        self.ask(|r| Command::Play(leg, prompts, looping, r)).await
    }

    pub async fn stop_play(&self, leg: MediaLeg) -> Result<(), MediaError> {
        self.ask(|r| Command::StopPlay(leg, r)).await
    }

    /// Mixes `legs` (of one call, two or more): each hears the sum of the others.
    pub async fn conference(
        &self,
        legs: Vec<MediaLeg>,
        recording: Option<RecordingSpec>,
    ) -> Result<(), MediaError> {
        self.ask(|r| Command::Conference(legs, recording, r)).await
    }

    /// Ends the call's recording now ([`MediaEvent::RecordingFinished`] follows).
    pub async fn stop_recording(&self, call: MediaCall) -> Result<(), MediaError> {
        self.ask(|r| Command::StopRecording(call, r)).await
    }

    /// Releases a leg's ports and returns its final counters. The call lives on (a transfer
    /// opens the next leg in it) until `end_call`.
    pub async fn close_leg(&self, leg: MediaLeg) -> Result<LegStats, MediaError> {
        self.ask(|r| Command::CloseLeg(leg, r)).await
    }

    /// Closes every leg of the call and finishes its recording.
    pub async fn end_call(&self, call: MediaCall) -> Result<(), MediaError> {
        self.ask(|r| Command::EndCall(call, r)).await
    }

    /// A leg's counters and the address its media was latched to.
    pub async fn leg_stats(
        &self,
        leg: MediaLeg,
    ) -> Result<(LegStats, Option<SocketAddr>), MediaError> {
        self.ask(|r| Command::LegStats(leg, r)).await
    }

    /// Engine-wide counters.
    pub async fn stats(&self) -> Result<EngineStats, MediaError> {
        self.ask(Command::Stats).await
    }
}
