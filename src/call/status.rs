//! A snapshot of live call handling for `rexian status` and the metrics: queues, agents by
//! state, calls in progress, longest wait — like `queue show` in Asterisk.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::agent::{AgentState, CallId};
use super::control::CallControl;

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub name: String,
    /// Calls waiting or ringing an agent.
    pub waiting: usize,
    pub longest_wait: Option<Duration>,
    /// Waiting calls per line.
    pub by_line: BTreeMap<String, usize>,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    pub id: String,
    pub registered: bool,
    pub state: &'static str,
    pub reason: Option<String>,
    pub call: Option<CallId>,
    pub lines: Vec<String>,
}

/// Everything at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub queues: Vec<QueueStatus>,
    pub agents: Vec<AgentStatus>,
    pub agents_by_state: BTreeMap<&'static str, usize>,
    pub calls_in_progress: usize,
    pub longest_wait: Option<Duration>,
    pub restricted_callers: usize,
}

impl CallControl {
    /// The live snapshot at `now`.
    pub fn status(&self, now: Instant) -> Status {
        let mut queues: BTreeMap<String, QueueStatus> = self
            .plan()
            .queues
            .iter()
            .map(|q| {
                let s = QueueStatus {
                    name: q.name.clone(),
                    waiting: 0,
                    longest_wait: None,
                    by_line: BTreeMap::new(),
                };
                (q.name.clone(), s)
            })
            .collect();
        let mut longest: Option<Duration> = None;
        for (queue, line, phase, queued) in self.calls_view() {
            if phase != "queued" && phase != "ringing" {
                continue;
            }
            let q = queues
                .entry(queue.to_string())
                .or_insert_with(|| QueueStatus {
                    name: queue.to_string(),
                    waiting: 0,
                    longest_wait: None,
                    by_line: BTreeMap::new(),
                });
            q.waiting += 1;
            *q.by_line.entry(line.to_string()).or_default() += 1;
            if let Some(t) = queued {
                let w = now.saturating_duration_since(t);
                q.longest_wait = q.longest_wait.max(Some(w));
                longest = longest.max(Some(w));
            }
        }
        let mut by_state: BTreeMap<&'static str, usize> = BTreeMap::new();
        let agents = self
            .acd()
            .agents()
            .iter()
            .map(|a| {
                *by_state.entry(a.state.name()).or_default() += 1;
                AgentStatus {
                    id: a.id().to_string(),
                    registered: a.registered,
                    state: a.state.name(),
                    reason: match &a.state {
                        AgentState::NotReady { reason } => Some(reason.clone()),
                        _ => None,
                    },
                    call: match a.state {
                        AgentState::Ringing { call } | AgentState::Talking { call } => Some(call),
                        _ => None,
                    },
                    lines: a.conf.lines.clone(),
                }
            })
            .collect();
        Status {
            queues: queues.into_values().collect(),
            agents,
            agents_by_state: by_state,
            calls_in_progress: self.call_count(),
            longest_wait: longest,
            restricted_callers: self.abuse().list(now).len(),
        }
    }
}
