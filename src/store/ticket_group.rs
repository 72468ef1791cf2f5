//! Group commit for ticket creation: concurrent callers hand their new tickets to one writer
//! task, which writes whatever is waiting (up to a limit) in one transaction and answers each
//! caller after the commit. On SQLite the commit, not the statements, bounds one-ticket
//! transactions (see docs/benchmarks.md); sharing it lifts the insert rate several times.
//! The ticket API creates every ticket this way.
//!
//! A creation is more than the ticket row: a [`CreateRequest`] may also dispatch at once, set
//! the assisting units, close with the agent's direct answer and queue the ticket-number SMS —
//! all in the shared transaction. Each request runs inside a savepoint of its own, so a
//! request the workflow refuses (an unknown unit, a type that cannot be answered directly)
//! fails alone and leaves nothing behind, while the others of its group commit. Only a
//! database failure of the shared transaction fails a whole group — then every caller in it
//! gets the error and none of its tickets exists. A caller is answered only once its ticket is
//! committed (or known not to be).

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use sqlx::{Any, Connection, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::ticket_notify::{self, TicketSms};
use super::tickets::{
    apply_with_sms_in_tx, check_new, create_in_tx, set_assisting_in_tx, NewTicket, TicketError,
};
use super::units::units_in_tx;
use super::{ticket_create, Store};
use crate::workflow::command::Action;
use crate::workflow::event::Role;
use crate::workflow::{Actor, Command, Rules, State, TransitionError, UnitId};

/// One creation and what is done with the new ticket in the same transaction.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub new: NewTicket,
    pub actor: Actor,
    pub now: DateTime<FixedOffset>,
    /// Dispatch at once to this unit.
    pub dispatch_to: Option<UnitId>,
    /// Assisting units (协办) to set.
    pub assisting: Vec<UnitId>,
    /// Answered on the phone: close at once with this answer (直接办结).
    pub answer: Option<String>,
    /// The calendar and policy; needed to dispatch, answer or send the ticket number.
    pub rules: Option<Arc<Rules>>,
    /// With templates, the SMS the events cause and the ticket number to the caller are queued.
    pub sms: Option<Arc<TicketSms>>,
}

impl CreateRequest {
    /// A plain creation: the ticket only, nothing dispatched, no SMS.
    pub fn plain(new: NewTicket, actor: Actor, now: DateTime<FixedOffset>) -> CreateRequest {
        CreateRequest {
            new,
            actor,
            now,
            dispatch_to: None,
            assisting: Vec::new(),
            answer: None,
            rules: None,
            sms: None,
        }
    }
}

struct Job {
    req: CreateRequest,
    reply: oneshot::Sender<Result<String, TicketError>>,
}

/// A handle on the writer task; cheap to clone. The task ends when every handle is dropped.
#[derive(Clone, Debug)]
pub struct GroupCreator {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl GroupCreator {
    /// Spawns the writer on the current tokio runtime; at most `max_group` tickets share a
    /// transaction.
    pub fn spawn(store: Store, max_group: usize) -> GroupCreator {
        GroupCreator::spawn_with(store, max_group, false)
    }

    /// [`GroupCreator::spawn`] whose requests take the step-by-step command path
    /// ([`create_request_stepwise_in_tx`]): the reference the benchmark compares with.
    pub fn spawn_stepwise(store: Store, max_group: usize) -> GroupCreator {
        GroupCreator::spawn_with(store, max_group, true)
    }

    fn spawn_with(store: Store, max_group: usize, stepwise: bool) -> GroupCreator {
        let (tx, rx) = mpsc::channel(max_group.max(1) * 4);
        tokio::spawn(run(store, rx, max_group.max(1), stepwise));
        GroupCreator { jobs: tx }
    }

    /// Creates a ticket; returns its number once it is committed.
    pub async fn create(
        &self,
        new: NewTicket,
        actor: Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<String, TicketError> {
        self.submit(CreateRequest::plain(new, actor, now)).await
    }

    /// Runs a whole creation; returns the ticket number once it is committed. Nothing of a
    /// refused request is written.
    pub async fn submit(&self, req: CreateRequest) -> Result<String, TicketError> {
        check_new(&req.new)?;
        if req.actor.role() == Role::Unit {
            return Err(TicketError::Refused {
                ticket: String::new(),
                state: State::Created,
                action: Action::Create,
                source: TransitionError::Forbidden {
                    action: Action::Create,
                    role: Role::Unit,
                },
            });
        }
        let (reply, answer) = oneshot::channel();
        let gone = || TicketError::Group("the ticket writer has stopped".into());
        self.jobs
            .send(Job { req, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max: usize, stepwise: bool) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        match write(&store, &jobs, stepwise).await {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(TicketError::Group(msg.clone())));
                }
            }
        }
    }
}

/// Writes a group: each request in a savepoint, then one commit. The outer error is the
/// shared transaction's; the inner results are each request's.
async fn write(
    store: &Store,
    jobs: &[Job],
    stepwise: bool,
) -> Result<Vec<Result<String, TicketError>>, TicketError> {
    let mut tx = super::begin_write(store.pool()).await?;
    let mut results = Vec::with_capacity(jobs.len());
    // The units the whole group names, in one read inside the shared transaction.
    let units = if stepwise {
        Vec::new()
    } else {
        let named = ticket_create::named_units(jobs.iter().map(|j| &j.req));
        units_in_tx(&mut tx, &named).await?
    };
    for j in jobs {
        let mut sp = Connection::begin(&mut *tx).await?;
        let made = if stepwise {
            create_request_stepwise_in_tx(&mut sp, &j.req).await
        } else {
            ticket_create::create_with_units_in_tx(&mut sp, &j.req, &units).await
        };
        match made {
            Ok(id) => {
                sp.commit().await?;
                results.push(Ok(id));
            }
            Err(e) => {
                sp.rollback().await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// One whole creation inside `tx`, folded in memory and written once; returns the number.
pub use super::ticket_create::create_request_in_tx;

/// The same creation step by step through the general command path: the ticket, then each
/// command as its own transition (lock, fold the history, append, rewrite the projection).
/// Kept as the reference the one-write path is compared with in tests and the benchmark.
pub async fn create_request_stepwise_in_tx(
    tx: &mut Transaction<'_, Any>,
    req: &CreateRequest,
) -> Result<String, TicketError> {
    let rules = || {
        req.rules
            .as_deref()
            .ok_or_else(|| TicketError::Invalid("the deadline rules are not loaded".into()))
    };
    let (actor, now, sms) = (&req.actor, req.now, req.sms.as_deref());
    let id = create_in_tx(tx, &req.new, actor, now).await?;
    if let Some(unit) = &req.dispatch_to {
        let cmd = Command::Dispatch { unit: unit.clone() };
        apply_with_sms_in_tx(tx, &id, cmd, actor, now, rules()?, sms).await?;
    }
    if !req.assisting.is_empty() {
        set_assisting_in_tx(tx, &id, &req.assisting, actor, now).await?;
    }
    if let Some(reply) = &req.answer {
        let cmd = Command::AnswerDirectly {
            reply: reply.clone(),
        };
        apply_with_sms_in_tx(tx, &id, cmd, actor, now, rules()?, sms).await?;
    }
    // A caller answered on the phone needs no ticket number to follow up with.
    if let (Some(sms), None) = (sms, &req.answer) {
        ticket_notify::ticket_number_in_tx(tx, sms, &id, now, rules()?).await?;
    }
    Ok(id)
}
