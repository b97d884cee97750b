//! Byte-range locks through the MDS leader, for the mount: `F_GETLK`,
//! `F_SETLK`, `F_SETLKW` (and OFD locks and `flock`, which reach a
//! filesystem as the same calls with the open file as owner).
//!
//! Each client is one lock session. While it holds or waits for a lock, a
//! keeper renews the session's lease every [`RENEW_EVERY`] (the leader
//! drops a session silent for its lease, so a dead mount's locks go). The
//! client keeps a table of the locks it was granted: when the epoch the
//! leader answers under changes (a new leader, with an empty table), the
//! keeper claims them all back, and closing a file that never took a lock
//! costs no call.

use std::{
    sync::{Mutex, MutexGuard, PoisonError, Weak},
    time::Duration,
};

use cairn_common::byte_locks::LockTable;
pub use cairn_common::byte_locks::{ByteLock, LockKind, LockOwner, LockRange};
use cairn_common::ClusterError;
use cairn_proto as pb;
use tokio::task::JoinHandle;

use crate::{retry::Retry, Client, Inner};

/// How often a session with locks renews its lease (the leader's is 10 s).
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How often a waiting lock call asks whether its caller gave up.
const INTERRUPT_CHECK: Duration = Duration::from_millis(100);

/// This client's lock session.
#[derive(Debug)]
pub(crate) struct LockSession {
    id: String,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// The leader's epoch the table was granted under (0: none yet).
    epoch: u64,
    /// The locks this session holds, as the leader granted them.
    table: LockTable,
    /// Calls waiting for a lock now.
    waiting: usize,
    keeper: Option<JoinHandle<()>>,
}

impl LockSession {
    pub(crate) fn new(host: &str) -> LockSession {
        LockSession {
            id: format!(
                "{host}:{}:{}",
                std::process::id(),
                cairn_common::time::now_ns()
            ),
            held: Mutex::new(Held::default()),
        }
    }

    /// The session's id, which also names it in `Watch` and `WriteLease`
    /// calls and in the changes it commits.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LockSession {
    fn drop(&mut self) {
        if let Some(keeper) = self.held().keeper.take() {
            keeper.abort();
        }
    }
}

impl Client {
    /// The lock of another owner that keeps `owner` from taking `range` on
    /// `ino` (`F_GETLK`), with the holder's pid; None when it could be
    /// taken.
    pub async fn test_lock(
        &self,
        ino: u64,
        owner: u64,
        range: &LockRange,
    ) -> Result<Option<ByteLock>, ClusterError> {
        loop {
            let reply = self
                .lock_call(pb::LockOp::LockTest, ino, owner, range)
                .await?;
            // Not granted: the leader is in its grace after an election.
            if !reply.granted {
                continue;
            }
            return Ok(reply.conflict.and_then(|c| {
                let kind = match pb::LockType::try_from(c.r#type) {
                    Ok(pb::LockType::LockRead) => LockKind::Read,
                    Ok(pb::LockType::LockWrite) => LockKind::Write,
                    _ => return None,
                };
                Some(ByteLock {
                    owner: LockOwner {
                        session: String::new(),
                        owner: c.owner,
                    },
                    kind,
                    start: c.start,
                    end: c.end,
                    pid: c.pid,
                })
            }));
        }
    }

    /// Takes (or, with `range.kind` None, drops) `owner`'s lock on `ino`.
    /// Without `wait`, a conflicting lock is `WouldBlock` (`EAGAIN`); with
    /// it, the call waits for the lock until `gave_up` says the caller was
    /// interrupted (`Interrupted`, `EINTR`), or answers `Deadlock`.
    pub async fn set_lock(
        &self,
        ino: u64,
        owner: u64,
        range: &LockRange,
        wait: bool,
        gave_up: impl Fn() -> bool,
    ) -> Result<(), ClusterError> {
        if range.kind.is_none() && !self.holds_any(ino, owner) {
            return Ok(());
        }
        let op = if wait && range.kind.is_some() {
            pb::LockOp::LockWait
        } else {
            pb::LockOp::LockSet
        };
        let waiting = Waiting::start(self, op == pb::LockOp::LockWait);
        loop {
            let call = self.lock_call(op, ino, owner, range);
            tokio::pin!(call);
            let reply = loop {
                tokio::select! {
                    reply = &mut call => break reply?,
                    _ = tokio::time::sleep(INTERRUPT_CHECK) => {
                        if gave_up() {
                            drop(waiting);
                            self.cancel_wait(ino, owner, range).await;
                            return Err(ClusterError::Interrupted(
                                "the process was interrupted while waiting for a lock".into(),
                            ));
                        }
                    }
                }
            };
            if reply.granted {
                self.record(reply.epoch, |table| {
                    table.set(ino, &self.lock_owner(owner), range)
                });
                return Ok(());
            }
        }
    }

    /// Drops every lock `owner` holds on `ino` (a close, the last close of
    /// an open file); no call when it holds none.
    pub async fn drop_locks(&self, ino: u64, owner: u64) -> Result<(), ClusterError> {
        let all = LockRange {
            start: 0,
            end: u64::MAX,
            kind: None,
            pid: 0,
        };
        self.set_lock(ino, owner, &all, false, || false).await
    }

    /// Ends this client's lock session: the leader drops all its locks
    /// (an unmount).
    pub async fn end_lock_session(&self) -> Result<(), ClusterError> {
        let had_any = {
            let mut held = self.inner.locks.held();
            if let Some(keeper) = held.keeper.take() {
                keeper.abort();
            }
            let had_any = !held.table.is_empty();
            held.table = LockTable::default();
            had_any
        };
        if had_any {
            self.lock_request(pb::LockRequest {
                op: pb::LockOp::LockEndSession as i32,
                session: self.inner.locks.id.clone(),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    /// How many locks this client holds.
    pub fn locks_held(&self) -> usize {
        self.inner.locks.held().table.len()
    }

    fn holds_any(&self, ino: u64, owner: u64) -> bool {
        let me = self.lock_owner(owner);
        self.inner
            .locks
            .held()
            .table
            .locks_of(ino)
            .iter()
            .any(|l| l.owner == me)
    }

    fn lock_owner(&self, owner: u64) -> LockOwner {
        LockOwner {
            session: self.inner.locks.id.clone(),
            owner,
        }
    }

    async fn cancel_wait(&self, ino: u64, owner: u64, range: &LockRange) {
        if let Err(e) = self
            .lock_call(pb::LockOp::LockCancel, ino, owner, range)
            .await
        {
            tracing::debug!(error = %e, "a cancelled lock wait was not withdrawn; the leader drops it with the session's next wait");
        }
    }

    async fn lock_call(
        &self,
        op: pb::LockOp,
        ino: u64,
        owner: u64,
        range: &LockRange,
    ) -> Result<pb::LockReply, ClusterError> {
        self.lock_request(pb::LockRequest {
            op: op as i32,
            session: self.inner.locks.id.clone(),
            lock: Some(to_wire(ino, owner, range)),
            held: Vec::new(),
        })
        .await
    }

    async fn lock_request(&self, req: pb::LockRequest) -> Result<pb::LockReply, ClusterError> {
        // Every lock call leaves the same state when sent twice.
        self.inner
            .mds
            .metadata(
                Retry::Idempotent,
                req,
                |mut m, r| async move { m.lock(r).await },
            )
            .await
    }

    /// Applies `change` to the table of granted locks, noting the epoch it
    /// was granted under (claiming the older locks back if it moved on),
    /// and keeps the lease renewed while locks are held.
    fn record(&self, epoch: u64, change: impl FnOnce(&mut LockTable)) {
        let mut held = self.inner.locks.held();
        let moved_on = held.epoch != 0 && held.epoch != epoch && !held.table.is_empty();
        change(&mut held.table);
        if !moved_on {
            held.epoch = epoch;
        }
        self.keep_lease(&mut held);
    }

    fn keep_lease(&self, held: &mut Held) {
        if held.keeper.as_ref().is_some_and(|k| !k.is_finished()) {
            return;
        }
        let inner = std::sync::Arc::downgrade(&self.inner);
        held.keeper = Some(tokio::spawn(keep(inner)));
    }
}

/// Renews the session's lease while it holds or waits for locks, and
/// claims its locks back from a leader of a new epoch.
async fn keep(inner: Weak<Inner>) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let client = Client { inner };
        let (busy, epoch) = {
            let held = client.inner.locks.held();
            (!held.table.is_empty() || held.waiting > 0, held.epoch)
        };
        if !busy {
            continue;
        }
        let renewed = client
            .lock_request(pb::LockRequest {
                op: pb::LockOp::LockRenew as i32,
                session: client.inner.locks.id.clone(),
                ..Default::default()
            })
            .await;
        match renewed {
            Ok(reply) if reply.epoch != epoch => client.reclaim(reply.epoch).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the lock lease was not renewed"),
        }
    }
}

impl Client {
    /// Claims every held lock back from a leader of epoch `epoch`.
    async fn reclaim(&self, epoch: u64) {
        let held: Vec<pb::FileLock> = {
            let held = self.inner.locks.held();
            held.table
                .all()
                .map(|(ino, l)| {
                    to_wire(
                        ino,
                        l.owner.owner,
                        &LockRange {
                            start: l.start,
                            end: l.end,
                            kind: Some(l.kind),
                            pid: l.pid,
                        },
                    )
                })
                .collect()
        };
        let count = held.len();
        let claimed = self
            .lock_request(pb::LockRequest {
                op: pb::LockOp::LockReclaim as i32,
                session: self.inner.locks.id.clone(),
                lock: None,
                held,
            })
            .await;
        match claimed {
            Ok(reply) => {
                if !reply.granted {
                    tracing::warn!(
                        count,
                        "a new MDS leader did not give back every lock this mount held"
                    );
                }
                tracing::info!(count, "locks claimed back from a new MDS leader");
                self.inner.locks.held().epoch = reply.epoch.max(epoch);
            }
            Err(e) => {
                tracing::warn!(error = %e, "locks not yet claimed back from a new MDS leader")
            }
        }
    }
}

/// Counts a waiting call while it lives, so that the lease is kept.
struct Waiting<'a> {
    client: Option<&'a Client>,
}

impl<'a> Waiting<'a> {
    fn start(client: &'a Client, waits: bool) -> Waiting<'a> {
        if !waits {
            return Waiting { client: None };
        }
        let mut held = client.inner.locks.held();
        held.waiting += 1;
        client.keep_lease(&mut held);
        Waiting {
            client: Some(client),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client {
            let mut held = client.inner.locks.held();
            held.waiting = held.waiting.saturating_sub(1);
        }
    }
}

fn to_wire(ino: u64, owner: u64, range: &LockRange) -> pb::FileLock {
    pb::FileLock {
        ino,
        owner,
        start: range.start,
        end: range.end,
        r#type: match range.kind {
            None => pb::LockType::LockUnlock,
            Some(LockKind::Read) => pb::LockType::LockRead,
            Some(LockKind::Write) => pb::LockType::LockWrite,
        } as i32,
        pid: range.pid,
    }
}
