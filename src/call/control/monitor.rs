//! Supervisors on live calls: 监听 (listen: hears caller and agent, heard by nobody), 耳语
//! (whisper: heard by the agent only) and 强插 (barge: all three talk). The supervisor's
//! registered phone is called into the call as its third party; once it answers, the mode
//! can be switched live by asking again. The supervisor hanging up leaves caller and agent
//! as they were; the agent hanging up leaves the supervisor with the caller.

use std::time::Instant;

use super::transfer::{Third, ThirdState};
use super::{CallControl, Phase};
use crate::call::agent::CallId;
use crate::call::event::{Action, Dest, MonitorMode, OperatorEvent, ThirdKind};

impl CallControl {
    pub(super) fn monitor(
        &mut self,
        call: CallId,
        supervisor: String,
        mode: MonitorMode,
        now: Instant,
    ) {
        let what = mode.as_str();
        let Some(c) = self.calls.get(&call) else {
            return self.refuse(&supervisor, what, "no such call");
        };
        let Phase::Talking { agent } = c.phase else {
            return self.refuse(&supervisor, what, "the call is not with an agent");
        };
        let agent = self.acd.get(agent).id().to_string();
        if let Some(t) = &c.third {
            // The same supervisor, already on the call: switch the mode.
            if t.monitor.is_none() || t.target != supervisor {
                return self.refuse(&supervisor, what, "a third party is already on the call");
            }
            let up = t.state == ThirdState::Up;
            if let Some(t) = self.calls.get_mut(&call).and_then(|c| c.third.as_mut()) {
                t.monitor = Some(mode);
            }
            if up {
                self.push(Action::Monitor { call, agent, mode });
            }
            return;
        }
        self.seq += 1;
        let third = Third {
            kind: ThirdKind::ThreeWay,
            target: supervisor.clone(),
            dest: Dest::Account(supervisor.clone()),
            asker: agent.clone(),
            state: ThirdState::Dialing,
            trunks_left: Vec::new(),
            seat: None,
            emergency: false,
            handoff: None,
            monitor: Some(mode),
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.third = Some(third);
        }
        self.push(Action::Operator(OperatorEvent::TransferStarted {
            call,
            agent: supervisor,
            kind: ThirdKind::ThreeWay,
            target: agent,
        }));
        self.dial_next(call, now);
    }
}
