//! One agent's state: logged out, ready, ringing, talking, wrap-up, not ready (with reason),
//! and whether its softphone is registered. Transitions are plain methods; [`super::acd`]
//! keeps the ready index in step with them.

use std::time::Instant;

use super::plan::{AgentConf, Role};

/// A call as the SIP side names it.
pub type CallId = u64;

/// Where an agent is in its working cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    Ready,
    Ringing {
        call: CallId,
    },
    Talking {
        call: CallId,
    },
    /// 话后处理 until the instant; then ready (or not ready, if asked meanwhile).
    WrapUp {
        until: Instant,
    },
    NotReady {
        reason: String,
    },
}

impl AgentState {
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::Ringing { .. } => "ringing",
            AgentState::Talking { .. } => "talking",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::NotReady { .. } => "not_ready",
        }
    }
}

/// One account known to call control.
#[derive(Debug, Clone)]
pub struct Agent {
    pub conf: AgentConf,
    pub registered: bool,
    pub state: AgentState,
    /// Since when the agent has been idle; the ACD offers to the longest idle first.
    pub idle_since: Instant,
    /// Asked to go not-ready while ringing, talking or in wrap-up.
    pub pending_not_ready: Option<String>,
    /// Bumped on every state change so stale wrap-up timers are ignored.
    pub generation: u64,
}

impl Agent {
    pub fn new(conf: AgentConf, now: Instant) -> Agent {
        Agent {
            conf,
            registered: false,
            state: AgentState::LoggedOut,
            idle_since: now,
            pending_not_ready: None,
            generation: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.conf.id
    }

    /// Ready, registered, and a role that takes queue calls.
    pub fn available(&self) -> bool {
        self.registered && self.state == AgentState::Ready
    }

    /// Takes calls from the queues in the usual rotation (leaders only in their windows,
    /// experts only by transfer).
    pub fn in_rotation(&self) -> bool {
        self.conf.role == Role::Agent
    }

    /// Logged in: anything but logged out.
    pub fn logged_in(&self) -> bool {
        self.state != AgentState::LoggedOut
    }

    pub fn set(&mut self, state: AgentState) {
        self.state = state;
        self.generation += 1;
    }
}
