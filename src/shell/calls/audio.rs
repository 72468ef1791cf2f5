//! What the caller hears outside a conversation and how the conversation is first joined:
//! prompts and music on the caller's leg, and the caller↔agent bridge that starts the call's
//! one recording (later changes — transfers, consultation, conference — keep it going).

use chrono::Utc;
use uuid::Uuid;

use super::Calls;
use crate::call::agent::CallId;
use crate::media::prompt::Prompt;
use crate::shell::media::RecordingSpec;

impl Calls {
    pub(super) async fn play(&mut self, call: CallId, names: &[String], looping: bool) {
        let Some(leg) = self
            .calls
            .get(&call)
            .and_then(|c| c.caller_media.as_ref())
            .map(|m| m.leg)
        else {
            return;
        };
        let prompts: Vec<Prompt> = names
            .iter()
            .filter_map(|n| {
                let p = self.prompts.get(n).cloned();
                if p.is_none() {
                    tracing::warn!(prompt = %n, "no such prompt");
                }
                p
            })
            .collect();
        if prompts.is_empty() {
            return;
        }
        if let Err(e) = self.media.play(leg, prompts, looping).await {
            tracing::warn!(error = %e, "cannot play a prompt");
        }
    }

    pub(super) async fn bridge(&mut self, call: CallId, agent: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (Some(caller), Some(a)) = (c.caller_media.as_ref(), c.agents.get(agent)) else {
            return;
        };
        let (caller_leg, agent_leg) = (caller.leg, a.media.leg);
        let spec = if c.recording.is_none() {
            let id = Uuid::new_v4();
            c.recording = Some(id);
            Some(RecordingSpec {
                id,
                started: Utc::now(),
                caller: caller_leg,
            })
        } else {
            None
        };
        if let Some(s) = &spec {
            self.recordings.insert(s.id);
        }
        let _ = self.media.stop_play(caller_leg).await;
        if let Err(e) = self.media.bridge(caller_leg, agent_leg, spec).await {
            tracing::warn!(error = %e, "cannot bridge a call");
        }
    }
}
