//! Attended transfer the way desk phones do it. The agent puts the caller on hold and dials
//! the target from the phone: that INVITE reaches rexian as a second dialog of the agent's
//! phone, and rexian makes it the agent's side of a consultation (call control's `Consult`)
//! in the caller's own media call — the target is dialled by rexian, never by the phone.
//! The phone's dialog rings until the target answers and is then answered and bridged to it.
//! The phone completes with REFER carrying `Replaces` (RFC 3891) that names one of its two
//! dialogs with rexian — resolved here against rexian's own legs, never forwarded — or
//! goes back by hanging up the consultation.

use std::time::Instant;

use bytes::Bytes;

use super::{Calls, MediaSide, Party};
use crate::call::agent::CallId;
use crate::call::event::AgentRequest;
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::{Leg, LegId};

/// The agent phone's consultation dialog.
pub(super) struct ConsultLeg {
    pub sip: LegId,
    pub media: MediaSide,
    /// Our SDP, sent in the 200 OK once the target answers.
    pub answer: Bytes,
    pub answered: bool,
    pub agent: String,
    /// The dialog's SIP Call-ID, which a REFER's `Replaces` names.
    pub call_id: String,
}

impl Calls {
    /// An INVITE to `dialled` from the phone of `agent`, who is on call `call`: consult.
    pub(super) async fn phone_consult(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        agent: String,
        call: CallId,
        dialled: String,
        now: Instant,
    ) {
        let Some(Leg::In(l)) = ep.leg(leg) else {
            return;
        };
        let offer = l.initial_offer().cloned();
        let call_id = l.invite().call_id.clone();
        let ip = self.local_ip_for(l.peer());
        let Some(c) = self.calls.get(&call) else {
            let _ = ep.reject(now, leg, 403);
            return;
        };
        if c.consult.is_some() {
            let _ = ep.reject(now, leg, 486); // one consultation at a time
            return;
        }
        let Some(media_call) = c.media_call else {
            let _ = ep.reject(now, leg, 403);
            return;
        };
        let (media, answer) = match self.answering_leg(media_call, ip, offer).await {
            Ok(x) => x,
            Err(status) => {
                let _ = ep.reject(now, leg, status);
                return;
            }
        };
        let request = AgentRequest::Consult { target: dialled };
        let media_leg = media.leg;
        if let Some(c) = self.calls.get_mut(&call) {
            c.consult = Some(ConsultLeg {
                sip: leg,
                media,
                answer,
                answered: false,
                agent: agent.clone(),
                call_id,
            });
        }
        let (actions, refused) = self.ask_control(agent, request, now);
        if let Some(reason) = refused {
            tracing::info!(call, %reason, "consultation from the phone refused");
            if let Some(c) = self.calls.get_mut(&call) {
                c.consult = None;
            }
            let _ = self.media.close_leg(media_leg).await;
            let _ = ep.reject(now, leg, 403);
        } else {
            self.by_leg.insert(leg, (call, Party::Consult));
            self.by_media.insert(media_leg, (call, Party::Consult));
            let _ = ep.ring(now, leg, 180, None);
        }
        for action in actions {
            self.act(ep, action, now).await;
        }
    }

    /// The target answered: the phone's consultation dialog is answered too.
    pub(super) fn answer_consult(&mut self, ep: &mut Endpoint, call: CallId, now: Instant) {
        let third_up = self
            .calls
            .get(&call)
            .and_then(|c| c.third.as_ref())
            .is_some_and(|t| t.answered);
        let Some(b) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) else {
            return;
        };
        if third_up && !b.answered {
            b.answered = true;
            if let Err(e) = ep.answer(now, b.sip, Some(b.answer.clone())) {
                tracing::debug!(error = %e, "consultation dialog could not be answered");
            }
        }
    }

    /// Ends the phone's consultation dialog (the transfer completed, or the agent is back
    /// with the caller): BYE once answered, 480 before.
    pub(super) async fn end_consult(&mut self, ep: &mut Endpoint, call: CallId, now: Instant) {
        let Some(b) = self.calls.get_mut(&call).and_then(|c| c.consult.take()) else {
            return;
        };
        self.by_leg.remove(&b.sip);
        self.by_media.remove(&b.media.leg);
        ep.hangup(now, b.sip);
        let _ = self.media.close_leg(b.media.leg).await;
    }

    /// The phone ended its consultation dialog: back to the caller, unless it was ended by
    /// us (the transfer completed).
    pub(super) async fn consult_ended(&mut self, call: CallId, leg: LegId, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.consult.as_ref().map(|b| b.sip) != Some(leg) {
            return;
        }
        let Some(b) = c.consult.take() else {
            return;
        };
        let third = c.third.is_some();
        self.by_media.remove(&b.media.leg);
        let _ = self.media.close_leg(b.media.leg).await;
        if third {
            // Its actions run with the leg event's.
            let request = AgentRequest::DropThird;
            self.control.handle(
                crate::call::event::Event::AgentRequest {
                    agent: b.agent,
                    request,
                },
                now,
            );
        }
    }

    /// The agent's dialogs with rexian on `call` that a `Replaces` may name: the agent's leg
    /// and the consultation.
    pub(super) fn replaces_names_own_dialog(
        &self,
        ep: &Endpoint,
        call: CallId,
        agent: &str,
        replaces: &str,
    ) -> bool {
        let wanted = replaces.split(';').next().unwrap_or_default().trim();
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let agent_leg = c
            .agents
            .get(agent)
            .and_then(|a| ep.leg(a.sip))
            .and_then(|l| l.dialog_id().map(|d| d.call_id.clone()));
        let Some(consult) = c.consult.as_ref() else {
            return false; // nothing to complete
        };
        !wanted.is_empty() && (agent_leg.as_deref() == Some(wanted) || consult.call_id == wanted)
    }
}
