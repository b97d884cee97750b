//! The cluster's byte-range locks (`fcntl`, OFD, `flock`), held by the
//! leader for the mounts, as MooseFS's master and CephFS's MDS hold them.
//!
//! Locks are not raft state: a lock lives as long as the mount that took
//! it, and a lock call costs no log write. The leader keeps them in memory
//! for sessions (one per mount process); a session renews its lease with
//! every call ([`LOCK_LEASE`]; mounts renew every few seconds while they
//! hold or wait for a lock), and a session silent for the lease loses its
//! locks, which wakes whoever waits for them.
//!
//! A change of leader empties the table: the new leader starts a new epoch
//! and, for [`GRACE`], answers only the claims of sessions taking back the
//! locks they hold (each mount keeps its own granted locks and re-sends
//! them when the epoch it renews under changes), so no other mount slips
//! in between. After the grace, the table is the cluster's again.
//!
//! Waiting (`F_SETLKW`) is a long poll: a WAIT call waits at most
//! [`WAIT_POLL`] for a release, then answers "ask again"; the mount asks
//! until it gets the lock or is interrupted (then it cancels). A wait that
//! would close a cycle of waiters answers `EDEADLK` at once.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use cairn_common::byte_locks::{ByteLock, LockKind, LockOwner, LockRange, LockTable, WaitGraph};
use cairn_common::ClusterError;
use cairn_proto as pb;
use tokio::sync::Notify;

use crate::term::Term;

/// A session silent this long loses its locks.
pub const LOCK_LEASE: Duration = Duration::from_secs(10);
/// After a change of leader, how long only claims are answered: two renew
/// intervals of the mounts, so every live session has claimed by then.
pub const GRACE: Duration = Duration::from_secs(5);
/// The longest one WAIT call waits before answering "ask again".
pub const WAIT_POLL: Duration = Duration::from_secs(2);

/// Bounds on what the network can make the leader keep in memory.
const MAX_SESSIONS: usize = 4096;
const MAX_LOCKS: usize = 1 << 20;
const MAX_SESSION_ID: usize = 256;

/// The leader's lock table, its sessions and waiters.
#[derive(Debug)]
pub struct LockService {
    inner: Mutex<Inner>,
    /// Woken whenever a lock is dropped.
    released: Notify,
}

#[derive(Debug)]
struct Inner {
    epoch: u64,
    grace_until: Instant,
    table: LockTable,
    waits: WaitGraph,
    /// Each session and when it was last heard from.
    sessions: HashMap<String, Instant>,
}

/// What one look at the table decided.
enum Step {
    Done(pb::LockReply),
    /// Blocked (or in the grace): wait for a release, then look again.
    Wait,
}

impl LockService {
    /// An empty table in a new epoch, in its grace from `now`.
    pub fn new(now: Instant) -> LockService {
        LockService {
            inner: Mutex::new(Inner::fresh(now, Term::Later)),
            released: Notify::new(),
        }
    }

    /// This MDS became the leader: whatever it held from an earlier term
    /// is stale, so it starts empty in a new epoch.
    pub fn new_term(&self, now: Instant, term: Term) {
        *self.lock() = Inner::fresh(now, term);
        self.released.notify_waiters();
    }

    /// How many locks and sessions are held.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.table.len(), inner.sessions.len())
    }

    /// Answers one lock call; a WAIT (or a call in the grace) waits up to
    /// [`WAIT_POLL`] for a release first.
    pub async fn call(&self, req: pb::LockRequest) -> Result<pb::LockReply, ClusterError> {
        let call = Call::parse(req)?;
        let deadline = tokio::time::Instant::now() + WAIT_POLL;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let step = self.step(&call, Instant::now())?;
            match step {
                Step::Done(reply) => return Ok(reply),
                Step::Wait => {}
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Ok(pb::LockReply {
                    epoch: self.lock().epoch,
                    granted: false,
                    conflict: None,
                });
            }
        }
    }

    fn step(&self, call: &Call, now: Instant) -> Result<Step, ClusterError> {
        let mut inner = self.lock();
        if inner.expire(now) {
            self.released.notify_waiters();
        }
        if call.op == pb::LockOp::LockEndSession {
            inner.sessions.remove(&call.session);
            inner.waits.release_session(&call.session);
            if inner.table.release_session(&call.session) {
                self.released.notify_waiters();
            }
            return Ok(Step::Done(inner.reply(true, None)));
        }
        if !inner.sessions.contains_key(&call.session) && inner.sessions.len() >= MAX_SESSIONS {
            return Err(ClusterError::NoSpace(format!(
                "the lock table already follows {MAX_SESSIONS} mounts"
            )));
        }
        inner.sessions.insert(call.session.clone(), now);
        let in_grace = now < inner.grace_until;
        let owner = call.owner();
        match call.op {
            pb::LockOp::LockRenew => Ok(Step::Done(inner.reply(true, None))),
            pb::LockOp::LockReclaim => {
                let mut all = true;
                for (ino, lock_owner, range) in &call.held {
                    let owner = LockOwner {
                        session: call.session.clone(),
                        owner: *lock_owner,
                    };
                    if inner.table.conflict(*ino, &owner, range).is_some() {
                        tracing::warn!(session = %call.session, ino, "a lock claimed back conflicts with one granted since; not restored");
                        all = false;
                        continue;
                    }
                    inner.table.set(*ino, &owner, range);
                }
                Ok(Step::Done(inner.reply(all, None)))
            }
            pb::LockOp::LockCancel => {
                inner.waits.done(&owner);
                Ok(Step::Done(inner.reply(true, None)))
            }
            // Dropping a lock is safe in the grace: it conflicts with none.
            pb::LockOp::LockSet if call.range.kind.is_none() => {
                inner.table.set(call.ino, &owner, &call.range);
                self.released.notify_waiters();
                Ok(Step::Done(inner.reply(true, None)))
            }
            _ if in_grace => Ok(Step::Wait),
            pb::LockOp::LockTest => {
                let conflict = inner
                    .table
                    .conflict(call.ino, &owner, &call.range)
                    .map(|held| to_wire(call.ino, held));
                Ok(Step::Done(inner.reply(true, conflict)))
            }
            pb::LockOp::LockSet => {
                if let Some(held) = inner.table.conflict(call.ino, &owner, &call.range) {
                    return Err(ClusterError::WouldBlock(format!(
                        "inode {} bytes {}..={} are locked by process {} of another owner",
                        call.ino, held.start, held.end, held.pid
                    )));
                }
                inner.grant(call.ino, &owner, &call.range)?;
                Ok(Step::Done(inner.reply(true, None)))
            }
            pb::LockOp::LockWait => {
                let blockers = inner.table.blockers(call.ino, &owner, &call.range);
                if blockers.is_empty() {
                    inner.waits.done(&owner);
                    inner.grant(call.ino, &owner, &call.range)?;
                    return Ok(Step::Done(inner.reply(true, None)));
                }
                if inner.waits.would_deadlock(&owner, &blockers) {
                    inner.waits.done(&owner);
                    return Err(ClusterError::Deadlock(format!(
                        "waiting for inode {} bytes {}..={} would deadlock with another mount",
                        call.ino, call.range.start, call.range.end
                    )));
                }
                inner.waits.wait(owner, blockers);
                Ok(Step::Wait)
            }
            pb::LockOp::LockEndSession => unreachable_op(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ops handled before the match reach here only through a bug; answered as
/// an I/O error rather than a panic of the leader.
fn unreachable_op() -> Result<Step, ClusterError> {
    Err(ClusterError::Io("lock op handled twice".into()))
}

impl Inner {
    fn fresh(now: Instant, term: Term) -> Inner {
        Inner {
            epoch: rand::random::<u64>() | 1,
            grace_until: now + term.grace(GRACE),
            table: LockTable::default(),
            waits: WaitGraph::default(),
            sessions: HashMap::new(),
        }
    }

    /// Drops the sessions silent for the lease; true when locks went.
    fn expire(&mut self, now: Instant) -> bool {
        let gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(**seen) >= LOCK_LEASE)
            .map(|(s, _)| s.clone())
            .collect();
        let mut dropped = false;
        for session in gone {
            tracing::info!(%session, "a mount's lock lease ran out: its locks are released");
            self.sessions.remove(&session);
            self.waits.release_session(&session);
            dropped |= self.table.release_session(&session);
        }
        dropped
    }

    fn grant(
        &mut self,
        ino: u64,
        owner: &LockOwner,
        range: &LockRange,
    ) -> Result<(), ClusterError> {
        if self.table.len() >= MAX_LOCKS {
            return Err(ClusterError::NoSpace(format!(
                "the cluster already holds {MAX_LOCKS} locks"
            )));
        }
        self.table.set(ino, owner, range);
        Ok(())
    }

    fn reply(&self, granted: bool, conflict: Option<pb::FileLock>) -> pb::LockReply {
        pb::LockReply {
            epoch: self.epoch,
            granted,
            conflict,
        }
    }
}

/// A lock call, checked.
struct Call {
    op: pb::LockOp,
    session: String,
    ino: u64,
    lock_owner: u64,
    range: LockRange,
    held: Vec<(u64, u64, LockRange)>,
}

impl Call {
    fn parse(req: pb::LockRequest) -> Result<Call, ClusterError> {
        let op = pb::LockOp::try_from(req.op)
            .map_err(|_| ClusterError::Invalid(format!("unknown lock op {}", req.op)))?;
        if req.session.is_empty() || req.session.len() > MAX_SESSION_ID {
            return Err(ClusterError::Invalid(format!(
                "a lock session id has 1 to {MAX_SESSION_ID} bytes"
            )));
        }
        let lock = req.lock.unwrap_or_default();
        let range = range_of(&lock)?;
        let held = req
            .held
            .iter()
            .map(|l| Ok((l.ino, l.owner, range_of(l)?)))
            .collect::<Result<Vec<_>, ClusterError>>()?;
        let needs_lock = matches!(
            op,
            pb::LockOp::LockTest | pb::LockOp::LockSet | pb::LockOp::LockWait
        );
        if needs_lock && lock.ino == 0 {
            return Err(ClusterError::Invalid("a lock call names its inode".into()));
        }
        if matches!(op, pb::LockOp::LockTest | pb::LockOp::LockWait) && range.kind.is_none() {
            return Err(ClusterError::Invalid(
                "only a read or write lock can be tested or waited for".into(),
            ));
        }
        Ok(Call {
            op,
            session: req.session,
            ino: lock.ino,
            lock_owner: lock.owner,
            range,
            held,
        })
    }

    fn owner(&self) -> LockOwner {
        LockOwner {
            session: self.session.clone(),
            owner: self.lock_owner,
        }
    }
}

fn range_of(lock: &pb::FileLock) -> Result<LockRange, ClusterError> {
    if lock.start > lock.end {
        return Err(ClusterError::Invalid(format!(
            "a lock range ends ({}) before it starts ({})",
            lock.end, lock.start
        )));
    }
    let kind = match pb::LockType::try_from(lock.r#type) {
        Ok(pb::LockType::LockUnlock) => None,
        Ok(pb::LockType::LockRead) => Some(LockKind::Read),
        Ok(pb::LockType::LockWrite) => Some(LockKind::Write),
        Err(_) => {
            return Err(ClusterError::Invalid(format!(
                "unknown lock type {}",
                lock.r#type
            )))
        }
    };
    Ok(LockRange {
        start: lock.start,
        end: lock.end,
        kind,
        pid: lock.pid,
    })
}

fn to_wire(ino: u64, held: &ByteLock) -> pb::FileLock {
    pb::FileLock {
        ino,
        owner: held.owner.owner,
        start: held.start,
        end: held.end,
        r#type: match held.kind {
            LockKind::Read => pb::LockType::LockRead,
            LockKind::Write => pb::LockType::LockWrite,
        } as i32,
        pid: held.pid,
    }
}

#[cfg(test)]
mod tests;
