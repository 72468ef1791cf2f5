//! Answering an inbound leg with media anchored at rexian: a media call and an RTP port pair,
//! our SDP answer to the caller's offer (or our offer, for a late-offer INVITE), then 200 OK.
//! Used for citizens' calls (the greeting follows) and agents' feature-code calls (a short
//! confirmation follows).

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;

use super::{Calls, MediaSide};
use crate::media::sdp::{LocalMedia, SessionDescription};
use crate::shell::media::{LegInfo, MediaCall, RemoteMedia};
use crate::shell::trunks::local_ip_towards;
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::{Leg, LegId};

impl Calls {
    /// Answers `leg`; `None` when it could not be (it has then been refused: 488 for an offer
    /// with no common codec, 503 when the media engine has no room).
    pub(super) async fn anchor_and_answer(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        now: Instant,
    ) -> Option<(MediaCall, MediaSide)> {
        let (media_call, side, sdp) = self.anchor_unanswered(ep, leg, now).await?;
        if let Err(e) = ep.answer(now, leg, Some(sdp)) {
            tracing::debug!(error = %e, "leg could not be answered");
        }
        Some((media_call, side))
    }

    /// Anchors `leg` in a new media call but keeps the 200 for later (an agent's outbound
    /// call is answered when the far end answers): the media call, our side and the SDP to
    /// answer with. `None` when refused, as for [`Calls::anchor_and_answer`].
    pub(super) async fn anchor_unanswered(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        now: Instant,
    ) -> Option<(MediaCall, MediaSide, Bytes)> {
        let Some(Leg::In(l)) = ep.leg(leg) else {
            return None;
        };
        let offer = l.initial_offer().cloned();
        let ip = self
            .listen_ip
            .or_else(|| l.invite().uri.host.parse().ok())
            .or_else(|| local_ip_towards(l.peer().addr))
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let media_call = match self.media.new_call().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "media engine refused a call");
                let _ = ep.reject(now, leg, 503);
                return None;
            }
        };
        match self.answering_leg(media_call, ip, offer).await {
            Ok((side, sdp)) => Some((media_call, side, sdp)),
            Err(status) => {
                let _ = self.media.end_call(media_call).await;
                let _ = ep.reject(now, leg, status);
                None
            }
        }
    }

    /// Opens a leg in `media_call` for an inbound INVITE and makes our SDP for it: the answer
    /// to `offer`, or our offer when it had none. `Err(status)` to refuse the INVITE with: 488
    /// for no common codec, 503 when no RTP port is free (the leg is then not open).
    pub(super) async fn answering_leg(
        &mut self,
        media_call: MediaCall,
        ip: IpAddr,
        offer: Option<Bytes>,
    ) -> Result<(MediaSide, Bytes), u16> {
        let info = match self.media.open_leg(media_call, ip).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port for a call");
                return Err(503);
            }
        };
        let local = LocalMedia::new(ip, info.rtp.port(), rand::random::<u32>().into());
        let (sdp, law) = match offer {
            Some(offer) => {
                let parsed = std::str::from_utf8(&offer)
                    .ok()
                    .and_then(|t| SessionDescription::parse(t).ok());
                match parsed.map(|sd| local.answer(&sd)) {
                    Some(Ok((answer, neg))) => {
                        let _ = self
                            .media
                            .set_remote(info.leg, RemoteMedia::from(&neg))
                            .await;
                        (answer.to_sdp(), Some(neg.law))
                    }
                    _ => {
                        // No common codec or unusable SDP: 488 (RFC 3264 §6).
                        let _ = self.media.close_leg(info.leg).await;
                        return Err(488);
                    }
                }
            }
            None => (local.offer(None, false).to_sdp(), None),
        };
        let side = MediaSide {
            leg: info.leg,
            local,
            law,
        };
        Ok((side, Bytes::from(sdp)))
    }

    /// A new media call with one leg at `ip`, for a call rexian places itself (a callback,
    /// an agent's outbound call): the call, the leg, and our side for the SDP offer.
    pub(super) async fn new_media_leg(
        &mut self,
        ip: IpAddr,
    ) -> Result<(MediaCall, LegInfo, LocalMedia), String> {
        let media_call = self.media.new_call().await.map_err(|e| e.to_string())?;
        match self.media.open_leg(media_call, ip).await {
            Ok(info) => {
                let local = LocalMedia::new(ip, info.rtp.port(), rand::random::<u32>().into());
                Ok((media_call, info, local))
            }
            Err(e) => {
                let _ = self.media.end_call(media_call).await;
                Err(e.to_string())
            }
        }
    }
}
