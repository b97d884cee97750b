//! Byte-range locks of files, as POSIX `fcntl` defines them: a lock covers
//! an inclusive range `[start, end]` of one inode and is shared (read) or
//! exclusive (write); locks of one owner never conflict with each other, and
//! a new lock of an owner replaces what that owner held over its range
//! (splitting, merging and converting as `fcntl` does). OFD locks and
//! `flock` reach a filesystem as the same requests with the open file as
//! their owner (the kernel's FUSE module emulates `flock` with whole-file
//! locks, as NFS does), so one table serves all three.
//!
//! The table is pure data: the MDS leader keeps the cluster's table (with
//! sessions, leases and waiters around it, `cairn-mds`'s `locks`), and each
//! mount keeps a table of the locks it was granted, to claim them again
//! from a new leader.
//!
//! Invariants: the locks of one owner on one inode never overlap and two
//! adjacent or overlapping locks of one owner and kind are merged; no two
//! locks of different owners on one inode conflict.

use std::collections::{BTreeMap, HashMap};

/// Who holds a lock: a mount (its session, the id it reports under) and the
/// kernel's lock owner within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockOwner {
    pub session: String,
    pub owner: u64,
}

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockKind {
    Read,
    Write,
}

impl LockKind {
    fn conflicts(self, other: LockKind) -> bool {
        self == LockKind::Write || other == LockKind::Write
    }
}

/// One held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteLock {
    pub owner: LockOwner,
    pub kind: LockKind,
    pub start: u64,
    /// Inclusive; `u64::MAX` (or the kernel's `OFFSET_MAX`) is "to the end
    /// of the file, however far it grows".
    pub end: u64,
    /// The holder's process id on its own host, for `F_GETLK`.
    pub pid: u32,
}

impl ByteLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }
}

/// A request: lock `[start, end]` as `kind`, or unlock it (`kind` None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRange {
    pub start: u64,
    pub end: u64,
    pub kind: Option<LockKind>,
    pub pid: u32,
}

/// Every lock of the cluster (or of one mount), by inode.
#[derive(Debug, Default, Clone)]
pub struct LockTable {
    files: HashMap<u64, Vec<ByteLock>>,
}

impl LockTable {
    /// The first lock of another owner that keeps `owner` from taking
    /// `range` on `ino`; None when `range` can be granted (or is an unlock).
    pub fn conflict(&self, ino: u64, owner: &LockOwner, range: &LockRange) -> Option<&ByteLock> {
        let kind = range.kind?;
        self.files.get(&ino)?.iter().find(|held| {
            held.owner != *owner
                && held.overlaps(range.start, range.end)
                && held.kind.conflicts(kind)
        })
    }

    /// Every owner holding a lock that conflicts with `range`.
    pub fn blockers(&self, ino: u64, owner: &LockOwner, range: &LockRange) -> Vec<LockOwner> {
        let Some(kind) = range.kind else {
            return Vec::new();
        };
        let mut out: Vec<LockOwner> = self
            .files
            .get(&ino)
            .into_iter()
            .flatten()
            .filter(|held| {
                held.owner != *owner
                    && held.overlaps(range.start, range.end)
                    && held.kind.conflicts(kind)
            })
            .map(|held| held.owner.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Makes `owner`'s locks on `ino` over `range` what it asks (a lock of
    /// its kind, or none), without looking at other owners: the caller
    /// checked [`LockTable::conflict`] first.
    pub fn set(&mut self, ino: u64, owner: &LockOwner, range: &LockRange) {
        let locks = self.files.entry(ino).or_default();
        let mut kept = Vec::with_capacity(locks.len() + 2);
        for held in locks.drain(..) {
            if held.owner != *owner || !held.overlaps(range.start, range.end) {
                kept.push(held);
                continue;
            }
            // The parts of the old lock outside the new range stay.
            if held.start < range.start {
                kept.push(ByteLock {
                    end: range.start - 1,
                    ..held.clone()
                });
            }
            if held.end > range.end {
                kept.push(ByteLock {
                    start: range.end + 1,
                    ..held
                });
            }
        }
        if let Some(kind) = range.kind {
            let mut new = ByteLock {
                owner: owner.clone(),
                kind,
                start: range.start,
                end: range.end,
                pid: range.pid,
            };
            // Merge with the owner's locks of the same kind that touch it.
            kept.retain(|held| {
                let touches = held.owner == *owner
                    && held.kind == kind
                    && held.start <= new.end.saturating_add(1)
                    && new.start <= held.end.saturating_add(1);
                if touches {
                    new.start = new.start.min(held.start);
                    new.end = new.end.max(held.end);
                }
                !touches
            });
            kept.push(new);
        }
        if kept.is_empty() {
            self.files.remove(&ino);
        } else {
            kept.sort_by(|a, b| (a.start, &a.owner).cmp(&(b.start, &b.owner)));
            *locks = kept;
        }
    }

    /// Drops every lock of `owner` on `ino`.
    pub fn release_owner(&mut self, ino: u64, owner: &LockOwner) {
        self.set(
            ino,
            owner,
            &LockRange {
                start: 0,
                end: u64::MAX,
                kind: None,
                pid: 0,
            },
        );
    }

    /// Drops every lock of a session (a mount that unmounted or died);
    /// true when it held any.
    pub fn release_session(&mut self, session: &str) -> bool {
        let mut dropped = false;
        self.files.retain(|_, locks| {
            let before = locks.len();
            locks.retain(|l| l.owner.session != session);
            dropped |= locks.len() != before;
            !locks.is_empty()
        });
        dropped
    }

    /// The locks on `ino`, by start.
    pub fn locks_of(&self, ino: u64) -> &[ByteLock] {
        self.files.get(&ino).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every lock, with its inode.
    pub fn all(&self) -> impl Iterator<Item = (u64, &ByteLock)> {
        self.files
            .iter()
            .flat_map(|(ino, locks)| locks.iter().map(move |l| (*ino, l)))
    }

    /// How many locks are held.
    pub fn len(&self) -> usize {
        self.files.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Who waits for whom: each waiting owner and the owners holding what it
/// waits for. A wait that would close a cycle is a deadlock (`EDEADLK`).
#[derive(Debug, Default, Clone)]
pub struct WaitGraph {
    waits: BTreeMap<LockOwner, Vec<LockOwner>>,
}

impl WaitGraph {
    /// Whether `waiter` waiting for `blockers` closes a cycle: some
    /// blocker waits, directly or through others, for `waiter`.
    pub fn would_deadlock(&self, waiter: &LockOwner, blockers: &[LockOwner]) -> bool {
        let mut seen: Vec<&LockOwner> = Vec::new();
        let mut todo: Vec<&LockOwner> = blockers.iter().collect();
        while let Some(next) = todo.pop() {
            if next == waiter {
                return true;
            }
            if seen.contains(&next) {
                continue;
            }
            seen.push(next);
            if let Some(theirs) = self.waits.get(next) {
                todo.extend(theirs.iter());
            }
        }
        false
    }

    /// Records that `waiter` now waits for `blockers`.
    pub fn wait(&mut self, waiter: LockOwner, blockers: Vec<LockOwner>) {
        self.waits.insert(waiter, blockers);
    }

    /// `waiter` no longer waits.
    pub fn done(&mut self, waiter: &LockOwner) {
        self.waits.remove(waiter);
    }

    /// Forgets a session's waits.
    pub fn release_session(&mut self, session: &str) {
        self.waits.retain(|w, _| w.session != session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(session: &str, owner: u64) -> LockOwner {
        LockOwner {
            session: session.into(),
            owner,
        }
    }

    fn range(start: u64, end: u64, kind: Option<LockKind>) -> LockRange {
        LockRange {
            start,
            end,
            kind,
            pid: 7,
        }
    }

    fn spans(t: &LockTable, ino: u64) -> Vec<(u64, u64, LockKind, u64)> {
        t.locks_of(ino)
            .iter()
            .map(|l| (l.start, l.end, l.kind, l.owner.owner))
            .collect()
    }

    use LockKind::{Read, Write};

    #[test]
    fn readers_share_and_writers_exclude() {
        let mut t = LockTable::default();
        let (a, b) = (who("m1", 1), who("m2", 1));
        t.set(1, &a, &range(0, 99, Some(Read)));
        assert!(t.conflict(1, &b, &range(50, 60, Some(Read))).is_none());
        let held = t.conflict(1, &b, &range(50, 60, Some(Write))).cloned();
        assert_eq!(held.map(|l| (l.owner, l.pid)), Some((a.clone(), 7)));
        assert!(t.conflict(1, &b, &range(100, 200, Some(Write))).is_none());
        assert!(t.conflict(2, &b, &range(0, 10, Some(Write))).is_none());
        // An owner never conflicts with itself.
        assert!(t.conflict(1, &a, &range(0, 10, Some(Write))).is_none());
        assert_eq!(t.blockers(1, &b, &range(0, 10, Some(Write))), vec![a]);
    }

    #[test]
    fn unlocking_the_middle_splits_a_lock() {
        let mut t = LockTable::default();
        let a = who("m1", 1);
        t.set(1, &a, &range(0, 99, Some(Write)));
        t.set(1, &a, &range(40, 59, None));
        assert_eq!(spans(&t, 1), vec![(0, 39, Write, 1), (60, 99, Write, 1)]);
    }

    #[test]
    fn a_new_kind_over_part_of_a_lock_converts_that_part() {
        let mut t = LockTable::default();
        let a = who("m1", 1);
        t.set(1, &a, &range(0, 99, Some(Read)));
        t.set(1, &a, &range(10, 19, Some(Write)));
        assert_eq!(
            spans(&t, 1),
            vec![(0, 9, Read, 1), (10, 19, Write, 1), (20, 99, Read, 1)]
        );
        // And back: the three pieces merge into one.
        t.set(1, &a, &range(10, 19, Some(Read)));
        assert_eq!(spans(&t, 1), vec![(0, 99, Read, 1)]);
    }

    #[test]
    fn adjacent_locks_of_one_kind_merge_and_to_eof_stays_open() {
        let mut t = LockTable::default();
        let a = who("m1", 1);
        t.set(1, &a, &range(0, 9, Some(Write)));
        t.set(1, &a, &range(10, u64::MAX, Some(Write)));
        assert_eq!(spans(&t, 1), vec![(0, u64::MAX, Write, 1)]);
        t.set(1, &a, &range(5, u64::MAX, None));
        assert_eq!(spans(&t, 1), vec![(0, 4, Write, 1)]);
    }

    #[test]
    fn releases_drop_an_owner_or_a_whole_session() {
        let mut t = LockTable::default();
        let (a1, a2, b) = (who("m1", 1), who("m1", 2), who("m2", 1));
        t.set(1, &a1, &range(0, 9, Some(Read)));
        t.set(1, &a2, &range(0, 9, Some(Read)));
        t.set(2, &b, &range(0, 9, Some(Write)));
        t.release_owner(1, &a1);
        assert_eq!(spans(&t, 1), vec![(0, 9, Read, 2)]);
        assert!(t.release_session("m1"));
        assert!(!t.release_session("m1"));
        assert_eq!(t.len(), 1);
        assert!(t.locks_of(1).is_empty());
    }

    #[test]
    fn a_wait_that_closes_a_cycle_is_a_deadlock() {
        let mut g = WaitGraph::default();
        let (a, b, c) = (who("m1", 1), who("m2", 1), who("m3", 1));
        assert!(!g.would_deadlock(&a, std::slice::from_ref(&b)));
        g.wait(a.clone(), vec![b.clone()]);
        g.wait(b.clone(), vec![c.clone()]);
        assert!(g.would_deadlock(&c, std::slice::from_ref(&a)));
        assert!(!g.would_deadlock(&c, &[who("m4", 1)]));
        g.done(&b);
        assert!(!g.would_deadlock(&c, std::slice::from_ref(&a)));
        g.wait(b.clone(), vec![c.clone()]);
        g.release_session("m2");
        assert!(!g.would_deadlock(&c, std::slice::from_ref(&a)));
    }
}
