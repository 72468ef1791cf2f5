//! Group commit for ticket creation: concurrent callers hand their new tickets to one writer
//! task, which writes whatever is waiting (up to a limit) in one transaction and answers each
//! caller after the commit. On SQLite the commit, not the statements, bounds one-ticket
//! transactions (see docs/benchmarks.md); sharing it lifts the insert rate several times.
//!
//! Each request is checked (facts, line, a role that may create) before it joins a group, so
//! only a database failure can fail a group — and then every caller in it gets the error and
//! none of its tickets exists. A caller is answered only once its ticket is committed.

use chrono::{DateTime, FixedOffset};
use tokio::sync::{mpsc, oneshot};

use super::tickets::{check_new, create_in_tx, NewTicket, TicketError};
use super::Store;
use crate::workflow::command::Action;
use crate::workflow::event::Role;
use crate::workflow::{Actor, State, TransitionError};

struct Job {
    new: NewTicket,
    actor: Actor,
    now: DateTime<FixedOffset>,
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
        let (tx, rx) = mpsc::channel(max_group.max(1) * 4);
        tokio::spawn(run(store, rx, max_group.max(1)));
        GroupCreator { jobs: tx }
    }

    /// Creates a ticket; returns its number once it is committed.
    pub async fn create(
        &self,
        new: NewTicket,
        actor: Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<String, TicketError> {
        check_new(&new)?;
        if actor.role() == Role::Unit {
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
        let job = Job {
            new,
            actor,
            now,
            reply,
        };
        let gone = || TicketError::Group("the ticket writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max: usize) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        match write(&store, &jobs).await {
            Ok(ids) => {
                for (job, id) in jobs.into_iter().zip(ids) {
                    let _ = job.reply.send(Ok(id));
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

async fn write(store: &Store, jobs: &[Job]) -> Result<Vec<String>, TicketError> {
    let mut tx = store.pool().begin().await?;
    let mut ids = Vec::with_capacity(jobs.len());
    for j in jobs {
        ids.push(create_in_tx(&mut tx, &j.new, &j.actor, j.now).await?);
    }
    tx.commit().await?;
    Ok(ids)
}
