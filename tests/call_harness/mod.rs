//! Shared by the call-control tests: the demo dialplans, a virtual clock and helpers that read
//! the actions call control returns.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rexian::call::event::Arrival;
use rexian::call::line::Dialled;
use rexian::call::plan::Dialplan;
use rexian::call::record::CallRecord;
use rexian::call::{Action, CallControl, Event, WallClock};
use rexian::pii::Pii;

/// 2026-11-23 (a Monday) 10:00 in Beijing, as Unix ms.
pub const MONDAY_10H: i64 = (20780 * 86_400 + 2 * 3600) * 1000;
/// 2026-12-01 09:30 Beijing: inside the demo leader window.
pub const LEADER_DAY: i64 = (20788 * 86_400 + 3600 + 1800) * 1000;

pub fn demo() -> Dialplan {
    rexian::dialplan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans")).unwrap()
}

pub struct H {
    pub cc: CallControl,
    pub now: Instant,
}

impl H {
    pub fn new(plan: Dialplan, unix_ms: i64) -> H {
        let now = Instant::now();
        H {
            cc: CallControl::new(Arc::new(plan), WallClock { at: now, unix_ms }),
            now,
        }
    }
    pub fn demo() -> H {
        H::new(demo(), MONDAY_10H)
    }
    pub fn ev(&mut self, e: Event) -> Vec<Action> {
        self.cc.handle(e, self.now);
        self.drain()
    }
    pub fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.cc.poll_action()).collect()
    }
    /// Moves the clock on, firing timers on the way.
    pub fn wait(&mut self, secs: f64) -> Vec<Action> {
        let end = self.now + Duration::from_secs_f64(secs);
        while let Some(t) = self.cc.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.cc.handle_timeout(self.now);
        }
        self.now = end;
        self.drain()
    }
    pub fn agent(&mut self, id: &str) -> Vec<Action> {
        self.ev(Event::AgentRegistered { agent: id.into() })
    }
    pub fn call(&mut self, call: u64, number: &str, caller: &str) -> Vec<Action> {
        self.ev(Event::CallArrived(Arrival {
            call,
            trunk: Some("loopback".into()),
            dialled: Dialled {
                request_user: number.into(),
                ..Dialled::default()
            },
            caller: Pii::new(caller.into()),
            privacy: false,
        }))
    }
    /// A call that has heard its greeting and is queued (or ringing).
    pub fn queued(&mut self, call: u64, number: &str, caller: &str) -> Vec<Action> {
        self.call(call, number, caller);
        self.ev(Event::PlaybackDone { call })
    }
    pub fn state(&self, agent: &str) -> &'static str {
        self.cc
            .status(self.now)
            .agents
            .iter()
            .find(|a| a.id == agent)
            .map(|a| a.state)
            .unwrap()
    }
}

pub fn rings(actions: &[Action]) -> Vec<(u64, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RingAgent { call, agent, .. } => Some((*call, agent.clone())),
            _ => None,
        })
        .collect()
}

pub fn record(actions: &[Action]) -> CallRecord {
    actions
        .iter()
        .find_map(|a| match a {
            Action::CallRecordReady(r) => Some((**r).clone()),
            _ => None,
        })
        .expect("a call record")
}

pub fn played(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(prompts.join("+")),
            _ => None,
        })
        .collect()
}

pub fn talking(h: &mut H, call: u64, number: &str) {
    h.queued(call, number, "13800138000");
    h.ev(Event::AgentAnswered {
        call,
        agent: "7001".into(),
    });
}
