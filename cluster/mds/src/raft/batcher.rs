//! Group commit in front of raft: concurrent commands share one log entry.
//!
//! openraft 0.9 appends each client write on its own and waits for its
//! fsync before the next, so one command per entry would cost one fsync
//! each. The batcher takes every command waiting (up to [`MAX_BATCH`]),
//! proposes them as one entry, and answers each waiter with its own reply
//! once the entry is applied. The state machine applies the commands of an
//! entry in order, each in its own transaction, so a refused command
//! leaves the others untouched, exactly as separate entries would. An
//! entry asks for the strictest [`Persist`] of its commands.

use cairn_common::{ClusterError, Persist};
use tokio::sync::{mpsc, oneshot};

use super::{Raft, Request};
use crate::command::{Command, CommandReply};

/// Most commands in one entry: bounds the latency of the first waiter and
/// the size of an entry.
pub const MAX_BATCH: usize = 1024;

type Outcome = Result<CommandReply, ClusterError>;

struct Job {
    command: Command,
    persist: Persist,
    reply: oneshot::Sender<Outcome>,
}

/// Handle to the batching task; it ends when the last handle is dropped.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    pub fn start(raft: Raft) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Batcher { tx }
    }

    /// Proposes `command`; answers once its entry is committed (persisted
    /// as `persist` asks on a majority) and applied here, or with the
    /// reason it could not be.
    pub async fn submit(&self, command: Command, persist: Persist) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let stopped = || ClusterError::Unavailable("the MDS raft node has stopped".into());
        self.tx
            .send(Job {
                command,
                persist,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let commands = jobs.iter().map(|j| j.command.clone()).collect();
        let persist = if jobs.iter().all(|j| j.persist == Persist::Os) {
            Persist::Os
        } else {
            Persist::Disk
        };
        let written = tokio::time::timeout(
            super::WRITE_TIMEOUT,
            raft.client_write(Request { commands, persist }),
        )
        .await;
        match written {
            Ok(Ok(response)) if response.data.0.len() == jobs.len() => {
                for (job, outcome) in jobs.into_iter().zip(response.data.0) {
                    // A waiter that went away needs no answer.
                    let _ = job.reply.send(outcome);
                }
            }
            other => {
                let error = match other {
                    Ok(Ok(r)) => ClusterError::Io(format!(
                        "raft answered {} replies for {} commands",
                        r.data.0.len(),
                        jobs.len()
                    )),
                    Ok(Err(e)) => ClusterError::Unavailable(format!("metadata write: {e}")),
                    Err(_) => ClusterError::Unavailable(format!(
                        "metadata write not committed within {} s: is a majority of the MDS up?",
                        super::WRITE_TIMEOUT.as_secs()
                    )),
                };
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}
