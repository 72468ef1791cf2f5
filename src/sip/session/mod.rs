//! INVITE sessions: one call leg as the signalling side of the B2BUA sees it.
//!
//! [`uas::UasSession`] is an inbound leg (a trunk's or a phone's INVITE that rexian answers):
//! provisional and final responses, reliable provisionals (RFC 3262), late offer (offer in the
//! 2xx, answer in the ACK), offers in UPDATE (RFC 3311) and re-INVITE, session timers
//! (RFC 4028), DTMF by SIP INFO, BYE and CANCEL. It is sans-IO like the rest of `sip`: every
//! call takes `now` and the [`TransactionLayer`](crate::sip::transaction::TransactionLayer)
//! the messages go through, and the leg reports what happened as [`SessionEvent`]s. Call
//! control decides what to answer (it owns the media); the session keeps the protocol right.
//! [`uac::UacSession`] is an outbound leg (ringing an agent, calling an expert seat or a trunk).
//! What both do once the dialog exists lives in [`core`].

pub mod core;
pub mod info;
pub mod uac;
pub mod uas;

pub use self::core::LegConfig;

use bytes::Bytes;

/// Why a leg ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// The caller cancelled before the answer.
    Cancelled,
    /// The peer sent BYE.
    RemoteBye,
    /// We hung up (BYE sent, or the INVITE rejected by call control).
    Local,
    /// Our 2xx was never acknowledged (RFC 3261 §13.3.1.4).
    NoAck,
    /// Our reliable provisional was never PRACKed (RFC 3262 §3).
    NoPrack,
    /// No session refresh arrived in time (RFC 4028 §10).
    SessionExpired,
    /// The transport reported the peer unreachable.
    TransportFailure,
    /// The called party refused (busy 486, declined 603, unavailable 480 …).
    Rejected(u16),
    /// The called party never gave a final response (Timer B).
    NoResponse,
}

impl EndCause {
    /// A stable name for call records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EndCause::Cancelled => "cancelled",
            EndCause::RemoteBye => "remote_bye",
            EndCause::Local => "local",
            EndCause::NoAck => "no_ack",
            EndCause::NoPrack => "no_prack",
            EndCause::SessionExpired => "session_expired",
            EndCause::TransportFailure => "transport_failure",
            EndCause::Rejected(_) => "rejected",
            EndCause::NoResponse => "no_response",
        }
    }
}

/// What a session reports to call control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer answered our offer (in a PRACK or the ACK of a late-offer 2xx).
    Answer { sdp: Bytes },
    /// The peer made a new offer (UPDATE or re-INVITE); reply with `accept_offer` or
    /// `reject_offer`.
    Offer { sdp: Bytes },
    /// The 2xx was acknowledged: the call is up (inbound legs).
    Confirmed,
    /// The called party is ringing (180) or sends early media (183 with `sdp`) (outbound legs).
    Progress { status: u16, sdp: Option<Bytes> },
    /// The called party answered; `sdp` is its answer (outbound legs).
    Answered { sdp: Option<Bytes> },
    /// A DTMF digit by SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Dtmf { digit: char, duration_ms: u32 },
    /// The peer asked us to transfer the call (REFER, answered 202): `target` is the
    /// Refer-To URI's user part (a number or account), `replaces` the unescaped `Replaces` value
    /// of an attended transfer. Report the outcome with `notify_refer`.
    Refer {
        target: String,
        replaces: Option<String>,
    },
    /// The leg is over; no further events follow.
    Ended { cause: EndCause },
}

/// Misuse of a session by call control (the protocol state does not allow the command).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no such call leg")]
    UnknownLeg,
    #[error("the leg is already answered or ended")]
    NotRinging,
    #[error("the leg is not up")]
    NotUp,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    #[error("status {0} is not allowed here")]
    BadStatus(u16),
    #[error("a reliable provisional is still waiting for its PRACK")]
    PrackPending,
    #[error("the answer must carry a session description")]
    SdpRequired,
    #[error("transaction layer refused: {0}")]
    Transaction(String),
}
