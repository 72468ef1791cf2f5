//! A ticket's call: `call_id` in `POST /api/v1/tickets` names a finished call (a row of
//! `call_records`) or one still in progress — the normal case, an agent writes the ticket while
//! the caller is on the line. A live call is asked of the task that owns the calls
//! ([`ControlRequest::LiveCall`]) by its record id or its number on the operator event stream;
//! the ticket keeps the record id either way. What the agent left out (line, contact) is
//! filled from the call. The recording of a live call is not complete yet: the ticket shows it
//! once the call has ended and the file is written (the store reads it through the call
//! record, [`crate::store::tickets::TICKET_COLUMNS`]). An id that is neither live nor recorded
//! is 422.

use axum::http::StatusCode;

use super::super::calls::{ask, ControlRequest};
use super::super::error::ApiError;
use super::super::AppState;
use super::CreateBody;
use crate::call::agent::CallId;
use crate::pii::Pii;
use crate::store::tickets::TicketError;

/// A call in progress, as the task that owns the calls describes it.
#[derive(Clone, Debug)]
pub struct LiveCall {
    /// The id its call record will have (its recording's id).
    pub record_id: String,
    /// Its number on the operator event stream.
    pub call: CallId,
    pub line: String,
    pub caller: Pii<String>,
    /// mobile, landline, anonymous, withheld, unavailable …
    pub caller_kind: String,
    pub agent: Option<String>,
}

/// Callers without a number to call back.
fn identified(kind: &str) -> bool {
    !matches!(kind, "anonymous" | "withheld" | "unavailable")
}

/// Fills what the agent left out from the call `call_id` names; 422 when there is no such
/// call. A caller without a number (anonymous, withheld) leaves the contact empty.
pub(super) async fn from_call(s: &AppState, b: &mut CreateBody) -> Result<(), ApiError> {
    let Some(call_id) = b.call_id.clone() else {
        return Ok(());
    };
    let recorded = s
        .store
        .call_record(&call_id)
        .await
        .map_err(TicketError::from)?;
    let (line, caller, kind, recording) = match recorded {
        Some(c) => (c.line, c.caller, c.caller_kind, c.recording),
        None => {
            let live = match s.live.control() {
                Some(_) => ask(s, |reply| ControlRequest::LiveCall {
                    id: call_id.clone(),
                    reply,
                })
                .await
                .ok()
                .flatten(),
                None => None,
            };
            let Some(live) = live else {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("call {call_id} is not in the call records and not in progress"),
                ));
            };
            tracing::info!(call = live.call, record = %live.record_id, "ticket for a call in progress");
            b.call_id = Some(live.record_id);
            (
                live.line,
                live.caller.expose().clone(),
                live.caller_kind,
                None,
            )
        }
    };
    if b.line.is_none() {
        b.line = Some(line);
    }
    if b.contact.is_none() && identified(&kind) && !caller.is_empty() {
        b.contact = Some(caller);
    }
    if b.recording.is_none() {
        b.recording = recording;
    }
    Ok(())
}
