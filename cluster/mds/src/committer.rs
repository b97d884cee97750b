//! Group commit: one thread applies queued commands and shares one fsync
//! among them.
//!
//! The thread takes every command waiting in its channel (up to
//! [`MAX_BATCH`]), applies each in its own write transaction committed with
//! `Durability::None` (redb keeps it in memory; a failed command's
//! transaction is aborted, so it leaves nothing), then makes one empty
//! `Durability::Immediate` commit, which persists every earlier non-durable
//! commit with a single fsync. Only after that does it answer the waiters:
//! an answered command is on disk.
//!
//! Visibility: read transactions see a batch's commits as soon as they are
//! made, slightly before the fsync. A crash in that window loses commands no
//! client was told succeeded, but a reader may have seen them.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
};

use cairn_common::FsError;
use redb::{Database, Durability};
use tokio::sync::oneshot;

use crate::apply::apply;
use crate::command::{Command, CommandReply};
use crate::error::OrIo;

/// Most commands in one batch: bounds the latency of the first waiter.
pub const MAX_BATCH: usize = 1024;

type Outcome = Result<CommandReply, FsError>;

struct Job {
    command: Command,
    reply: oneshot::Sender<Outcome>,
}

/// Counters of the committer, for tests and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Durable (fsynced) commits made.
    pub durable_commits: AtomicU64,
    /// Commands applied successfully.
    pub applied: AtomicU64,
    /// Commands that failed (and were rolled back).
    pub failed: AtomicU64,
}

/// Handle to the committer thread. Dropping the last handle stops the thread
/// once the queue is drained, and waits for it (so the database is closed
/// when the drop returns).
pub struct Committer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<CommitStats>,
}

impl Committer {
    pub fn start(db: Arc<Database>) -> Result<Committer, std::io::Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("mds-committer".into())
            .spawn(move || run(&db, &rx, &thread_stats))?;
        Ok(Committer {
            tx: Some(tx),
            thread: Some(thread),
            stats,
        })
    }

    /// Applies a command; returns once it is durable (or has failed).
    pub async fn submit(&self, command: Command) -> Result<CommandReply, FsError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || FsError::Unavailable("the MDS committer has stopped".into());
        self.tx
            .as_ref()
            .ok_or_else(stopped)?
            .send(Job { command, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub fn durable_commits(&self) -> u64 {
        self.stats.durable_commits.load(Ordering::Relaxed)
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after the queue drains.
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the MDS committer thread panicked");
            }
        }
    }
}

fn run(db: &Database, rx: &mpsc::Receiver<Job>, stats: &CommitStats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<(oneshot::Sender<Outcome>, Outcome)> =
            Vec::with_capacity(batch.len());
        for job in batch {
            let outcome = apply_one(db, &job.command);
            match &outcome {
                Ok(_) => stats.applied.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::debug!(command = job.command.name(), error = %e, "command refused");
                    stats.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            outcomes.push((job.reply, outcome));
        }
        if outcomes.iter().any(|(_, o)| o.is_ok()) {
            match durable_commit(db) {
                Ok(()) => {
                    stats.durable_commits.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(error = %e, "durable commit failed: answering the batch with EIO");
                    for (_, outcome) in &mut outcomes {
                        if outcome.is_ok() {
                            *outcome = Err(FsError::Io(format!(
                                "metadata commit could not be made durable: {e}"
                            )));
                        }
                    }
                }
            }
        }
        for (reply, outcome) in outcomes {
            // A waiter that went away (client cancelled) needs no answer.
            let _ = reply.send(outcome);
        }
    }
}

/// One command in its own non-durable transaction; aborted on error.
fn apply_one(db: &Database, command: &Command) -> Outcome {
    let mut txn = db.begin_write().io()?;
    txn.set_durability(Durability::None)
        .map_err(|e| FsError::Io(format!("metadata store: {e}")))?;
    // A panic in apply is a bug; it fails that command (its transaction is
    // aborted) instead of taking the committer, and so the MDS, down.
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&txn, command)))
        .unwrap_or_else(|_| {
            tracing::error!(command = command.name(), "apply panicked: command refused");
            Err(FsError::Io(format!(
                "internal error applying {}",
                command.name()
            )))
        });
    match applied {
        Ok(reply) => {
            txn.commit().io()?;
            Ok(reply)
        }
        Err(e) => {
            if let Err(abort) = txn.abort() {
                tracing::error!(error = %abort, "abort of a failed command failed");
            }
            Err(e)
        }
    }
}

/// An empty durable commit: persists every earlier non-durable one.
fn durable_commit(db: &Database) -> Result<(), FsError> {
    let mut txn = db.begin_write().io()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| FsError::Io(format!("metadata store: {e}")))?;
    txn.commit().io()
}
