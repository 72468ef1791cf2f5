//! 咨询转接, attended transfer: the agent puts the caller on music and talks to the target
//! alone (an expert seat, a sub-centre, an allowed number), then completes the transfer
//! (caller and target connected, the agent leaves), turns it into a three-way call, or goes
//! back to the caller. Completing while the target still rings makes it a blind transfer: the
//! caller waits for the answer and, if it never comes, returns to the agent or the queue.
//! The consultation is dialled, failed over and released by `transfer.rs` like any third
//! party; this file holds only what differs.

use std::time::Instant;

use super::transfer::ThirdState;
use super::{CallControl, Phase};
use crate::call::agent::CallId;
use crate::call::event::{Action, ThirdKind};

impl CallControl {
    /// The consultation begins: the caller hears the queue's music, the agent hears nobody
    /// until the target answers.
    pub(super) fn hold_for_consult(&mut self, call: CallId, agent: &str) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let moh = self.queue_of(c).moh.clone();
        self.push(Action::Consult {
            call,
            agent: agent.to_string(),
        });
        self.push(Action::StartMoh { call, prompt: moh });
    }

    /// `Complete`: the caller goes to the third party and the agent leaves — for a
    /// consultation whether or not the target has answered yet, for a three-way call once it
    /// has.
    pub(super) fn complete(&mut self, call: CallId, agent: &str, i: usize, now: Instant) {
        let third = self
            .calls
            .get(&call)
            .and_then(|c| c.third.as_ref())
            .map(|t| (t.kind, t.state));
        match third {
            Some((ThirdKind::Consult, _)) | Some((ThirdKind::ThreeWay, ThirdState::Up)) => {
                self.agent_leaves(call, i, now)
            }
            _ => self.refuse(agent, "Complete", "no transfer to complete"),
        }
    }

    /// `Join`: the consulted party, once answered, joins the caller and the agent.
    pub(super) fn join(&mut self, call: CallId, agent: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.third.as_mut() else {
            return self.refuse(agent, "Join", "no consultation to join");
        };
        if t.kind != ThirdKind::Consult || t.state != ThirdState::Up {
            return self.refuse(agent, "Join", "no answered consultation to join");
        }
        t.kind = ThirdKind::ThreeWay;
        if matches!(c.phase, Phase::Talking { .. }) {
            self.push(Action::Conference {
                call,
                agent: agent.to_string(),
            });
        }
    }
}
