//! Callbacks (回拨) on the SIP, media and store side: call control's `CallBack` becomes an
//! INVITE over the chosen trunk to the citizen's number, presenting the hotline's number, in
//! a new media call whose caller leg is that INVITE — so once it is answered the call is
//! handled (agent rung, bridged, recorded, rated, recorded in `call_records`) exactly like an
//! inbound one. Until the answer, the leg's outcome goes back as `CallbackAnswered` /
//! `CallbackFailed`. Each step of a request is written to `callbacks`/`callback_attempts` by
//! the call records' writer, in order, and streamed to operators.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{json, Value};
use uuid::Uuid;

use super::records::RecordWrite;
use super::{Calls, MediaSide, Party};
use crate::call::agent::CallId;
use crate::call::control::callback::{CallbackReport, CallbackStep, Restored};
use crate::call::event::{Action, Event, OperatorEvent, RingFailure};
use crate::pii::Pii;
use crate::sip::endpoint::Endpoint;
use crate::sip::legs::LegId;
use crate::sip::message::{NameAddr, Uri};
use crate::sip::peer::Peer;
use crate::sip::session::uac::OutboundCall;
use crate::sip::session::{EndCause, SessionEvent};
use crate::store::callbacks::{CallbackAttemptRow, CallbackRow};

/// The store's names for the open requests.
#[derive(Default)]
pub(super) struct Book {
    /// Request call id → its row.
    ids: HashMap<CallId, Entry>,
}

struct Entry {
    id: String,
    origin_record: String,
    requested_ms: i64,
    /// The attempt the citizen answered, once they have.
    answered: Option<i64>,
}

impl Calls {
    /// Takes up the requests a previous run left open in the store (called once at start,
    /// before any agent registers). A request in the middle of an attempt when the daemon
    /// stopped counts that attempt as made; one the current plans no longer allow is closed.
    pub async fn restore_callbacks(&mut self, now: Instant) {
        let rows = match self.store.open_callbacks().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read open callback requests");
                return;
            }
        };
        let unix_now = chrono::Utc::now().timestamp_millis();
        for row in rows {
            if row.state == CallbackStep::Dialing.as_str() {
                // The INVITE in flight when the daemon stopped: closed, counted as made.
                self.write(RecordWrite::CallbackAttempt(CallbackAttemptRow {
                    callback: row.id.clone(),
                    attempt: row.attempts,
                    started_ms: row.updated_ms,
                    ended_ms: Some(unix_now),
                    outcome: Some("interrupted".into()),
                    cause: Some("daemon restarted".into()),
                    ..Default::default()
                }));
            }
            let next_at = row
                .next_ms
                .map(|t| now + std::time::Duration::from_millis((t - unix_now).max(0) as u64));
            let restored = Restored {
                line: row.line.clone(),
                number: row.number.clone(),
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                next_at,
            };
            match self.control.restore_callback(restored, now) {
                Some(call) => {
                    let entry = Entry {
                        id: row.id.clone(),
                        origin_record: row.origin_record.clone(),
                        requested_ms: row.requested_ms,
                        answered: None,
                    };
                    self.callbacks.ids.insert(call, entry);
                }
                None => {
                    let mut closed = row;
                    closed.state = CallbackStep::GaveUp.as_str().to_string();
                    closed.updated_ms = unix_now;
                    self.write(RecordWrite::Callback(closed));
                }
            }
        }
        let n = self.callbacks.ids.len();
        if n > 0 {
            tracing::info!(requests = n, "callback requests taken up again");
        }
    }

    /// Call control's `CallBack`: INVITE the citizen over the trunk it chose.
    pub(super) async fn call_back(&mut self, ep: &mut Endpoint, action: Action, now: Instant) {
        let Action::CallBack {
            call,
            trunk,
            number,
            present,
            line,
        } = action
        else {
            return;
        };
        let done = self
            .invite_citizen(ep, call, &trunk, &number, &present, &line, now)
            .await;
        if let Err(e) = done {
            tracing::warn!(call, %trunk, error = %e, "cannot call a citizen back");
            let cause = RingFailure::Unreachable;
            self.control
                .handle(Event::CallbackFailed { call, cause }, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn invite_citizen(
        &mut self,
        ep: &mut Endpoint,
        call: CallId,
        trunk: &str,
        number: &Pii<String>,
        present: &str,
        line: &str,
        now: Instant,
    ) -> Result<(), String> {
        let addr: SocketAddr = *self
            .trunk_addrs
            .get(trunk)
            .ok_or("the trunk has no outbound address")?;
        let peer = Peer::udp(addr);
        let ip = self.local_ip_for(peer);
        // A previous INVITE of this request (a trunk that failed) leaves nothing behind.
        self.drop_call(call);
        let (media_call, info, local) = self.new_media_leg(ip).await?;
        let target = Uri::sip(
            Some(number.expose().as_str()),
            &addr.ip().to_string(),
            Some(addr.port()),
        );
        let credentials = self.trunk_credentials(trunk);
        let outbound = OutboundCall {
            to: NameAddr::new(target.clone()),
            target,
            peer,
            from: NameAddr::new(Uri::sip(Some(present), &ip.to_string(), None)),
            call_id: Uuid::new_v4().simple().to_string(),
            sdp: Bytes::from(local.offer(None, false).to_sdp()),
            headers: vec![
                (
                    "P-Asserted-Identity".into(),
                    format!("<sip:{present}@{ip}>"),
                ),
                ("X-Rexian-Line".into(), line.to_string()),
            ],
            credentials,
        };
        let sip = match ep.call(now, outbound, ip) {
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

    /// A SIP event on the caller leg of a callback still being dialled; false when `call` is
    /// no such callback (the event is then an ordinary caller event).
    pub(super) async fn callback_leg(
        &mut self,
        call: CallId,
        leg: LegId,
        event: &SessionEvent,
        now: Instant,
    ) -> bool {
        if !self.control.callback_dialing(call) {
            return false;
        }
        match event {
            SessionEvent::Progress { sdp: Some(sdp), .. } => {
                self.apply_answer(call, &Party::Caller, sdp).await;
            }
            SessionEvent::Answered { sdp } => {
                if let Some(sdp) = sdp {
                    self.apply_answer(call, &Party::Caller, sdp).await;
                }
                self.control.handle(Event::CallbackAnswered { call }, now);
            }
            SessionEvent::Ended { cause } => {
                self.by_leg.remove(&leg);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.caller_gone = true;
                }
                if *cause != EndCause::Local {
                    let cause = super::ring_failure(*cause);
                    self.control
                        .handle(Event::CallbackFailed { call, cause }, now);
                }
            }
            _ => {}
        }
        true
    }

    /// Callback steps to the store; the answered call's record id to its attempt.
    pub(super) fn callback_event(&mut self, ev: &OperatorEvent) {
        match ev {
            OperatorEvent::Callback(r) => self.save_callback_step(r),
            OperatorEvent::CallAnswered { call, .. } => {
                let Some(record) = self.calls.get(call).and_then(|c| c.recording) else {
                    return;
                };
                let Some(e) = self.callbacks.ids.remove(call) else {
                    return;
                };
                // The attempt that reached the citizen names the record of the bridged call.
                let row = CallbackAttemptRow {
                    callback: e.id,
                    attempt: e.answered.unwrap_or(1),
                    call_record: Some(record.to_string()),
                    ..Default::default()
                };
                self.write(RecordWrite::CallbackAttempt(row));
            }
            _ => {}
        }
    }

    fn save_callback_step(&mut self, r: &CallbackReport) {
        tracing::info!(
            callback = r.id,
            origin = r.origin,
            step = r.step.as_str(),
            attempt = r.attempt,
            number = %r.number,
            "callback"
        );
        if r.step == CallbackStep::Placed {
            // The asking call's record is named now, so the request can point at it: the call
            // is closing and will never be bridged, so no recording takes the id.
            let origin = self
                .calls
                .get_mut(&r.origin)
                .map(|c| *c.recording.get_or_insert_with(Uuid::new_v4));
            let origin = origin.map(|u| u.to_string()).unwrap_or_default();
            let entry = Entry {
                id: Uuid::new_v4().to_string(),
                origin_record: origin,
                requested_ms: r.at_ms,
                answered: None,
            };
            self.callbacks.ids.insert(r.id, entry);
        }
        let Some(e) = self.callbacks.ids.get_mut(&r.id) else {
            return;
        };
        if r.step == CallbackStep::Answered {
            e.answered = Some(i64::from(r.attempt));
        }
        let (id, origin, requested) = (e.id.clone(), e.origin_record.clone(), e.requested_ms);
        let state = r.step.as_str();
        self.write(RecordWrite::Callback(CallbackRow {
            id: id.clone(),
            origin_record: origin,
            line: r.line.clone(),
            queue: r.queue.clone(),
            number: r.number.expose().clone(),
            requested_ms: requested,
            state: state.to_string(),
            attempts: i64::from(r.attempt),
            attempts_max: i64::from(r.attempts_max),
            next_ms: r.next_ms,
            updated_ms: r.at_ms,
        }));
        let attempt = |outcome: Option<&str>| CallbackAttemptRow {
            callback: id.clone(),
            attempt: i64::from(r.attempt),
            agent: r.agent.clone(),
            trunk: r.trunk.clone(),
            started_ms: r.at_ms,
            answered_ms: (r.step == CallbackStep::Answered).then_some(r.at_ms),
            ended_ms: (r.step == CallbackStep::Failed).then_some(r.at_ms),
            outcome: outcome.map(str::to_string),
            cause: r.cause.clone(),
            call_record: None,
        };
        match r.step {
            CallbackStep::Dialing => self.write(RecordWrite::CallbackAttempt(attempt(None))),
            CallbackStep::Answered => {
                self.write(RecordWrite::CallbackAttempt(attempt(Some("answered"))))
            }
            CallbackStep::Failed => {
                self.write(RecordWrite::CallbackAttempt(attempt(Some("failed"))))
            }
            CallbackStep::GaveUp => {
                self.callbacks.ids.remove(&r.id);
            }
            CallbackStep::Placed => {}
        }
    }

    /// Through the call records' writer, so a callback's rows and the records they name are
    /// written in the order they happened.
    fn write(&mut self, w: RecordWrite) {
        let _ = self.records.send(w);
    }
}

/// A callback step as the event stream carries it (the number is for authorised screens).
pub(super) fn report_json(r: &CallbackReport) -> Value {
    json!({
        "kind": format!("callback_{}", r.step.as_str()),
        "call": r.id, "origin": r.origin, "line": r.line, "queue": r.queue,
        "number": r.number.expose(), "attempt": r.attempt, "attempts_max": r.attempts_max,
        "agent": r.agent, "trunk": r.trunk, "cause": r.cause, "next_ms": r.next_ms,
    })
}
