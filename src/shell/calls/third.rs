//! The third party of a call on the SIP and media side: the INVITE to an expert seat, a
//! sub-centre or an emergency centre (over a trunk, presenting the number call control chose),
//! its leg events back to call control, and the media changes call control asks for (mix
//! three, connect caller and third party, release a leg). The third party's leg lives in the
//! caller's media call, so the one recording of the call hears it on the right channel.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::{Calls, Party};
use crate::call::agent::CallId;
use crate::call::event::{
    Action, AgentRequest, Dest, Event, MonitorMode, OperatorEvent, RingFailure,
};
use crate::call::plan::Dialplan;
use crate::pii::Pii;
use crate::shell::media::PartyRole;
use crate::sip::digest_client::ClientCredentials;
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::LegId;
use crate::sip::message::{NameAddr, Uri};
use crate::sip::peer::Peer;
use crate::sip::session::uac::OutboundCall;
use crate::sip::session::{EndCause, SessionEvent};

/// The outbound address of every trunk that has one, resolved once per dialplan (a name is
/// looked up when the plan loads, not while an emergency call waits).
pub(super) async fn resolve_trunks(plan: &Dialplan) -> HashMap<String, SocketAddr> {
    let mut out = HashMap::new();
    for t in &plan.trunks {
        let Some(addr) = &t.address else { continue };
        match tokio::net::lookup_host(addr.as_str()).await {
            Ok(mut a) => {
                if let Some(a) = a.next() {
                    out.insert(t.name.clone(), a);
                }
            }
            Err(e) => tracing::warn!(trunk = %t.name, error = %e, "trunk address not resolved"),
        }
    }
    out
}

/// Where a SIP URI's host and port point (literal addresses only: remote seats are named by
/// address in the dialplans).
fn uri_peer(uri: &Uri) -> Option<Peer> {
    let ip: IpAddr = uri.host.trim_matches(['[', ']']).parse().ok()?;
    Some(Peer::udp(SocketAddr::new(ip, uri.port.unwrap_or(5060))))
}

impl Calls {
    /// Call control's `Dial`: INVITE the third party with our offer, in the caller's media call.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn dial_third(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        dest: Dest,
        present: Pii<String>,
        line: &str,
        emergency: bool,
        now: Instant,
    ) {
        let target = match &dest {
            Dest::Account(id) => ep.contacts(id, now).into_iter().next(),
            Dest::Uri(u) => crate::sip::uri::parse_uri(u)
                .ok()
                .and_then(|u| uri_peer(&u).map(|p| (u, p))),
            Dest::Trunk { trunk, number } => self.trunk_addrs.get(trunk).map(|a| {
                let uri = Uri::sip(Some(number), &a.ip().to_string(), Some(a.port()));
                (uri, Peer::udp(*a))
            }),
        };
        let Some((target, peer)) = target else {
            tracing::warn!(call, ?dest, "third party cannot be reached: no address");
            return self.control.handle(
                Event::ThirdFailed {
                    call,
                    cause: RingFailure::Unreachable,
                },
                now,
            );
        };
        let ip = self.local_ip_for(peer);
        let shown = Some(present.expose().as_str()).filter(|s| !s.is_empty());
        let from = NameAddr::new(Uri::sip(shown, &ip.to_string(), None));
        let mut headers = vec![("X-Rexian-Line".to_string(), line.to_string())];
        if let Some(n) = shown {
            // The number the far end may call back (号码透传 where the trunk passes it).
            headers.push(("P-Asserted-Identity".into(), format!("<sip:{n}@{ip}>")));
        }
        if let Some(c) = self.calls.get(&call) {
            if let Some(id) = c.recording {
                headers.push(("X-Rexian-Call".into(), id.to_string()));
            }
            if let Some(t) = &c.ticket {
                headers.push(("X-Rexian-Ticket".into(), t.clone()));
            }
        }
        if emergency {
            headers.push(("Priority".into(), "emergency".into()));
        }
        // A trunk with an account at the carrier answers its digest challenge.
        let credentials = match &dest {
            Dest::Trunk { trunk, .. } => self.trunk_credentials(trunk),
            _ => None,
        };
        let outbound = OutboundCall {
            to: NameAddr::new(target.clone()),
            target,
            peer,
            from,
            call_id: Uuid::new_v4().simple().to_string(),
            sdp: Bytes::new(),
            headers,
            credentials,
        };
        match self
            .call_out(ep, call, Party::Third, ip, outbound, now)
            .await
        {
            Ok(leg) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.third = Some(leg);
                }
            }
            Err(e) => {
                tracing::warn!(call, error = %e, "cannot call the third party");
                let cause = RingFailure::Unreachable;
                self.control.handle(Event::ThirdFailed { call, cause }, now);
            }
        }
    }

    /// The account a trunk answers a carrier's digest challenge with, when it has one.
    pub(super) fn trunk_credentials(&self, trunk: &str) -> Option<ClientCredentials> {
        let plan = self.control.plan();
        let t = plan.trunks.iter().find(|t| t.name == trunk)?;
        t.auth.as_ref().map(crate::shell::trunks::credentials)
    }

    /// A SIP event on the third party's leg.
    pub(super) async fn third_event(
        &mut self,
        call: CallId,
        leg: LegId,
        event: SessionEvent,
        now: Instant,
    ) {
        match event {
            SessionEvent::Progress { sdp, .. } => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &Party::Third, &sdp).await;
                }
                self.control.handle(Event::ThirdRinging { call }, now);
            }
            SessionEvent::Answered { sdp } => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &Party::Third, &sdp).await;
                }
                if let Some(t) = self.calls.get_mut(&call).and_then(|c| c.third.as_mut()) {
                    t.answered = true;
                }
                self.control.handle(Event::ThirdAnswered { call }, now);
            }
            SessionEvent::Ended { cause } => {
                self.by_leg.remove(&leg);
                let gone = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.third.take_if(|t| t.sip == leg));
                let Some(t) = gone else {
                    return;
                };
                self.by_media.remove(&t.media.leg);
                let _ = self.media.close_leg(t.media.leg).await;
                if cause == EndCause::Local {
                    return; // ended on call control's word
                }
                let event = if t.answered {
                    Event::ThirdHungUp { call }
                } else {
                    Event::ThirdFailed {
                        call,
                        cause: super::ring_failure(cause),
                    }
                };
                self.control.handle(event, now);
            }
            _ => {}
        }
    }

    /// An agent's in-call request from the API: carried out now; the answer says whether call
    /// control took it on (and on which call) or why it refused.
    pub async fn agent_call(
        &mut self,
        ep: &mut Endpoint,
        agent: String,
        request: AgentRequest,
        ticket: Option<String>,
        now: Instant,
    ) -> Result<CallId, String> {
        let Some(call) = self.control.agent_call(&agent) else {
            return Err(format!("agent {agent} has no call in progress"));
        };
        if let (Some(t), Some(c)) = (ticket, self.calls.get_mut(&call)) {
            c.ticket = Some(t);
        }
        let (actions, refused) = self.ask_control(agent, request, now);
        for action in actions {
            self.act(ep, action, now).await;
        }
        self.forget_finished();
        match refused {
            Some(reason) => Err(reason),
            None => Ok(call),
        }
    }

    /// Hands an agent's request to call control; returns what it decided to do (not done
    /// yet) and its reason when it refused.
    pub(super) fn ask_control(
        &mut self,
        agent: String,
        request: AgentRequest,
        now: Instant,
    ) -> (Vec<Action>, Option<String>) {
        self.decide(Event::AgentRequest { agent, request }, now)
    }

    /// Hands `event` to call control; returns its actions (not carried out yet) and its
    /// reason when it refused the request.
    fn decide(&mut self, event: Event, now: Instant) -> (Vec<Action>, Option<String>) {
        self.control.handle(event, now);
        let mut refused = None;
        let actions: Vec<Action> = std::iter::from_fn(|| self.control.poll_action()).collect();
        for a in &actions {
            if let Action::Operator(OperatorEvent::FeatureRefused { reason, .. }) = a {
                refused = Some(reason.to_string());
            }
        }
        (actions, refused)
    }

    /// The agent's phone asked for a transfer (REFER, RFC 3515; already answered 202): a
    /// blind transfer — or an emergency hand-off for 110/119/120/122 … — carried out by
    /// rexian on the caller's leg, never forwarded. The phone hears how it went in a NOTIFY
    /// before its leg is released. With `Replaces` naming its consultation (attended transfer,
    /// `phone_consult.rs`) the transfer is completed.
    pub(super) async fn refer(
        &mut self,
        ep: &mut Endpoint,
        leg: LegId,
        agent: String,
        target: String,
        replaces: Option<String>,
        now: Instant,
    ) {
        if let Some(r) = replaces {
            // Attended transfer from the phone: the Replaces must name one of this agent's
            // own dialogs with rexian on this call (RFC 3891 §3: 481 otherwise).
            let call = self.control.agent_call(&agent);
            let own = call.is_some_and(|c| self.replaces_names_own_dialog(ep, c, &agent, &r));
            if !own {
                ep.notify_refer(now, leg, 481, "Call/Transaction Does Not Exist", true);
                return;
            }
            let (actions, refused) = self.ask_control(agent, AgentRequest::Complete, now);
            match refused {
                Some(_) => ep.notify_refer(now, leg, 403, "Forbidden", true),
                None => ep.notify_refer(now, leg, 200, "OK", true),
            }
            for action in actions {
                self.act(ep, action, now).await;
            }
            return;
        }
        let request = if self.control.plan().is_emergency(&target) {
            AgentRequest::Emergency {
                number: target,
                three_way: None,
                reason: "REFER from the phone".into(),
            }
        } else {
            AgentRequest::BlindTransfer { target }
        };
        let (actions, refused) = self.ask_control(agent, request, now);
        match refused {
            Some(reason) => {
                tracing::info!(%reason, "transfer asked by REFER refused");
                ep.notify_refer(now, leg, 403, "Forbidden", true);
            }
            None => ep.notify_refer(now, leg, 200, "OK", true),
        }
        for action in actions {
            self.act(ep, action, now).await;
        }
    }

    /// 监听 / 耳语 / 强插: calls the supervisor's registered phone into the call, or switches
    /// the mode of a supervisor already on it (every use logged with who).
    pub async fn monitor(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        supervisor: String,
        mode: MonitorMode,
        now: Instant,
    ) -> Result<(), String> {
        if !self.control.has_call(call) {
            return Err(format!("no call {call}"));
        }
        if ep.contacts(&supervisor, now).is_empty() {
            return Err(format!("the phone of {supervisor} is not registered"));
        }
        tracing::warn!(
            target: "rexian::audit",
            call,
            %supervisor,
            mode = mode.as_str(),
            "supervisor on a call"
        );
        let event = Event::Monitor {
            call,
            supervisor,
            mode,
        };
        let (actions, refused) = self.decide(event, now);
        for action in actions {
            self.act(ep, action, now).await;
        }
        refused.map_or(Ok(()), Err)
    }

    /// What each party hears with a supervisor on the call.
    pub(super) async fn monitor_media(&mut self, call: CallId, agent: &str, mode: MonitorMode) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(caller), Some(a), Some(sup)) = (
            c.caller_media.as_ref().map(|m| m.leg),
            c.agents.get(agent).map(|a| a.media.leg),
            c.third.as_ref().map(|t| t.media.leg),
        ) else {
            return;
        };
        let role = match mode {
            MonitorMode::Listen => PartyRole::Listen,
            MonitorMode::Whisper => PartyRole::Whisper(a),
            MonitorMode::Barge => PartyRole::Full,
        };
        let _ = self.media.stop_play(caller).await;
        let parties = vec![(caller, PartyRole::Full), (a, PartyRole::Full), (sup, role)];
        if let Err(e) = self.media.set_roles(parties, None).await {
            tracing::warn!(call, error = %e, "cannot put the supervisor on the call");
        }
    }

    /// 强拆: a supervisor ends a call (logged with who did it).
    pub async fn force_hangup(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        by: &str,
        now: Instant,
    ) -> bool {
        if !self.control.has_call(call) {
            return false;
        }
        tracing::warn!(target: "rexian::audit", call, %by, "call ended by a supervisor");
        self.control.handle(Event::ForceHangup { call }, now);
        self.run_actions(ep, now).await;
        true
    }

    /// Mixes caller, agent and third party.
    pub(super) async fn conference(&mut self, call: CallId, agent: &str) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let legs: Vec<_> = [
            c.caller_media.as_ref().map(|m| m.leg),
            c.agents.get(agent).map(|a| a.media.leg),
            c.third.as_ref().map(|t| t.media.leg),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(caller) = c.caller_media.as_ref().map(|m| m.leg) {
            let _ = self.media.stop_play(caller).await;
        }
        if let Err(e) = self.media.conference(legs, None).await {
            tracing::warn!(call, error = %e, "cannot mix a three-way call");
        }
    }

    /// Attended transfer's consultation: the agent talks to the third party (hearing its
    /// ringback before it answers), the caller is left to the music that follows.
    /// When the phone itself dialled the consultation (`phone_consult.rs`), that dialog is
    /// the agent's side and is answered once the third party has.
    pub(super) async fn consult(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        agent: &str,
        now: Instant,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(mut a) = c.agents.get(agent).map(|a| a.media.leg) else {
            return;
        };
        if let Some(b) = c.consult.as_ref().map(|b| b.media.leg) {
            // The phone holds the caller's dialog: nothing flows there meanwhile.
            let _ = self.media.unbridge(a).await;
            a = b;
        }
        let done = match c.third.as_ref().map(|t| t.media.leg) {
            Some(third) => self.media.bridge(a, third, None).await,
            None => self.media.unbridge(a).await,
        };
        if let Err(e) = done {
            tracing::warn!(call, error = %e, "cannot start a consultation");
        }
        self.answer_consult(ep, call, now);
    }

    /// Connects the caller and the third party only.
    pub(super) async fn bridge_third(&mut self, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(caller), Some(third)) = (
            c.caller_media.as_ref().map(|m| m.leg),
            c.third.as_ref().map(|t| t.media.leg),
        ) else {
            return;
        };
        let _ = self.media.stop_play(caller).await;
        if let Err(e) = self.media.bridge(caller, third, None).await {
            tracing::warn!(call, error = %e, "cannot connect the caller to the third party");
        }
    }
}
