//! Call records: the row written when call control reports a finished call, and the path of
//! its recording added once the file is complete — both through one writer task, so the
//! second write never overtakes the first.

use uuid::Uuid;

use super::{status, Calls};
use crate::call::record::CallRecord;
use crate::store::calls::CallRecordRow;
use crate::store::handoffs::HandoffSms;
use crate::store::Store;

impl Calls {
    pub(super) fn store_record(&mut self, r: CallRecord) {
        status::count_record(&self.metrics, &r);
        let Some(c) = self.calls.get(&r.call) else {
            return;
        };
        // The record is named by the recording's id when there is one, so the file and the
        // row share rexian's own call id; otherwise a fresh one.
        let id = c.recording.unwrap_or_else(Uuid::new_v4).to_string();
        let row = CallRecordRow {
            id,
            line: r.line.clone(),
            line_name: r.line_name.clone(),
            dialled: r.dialled.clone(),
            trunk: r.trunk.clone(),
            caller: r.caller.expose().clone(),
            caller_kind: r.caller_kind.as_str().to_string(),
            arrived_ms: r.arrived_ms,
            queue: r.queue.clone(),
            queued_ms: r.queued_ms,
            wait_ms: r.wait_ms.map(|w| w as i64),
            ring_attempts: i64::from(r.ring_attempts),
            agent: r.agent.clone(),
            answered_ms: r.answered_ms,
            ended_ms: r.ended_ms,
            hangup_cause: r.cause.as_str().to_string(),
            recording: None,
            recording_secs: None,
            abandoned: r.abandoned,
            rating: r.rating.map(|x| x.as_str().to_string()),
            callback_requested: r.callback_requested,
            service_level_met: r.service_level_met,
        };
        let _ = self.records.send(RecordWrite::Record(Box::new(row)));
        if let Some(c) = self.calls.get_mut(&r.call) {
            c.caller_gone = true;
        }
    }
}

/// A write to the call records, in the order the calls produced them.
pub(super) enum RecordWrite {
    Record(Box<CallRecordRow>),
    Recording {
        id: String,
        path: String,
        secs: f64,
    },
    /// An emergency hand-off's current state (after its call's record may be written or not).
    Handoff(Box<crate::store::handoffs::HandoffRow>),
    /// A callback request's current state, and one attempt's.
    Callback(crate::store::callbacks::CallbackRow),
    CallbackAttempt(crate::store::callbacks::CallbackAttemptRow),
    /// An agent's own outbound call, with the ticket it is about.
    Outbound(Box<CallRecordRow>, Option<String>),
}

pub(super) fn spawn_writer(
    store: Store,
    handoff_sms: Option<HandoffSms>,
) -> tokio::sync::mpsc::UnboundedSender<RecordWrite> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(w) = rx.recv().await {
            let done = match w {
                RecordWrite::Record(row) => store.insert_call_record(&row).await.map(|_| ()),
                RecordWrite::Recording { id, path, secs } => {
                    store.set_call_recording(&id, &path, secs).await.map(|_| ())
                }
                RecordWrite::Handoff(row) => store.save_handoff(&row, handoff_sms.as_ref()).await,
                RecordWrite::Callback(row) => store.save_callback(&row).await,
                RecordWrite::CallbackAttempt(row) => store.save_callback_attempt(&row).await,
                RecordWrite::Outbound(row, ticket) => {
                    store.insert_outbound_record(&row, ticket.as_deref()).await
                }
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "cannot write a call record");
            }
        }
    });
    tx
}
