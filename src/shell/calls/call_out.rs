//! Legs rexian sends out within a call: ringing an agent's registered phone (the caller's
//! number and the line's name on its screen) and calling any party into the call with our
//! SDP offer, its media leg opened in the call's media call first.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::{CallId, CalledLeg, Calls, MediaSide, Party};
use crate::media::sdp::LocalMedia;
use crate::pii::Pii;
use crate::shell::trunks::local_ip_towards;
use crate::sip::endpoint::Endpoint;
use crate::sip::message::{NameAddr, Uri};
use crate::sip::session::uac::OutboundCall;

impl Calls {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn ring_agent(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        agent: &str,
        line: &str,
        line_name: &str,
        caller: &Pii<String>,
        now: Instant,
    ) -> bool {
        let Some((contact, peer)) = ep.contacts(agent, now).into_iter().next() else {
            return false;
        };
        let ip = self.local_ip_for(peer);
        // The agent's screen shows who calls and on which line: the caller's number in From
        // (the agent is authorised to see it), the line's name as display name.
        let mut from = NameAddr::new(Uri::sip(
            Some(caller.expose().as_str()).filter(|s| !s.is_empty()),
            &ip.to_string(),
            None,
        ));
        from.display = Some(format!("\"{line_name}\""));
        let outbound = OutboundCall {
            target: contact,
            peer,
            from,
            to: NameAddr::new(Uri::sip(Some(agent), &ip.to_string(), None)),
            call_id: Uuid::new_v4().simple().to_string(),
            sdp: Bytes::new(),
            headers: vec![("X-Rexian-Line".into(), line.to_string())],
            credentials: None,
        };
        let party = Party::Agent(agent.to_string());
        match self.call_out(ep, call, party, ip, outbound, now).await {
            Ok(leg) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.agents.insert(agent.to_string(), leg);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, %agent, "cannot ring an agent");
                false
            }
        }
    }

    /// The address of ours a peer reaches (the one we listen on, when it is specific).
    pub(super) fn local_ip_for(&self, peer: crate::sip::peer::Peer) -> IpAddr {
        self.listen_ip
            .or_else(|| local_ip_towards(peer.addr))
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }

    /// Calls a party (an agent's phone, a third party) into `call`: a new leg in the call's
    /// media call, our offer (the caller's codec first, so the relay need not transcode) in
    /// `invite`, sent from `ip`. The leg is known by its SIP and media ids as `party`.
    pub(super) async fn call_out(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        party: Party,
        ip: IpAddr,
        mut invite: OutboundCall,
        now: Instant,
    ) -> Result<CalledLeg, String> {
        let c = self.calls.get(&call).ok_or("the call is gone")?;
        let (Some(media_call), law) = (c.media_call, c.caller_media.as_ref().and_then(|m| m.law))
        else {
            return Err("the call has no media".into());
        };
        let info = self
            .media
            .open_leg(media_call, ip)
            .await
            .map_err(|e| e.to_string())?;
        let local = LocalMedia::new(ip, info.rtp.port(), rand::random::<u32>().into());
        invite.sdp = Bytes::from(local.offer(law, false).to_sdp());
        let sip = match ep.call(now, invite, ip) {
            Ok(id) => id,
            Err(e) => {
                let _ = self.media.close_leg(info.leg).await;
                return Err(e.to_string());
            }
        };
        self.by_leg.insert(sip, (call, party.clone()));
        self.by_media.insert(info.leg, (call, party));
        Ok(CalledLeg {
            sip,
            media: MediaSide {
                leg: info.leg,
                local,
                law: None,
            },
            answered: false,
        })
    }
}
