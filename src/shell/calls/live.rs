//! A call still in progress, as the ticket API asks about it: an agent writes the ticket while
//! the caller is on the line, before the call record exists. The call is named by the id its
//! record will have (its recording's id) or by its number on the operator event stream; the
//! answer carries the record id, so the ticket links to the row written when the call ends.

use uuid::Uuid;

use super::Calls;
use crate::call::agent::CallId;
use crate::http::tickets::from_call::LiveCall;

impl Calls {
    /// The live call `id` names, or `None` when no such call is in progress or it has no record
    /// id yet (no agent has answered, so nothing is recorded).
    pub fn live_call(&self, id: &str) -> Option<LiveCall> {
        let call: CallId = match id.parse::<CallId>() {
            Ok(n) => n,
            Err(_) => {
                let want = Uuid::parse_str(id).ok()?;
                *self
                    .calls
                    .iter()
                    .find(|(_, c)| c.recording == Some(want))?
                    .0
            }
        };
        let record = self.calls.get(&call)?.recording?;
        let (line, caller, agent) = self.control.live_intake(call)?;
        Some(LiveCall {
            record_id: record.to_string(),
            call,
            line: line.to_string(),
            caller: caller.number.clone(),
            caller_kind: caller.kind.as_str().to_string(),
            agent: agent.map(str::to_string),
        })
    }
}
