//! What agents' screens and supervisors see as it happens: call control's operator events as
//! JSON on a broadcast channel (served as `GET /api/v1/events`), and emergency hand-offs
//! written to the store at every step. Logs get the event's kind and ids, never a caller's
//! number; the stream is for authorised screens and carries the number where the agent needs
//! it (a callback request, an emergency briefing).

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::records::RecordWrite;
use super::Calls;
use crate::call::event::{Handoff, OperatorEvent};
use crate::store::handoffs::HandoffRow;

/// The sending side of the event stream; each subscriber gets every event from then on.
pub type EventSender = broadcast::Sender<Arc<String>>;

/// Events a slow screen may fall behind by before it misses some (it is told how many).
pub const EVENT_BACKLOG: usize = 1024;

pub fn channel() -> EventSender {
    broadcast::channel(EVENT_BACKLOG).0
}

impl Calls {
    /// A handle on the event stream for the HTTP API.
    pub fn events(&self) -> EventSender {
        self.events.clone()
    }

    pub(super) fn operator(&mut self, ev: OperatorEvent) {
        if let OperatorEvent::Handoff { handoff, alarm } = &ev {
            self.save_handoff(handoff, *alarm);
        }
        self.callback_event(&ev);
        let mut value = operator_json(&ev, Utc::now().timestamp_millis());
        if let OperatorEvent::CallAnswered { call, .. } = &ev {
            // The call record's id (its recording's), which names the call for good — the
            // id a ticket written during the call gives as `call_id`.
            if let Some(id) = self.calls.get(call).and_then(|c| c.recording) {
                value["record"] = json!(id.to_string());
            }
        }
        tracing::info!(kind = %value["kind"], "operator event");
        // Nobody listening is fine: the event is in the log and, for hand-offs, the store.
        let _ = self.events.send(Arc::new(value.to_string()));
    }

    fn save_handoff(&mut self, h: &Handoff, alarm: bool) {
        if alarm {
            tracing::warn!(
                target: "rexian::emergency",
                call = h.call,
                number = %h.number,
                agent = %h.agent,
                caller = %h.caller,
                outcome = h.outcome.map_or("pending", |o| o.as_str()),
                "emergency hand-off failed or the caller hung up first"
            );
        }
        let Some(record) = self.calls.get(&h.call).and_then(|c| c.recording) else {
            tracing::warn!(call = h.call, "hand-off on a call without a record id");
            return;
        };
        let row = HandoffRow {
            call_record: record.to_string(),
            seq: h.id as i64,
            agent: h.agent.clone(),
            number: h.number.clone(),
            name: h.name.clone(),
            caller: h.caller.expose().clone(),
            reason: h.reason.clone(),
            three_way: h.three_way,
            trunk: h.trunk.clone(),
            asked_ms: h.asked_ms,
            ringing_ms: h.ringing_ms,
            answered_ms: h.answered_ms,
            agent_left_ms: h.agent_left_ms,
            ended_ms: h.ended_ms,
            outcome: h.outcome.map(|o| o.as_str().to_string()),
            alarm,
        };
        let _ = self.records.send(RecordWrite::Handoff(Box::new(row)));
    }
}

/// One operator event as the stream carries it: `kind`, `at` (Unix ms) and its fields.
pub fn operator_json(ev: &OperatorEvent, at_ms: i64) -> Value {
    let mut v = match ev {
        OperatorEvent::AgentState {
            agent,
            state,
            reason,
        } => json!({"kind": "agent_state", "agent": agent, "state": state, "reason": reason}),
        OperatorEvent::CallOffered { call, line } => {
            json!({"kind": "call_offered", "call": call, "line": line})
        }
        OperatorEvent::CallQueued {
            call,
            line,
            position,
        } => json!({"kind": "call_queued", "call": call, "line": line, "position": position}),
        OperatorEvent::CallAnswered { call, agent, line } => {
            json!({"kind": "call_answered", "call": call, "agent": agent, "line": line})
        }
        OperatorEvent::CallbackRequested { call, line, caller } => json!({
            "kind": "callback_requested", "call": call, "line": line, "caller": caller.expose()
        }),
        OperatorEvent::FeatureRefused {
            agent,
            digits,
            reason,
        } => json!({"kind": "feature_refused", "agent": agent, "digits": digits, "reason": reason}),
        OperatorEvent::TransferStarted {
            call,
            agent,
            kind,
            target,
        } => json!({
            "kind": "transfer_started", "call": call, "agent": agent, "target": target,
            "mode": kind.as_str(),
        }),
        OperatorEvent::TransferConnected { call, target } => {
            json!({"kind": "transfer_connected", "call": call, "target": target})
        }
        OperatorEvent::TransferFailed {
            call,
            agent,
            target,
            cause,
        } => json!({
            "kind": "transfer_failed", "call": call, "agent": agent, "target": target,
            "cause": cause,
        }),
        OperatorEvent::Handoff { handoff: h, alarm } => json!({
            "kind": "handoff", "call": h.call, "seq": h.id, "agent": h.agent,
            "number": h.number, "name": h.name, "caller": h.caller.expose(),
            "reason": h.reason, "three_way": h.three_way, "trunk": h.trunk,
            "asked_ms": h.asked_ms, "ringing_ms": h.ringing_ms, "answered_ms": h.answered_ms,
            "agent_left_ms": h.agent_left_ms, "ended_ms": h.ended_ms,
            "outcome": h.outcome.map(|o| o.as_str()), "alarm": alarm,
        }),
        OperatorEvent::Callback(r) => super::callback::report_json(r),
        OperatorEvent::Outbound {
            call,
            agent,
            state,
            origin,
            ticket,
        } => json!({
            "kind": "outbound", "call": call, "agent": agent, "state": state,
            "origin": origin, "ticket": ticket,
        }),
    };
    v["at"] = json!(at_ms);
    v
}
