//! Agents' own outbound calls on the SIP and media side (`call::control::outbound` decides).
//!
//! From the softphone: the phone's INVITE (already digest-authenticated) is kept unanswered
//! while rexian dials the number over a trunk; the far end's 180 is passed on, its early
//! media as a 183 with our SDP, and its answer answers the phone. Click-to-dial from the desk:
//! rexian rings the agent's phone first (showing the number), then dials. Either way the two
//! legs live in one media call, bridged and recorded when the far end answers (left = the
//! called party, right = the agent), and the call record is written with direction
//! `outbound` and the ticket named.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;

use super::{Calls, MediaSide, Party};
use crate::call::agent::CallId;
use crate::call::caller::normalise;
use crate::call::control::outbound::{Origin, OutboundAction, OutboundEvent, OutboundRecord};
use crate::call::event::{Dest, Event, RingFailure};
use crate::pii::Pii;
use crate::shell::media::RecordingSpec;
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::{Leg, LegId};
use crate::sip::message::{NameAddr, Uri};
use crate::sip::session::uac::OutboundCall;
use crate::sip::session::SessionEvent;
use crate::store::calls::CallRecordRow;

/// The shell's side of one outbound call (the legs and media are in the call's `CallState`).
pub(super) struct OutCall {
    origin: Origin,
    /// Our SDP answer to the phone's INVITE, sent with 183 (early media) and 200.
    answer: Option<Bytes>,
    /// The phone's INVITE has had its 200 OK (or rexian's INVITE to the desk's phone its).
    agent_up: bool,
    /// The far end's media is connected to the agent (early media or answer).
    bridged: bool,
    /// Set when call control refused the request: (status, reason).
    refused: Option<(u16, &'static str)>,
    /// Where the phone's INVITE came from, for a security event.
    source: String,
}

/// Outbound calls of the daemon, by call id.
#[derive(Default)]
pub(super) struct Outbounds {
    calls: HashMap<CallId, OutCall>,
}

impl Calls {
    /// The authenticated phone of `agent` dialled `number`, which is no feature code.
    pub(super) async fn outbound_from_phone(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        agent: String,
        number: String,
        now: Instant,
    ) {
        let Some(Leg::In(l)) = ep.leg(leg) else {
            return;
        };
        let source = l.peer().addr.to_string();
        let Some((media_call, side, answer)) = self.anchor_unanswered(ep, leg, now).await else {
            return;
        };
        self.next_call += 1;
        let call = self.next_call;
        self.adopt_call(call, leg, media_call, side);
        self.outbound.calls.insert(
            call,
            OutCall {
                origin: Origin::Phone,
                answer: Some(answer),
                agent_up: false,
                bridged: false,
                refused: None,
                source,
            },
        );
        let asked = OutboundEvent::Asked {
            call,
            agent,
            number: Pii::new(number),
            ticket: None,
            origin: Origin::Phone,
        };
        self.control.handle(Event::Outbound(asked), now);
        self.run_actions(ep, now).await;
    }

    /// Click-to-dial: rings `agent`'s phone, then dials `number`. The call's id, or the
    /// HTTP status and reason it was refused with.
    pub async fn dial(
        &mut self,
        ep: &mut Endpoint,
        agent: String,
        number: String,
        ticket: Option<String>,
        now: Instant,
    ) -> Result<CallId, (u16, String)> {
        if ep.contacts(&agent, now).is_empty() {
            return Err((409, format!("the phone of {agent} is not registered")));
        }
        self.next_call += 1;
        let call = self.next_call;
        self.outbound.calls.insert(
            call,
            OutCall {
                origin: Origin::Desk,
                answer: None,
                agent_up: false,
                bridged: false,
                refused: None,
                source: "api".into(),
            },
        );
        let asked = OutboundEvent::Asked {
            call,
            agent,
            number: Pii::new(number),
            ticket: ticket.clone(),
            origin: Origin::Desk,
        };
        self.control.handle(Event::Outbound(asked), now);
        self.run_actions(ep, now).await;
        if let Some(c) = self.calls.get_mut(&call) {
            c.ticket = ticket; // the far end's INVITE names it too
        }
        match self.outbound.calls.get(&call).and_then(|o| o.refused) {
            Some((status, reason)) => {
                self.outbound.calls.remove(&call);
                let http = if status == 403 { 422 } else { 409 };
                Err((http, reason.to_string()))
            }
            None => Ok(call),
        }
    }

    /// A SIP event on a leg of an outbound call is handled here (`None`); any other is
    /// handed back.
    pub(super) async fn outbound_leg(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        event: SessionEvent,
        now: Instant,
    ) -> Option<SessionEvent> {
        let Some((call, party)) = self.by_leg.get(&leg).cloned() else {
            return Some(event);
        };
        if !self.outbound.calls.contains_key(&call) {
            return Some(event);
        }
        let report = match (&party, event) {
            (_, SessionEvent::Offer { sdp }) => {
                self.reoffer(ep, call, &party, leg, &sdp, now).await;
                None
            }
            (Party::Third, SessionEvent::Progress { sdp, .. }) => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &Party::Third, &sdp).await;
                    self.early_media(ep, call, now).await;
                }
                Some(OutboundEvent::FarRinging { call })
            }
            (Party::Third, SessionEvent::Answered { sdp }) => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &Party::Third, &sdp).await;
                }
                if let Some(t) = self.calls.get_mut(&call).and_then(|c| c.third.as_mut()) {
                    t.answered = true;
                }
                Some(OutboundEvent::FarAnswered { call })
            }
            (Party::Third, SessionEvent::Ended { cause }) => {
                self.by_leg.remove(&leg);
                let gone = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.third.take_if(|t| t.sip == leg));
                match gone {
                    Some(t) => {
                        self.by_media.remove(&t.media.leg);
                        let _ = self.media.close_leg(t.media.leg).await;
                        // Reported even when rexian ended it (dead media, say): call
                        // control ignores it for a call it has already finished.
                        Some(if t.answered {
                            OutboundEvent::FarHungUp { call }
                        } else {
                            OutboundEvent::FarFailed {
                                call,
                                cause: super::ring_failure(cause),
                            }
                        })
                    }
                    None => None,
                }
            }
            (Party::Caller, SessionEvent::Answer { sdp }) => {
                // The phone's answer to our offer (late-offer INVITE, or the desk's ring).
                self.apply_answer(call, &party, &sdp).await;
                None
            }
            (Party::Caller, SessionEvent::Progress { sdp: Some(sdp), .. }) => {
                self.apply_answer(call, &party, &sdp).await;
                None
            }
            (Party::Caller, SessionEvent::Answered { sdp }) => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &party, &sdp).await;
                }
                if let Some(o) = self.outbound.calls.get_mut(&call) {
                    o.agent_up = true;
                }
                Some(OutboundEvent::AgentAnswered { call })
            }
            (Party::Caller, SessionEvent::Ended { .. }) => {
                // However it ended (the phone, rexian, dead media), the agent's side is gone.
                self.by_leg.remove(&leg);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.caller_gone = true;
                }
                Some(OutboundEvent::AgentGone { call })
            }
            _ => None,
        };
        if let Some(e) = report {
            self.control.handle(Event::Outbound(e), now);
        }
        self.run_actions(ep, now).await;
        self.outbound_forget(call);
        None
    }

    /// Carries out one of call control's outbound actions.
    pub(super) async fn outbound_act(
        &mut self,
        ep: &mut Endpoint,
        a: OutboundAction,
        now: Instant,
    ) {
        match a {
            OutboundAction::Refused {
                call,
                status,
                reason,
                security,
            } => self.outbound_refused(ep, call, status, reason, security, now),
            OutboundAction::RingAgent {
                call,
                agent,
                number,
            } => {
                if let Err(e) = self.ring_own_phone(ep, call, &agent, &number, now).await {
                    tracing::warn!(call, %agent, error = %e, "cannot ring the agent's phone");
                    self.control
                        .handle(Event::Outbound(OutboundEvent::AgentGone { call }), now);
                }
            }
            OutboundAction::Dial {
                call,
                trunk,
                number,
                present,
            } => {
                let dest = Dest::Trunk {
                    trunk,
                    number: number.expose().clone(),
                };
                let line = present.clone();
                self.dial_third(ep, call, dest, Pii::new(present), &line, false, now)
                    .await;
                let placed = self.calls.get(&call).is_some_and(|c| c.third.is_some());
                if !placed {
                    let cause = RingFailure::Unreachable;
                    let e = OutboundEvent::FarFailed { call, cause };
                    self.control.handle(Event::Outbound(e), now);
                }
            }
            OutboundAction::Ringing { call } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                let bridged = self.outbound.calls.get(&call).is_some_and(|o| o.bridged);
                if !bridged {
                    let _ = ep.ring(now, c.caller, 180, None);
                }
            }
            OutboundAction::Connect { call } => self.outbound_connect(ep, call, now).await,
            OutboundAction::HangupAgent { call, status } => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                let leg = c.caller;
                let waiting = self
                    .outbound
                    .calls
                    .get(&call)
                    .is_some_and(|o| o.origin == Origin::Phone && !o.agent_up);
                if waiting {
                    // The phone's INVITE gets the far end's answer as its final status.
                    let _ = ep.reject(now, leg, status);
                    c.caller_gone = true;
                    self.by_leg.remove(&leg);
                } else {
                    ep.hangup(now, leg);
                }
            }
            OutboundAction::HangupFar { call } => {
                let sip = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.third.as_ref())
                    .map(|t| t.sip);
                if let Some(sip) = sip {
                    ep.hangup(now, sip);
                }
            }
            OutboundAction::Record(r) => self.outbound_record(*r),
        }
        self.outbound_forget_all();
    }

    fn outbound_refused(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        status: u16,
        reason: &'static str,
        security: bool,
        now: Instant,
    ) {
        let Some(o) = self.outbound.calls.get_mut(&call) else {
            return;
        };
        o.refused = Some((status, reason));
        let source = o.source.clone();
        if security {
            tracing::warn!(
                target: "rexian::security",
                call,
                %source,
                "outbound call refused: no dialplan allows the number"
            );
            self.security_event("call_refused", source, "agent call with no route");
        } else {
            tracing::info!(call, reason, "outbound call refused");
        }
        if let Some(c) = self.calls.get_mut(&call) {
            let _ = ep.reject(now, c.caller, status);
            c.caller_gone = true;
            let leg = c.caller;
            self.by_leg.remove(&leg);
            // The phone has its answer; a desk's request keeps the entry until `dial` reads it.
            self.outbound.calls.remove(&call);
        }
    }

    /// 183 with our SDP to a phone that waits, and the far end's early media (ringback,
    /// announcements) to the agent.
    async fn early_media(&mut self, ep: &mut Endpoint, call: CallId, now: Instant) {
        let Some(o) = self.outbound.calls.get(&call) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(agent), Some(far)) = (
            c.caller_media.as_ref().map(|m| m.leg),
            c.third.as_ref().map(|t| t.media.leg),
        ) else {
            return;
        };
        if o.origin == Origin::Phone && !o.agent_up {
            let sdp = o.answer.clone();
            let _ = ep.ring(now, c.caller, 183, sdp);
        }
        if let Err(e) = self.media.bridge(far, agent, None).await {
            tracing::warn!(call, error = %e, "cannot pass early media");
        }
        if let Some(o) = self.outbound.calls.get_mut(&call) {
            o.bridged = true;
        }
    }

    /// The far end answered: the phone's INVITE gets its 200, the two are bridged and
    /// recorded (left = the called party, right = the agent).
    async fn outbound_connect(&mut self, ep: &mut Endpoint, call: CallId, now: Instant) {
        let Some(o) = self.outbound.calls.get_mut(&call) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if o.origin == Origin::Phone && !o.agent_up {
            if let Err(e) = ep.answer(now, c.caller, o.answer.clone()) {
                tracing::debug!(call, error = %e, "the phone's INVITE could not be answered");
            }
            o.agent_up = true;
        }
        o.bridged = true;
        let (Some(agent), Some(far)) = (
            c.caller_media.as_ref().map(|m| m.leg),
            c.third.as_ref().map(|t| t.media.leg),
        ) else {
            return;
        };
        let id = *c.recording.get_or_insert_with(Uuid::new_v4);
        self.recordings.insert(id);
        let spec = RecordingSpec {
            id,
            started: Utc::now(),
            caller: far,
        };
        if let Err(e) = self.media.bridge(far, agent, Some(spec)).await {
            tracing::warn!(call, error = %e, "cannot bridge an outbound call");
        }
    }

    /// Click-to-dial's first step: INVITE the agent's own phone, the number on its screen.
    async fn ring_own_phone(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        agent: &str,
        number: &Pii<String>,
        now: Instant,
    ) -> Result<(), String> {
        let (contact, peer) = ep
            .contacts(agent, now)
            .into_iter()
            .next()
            .ok_or("not registered")?;
        let ip = self.local_ip_for(peer);
        let (media_call, info, local) = self.new_media_leg(ip).await?;
        let mut from = NameAddr::new(Uri::sip(Some(number.expose()), &ip.to_string(), None));
        from.display = Some("\"外呼\"".into());
        let invite = OutboundCall {
            target: contact,
            peer,
            from,
            to: NameAddr::new(Uri::sip(Some(agent), &ip.to_string(), None)),
            call_id: Uuid::new_v4().simple().to_string(),
            sdp: Bytes::from(local.offer(None, false).to_sdp()),
            headers: vec![("X-Rexian-Outbound".into(), number.expose().clone())],
            credentials: None,
        };
        let sip = match ep.call(now, invite, ip) {
            Ok(id) => id,
            Err(e) => {
                let _ = self.media.end_call(media_call).await;
                return Err(e.to_string());
            }
        };
        let side = MediaSide {
            leg: info.leg,
            local,
            law: None,
        };
        self.adopt_call(call, sip, media_call, side);
        Ok(())
    }

    /// The call record, with direction `outbound` and the ticket.
    fn outbound_record(&mut self, r: OutboundRecord) {
        let Some(c) = self.calls.get(&r.call) else {
            return;
        };
        let id = c.recording.unwrap_or_else(Uuid::new_v4).to_string();
        let area = self.control.plan().area_code.clone();
        let kind = normalise(r.number.expose(), false, &area).kind;
        let row = CallRecordRow {
            id,
            line: r.present.clone(),
            line_name: format!("outbound/{}", r.origin.as_str()),
            dialled: r.number.expose().clone(),
            trunk: r.trunk.clone(),
            caller: r.number.expose().clone(),
            caller_kind: kind.as_str().to_string(),
            arrived_ms: r.asked_ms,
            ring_attempts: i64::from(r.trunk.is_some()),
            agent: Some(r.agent.clone()),
            answered_ms: r.answered_ms,
            ended_ms: r.ended_ms,
            hangup_cause: r.cause.to_string(),
            // Not queued, not rated; the recording is linked when it is finished.
            ..Default::default()
        };
        let _ = self.records.send(super::records::RecordWrite::Outbound(
            Box::new(row),
            r.ticket,
        ));
    }

    /// Forgets the shell's part of an outbound call once both its legs are gone (the call's
    /// state itself goes with the other calls', in `forget_finished`).
    fn outbound_forget(&mut self, call: CallId) {
        let done = self
            .calls
            .get(&call)
            .is_none_or(|c| c.caller_gone && c.third.is_none());
        if done {
            self.outbound.calls.remove(&call);
        }
    }

    fn outbound_forget_all(&mut self) {
        let ids: Vec<CallId> = self.outbound.calls.keys().copied().collect();
        for call in ids {
            // A refused click-to-dial keeps its entry until `dial` has read the reason.
            if self
                .outbound
                .calls
                .get(&call)
                .is_some_and(|o| o.refused.is_none())
            {
                self.outbound_forget(call);
            }
        }
    }
}
