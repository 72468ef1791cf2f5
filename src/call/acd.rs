//! Automatic call distribution: the agents, an index of ready agents per skill ordered by how
//! long they have been idle, and the waiting lists. Choosing is a few ordered-set lookups —
//! the longest-idle ready agent with the call's skill, or the oldest waiting call an agent
//! may take — so it stays cheap with hundreds of agents and calls.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::agent::{Agent, AgentState, CallId};
use super::plan::AgentConf;
use super::queue::{Key, Waiting};

/// Agents and waiting calls.
#[derive(Debug, Default)]
pub struct Acd {
    agents: Vec<Agent>,
    by_id: HashMap<String, usize>,
    /// Skill → ready agents in rotation, by (idle since, index).
    ready: HashMap<String, BTreeSet<(Instant, usize)>>,
    pub waiting: Waiting,
}

impl Acd {
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, idx: usize) -> &Agent {
        &self.agents[idx]
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// The index of `conf.id`, adding the agent (logged out) if it is new.
    pub fn ensure(&mut self, conf: AgentConf, now: Instant) -> usize {
        if let Some(i) = self.index(&conf.id) {
            return i;
        }
        let i = self.agents.len();
        self.by_id.insert(conf.id.clone(), i);
        self.agents.push(Agent::new(conf, now));
        i
    }

    fn unindex(&mut self, idx: usize) {
        let a = &self.agents[idx];
        let key = (a.idle_since, idx);
        for s in &a.conf.lines {
            if let Some(set) = self.ready.get_mut(s) {
                set.remove(&key);
            }
        }
    }

    fn reindex(&mut self, idx: usize) {
        let a = &self.agents[idx];
        if a.available() && a.in_rotation() {
            let key = (a.idle_since, idx);
            for s in &a.conf.lines {
                self.ready.entry(s.clone()).or_default().insert(key);
            }
        }
    }

    /// Changes an agent's state; `idle_since` restarts when it becomes ready unless
    /// `keep_idle` (a ring that the caller cancelled does not cost the agent its turn).
    pub fn set_state(&mut self, idx: usize, state: AgentState, now: Instant, keep_idle: bool) {
        self.unindex(idx);
        let a = &mut self.agents[idx];
        if state == AgentState::Ready && !keep_idle {
            a.idle_since = now;
        }
        a.set(state);
        self.reindex(idx);
    }

    pub fn set_registered(&mut self, idx: usize, registered: bool) {
        self.unindex(idx);
        self.agents[idx].registered = registered;
        self.reindex(idx);
    }

    pub fn set_pending_not_ready(&mut self, idx: usize, reason: Option<String>) {
        self.agents[idx].pending_not_ready = reason;
    }

    /// New skills and role after a reload.
    pub fn reconfigure(&mut self, idx: usize, conf: AgentConf) {
        self.unindex(idx);
        self.agents[idx].conf = conf;
        self.reindex(idx);
    }

    /// The longest-idle ready agent with `skill`.
    pub fn longest_idle(&self, skill: &str) -> Option<usize> {
        self.ready.get(skill)?.iter().next().map(|&(_, i)| i)
    }

    /// Ready agents with `skill`.
    pub fn ready_count(&self, skill: &str) -> usize {
        self.ready.get(skill).map_or(0, |s| s.len())
    }

    /// Logged-in, registered agents in rotation with `skill` (ready or busy).
    pub fn in_rotation_count(&self, skill: &str) -> usize {
        self.agents
            .iter()
            .filter(|a| {
                a.registered
                    && a.logged_in()
                    && a.in_rotation()
                    && a.conf.lines.iter().any(|l| l == skill)
            })
            .count()
    }

    /// Whether a logged-in, registered agent in rotation has one of `skills`.
    pub fn anyone_for(&self, skills: &[&str]) -> bool {
        self.agents.iter().any(|a| {
            a.registered
                && a.logged_in()
                && a.in_rotation()
                && a.conf.lines.iter().any(|l| skills.contains(&l.as_str()))
        })
    }

    /// The oldest waiting call agent `idx` may take: the heads of its skills' lists, and —
    /// if it has the `main` skill — the heads of other lists whose overflow time has come.
    /// `only` restricts the skills (a leader's window).
    pub fn oldest_call_for(
        &self,
        idx: usize,
        main: &str,
        now: Instant,
        only: Option<&[String]>,
    ) -> Option<(String, Key, CallId)> {
        let a = &self.agents[idx];
        let skills: &[String] = only.unwrap_or(&a.conf.lines);
        let has_main = skills.iter().any(|s| s == main);
        let mut best: Option<(String, Key, CallId)> = None;
        for (skill, key, w) in self.waiting.heads() {
            let own = skills.iter().any(|s| s == skill);
            let overflowed = has_main && w.overflow_at.is_some_and(|t| t <= now);
            if (own || overflowed) && best.as_ref().is_none_or(|b| key < b.1) {
                best = Some((skill.to_string(), key, w.call));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::plan::Role;
    use crate::call::queue::Waiter;
    use std::time::Duration;

    fn conf(id: &str, lines: &[&str]) -> AgentConf {
        AgentConf {
            id: id.into(),
            name: None,
            role: Role::Agent,
            lines: lines.iter().map(|s| s.to_string()).collect(),
            ready_on_register: true,
        }
    }

    #[test]
    fn the_longest_idle_ready_agent_with_the_skill_is_chosen() {
        let t = Instant::now();
        let mut acd = Acd::default();
        let a = acd.ensure(conf("a", &["12345"]), t);
        let b = acd.ensure(conf("b", &["12345", "12320"]), t);
        for i in [a, b] {
            acd.set_registered(i, true);
        }
        acd.set_state(b, AgentState::Ready, t, false);
        acd.set_state(a, AgentState::Ready, t + Duration::from_secs(1), false);
        assert_eq!(acd.longest_idle("12345"), Some(b));
        assert_eq!(acd.longest_idle("12320"), Some(b));
        acd.set_state(b, AgentState::Talking { call: 1 }, t, false);
        assert_eq!(acd.longest_idle("12345"), Some(a));
        assert_eq!(acd.longest_idle("12320"), None);
        acd.set_registered(a, false);
        assert_eq!(acd.longest_idle("12345"), None);
    }

    #[test]
    fn a_main_agent_takes_a_dual_call_only_after_its_overflow_time() {
        let t = Instant::now();
        let mut acd = Acd::default();
        let a = acd.ensure(conf("a", &["12345"]), t);
        let later = t + Duration::from_secs(30);
        acd.waiting.insert(
            "12320",
            (0, 1),
            Waiter {
                call: 7,
                entered: t,
                overflow_at: Some(later),
            },
        );
        assert_eq!(acd.oldest_call_for(a, "12345", t, None), None);
        acd.waiting.insert(
            "12345",
            (0, 2),
            Waiter {
                call: 8,
                entered: t,
                overflow_at: None,
            },
        );
        assert_eq!(acd.oldest_call_for(a, "12345", t, None).unwrap().2, 8);
        assert_eq!(acd.oldest_call_for(a, "12345", later, None).unwrap().2, 7);
    }
}
