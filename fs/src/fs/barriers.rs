//! Locks as barriers for the whole mount, so that programs that share
//! memory-mapped files and several files under locks (SQLite's WAL: the
//! `-wal` file written, the `-shm` index mapped, one lock byte of the
//! `-shm` taken) work across hosts as on one.
//!
//! * Release: before the cluster hears of an unlock, the kernel's cache of
//!   the unlocked file is dropped (a FUSE notify; the kernel first writes
//!   back the pages a mapping dirtied, as FUSE writes) and every open file
//!   of this mount sends and commits what it buffered, not only the
//!   unlocked one.
//! * Acquire: before a lock taken is answered, the mount catches up with
//!   the feed of changed files (a watch call that does not wait) and
//!   applies every change up to then (kernel cache dropped, the open
//!   file's node read again), its own and those the background watch
//!   already heard of.
//!
//! So what one host wrote before an unlock is seen by the host that takes
//! the lock next, in every file, mapped or not.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, OwnedRwLockReadGuard, RwLock};

use super::*;

/// Held by each application of a change from the feed until its
/// invalidation is done.
pub(super) type Applying = Arc<OwnedRwLockReadGuard<()>>;

/// How far the mount took in the events of the backend's watch.
#[derive(Debug, Default)]
pub(super) struct Feed {
    /// Events received from the watch's channel.
    received: AtomicU64,
    took: Notify,
    /// Read by every application in flight; a barrier takes it for writing
    /// to wait for all those started before it.
    gate: Arc<RwLock<()>>,
}

impl Feed {
    /// An event is about to be applied: the guard goes with it.
    pub(super) async fn applying(&self) -> Applying {
        Arc::new(self.gate.clone().read_owned().await)
    }

    /// One more event was taken from the channel (after its application
    /// started).
    pub(super) fn took_one(&self) {
        self.received.fetch_add(1, Ordering::AcqRel);
        self.took.notify_waiters();
    }

    /// Waits until `sent` events were received and every application
    /// started for them is done.
    async fn settled(&self, sent: u64) {
        loop {
            let took = self.took.notified();
            tokio::pin!(took);
            took.as_mut().enable();
            if self.received.load(Ordering::Acquire) >= sent {
                break;
            }
            took.await;
        }
        drop(self.gate.write().await);
    }
}

impl<B: Backend> Fs<B> {
    /// The acquire barrier: a lock was just granted; what other mounts
    /// committed before it reaches this mount's caches before the kernel
    /// hears of the lock. Best effort: the lock is held whatever happens.
    pub(super) async fn catch_up(&self) {
        let sent = match timed(self.timeout(), "catch up", self.backend.catch_up_files()).await {
            Ok(Some(sent)) => sent,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "a lock taken did not catch up with other mounts' changes; the watch brings them");
                return;
            }
        };
        tracing::debug!(sent, "a lock taken catches up with the feed");
        if tokio::time::timeout(self.timeout(), self.feed.settled(sent))
            .await
            .is_err()
        {
            tracing::warn!(
                "changes of other mounts were not all applied before a lock was answered"
            );
        }
    }

    /// The release barrier: before the cluster hears that a lock on `ino`
    /// goes, the pages the kernel holds dirty for it (a shared mapping's
    /// stores) come back as writes, and every open file sends and commits
    /// its buffer.
    pub(super) async fn release_barrier(&self, ino: u64) -> Result<()> {
        // The other files first: SQLite writes its `-wal` frames, then
        // the index header in the mapped `-shm`, then unlocks the `-shm`;
        // a host that sees the header must find the frames.
        self.flush_others(ino).await?;
        if let Some(invalidate) = self.invalidate.get().cloned() {
            // Off the request path: the kernel's write-back of the dirty
            // pages comes to this mount as FUSE writes while it waits.
            let _ = tokio::task::spawn_blocking(move || invalidate(Stale::all(ino))).await;
        }
        if let Some(file) = self.open_file(ino) {
            file.flush(&self.backend).await?;
        }
        Ok(())
    }

    /// Sends and commits what every open file but `ino` buffered.
    pub(super) async fn flush_others(&self, ino: u64) -> Result<()> {
        let files: Vec<Arc<OpenFile<B>>> = locked(&self.open)
            .values()
            .filter(|e| e.file.ino != ino)
            .map(|e| e.file.clone())
            .collect();
        let flushed = futures::future::join_all(files.iter().map(|f| f.flush(&self.backend))).await;
        flushed.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(())
    }
}
