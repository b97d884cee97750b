//! Unlinks answered before the MDS has made them: the mount's write-behind
//! of removals, as CephFS's asynchronous unlink.
//!
//! An unlink answered by the MDS costs the caller one round trip and one
//! commit, and `rm -r` or a cleaning loop waits for them one name at a
//! time. When the mount can tell that an unlink will succeed (a fresh page
//! of the directory holds the name, the name is a file or symlink, and no
//! handle of this mount holds it open), the unlink is answered at once and
//! queued here; a sender takes what is queued in batches, each in one MDS
//! call and one group commit. Each queued unlink names the inode the user
//! saw and the MDS makes it only while the name still names that inode, so
//! it never removes a file made under the same name since (through S3, or
//! by another mount): it then behaves as if made before that file was.
//!
//! Invariants:
//! * a queued name is out of the entry cache before its unlink is
//!   answered, so the mount never shows it again;
//! * every other namespace call this mount makes to the cluster first waits
//!   for the unlinks queued before it ([`UnlinkQueue::settle`]), so the MDS
//!   sees this mount's changes in the order they were answered; so do
//!   fsync of a directory (which then makes the unlinks durable) and
//!   unmount. One sender takes the queue in order, one batch at a time, so
//!   "answered" counts the queue from its start: a steady stream of new
//!   unlinks never holds a waiter back;
//! * at most [`MAX_QUEUED`] unlinks wait; past that, and for a while after
//!   a queued unlink could not be made, unlinks wait for the MDS as before;
//! * a queued unlink that the MDS refuses for another reason than ENOENT
//!   (the file meant is already gone) is logged and counted, and its name
//!   is dropped from the entry cache, so the file shows again.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use cairn_client::NamedInode;
use tokio::sync::Notify;

/// Most unlinks queued at once: bounds how far S3 may lag behind the mount
/// (a few milliseconds of batches).
pub const MAX_QUEUED: usize = 512;

/// Most unlinks sent in one call.
pub const BATCH: usize = 128;

/// How long unlinks wait for the MDS after a queued one could not be made.
const AFTER_FAILURE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Queue {
    waiting: Vec<NamedInode>,
    /// Taken by the sender and not yet answered.
    sending: usize,
    /// Unlinks queued, and answered, since the start.
    pushed: u64,
    answered: u64,
    /// Whether a sender is running.
    sender: bool,
    failed_at: Option<Instant>,
}

/// What [`UnlinkQueue::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; the caller starts a sender.
    StartSender,
    /// Queued; a sender is running and will take it.
    Queued,
    /// Not queued (full, or failing lately): unlink through the MDS.
    Refused,
}

#[derive(Default)]
pub struct UnlinkQueue {
    queue: Mutex<Queue>,
    /// Signalled whenever the queue becomes empty with nothing in flight.
    settled: Notify,
    queued: AtomicU64,
    refused: AtomicU64,
}

impl UnlinkQueue {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, unlink: NamedInode) -> Pushed {
        let mut q = self.lock();
        if q.waiting.len() + q.sending >= MAX_QUEUED
            || q.failed_at.is_some_and(|t| t.elapsed() < AFTER_FAILURE)
        {
            return Pushed::Refused;
        }
        q.waiting.push(unlink);
        q.pushed += 1;
        self.queued.fetch_add(1, Ordering::Relaxed);
        if q.sender {
            Pushed::Queued
        } else {
            q.sender = true;
            Pushed::StartSender
        }
    }

    /// The next batch for the sender; empty when there is none, and then
    /// the sender must stop (a later push starts another).
    pub fn take(&self) -> Vec<NamedInode> {
        let mut q = self.lock();
        let n = q.waiting.len().min(BATCH);
        let batch: Vec<NamedInode> = q.waiting.drain(..n).collect();
        q.sending += batch.len();
        if batch.is_empty() {
            q.sender = false;
        }
        batch
    }

    /// The sender's answer for `n` unlinks it took, `refused` of which the
    /// MDS did not make.
    pub fn answered(&self, n: usize, refused: usize) {
        let mut q = self.lock();
        q.sending = q.sending.saturating_sub(n);
        q.answered += n as u64;
        if refused > 0 {
            q.failed_at = Some(Instant::now());
            self.refused.fetch_add(refused as u64, Ordering::Relaxed);
        }
        self.settled.notify_waiters();
    }

    #[cfg(test)]
    fn is_settled(&self) -> bool {
        let q = self.lock();
        q.waiting.is_empty() && q.sending == 0
    }

    /// Waits until every unlink queued so far has been answered by the
    /// MDS. Each batch is bounded in time by the mount's timeout, so this
    /// is too.
    pub async fn settle(&self) {
        let target = self.lock().pushed;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.lock().answered >= target {
                return;
            }
            settled.await;
        }
    }

    /// Unlinks queued since the mount started, and those the MDS refused.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.queued.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(i: u64) -> NamedInode {
        NamedInode {
            parent: 2,
            name: format!("f{i}").into_bytes(),
            ino: 100 + i,
        }
    }

    #[test]
    fn the_first_push_starts_the_sender_and_an_empty_take_stops_it() {
        let q = UnlinkQueue::default();
        assert_eq!(q.push(named(1)), Pushed::StartSender);
        assert_eq!(q.push(named(2)), Pushed::Queued);
        assert_eq!(q.take().len(), 2);
        assert!(!q.is_settled(), "taken but unanswered unlinks are pending");
        assert!(q.take().is_empty());
        q.answered(2, 0);
        assert!(q.is_settled());
        assert_eq!(q.push(named(3)), Pushed::StartSender);
    }

    #[test]
    fn a_full_queue_and_a_failure_refuse() {
        let q = UnlinkQueue::default();
        for i in 0..MAX_QUEUED as u64 {
            assert_ne!(q.push(named(i)), Pushed::Refused);
        }
        assert_eq!(q.push(named(9999)), Pushed::Refused);
        let batch = q.take();
        assert_eq!(batch.len(), BATCH);
        assert_eq!(q.push(named(9999)), Pushed::Refused, "taken still count");
        q.answered(batch.len(), 1);
        assert_eq!(q.push(named(9999)), Pushed::Refused, "failing lately");
        assert_eq!(q.counts(), (MAX_QUEUED as u64, 1));
    }

    /// A task waiting in `settle`.
    fn settling(q: &std::sync::Arc<UnlinkQueue>) -> tokio::task::JoinHandle<()> {
        let q = q.clone();
        tokio::spawn(async move { q.settle().await })
    }

    #[tokio::test]
    async fn settle_waits_only_for_what_was_queued_before_it() {
        let q = std::sync::Arc::new(UnlinkQueue::default());
        q.push(named(1));
        let first = q.take();
        let waiter = settling(&q);
        tokio::task::yield_now().await;
        // Unlinks keep coming; the waiter needs only the first answered.
        q.push(named(2));
        q.answered(first.len(), 0);
        q.push(named(3));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("settle ended while the queue still held later unlinks")
            .expect("no panic");
        assert!(!q.is_settled());
    }

    #[tokio::test]
    async fn settle_waits_for_the_answer() {
        let q = std::sync::Arc::new(UnlinkQueue::default());
        q.push(named(1));
        let batch = q.take();
        let waiter = settling(&q);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.answered(batch.len(), 0);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("settle ended")
            .expect("no panic");
    }
}
