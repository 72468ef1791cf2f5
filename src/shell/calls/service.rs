//! Calls from agents' phones to rexian itself. The phone is not a trunk, so it proves who it
//! is with digest (407); then a feature code (`*21` sign in, `*22` sign out, `*23` ready,
//! `*24` not ready, as the dialplan's features say) is carried out and confirmed with a
//! short prompt before rexian hangs up. Any other number is an outbound call
//! (`outbound.rs`): refused with 403 and a security event unless a dialplan allows it.

use std::time::Instant;

use super::Calls;
use crate::call::event::{Action, Event, OperatorEvent};
use crate::shell::media::{MediaCall, MediaLeg};
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::{Leg, LegId};

/// A feature-code call in progress: its SIP leg and media, until the prompt ends.
pub(super) struct ServiceCall {
    pub leg: LegId,
    pub media_call: MediaCall,
}

impl Calls {
    /// An INVITE from a source that is not a trunk.
    pub(super) async fn phone_call(&mut self, ep: &mut Endpoint, leg: LegId, now: Instant) {
        let Some(agent) = ep.authenticate_caller(now, leg) else {
            return; // challenged (407) or locked out (403)
        };
        let Some(Leg::In(l)) = ep.leg(leg) else {
            return;
        };
        let dialled = l.invite().uri.user.clone().unwrap_or_default();
        let features = self.control.plan().features.clone();
        // A citizen's call the agent is on (an outbound call of its own has no consultation).
        let consult_call = self
            .control
            .agent_call(&agent)
            .filter(|c| !self.control.is_outbound(*c));
        let prompt = if dialled == features.login {
            "agent_logged_in"
        } else if dialled == features.logout {
            "agent_logged_out"
        } else if dialled == features.ready {
            "agent_ready"
        } else if dialled == features.not_ready {
            "agent_not_ready"
        } else if let Some(call) = consult_call {
            // An agent on a call dials from the phone: an attended transfer's consultation.
            return self.phone_consult(ep, leg, agent, call, dialled, now).await;
        } else {
            // Not a feature code: the agent's own outbound call (refused with 403 and a
            // security event when no dialplan allows the number).
            return self.outbound_from_phone(ep, leg, agent, dialled, now).await;
        };
        self.control.handle(
            Event::FeatureCode {
                agent: agent.clone(),
                call: None,
                digits: dialled.clone(),
            },
            now,
        );
        // Call control refuses some codes (signing out during a call, say): tell the agent.
        let mut refused = false;
        while let Some(action) = self.control.poll_action() {
            if let Action::Operator(OperatorEvent::FeatureRefused { .. }) = &action {
                refused = true;
            }
            self.act(ep, action, now).await;
        }
        let prompt = if refused { "feature_refused" } else { prompt };
        let Some((media_call, side)) = self.anchor_and_answer(ep, leg, now).await else {
            return;
        };
        let Some(p) = self.prompts.get(prompt).cloned() else {
            tracing::warn!(prompt, "no such prompt: ending the feature call");
            ep.hangup(now, leg);
            let _ = self.media.end_call(media_call).await;
            return;
        };
        let _ = self.media.play(side.leg, vec![p], false).await;
        self.services
            .insert(side.leg, ServiceCall { leg, media_call });
        self.service_legs.insert(leg, side.leg);
    }

    /// The confirmation has played: hang up.
    pub(super) async fn service_played(
        &mut self,
        ep: &mut Endpoint,
        media: MediaLeg,
        now: Instant,
    ) -> bool {
        let Some(s) = self.services.remove(&media) else {
            return false;
        };
        self.service_legs.remove(&s.leg);
        ep.hangup(now, s.leg);
        let _ = self.media.end_call(s.media_call).await;
        true
    }

    /// The agent hung up before the confirmation ended.
    pub(super) async fn service_ended(&mut self, leg: LegId) -> bool {
        let Some(media) = self.service_legs.remove(&leg) else {
            return false;
        };
        if let Some(s) = self.services.remove(&media) {
            let _ = self.media.end_call(s.media_call).await;
        }
        true
    }
}
