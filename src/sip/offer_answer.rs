//! Offer/answer placement bookkeeping (RFC 3261 §13.2.1, RFC 3262 §5, RFC 3311 §5, RFC 6337).
//!
//! The SDP itself belongs to the media engine; this only tracks, per dialog, whether an offer
//! is outstanding and in which direction, so the TU knows whether a body it sends is an offer
//! or an answer, whether a message *must* carry one (a 2xx to an offerless INVITE must offer;
//! the ACK then answers), and when to refuse a new offer: 491 when ours is still unanswered
//! (glare), 500 when the peer's previous offer is still unanswered (RFC 3311 §5.2).
//!
//! Only messages that carry a session description are reported: call
//! [`OfferAnswer::local_sdp`] before sending one, [`OfferAnswer::remote_sdp`] on receiving one.
//! An unreliable 18x with SDP is early-media preview, not part of offer/answer; do not report
//! it. When the request that carried an offer fails (non-2xx), call
//! [`OfferAnswer::rollback`].

/// Which message carries a session description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    Invite,
    /// A 101–199 response sent reliably (100rel) to an INVITE.
    ReliableProvisional,
    /// A 2xx to an INVITE.
    InviteOk,
    Ack,
    Prack,
    /// A 2xx to a PRACK.
    PrackOk,
    Update,
    /// A 2xx to an UPDATE.
    UpdateOk,
}

impl Carrier {
    /// Requests that may start a new offer in a confirmed or early dialog.
    fn is_offering_request(self) -> bool {
        matches!(self, Carrier::Invite | Carrier::Update | Carrier::Prack)
    }
}

/// What a session description is, in context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpRole {
    Offer,
    Answer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OaState {
    /// No offer outstanding.
    Stable,
    /// We offered in this carrier and await the answer.
    LocalOffer(Carrier),
    /// The peer offered in this carrier and we owe the answer.
    RemoteOffer(Carrier),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfferAnswerError {
    #[error("our offer is unanswered; a new offer crosses it (491)")]
    Glare,
    #[error("the previous offer is still unanswered (500)")]
    OfferPending,
    #[error("{0:?} cannot carry an offer here")]
    CannotOffer(Carrier),
}

impl OfferAnswerError {
    /// The status to reject a received request with.
    pub fn status(&self) -> u16 {
        match self {
            OfferAnswerError::Glare => 491,
            OfferAnswerError::OfferPending => 500,
            OfferAnswerError::CannotOffer(_) => 488,
        }
    }
}

/// What the next message of a given kind must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// It must carry an answer.
    Answer,
    /// It must carry an offer (the 2xx to an offerless INVITE).
    Offer,
    /// A body is optional; if present it is an offer.
    MayOffer,
    /// It must not carry a session description.
    Nothing,
}

/// The offer/answer state of one dialog (or of one early dialog).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferAnswer {
    state: OaState,
    /// The INVITE in progress carried no offer: its 2xx (or first reliable 1xx) must offer.
    offerless_invite: bool,
}

impl Default for OfferAnswer {
    fn default() -> Self {
        OfferAnswer::new()
    }
}

impl OfferAnswer {
    pub fn new() -> OfferAnswer {
        OfferAnswer {
            state: OaState::Stable,
            offerless_invite: false,
        }
    }

    pub fn state(&self) -> OaState {
        self.state
    }

    /// An INVITE without a session description was sent or received: the offer will come in
    /// its 2xx or first reliable provisional.
    pub fn offerless_invite(&mut self) {
        self.offerless_invite = true;
    }

    /// What our next message of this kind must contain.
    pub fn requirement(&self, carrier: Carrier) -> Requirement {
        match self.state {
            OaState::RemoteOffer(_) if carrier != Carrier::Invite && carrier != Carrier::Update => {
                Requirement::Answer
            }
            OaState::RemoteOffer(_) => Requirement::Nothing,
            OaState::LocalOffer(_) => Requirement::Nothing,
            OaState::Stable => match carrier {
                Carrier::InviteOk if self.offerless_invite => Requirement::Offer,
                Carrier::ReliableProvisional if self.offerless_invite => Requirement::MayOffer,
                c if c.is_offering_request() => Requirement::MayOffer,
                _ => Requirement::Nothing,
            },
        }
    }

    fn can_offer(&self, carrier: Carrier) -> bool {
        carrier.is_offering_request()
            || (self.offerless_invite
                && matches!(carrier, Carrier::InviteOk | Carrier::ReliableProvisional))
    }

    /// We are about to send a session description in `carrier`: is it an offer or an answer?
    pub fn local_sdp(&mut self, carrier: Carrier) -> Result<SdpRole, OfferAnswerError> {
        match self.state {
            OaState::RemoteOffer(_)
                if carrier.is_offering_request() && carrier != Carrier::Prack =>
            {
                Err(OfferAnswerError::OfferPending)
            }
            OaState::RemoteOffer(_) => {
                self.state = OaState::Stable;
                self.offerless_invite = false;
                Ok(SdpRole::Answer)
            }
            OaState::LocalOffer(_) => Err(OfferAnswerError::OfferPending),
            OaState::Stable if self.can_offer(carrier) => {
                self.state = OaState::LocalOffer(carrier);
                Ok(SdpRole::Offer)
            }
            OaState::Stable => Err(OfferAnswerError::CannotOffer(carrier)),
        }
    }

    /// The peer sent a session description in `carrier`. An `Err` on a request means reject
    /// it with [`OfferAnswerError::status`].
    pub fn remote_sdp(&mut self, carrier: Carrier) -> Result<SdpRole, OfferAnswerError> {
        match self.state {
            OaState::LocalOffer(_) if matches!(carrier, Carrier::Invite | Carrier::Update) => {
                Err(OfferAnswerError::Glare)
            }
            OaState::LocalOffer(_) => {
                self.state = OaState::Stable;
                self.offerless_invite = false;
                Ok(SdpRole::Answer)
            }
            OaState::RemoteOffer(_) => Err(OfferAnswerError::OfferPending),
            OaState::Stable if self.can_offer(carrier) => {
                self.state = OaState::RemoteOffer(carrier);
                Ok(SdpRole::Offer)
            }
            OaState::Stable => Err(OfferAnswerError::CannotOffer(carrier)),
        }
    }

    /// The transaction that carried the outstanding offer failed (non-2xx final, or we
    /// rejected the peer's offer): the offer is void.
    pub fn rollback(&mut self) {
        self.state = OaState::Stable;
        self.offerless_invite = false;
    }

    /// True when an answer is still owed by either side.
    pub fn is_pending(&self) -> bool {
        self.state != OaState::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Carrier::*;

    #[test]
    fn invite_offer_is_answered_in_the_2xx() {
        let mut oa = OfferAnswer::new();
        assert_eq!(oa.remote_sdp(Invite), Ok(SdpRole::Offer));
        assert_eq!(oa.requirement(InviteOk), Requirement::Answer);
        assert_eq!(oa.local_sdp(InviteOk), Ok(SdpRole::Answer));
        assert_eq!(oa.state(), OaState::Stable);
        assert_eq!(oa.requirement(Ack), Requirement::Nothing);
    }

    #[test]
    fn offerless_invite_puts_the_offer_in_the_2xx_and_the_answer_in_the_ack() {
        let mut oa = OfferAnswer::new();
        oa.offerless_invite();
        assert_eq!(oa.requirement(InviteOk), Requirement::Offer);
        assert_eq!(oa.local_sdp(InviteOk), Ok(SdpRole::Offer));
        assert!(oa.is_pending());
        assert_eq!(oa.remote_sdp(Ack), Ok(SdpRole::Answer));
        assert!(!oa.is_pending());
        assert_eq!(
            oa.local_sdp(InviteOk),
            Err(OfferAnswerError::CannotOffer(InviteOk))
        );
    }

    #[test]
    fn early_media_answer_in_reliable_183_then_update_renegotiates() {
        let mut oa = OfferAnswer::new();
        oa.remote_sdp(Invite).unwrap();
        assert_eq!(oa.requirement(ReliableProvisional), Requirement::Answer);
        assert_eq!(oa.local_sdp(ReliableProvisional), Ok(SdpRole::Answer));
        assert_eq!(oa.remote_sdp(Update), Ok(SdpRole::Offer));
        assert_eq!(oa.local_sdp(UpdateOk), Ok(SdpRole::Answer));
        assert_eq!(oa.requirement(InviteOk), Requirement::Nothing);
    }

    #[test]
    fn crossing_offers_are_refused_with_491() {
        let mut oa = OfferAnswer::new();
        assert_eq!(oa.local_sdp(Update), Ok(SdpRole::Offer));
        let err = oa.remote_sdp(Update).unwrap_err();
        assert_eq!((err, err.status()), (OfferAnswerError::Glare, 491));
        let err = oa.remote_sdp(Invite).unwrap_err();
        assert_eq!(err.status(), 491);
        assert_eq!(oa.remote_sdp(UpdateOk), Ok(SdpRole::Answer));
    }

    #[test]
    fn a_second_offer_before_the_first_is_answered_is_refused_with_500() {
        let mut oa = OfferAnswer::new();
        oa.remote_sdp(Invite).unwrap();
        let err = oa.remote_sdp(Update).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(oa.local_sdp(Update), Err(OfferAnswerError::OfferPending));
    }

    #[test]
    fn a_failed_reinvite_rolls_the_offer_back() {
        let mut oa = OfferAnswer::new();
        oa.local_sdp(Invite).unwrap();
        oa.rollback();
        assert_eq!(oa.state(), OaState::Stable);
        assert_eq!(oa.remote_sdp(Update), Ok(SdpRole::Offer));
    }

    #[test]
    fn ack_cannot_offer() {
        let mut oa = OfferAnswer::new();
        let err = oa.remote_sdp(Ack).unwrap_err();
        assert_eq!(err, OfferAnswerError::CannotOffer(Ack));
    }
}
