//! Byte-range locks for the kernel: `fcntl` record locks, OFD locks and
//! `flock` (the kernel sends the last two as locks owned by the open file,
//! `flock` as a whole-file lock), held by the cluster for every mount, so a
//! lock taken on one host is seen on all.
//!
//! The kernel hands a filesystem that keeps its own locks no unlock at
//! close: `flush` names the closing process's lock owner, whose POSIX locks
//! on the file go (POSIX drops them at any close), and `release`, the last
//! close of an open file, drops the locks taken through it (OFD locks,
//! `flock`).
//!
//! A waiting `F_SETLKW` must end with `EINTR` when its process gets a
//! signal. fuser answers the kernel's `FUSE_INTERRUPT` with `ENOSYS`, after
//! which the kernel only waits for the answer, so the mount looks itself:
//! a signal pending for the waiting thread and neither blocked nor ignored
//! (`/proc/PID/status`) ends the wait with `EINTR`, and the kernel then
//! delivers the signal (or the kill).

use cairn_client::{ByteLock, LockKind, LockRange};

use super::{locked, Fs, Handle};
use crate::{backend::Backend, error::Result};

/// The kernel's largest offset (`OFFSET_MAX`): a lock "to the end of the
/// file". A lock answered to `F_GETLK` must end at or before it.
const OFFSET_MAX: u64 = i64::MAX as u64;

/// A lock as the kernel's `F_GETLK` answer carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLock {
    pub start: u64,
    pub end: u64,
    /// `F_RDLCK` or `F_WRLCK`.
    pub typ: i32,
    pub pid: u32,
}

/// A lock request of the kernel (`F_SETLK`, `F_SETLKW`).
#[derive(Debug, Clone, Copy)]
pub struct LockCall {
    pub ino: u64,
    /// The open file it came through.
    pub fh: u64,
    /// The kernel's lock owner (a process's file table, or an open file).
    pub owner: u64,
    pub start: u64,
    /// Inclusive; `OFFSET_MAX` is to the end of the file.
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub typ: i32,
    /// The process taking the lock (what `F_GETLK` reports).
    pub pid: u32,
    /// The thread that asked: a signal pending for it ends a wait.
    pub caller: u32,
}

impl<B: Backend> Fs<B> {
    /// `F_GETLK`: the lock of another owner that keeps `owner` from taking
    /// `[start, end]` as `typ`; None when it could be taken.
    pub async fn getlk(
        &self,
        ino: u64,
        owner: u64,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
    ) -> Result<Option<HeldLock>> {
        let range = range(start, end, typ, pid)?;
        if range.kind.is_none() {
            return Ok(None);
        }
        let held = self.backend.test_lock(ino, owner, range).await?;
        Ok(held.map(|l: ByteLock| HeldLock {
            start: l.start.min(OFFSET_MAX),
            end: l.end.min(OFFSET_MAX),
            typ: match l.kind {
                LockKind::Read => libc::F_RDLCK,
                LockKind::Write => libc::F_WRLCK,
            },
            pid: l.pid,
        }))
    }

    /// `F_SETLK`, or with `sleep` `F_SETLKW`: takes or drops a lock.
    pub async fn setlk(&self, lock: LockCall, sleep: bool) -> Result<()> {
        let range = range(lock.start, lock.end, lock.typ, lock.pid)?;
        let handle = self.handle(lock.fh).ok();
        let taking = range.kind.is_some();
        if taking {
            if let Some(h) = &handle {
                note_owner(h, lock.owner);
            }
            // Shared through locks: its mapped pages merge byte by byte.
            self.twins.track(lock.ino);
        } else {
            // Writes made under a lock are sent before it goes (as NFS
            // does), those of every file (see `barriers`).
            self.release_barrier(lock.ino).await?;
        }
        let caller = lock.caller;
        let gave_up: Box<dyn Fn() -> bool + Send + Sync> = Box::new(move || signalled(caller));
        self.backend
            .set_lock(lock.ino, lock.owner, range, sleep, gave_up)
            .await?;
        if taking {
            self.catch_up().await;
        }
        if let (true, Some(h)) = (taking, &handle) {
            // The lock is held now: a failure to look is no reason to fail
            // the call (the watch still brings the change).
            if let Err(e) = self.revalidate(&h.file).await {
                tracing::debug!(ino = lock.ino, error = %e, "file not read again after a lock");
            }
        }
        Ok(())
    }

    /// `flush` (every close): the closing process's POSIX locks on the
    /// file go.
    pub async fn flush_locks(&self, ino: u64, owner: u64) -> Result<()> {
        // The release barrier only when the owner took locks here; a
        // failed one still drops the locks (else other hosts wait on them).
        let mut barrier = Ok(());
        if self.took_locks(ino, owner) {
            barrier = self.release_barrier(ino).await;
        }
        self.backend.drop_locks(ino, owner).await?;
        barrier
    }

    /// Whether `owner` took locks on `ino` through an open file here.
    fn took_locks(&self, ino: u64, owner: u64) -> bool {
        locked(&self.files)
            .values()
            .any(|h| h.file.ino == ino && locked(&h.lock_owners).contains(&owner))
    }

    /// `release` (the last close of an open file): the locks taken through
    /// it go, OFD locks and `flock` among them.
    pub(crate) async fn release_locks(&self, h: &Handle<B>, flock_owner: Option<u64>) {
        let ino = h.file.ino;
        let mut owners = std::mem::take(&mut *locked(&h.lock_owners));
        owners.extend(flock_owner);
        owners.sort_unstable();
        owners.dedup();
        if owners.is_empty() {
            return;
        }
        if let Err(e) = self.release_barrier(ino).await {
            tracing::warn!(ino, error = %e, "buffered writes not sent before the locks of a closed file went");
        }
        for owner in owners {
            if let Err(e) = self.backend.drop_locks(ino, owner).await {
                tracing::warn!(ino, error = %e, "locks of a closed file were not dropped; the cluster drops them with this mount's session");
            }
        }
    }
}

fn note_owner<B: Backend>(h: &Handle<B>, owner: u64) {
    let mut owners = locked(&h.lock_owners);
    if !owners.contains(&owner) {
        owners.push(owner);
    }
}

/// The kernel's lock request as a range of the lock table.
fn range(start: u64, end: u64, typ: i32, pid: u32) -> Result<LockRange> {
    let kind = match typ {
        libc::F_RDLCK => Some(LockKind::Read),
        libc::F_WRLCK => Some(LockKind::Write),
        libc::F_UNLCK => None,
        other => {
            return Err(cairn_common::ClusterError::Invalid(format!("lock type {other}")).into())
        }
    };
    if end < start {
        return Err(cairn_common::ClusterError::Invalid(format!(
            "a lock range ends ({end}) before it starts ({start})"
        ))
        .into());
    }
    Ok(LockRange {
        start,
        end,
        kind,
        pid,
    })
}

/// Whether thread `pid` has a signal pending that it neither blocks nor
/// ignores (the kernel would have interrupted its call).
fn signalled(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        // The thread is gone: nobody waits any more.
        return true;
    };
    let mask = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let pending = mask("SigPnd:") | mask("ShdPnd:");
    let kill = 1u64 << (libc::SIGKILL - 1);
    pending & kill != 0 || pending & !mask("SigBlk:") & !mask("SigIgn:") != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_requests_become_ranges_or_einval() {
        let r = range(10, OFFSET_MAX, libc::F_WRLCK, 3).ok();
        assert_eq!(
            r.map(|r| (r.start, r.end, r.kind)),
            Some((10, OFFSET_MAX, Some(LockKind::Write)))
        );
        assert_eq!(
            range(0, 0, libc::F_UNLCK, 3).ok().map(|r| r.kind),
            Some(None)
        );
        assert!(range(5, 4, libc::F_RDLCK, 3).is_err());
        assert!(range(0, 4, 77, 3).is_err());
    }

    #[test]
    fn a_pending_signal_of_a_live_thread_is_seen() {
        // This process's main thread has none pending; a thread that does
        // not exist is treated as gone.
        assert!(!signalled(std::process::id()));
        assert!(signalled(u32::MAX - 1));
        assert!(!signalled(0));
    }
}
