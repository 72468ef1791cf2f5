//! Calls in the daemon: the joint between the SIP legs ([`Endpoint`]), call control
//! ([`CallControl`], which decides) and the media engine ([`MediaHandle`], which carries the
//! audio). It owns no policy: it turns leg events and media events into call-control events,
//! and call-control actions into leg commands and media commands.
//!
//! One citizen call is one [`CallId`] with one media call: the caller's leg (the trunk's
//! INVITE, answered by rexian) and an agent leg per ring attempt (an INVITE rexian sends to
//! the agent's registered contact, over the hop its REGISTER came from). Every leg's SDP
//! points at rexian's own RTP ports, so the caller never learns an agent's address and the
//! recording hears both sides.

mod answer;
mod audio;
mod call_out;
mod callback;
mod events;
mod live;
mod outbound;
mod phone_consult;
mod records;
mod service;
mod status;
mod third;

pub use events::EventSender;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;

use crate::call::agent::CallId;
use crate::call::control::{CallControl, WallClock};
use crate::call::event::{Action, Arrival, Event, Leg as CallLeg, RingFailure};
use crate::call::line::Dialled;
use crate::call::plan::Dialplan;
use crate::media::g711::Law;
use crate::media::prompt::Prompt;
use crate::media::sdp::{LocalMedia, SessionDescription};
use crate::metrics::Metrics;
use crate::pii::Pii;
use crate::shell::media::{load_prompt, MediaCall, MediaEvent, MediaHandle, MediaLeg, RemoteMedia};
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::{Leg, LegId};
use crate::sip::message::Request;
use crate::sip::session::{EndCause, SessionEvent};
use crate::store::Store;

/// Which party of a call a leg carries.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Party {
    Caller,
    Agent(String),
    /// The expert seat, sub-centre or emergency centre the agent brought in.
    Third,
    /// The agent phone's own dialog for an attended transfer (`phone_consult.rs`).
    Consult,
}

/// Our end of one leg's media.
pub(super) struct MediaSide {
    leg: MediaLeg,
    local: LocalMedia,
    law: Option<Law>,
}

/// A leg rexian called: an agent's phone, or the third party an agent brought in.
pub(super) struct CalledLeg {
    sip: LegId,
    media: MediaSide,
    answered: bool,
}

/// What the daemon keeps per citizen call besides call control's own state.
struct CallState {
    caller: LegId,
    media_call: Option<MediaCall>,
    caller_media: Option<MediaSide>,
    agents: HashMap<String, CalledLeg>,
    third: Option<CalledLeg>,
    consult: Option<phone_consult::ConsultLeg>,
    recording: Option<Uuid>,
    /// The ticket the desk named for this call (sent to sub-centres with a transfer).
    ticket: Option<String>,
    /// The caller's leg has ended (the record may still be coming).
    caller_gone: bool,
}

impl CallState {
    fn new(caller: LegId, media_call: Option<MediaCall>, caller_media: Option<MediaSide>) -> Self {
        CallState {
            caller,
            media_call,
            caller_media,
            agents: HashMap::new(),
            third: None,
            consult: None,
            recording: None,
            ticket: None,
            caller_gone: false,
        }
    }
}

/// The calls of one daemon.
pub struct Calls {
    control: CallControl,
    metrics: Arc<Metrics>,
    media: MediaHandle,
    store: Store,
    prompts: HashMap<String, Prompt>,
    calls: HashMap<CallId, CallState>,
    by_leg: HashMap<LegId, (CallId, Party)>,
    by_media: HashMap<MediaLeg, (CallId, Party)>,
    /// Recordings still being written; a call record is named by its recording's id.
    recordings: HashSet<Uuid>,
    /// Call-record writes, done in order by one task: a recording's path is only ever noted
    /// after its call record row is in.
    records: tokio::sync::mpsc::UnboundedSender<records::RecordWrite>,
    registered: HashSet<String>,
    /// Feature-code calls from agents' phones, by their media leg and by their SIP leg.
    services: HashMap<MediaLeg, service::ServiceCall>,
    service_legs: HashMap<LegId, MediaLeg>,
    next_call: CallId,
    /// The address we listen on, when it is a specific one.
    listen_ip: Option<IpAddr>,
    /// Operator events for agents' screens and supervisors (`/api/v1/events`).
    events: events::EventSender,
    /// Trunks' outbound addresses, resolved when the plan loads.
    trunk_addrs: HashMap<String, std::net::SocketAddr>,
    callbacks: callback::Book,
    outbound: outbound::Outbounds,
}

fn uri_user(value: &str) -> Option<String> {
    crate::call::line::uri_user(value)
}

impl Calls {
    /// Loads the dialplan's prompts (refusing a file that is not 8 kHz mono 16-bit PCM).
    pub async fn new(
        plan: Arc<Dialplan>,
        media: MediaHandle,
        store: Store,
        metrics: Arc<Metrics>,
        listen_ip: Option<IpAddr>,
        handoff_sms: Option<crate::store::handoffs::HandoffSms>,
        now: Instant,
    ) -> Result<Calls, String> {
        let mut prompts = HashMap::new();
        for (name, path) in &plan.prompts.files {
            let p = load_prompt(path)
                .await
                .map_err(|e| format!("prompt {name} ({}): {e}", path.display()))?;
            prompts.insert(name.clone(), p);
        }
        let trunk_addrs = third::resolve_trunks(&plan).await;
        let clock = WallClock {
            at: now,
            unix_ms: Utc::now().timestamp_millis(),
        };
        Ok(Calls {
            control: CallControl::new(plan, clock),
            metrics,
            media,
            prompts,
            calls: HashMap::new(),
            by_leg: HashMap::new(),
            by_media: HashMap::new(),
            recordings: HashSet::new(),
            records: records::spawn_writer(store.clone(), handoff_sms),
            store,
            registered: HashSet::new(),
            services: HashMap::new(),
            service_legs: HashMap::new(),
            next_call: 0,
            listen_ip: listen_ip.filter(|ip| !ip.is_unspecified()),
            trunk_addrs,
            callbacks: callback::Book::default(),
            events: events::channel(),
            outbound: Default::default(),
        })
    }

    pub fn plan(&self) -> &Arc<Dialplan> {
        self.control.plan()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.control.poll_timeout()
    }

    pub async fn handle_timeout(&mut self, ep: &mut Endpoint, now: Instant) {
        self.control.handle_timeout(now);
        self.run_actions(ep, now).await;
    }

    /// Calls in progress, for status and metrics.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// A new dialplan: new calls follow it, calls in progress keep theirs.
    pub async fn reload(&mut self, ep: &mut Endpoint, plan: Arc<Dialplan>, now: Instant) {
        for (name, path) in &plan.prompts.files {
            if let Ok(p) = load_prompt(path).await {
                self.prompts.insert(name.clone(), p);
            }
        }
        self.trunk_addrs = third::resolve_trunks(&plan).await;
        self.control.handle(Event::DialplanReloaded(plan), now);
        self.run_actions(ep, now).await;
    }

    /// The set of registered accounts changed: agents come and go for the ACD.
    pub async fn registrations_changed(&mut self, ep: &mut Endpoint, now: Instant) {
        let now_set: HashSet<String> = ep.registered_accounts(now).into_iter().collect();
        for agent in now_set.difference(&self.registered) {
            self.control.handle(
                Event::AgentRegistered {
                    agent: agent.clone(),
                },
                now,
            );
        }
        for agent in self.registered.difference(&now_set) {
            self.control.handle(
                Event::AgentUnregistered {
                    agent: agent.clone(),
                },
                now,
            );
        }
        self.registered = now_set;
        self.run_actions(ep, now).await;
    }

    /// A new INVITE. Only a configured trunk's address may call in; anything else is 403 and
    /// a security event (rexian must never place calls for strangers).
    pub async fn incoming(&mut self, ep: &mut Endpoint, leg: LegId, now: Instant) {
        let Some(Leg::In(l)) = ep.leg(leg) else {
            return;
        };
        let source = l.peer().addr;
        let invite = l.invite().clone();
        let plan = self.control.plan().clone();
        // An agent's phone calling rexian (a feature code) may share an address with a trunk
        // (the demo's loopback): a call from an account to a number that is no line of ours
        // is the phone's, and must pass digest.
        let dialled_user = invite.uri.user.clone().unwrap_or_default();
        let from_account = invite
            .from
            .uri
            .user
            .as_deref()
            .is_some_and(|u| ep.has_account(u));
        let trunk = plan
            .trunk_for(source.ip())
            .filter(|_| !(from_account && plan.line(&dialled_user).is_none()));
        let Some(trunk) = trunk else {
            let with_credentials = invite.headers.contains("Proxy-Authorization");
            if !from_account && !with_credentials {
                // Neither a trunk nor one of our phones: refused outright, and noted.
                tracing::warn!(
                    target: "rexian::security",
                    %source,
                    "INVITE refused: not from a configured trunk"
                );
                self.security_event("call_refused", source.to_string(), "not from a trunk");
                let _ = ep.reject(now, leg, 403);
                return;
            }
            // An agent's phone: it must pass digest (407 first).
            self.phone_call(ep, leg, now).await;
            return;
        };
        self.next_call += 1;
        let call = self.next_call;
        let (caller, privacy) = caller_of(&invite);
        let dialled = Dialled {
            request_user: invite.uri.user.clone().unwrap_or_default(),
            diversion: invite
                .headers
                .get_all("Diversion")
                .map(str::to_string)
                .collect(),
            history_info: invite
                .headers
                .get_all("History-Info")
                .map(str::to_string)
                .collect(),
            p_called_party_id: invite.headers.get("P-Called-Party-ID").map(str::to_string),
        };
        self.calls.insert(call, CallState::new(leg, None, None));
        self.by_leg.insert(leg, (call, Party::Caller));
        self.control.handle(
            Event::CallArrived(Arrival {
                call,
                trunk: Some(trunk.name.clone()),
                dialled,
                caller: Pii::new(caller),
                privacy,
            }),
            now,
        );
        self.run_actions(ep, now).await;
    }

    /// Something happened on a SIP leg.
    pub async fn leg_event(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        event: SessionEvent,
        now: Instant,
    ) {
        let Some(event) = self.outbound_leg(ep, leg, event, now).await else {
            return;
        };
        let Some((call, party)) = self.by_leg.get(&leg).cloned() else {
            if matches!(event, SessionEvent::Ended { .. }) {
                self.service_ended(leg).await;
            }
            return;
        };
        if party == Party::Caller && self.callback_leg(call, leg, &event, now).await {
            return self.run_actions(ep, now).await;
        }
        match (&party, event) {
            (Party::Third, SessionEvent::Offer { sdp }) => {
                self.reoffer(ep, call, &party, leg, &sdp, now).await;
            }
            (Party::Third, event) => self.third_event(call, leg, event, now).await,
            (_, SessionEvent::Ended { cause }) => {
                self.leg_ended(call, &party, leg, cause, now).await
            }
            (Party::Caller, SessionEvent::Answer { sdp }) => {
                // The caller's answer to our offer (late-offer INVITE).
                self.apply_answer(call, &party, &sdp).await;
            }
            (Party::Agent(_), SessionEvent::Progress { sdp: Some(sdp), .. }) => {
                // Reliable early media carries the agent's answer (the 2xx then has none).
                self.apply_answer(call, &party, &sdp).await;
            }
            (Party::Agent(agent), SessionEvent::Answered { sdp }) => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &party, &sdp).await;
                }
                if let Some(a) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.agents.get_mut(agent))
                {
                    a.answered = true;
                }
                self.control.handle(
                    Event::AgentAnswered {
                        call,
                        agent: agent.clone(),
                    },
                    now,
                );
            }
            (_, SessionEvent::Offer { sdp }) => {
                let on = self.reoffer(ep, call, &party, leg, &sdp, now).await;
                if let Some(on) = on {
                    self.control.handle(Event::Hold { call, on }, now);
                }
            }
            (Party::Caller, SessionEvent::Dtmf { digit, .. }) => {
                self.control.handle(Event::Dtmf { call, digit }, now);
            }
            (Party::Agent(agent), SessionEvent::Refer { target, replaces }) => {
                self.refer(ep, leg, agent.clone(), target, replaces, now)
                    .await;
            }
            (Party::Consult, SessionEvent::Refer { target, replaces }) => {
                let agent = self.calls.get(&call).and_then(|c| c.consult.as_ref());
                if let Some(agent) = agent.map(|b| b.agent.clone()) {
                    self.refer(ep, leg, agent, target, replaces, now).await;
                }
            }
            (Party::Agent(agent), SessionEvent::Dtmf { digit, .. }) => {
                self.control.handle(
                    Event::FeatureCode {
                        agent: agent.clone(),
                        call: Some(call),
                        digits: digit.to_string(),
                    },
                    now,
                );
            }
            _ => {}
        }
        self.run_actions(ep, now).await;
    }

    async fn leg_ended(
        &mut self,
        call: CallId,
        party: &Party,
        leg: LegId,
        cause: EndCause,
        now: Instant,
    ) {
        self.by_leg.remove(&leg);
        match party {
            Party::Caller => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.caller_gone = true;
                }
                let event = match cause {
                    EndCause::TransportFailure | EndCause::SessionExpired | EndCause::NoAck => {
                        Event::CallerFailed { call }
                    }
                    _ => Event::CallerHungUp { call },
                };
                self.control.handle(event, now);
            }
            Party::Third => {}
            Party::Consult => self.consult_ended(call, leg, now).await,
            Party::Agent(agent) => {
                let removed = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.agents.remove(agent));
                let answered = removed.as_ref().is_some_and(|a| a.answered);
                if let Some(a) = removed {
                    self.by_media.remove(&a.media.leg);
                    let _ = self.media.close_leg(a.media.leg).await;
                }
                let event = if answered {
                    Event::AgentHungUp { call }
                } else {
                    Event::AgentRingFailed {
                        call,
                        agent: agent.clone(),
                        cause: ring_failure(cause),
                    }
                };
                // A leg we ended (CANCEL or BYE on call control's word) needs no report.
                if cause != EndCause::Local {
                    self.control.handle(event, now);
                }
            }
        }
    }

    /// The media engine reported something.
    pub async fn media_event(&mut self, ep: &mut Endpoint, ev: MediaEvent, now: Instant) {
        match ev {
            MediaEvent::PlaybackDone { leg } => {
                let service = self.service_played(ep, leg, now).await;
                if let (false, Some((call, Party::Caller))) =
                    (service, self.by_media.get(&leg).cloned())
                {
                    self.control.handle(Event::PlaybackDone { call }, now);
                }
            }
            MediaEvent::DtmfDigit { leg, digit } => match self.by_media.get(&leg).cloned() {
                Some((call, Party::Caller)) => self.control.handle(
                    Event::Dtmf {
                        call,
                        digit: digit.digit,
                    },
                    now,
                ),
                Some((call, Party::Agent(agent))) => self.control.handle(
                    Event::FeatureCode {
                        agent,
                        call: Some(call),
                        digits: digit.digit.to_string(),
                    },
                    now,
                ),
                Some((call, Party::Consult)) => {
                    let agent = self.calls.get(&call).and_then(|c| c.consult.as_ref());
                    if let Some(agent) = agent.map(|b| b.agent.clone()) {
                        let digits = digit.digit.to_string();
                        let call = Some(call);
                        self.control.handle(
                            Event::FeatureCode {
                                agent,
                                call,
                                digits,
                            },
                            now,
                        );
                    }
                }
                Some((_, Party::Third)) | None => {}
            },
            MediaEvent::DeadMedia { leg } => {
                if let Some((call, party)) = self.by_media.get(&leg).cloned() {
                    tracing::warn!(call, ?party, "no media from a leg: ending it");
                    let sip = match &party {
                        Party::Caller => self.calls.get(&call).map(|c| c.caller),
                        Party::Agent(a) => self
                            .calls
                            .get(&call)
                            .and_then(|c| c.agents.get(a))
                            .map(|a| a.sip),
                        Party::Third => self
                            .calls
                            .get(&call)
                            .and_then(|c| c.third.as_ref())
                            .map(|t| t.sip),
                        Party::Consult => self
                            .calls
                            .get(&call)
                            .and_then(|c| c.consult.as_ref())
                            .map(|b| b.sip),
                    };
                    if let Some(sip) = sip {
                        ep.hangup(now, sip);
                    }
                }
            }
            MediaEvent::RecordingFinished {
                id,
                path,
                duration,
                error,
                ..
            } => {
                if let Some(e) = error {
                    tracing::warn!(%id, error = %e, "recording could not be finished");
                }
                if self.recordings.remove(&id) {
                    let _ = self.records.send(records::RecordWrite::Recording {
                        id: id.to_string(),
                        path: path.display().to_string(),
                        secs: duration.as_secs_f64(),
                    });
                }
            }
            MediaEvent::MediaResumed { .. }
            | MediaEvent::RemoteBye { .. }
            | MediaEvent::CommandFailed { .. } => {}
        }
        self.run_actions(ep, now).await;
    }

    /// Applies a party's SDP answer to our offer on its leg.
    async fn apply_answer(&mut self, call: CallId, party: &Party, sdp: &Bytes) {
        let Some(side) = self.side_mut(call, party) else {
            return;
        };
        let parsed = std::str::from_utf8(sdp)
            .ok()
            .and_then(|t| SessionDescription::parse(t).ok());
        let Some(neg) = parsed.and_then(|sd| side.local.accept_answer(&sd).ok()) else {
            tracing::warn!(call, ?party, "unusable SDP answer");
            return;
        };
        side.law = Some(neg.law);
        let leg = side.leg;
        let _ = self.media.set_remote(leg, RemoteMedia::from(&neg)).await;
    }

    /// A new offer on an established leg (hold, resume, a codec change): answer it from our
    /// side and move the media. Returns whether the party now holds the call.
    async fn reoffer(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        party: &Party,
        leg: LegId,
        sdp: &Bytes,
        now: Instant,
    ) -> Option<bool> {
        let parsed = std::str::from_utf8(sdp)
            .ok()
            .and_then(|t| SessionDescription::parse(t).ok());
        let side = self.side_mut(call, party)?;
        side.local.session_version += 1;
        match parsed.map(|sd| side.local.answer(&sd)) {
            Some(Ok((answer, neg))) => {
                side.law = Some(neg.law);
                let media_leg = side.leg;
                let _ = self
                    .media
                    .set_remote(media_leg, RemoteMedia::from(&neg))
                    .await;
                let _ = ep.accept_offer(now, leg, Bytes::from(answer.to_sdp()));
                Some(neg.on_hold)
            }
            _ => {
                let _ = ep.reject_offer(now, leg, 488);
                None
            }
        }
    }

    fn side_mut(&mut self, call: CallId, party: &Party) -> Option<&mut MediaSide> {
        let c = self.calls.get_mut(&call)?;
        match party {
            Party::Caller => c.caller_media.as_mut(),
            Party::Agent(a) => c.agents.get_mut(a).map(|a| &mut a.media),
            Party::Third => c.third.as_mut().map(|t| &mut t.media),
            Party::Consult => c.consult.as_mut().map(|b| &mut b.media),
        }
    }

    /// Carries out whatever call control decided.
    async fn run_actions(&mut self, ep: &mut Endpoint, now: Instant) {
        while let Some(action) = self.control.poll_action() {
            self.act(ep, action, now).await;
        }
        self.forget_finished();
    }

    async fn act(&mut self, ep: &mut Endpoint, action: Action, now: Instant) {
        match action {
            Action::RejectCaller { call, status } => {
                if let Some(c) = self.calls.get(&call) {
                    let _ = ep.reject(now, c.caller, status);
                }
            }
            Action::AnswerCaller { call } => self.answer_caller(ep, call, now).await,
            Action::Play {
                call,
                prompts,
                looping,
            } => self.play(call, &prompts, looping).await,
            Action::StartMoh { call, prompt } => self.play(call, &[prompt], true).await,
            Action::RingAgent {
                call,
                agent,
                line,
                line_name,
                caller,
            } => {
                let ok = self
                    .ring_agent(ep, call, &agent, &line, &line_name, &caller, now)
                    .await;
                if !ok {
                    self.control.handle(
                        Event::AgentRingFailed {
                            call,
                            agent,
                            cause: RingFailure::Unreachable,
                        },
                        now,
                    );
                }
            }
            Action::CancelRing { call, agent } => {
                let sip = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.agents.get(&agent))
                    .map(|a| a.sip);
                if let Some(sip) = sip {
                    ep.hangup(now, sip);
                }
            }
            Action::Bridge { call, agent } => {
                self.end_consult(ep, call, now).await;
                self.bridge(call, &agent).await
            }
            Action::StartRecording { .. } => {
                // Recording starts with the bridge (`bridge`), named by rexian's own id.
            }
            Action::Hangup { call, leg, .. } => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                let sip = match &leg {
                    CallLeg::Caller => Some(c.caller),
                    CallLeg::Agent(a) => c.agents.get(a).map(|a| a.sip),
                    CallLeg::Third => c.third.as_ref().map(|t| t.sip),
                };
                if let Some(sip) = sip {
                    ep.hangup(now, sip);
                }
                if leg != CallLeg::Caller {
                    self.end_consult(ep, call, now).await;
                }
            }
            Action::RestrictedNotice { call, caller } => {
                tracing::info!(call, %caller, "restricted caller told so");
            }
            Action::Dial {
                call,
                dest,
                present,
                line,
                emergency,
            } => {
                self.dial_third(ep, call, dest, present, &line, emergency, now)
                    .await
            }
            Action::Conference { call, agent } => self.conference(call, &agent).await,
            Action::BridgeThird { call } => self.bridge_third(call).await,
            Action::Consult { call, agent } => self.consult(ep, call, &agent, now).await,
            Action::Monitor { call, agent, mode } => self.monitor_media(call, &agent, mode).await,
            Action::CallRecordReady(record) => self.store_record(*record),
            Action::Operator(ev) => self.operator(ev),
            a @ Action::CallBack { .. } => self.call_back(ep, a, now).await,
            Action::Outbound(a) => self.outbound_act(ep, a, now).await,
        }
    }

    async fn answer_caller(&mut self, ep: &mut Endpoint, call: CallId, now: Instant) {
        let Some(caller_leg) = self.calls.get(&call).map(|c| c.caller) else {
            return;
        };
        let Some((media_call, side)) = self.anchor_and_answer(ep, caller_leg, now).await else {
            return;
        };
        self.by_media.insert(side.leg, (call, Party::Caller));
        if let Some(c) = self.calls.get_mut(&call) {
            c.media_call = Some(media_call);
            c.caller_media = Some(side);
        }
    }

    /// Drops calls whose caller leg and agent legs are all gone, ending their media (which
    /// finishes the recording).
    fn forget_finished(&mut self) {
        let done: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.caller_gone && c.agents.is_empty() && c.third.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.drop_call(id);
        }
    }

    /// Forgets a call and its caller leg; its media call ends in a task of its own, so the
    /// SIP task does not wait for the media engine.
    fn drop_call(&mut self, id: CallId) {
        if let Some(c) = self.calls.remove(&id) {
            self.by_leg.remove(&c.caller);
            if let Some(m) = &c.caller_media {
                self.by_media.remove(&m.leg);
            }
            if let Some(mc) = c.media_call {
                let media = self.media.clone();
                tokio::spawn(async move {
                    let _ = media.end_call(mc).await;
                });
            }
        }
    }

    /// Takes on a call whose caller leg rexian anchored itself (a callback's or an agent's
    /// outbound call): the caller is `sip`, its media `side` in `media_call`.
    fn adopt_call(&mut self, call: CallId, sip: LegId, media_call: MediaCall, side: MediaSide) {
        self.by_leg.insert(sip, (call, Party::Caller));
        self.by_media.insert(side.leg, (call, Party::Caller));
        self.calls
            .insert(call, CallState::new(sip, Some(media_call), Some(side)));
    }

    fn security_event(&self, kind: &str, source: String, detail: &str) {
        let ev = crate::store::security::SecurityEvent {
            at: crate::store::unix_now(),
            kind: kind.to_string(),
            source,
            detail: detail.to_string(),
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.record_security_event(&ev).await {
                tracing::warn!(error = %e, "cannot store a security event");
            }
        });
    }
}

/// The caller's number as the trunk presents it (P-Asserted-Identity, else From) and whether
/// they asked for privacy.
fn caller_of(invite: &Request) -> (String, bool) {
    let privacy = invite.headers.get_all("Privacy").any(|v| {
        v.split(';').any(|t| {
            matches!(
                t.trim().to_ascii_lowercase().as_str(),
                "id" | "user" | "header"
            )
        })
    });
    let number = invite
        .headers
        .get("P-Asserted-Identity")
        .and_then(uri_user)
        .or_else(|| invite.from.uri.user.clone())
        .unwrap_or_default();
    (number, privacy)
}

fn ring_failure(cause: EndCause) -> RingFailure {
    match cause {
        EndCause::Rejected(486 | 600) => RingFailure::Busy,
        EndCause::Rejected(603) => RingFailure::Declined,
        EndCause::Rejected(408 | 480 | 503) => RingFailure::Unreachable,
        EndCause::Rejected(s) => RingFailure::Other(s),
        _ => RingFailure::Unreachable,
    }
}
