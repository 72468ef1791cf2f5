//! The relay's public vocabulary: leg ids and settings, outputs, events, errors, counters.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::media::dtmf::Digit;
use crate::media::g711::Law;
use crate::media::rtcp::RtcpError;
use crate::media::rtp::RtpError;
use crate::media::sdp::Negotiated;

/// Names a leg within one relay (chosen by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegId(pub u32);

/// What the relay needs to know about a leg (from SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    pub law: Law,
    pub audio_pt: u8,
    pub dtmf_pt: Option<u8>,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// The peer asked not to receive media (sendonly/inactive/c=0.0.0.0).
    pub on_hold: bool,
}

impl From<&Negotiated> for LegConfig {
    fn from(n: &Negotiated) -> Self {
        LegConfig {
            law: n.law,
            audio_pt: n.audio_pt,
            dtmf_pt: n.dtmf_pt,
            remote_rtp: n.remote_rtp,
            remote_rtcp: n.remote_rtcp,
            on_hold: n.on_hold,
        }
    }
}

/// Relay-wide settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub dead_media_after: Duration,
    pub rtcp_interval: Duration,
    /// Spread reports over [0.5, 1.5) × `rtcp_interval` at random (RFC 3550 §6.3.1), so
    /// calls set up together do not all report at once; off gives exact intervals.
    pub rtcp_randomised: bool,
    pub relatch_guard: Duration,
    /// Emit [`Output::Record`] for every inbound audio packet.
    pub record: bool,
    /// SDES CNAME we send.
    pub cname: String,
    /// NTP time (RFC 3550 64-bit) at the `now` given to [`Relay::new`], for sender reports.
    pub ntp_at_start: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            dead_media_after: Duration::from_secs(60),
            rtcp_interval: Duration::from_secs(5),
            rtcp_randomised: false,
            relatch_guard: Duration::from_millis(500),
            record: false,
            cname: "rexian".into(),
            ntp_at_start: 0,
        }
    }
}

/// Which of a leg's two sockets (RTP port, RTCP port = RTP + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Rtp,
    Rtcp,
}

/// A datagram to send from `leg`'s `channel` socket to `dst`.
#[derive(Debug)]
pub struct Transmit {
    pub leg: LegId,
    pub channel: Channel,
    pub dst: SocketAddr,
    pub bytes: Vec<u8>,
}

/// An inbound audio packet for the recording assembler. `timestamp` is continuous for the
/// leg (rebased across SSRC changes and jumps like the forwarded stream).
#[derive(Debug)]
pub struct RecordPacket {
    pub leg: LegId,
    pub at: Instant,
    pub timestamp: u32,
    pub law: Law,
    pub payload: Vec<u8>,
}

/// Something the call layer should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Latched {
        leg: LegId,
        channel: Channel,
        addr: SocketAddr,
    },
    SourceChanged {
        leg: LegId,
        ssrc: u32,
    },
    DeadMedia {
        leg: LegId,
    },
    MediaResumed {
        leg: LegId,
    },
    Dtmf {
        leg: LegId,
        digit: Digit,
    },
    RemoteBye {
        leg: LegId,
    },
}

/// One output of the relay.
#[derive(Debug)]
pub enum Output {
    Transmit(Transmit),
    Record(RecordPacket),
    Event(Event),
    /// Call `handle_timeout` at this instant (always the last output of a batch).
    Timeout(Instant),
}

/// Why an input was not used (the relay itself is unaffected).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RelayError {
    #[error("unknown leg {0:?}")]
    UnknownLeg(LegId),
    #[error("malformed RTP: {0}")]
    Rtp(#[from] RtpError),
    #[error("malformed RTCP: {0}")]
    Rtcp(#[from] RtcpError),
    #[error("packet from {0} refused: the leg is latched to another source")]
    NotLatched(SocketAddr),
    #[error("payload type {0} not negotiated on this leg")]
    UnknownPayloadType(u8),
    #[error("leg {0:?} has no telephone-event payload type")]
    NoTelephoneEvent(LegId),
    #[error("leg {0:?} is whispered to but is not a full party")]
    WhisperTarget(LegId),
}

/// Per-leg counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets lost from this leg's current source (RFC 3550 A.3).
    pub lost: u64,
    /// Interarrival jitter of this leg's source, in samples.
    pub jitter: u32,
    pub rejected: u64,
    pub malformed: u64,
    pub rtcp_rx: u64,
    pub rtcp_tx: u64,
}
