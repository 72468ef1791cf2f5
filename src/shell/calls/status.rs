//! What operators see of the calls: the status snapshot for `GET /api/v1/status` and
//! `rexian status`, and the Prometheus figures (queue lengths and longest waits, agents per
//! state, calls in progress; calls offered, answered and abandoned per line and the 15-second
//! service level, counted as each call ends).

use std::time::Instant;

use super::Calls;
use crate::call::event::Event;
use crate::call::record::CallRecord;
use crate::http::calls::{
    AgentChange, AgentView, QueueView, RestrictRequest, RestrictionView, StatusView,
};
use crate::metrics::Metrics;
use crate::sip::endpoint::Endpoint;

impl Calls {
    /// A trunk's health check changed: call control skips trunks that are down.
    pub async fn trunk_state(&mut self, ep: &mut Endpoint, trunk: String, up: bool, now: Instant) {
        self.control.handle(Event::TrunkState { trunk, up }, now);
        self.run_actions(ep, now).await;
    }

    /// An agent's state change from the API; the agent as it stands afterwards.
    pub async fn change_agent(
        &mut self,
        ep: &mut Endpoint,
        agent: String,
        change: AgentChange,
        now: Instant,
    ) -> Option<AgentView> {
        let event = match change {
            AgentChange::Login => Event::AgentLogin {
                agent: agent.clone(),
            },
            AgentChange::Logout => Event::AgentLogout {
                agent: agent.clone(),
            },
            AgentChange::Ready => Event::AgentReady {
                agent: agent.clone(),
            },
            AgentChange::NotReady { reason } => Event::AgentNotReady {
                agent: agent.clone(),
                reason,
            },
        };
        self.control.handle(event, now);
        self.run_actions(ep, now).await;
        self.status_view(now)
            .agents
            .into_iter()
            .find(|a| a.id == agent)
    }

    /// Callers restricted now, for supervisors.
    pub fn restrictions(&self, now: Instant) -> Vec<RestrictionView> {
        self.control
            .restrictions(now)
            .into_iter()
            .map(|(number, seconds_left, by_supervisor)| RestrictionView {
                number: number.expose().clone(),
                seconds_left,
                by_supervisor,
            })
            .collect()
    }

    /// A supervisor restricts a caller; the answer is the list afterwards.
    pub async fn restrict(
        &mut self,
        ep: &mut Endpoint,
        mark: RestrictRequest,
        by: String,
        now: Instant,
    ) -> Vec<RestrictionView> {
        self.control.handle(
            Event::MarkCaller {
                number: mark.number,
                span: std::time::Duration::from_secs(mark.minutes * 60),
                by,
                note: mark.note,
            },
            now,
        );
        self.run_actions(ep, now).await;
        self.restrictions(now)
    }

    /// Lifts a restriction; the answer is the list afterwards.
    pub async fn lift(
        &mut self,
        ep: &mut Endpoint,
        number: String,
        now: Instant,
    ) -> Vec<RestrictionView> {
        self.control.handle(Event::LiftRestriction { number }, now);
        self.run_actions(ep, now).await;
        self.restrictions(now)
    }

    /// The live snapshot, in the API's shape.
    pub fn status_view(&self, now: Instant) -> StatusView {
        let s = self.control.status(now);
        StatusView {
            queues: s
                .queues
                .into_iter()
                .map(|q| QueueView {
                    name: q.name,
                    waiting: q.waiting,
                    longest_wait_secs: q.longest_wait.map(|d| d.as_secs()),
                    by_line: q.by_line,
                })
                .collect(),
            agents: s
                .agents
                .into_iter()
                .map(|a| AgentView {
                    id: a.id,
                    registered: a.registered,
                    state: a.state.to_string(),
                    reason: a.reason,
                    call: a.call,
                    lines: a.lines,
                })
                .collect(),
            agents_by_state: s
                .agents_by_state
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            calls_in_progress: s.calls_in_progress,
            longest_wait_secs: s.longest_wait.map(|d| d.as_secs()),
            restricted_callers: s.restricted_callers,
            pending_callbacks: self.control.pending_callbacks(),
            // Filled in by the SIP task, which owns the trunks' client side.
            trunks: Vec::new(),
        }
    }

    /// Sets the gauges from the live state (called every couple of seconds).
    pub fn publish_gauges(&self, metrics: &Metrics, now: Instant) {
        let s = self.control.status(now);
        for q in &s.queues {
            let labels = format!("queue=\"{}\"", q.name);
            metrics.set("rexian_queue_waiting", &labels, q.waiting as f64);
            metrics.set(
                "rexian_queue_longest_wait_seconds",
                &labels,
                q.longest_wait.map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        for (state, n) in &s.agents_by_state {
            metrics.set("rexian_agents", &format!("state=\"{state}\""), *n as f64);
        }
        metrics.set("rexian_calls_in_progress", "", s.calls_in_progress as f64);
    }
}

/// Counts a finished call for its line.
pub(super) fn count_record(metrics: &Metrics, r: &CallRecord) {
    let labels = format!("line=\"{}\"", r.line);
    metrics.inc("rexian_calls_offered_total", &labels);
    if r.answered_ms.is_some() {
        metrics.inc("rexian_calls_answered_total", &labels);
    }
    if r.abandoned {
        metrics.inc("rexian_calls_abandoned_total", &labels);
    }
    if r.service_level_met {
        metrics.inc("rexian_calls_service_level_met_total", &labels);
    }
}
