//! What keeps the mounts of many hosts coherent: a feed of the files whose
//! content changed, and one writing mount at a time per file (the write
//! lease of DESIGN.md, which PCS grants per client).
//!
//! Like the locks (`locks.rs`), neither is raft state. The leader keeps
//! both in memory for sessions (one per client library, the ids of the lock
//! sessions); a new leader starts empty under a new epoch.
//!
//! The feed. Every change of a file's content the leader commits (a write
//! commit, a truncate, a punched hole, a clone into it) is appended as
//! (sequence, inode, session that made it) to a bounded log. A mount
//! follows it with `Watch`, a long poll from its cursor, and is answered the
//! inodes other sessions changed since: at once when there are some, else
//! after at most [`WATCH_POLL`]; with `now`, at once (a mount that took a
//! lock catches up before it answers the lock). A cursor of another epoch, or one the log
//! no longer reaches, is answered `lost`: the mount then takes every file
//! it has open as changed.
//!
//! Write leases. A mount takes a file's lease before its writes to it reach
//! the chunk servers and keeps it until it is asked for it or closes the
//! file. A second session asking for the lease waits (a long poll, as for
//! locks) while the holder is told, in its next watch answer, to send what
//! it buffered and give the lease back; a holder whose watch falls silent
//! for [`LEASE`] loses its leases (a dead mount). So one file's bytes reach
//! its chunks from one mount at a time: two mounts writing the same block
//! never reach its replicas in different orders.
//!
//! Every watch call names the leases its session holds: a new leader
//! grants, for [`GRACE`], only those claims, so no second writer slips in
//! while the first still sends; a claim of a lease another session took
//! meanwhile (the caller was silent past [`LEASE`]) is answered in
//! `taken`.
//!
//! Invariants: a lease has one holder; a session's leases go with the
//! session; the feed's sequence numbers only grow within an epoch.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use cairn_common::ClusterError;
use cairn_proto as pb;
use tokio::sync::Notify;

use crate::term::Term;

/// A session whose watch is silent this long loses its leases.
pub const LEASE: Duration = Duration::from_secs(10);
/// After a change of leader, how long only claimed leases are granted.
pub const GRACE: Duration = Duration::from_secs(5);
/// The longest a watch or lease call waits before answering.
pub const WATCH_POLL: Duration = Duration::from_secs(2);

/// Changes kept for cursors that lag: a mount further behind is `lost`.
const MAX_LOG: usize = 1 << 16;
/// Inodes in one watch answer (the rest in the next one).
const MAX_CHANGED: usize = 4096;
const MAX_SESSIONS: usize = 4096;
const MAX_LEASES: usize = 1 << 20;
const MAX_SESSION_ID: usize = 256;

/// The leader's feed of changed files and its write leases.
#[derive(Debug)]
pub struct FileWatch {
    inner: Mutex<Inner>,
    /// Woken by every change, lease request and release.
    wake: Notify,
}

#[derive(Debug)]
struct Inner {
    epoch: u64,
    grace_until: Instant,
    /// When this leader's term began.
    began: Instant,
    /// Sequence number of `log[0]`.
    first_seq: u64,
    /// (inode, session that changed it), oldest first.
    log: VecDeque<(u64, String)>,
    leases: HashMap<u64, Lease>,
    /// Each session and when its last watch or lease call came.
    sessions: HashMap<String, Instant>,
}

#[derive(Debug)]
struct Lease {
    session: String,
    /// Another session waits: the holder is asked to give it back.
    wanted: bool,
    /// When the holder was last told so (told again after a poll, in
    /// case that answer was lost).
    told: Option<Instant>,
}

/// What one look decided.
enum Step<T> {
    Done(T),
    Wait,
}

impl FileWatch {
    pub fn new(now: Instant) -> FileWatch {
        FileWatch {
            inner: Mutex::new(Inner::fresh(now, Term::Later)),
            wake: Notify::new(),
        }
    }

    /// This MDS became the leader: it starts empty in a new epoch.
    pub fn new_term(&self, now: Instant, term: Term) {
        *self.lock() = Inner::fresh(now, term);
        self.wake.notify_waiters();
    }

    /// Session `session` (empty: not a mount, e.g. S3) changed the
    /// content of `ino`.
    pub fn changed(&self, ino: u64, session: &str) {
        let mut inner = self.lock();
        inner.log.push_back((ino, session.to_owned()));
        if inner.log.len() > MAX_LOG {
            inner.log.pop_front();
            inner.first_seq += 1;
        }
        drop(inner);
        self.wake.notify_waiters();
    }

    /// Whether `ino`'s bytes stay as they are, so that a hash of them may
    /// be kept as its ETag: no session holds its write lease (a holder may
    /// write it in place and sync with no commit, see `WroteInPlace`), and
    /// this term is older than [`LEASE`], so every live holder has claimed
    /// its leases back.
    pub fn quiet(&self, ino: u64, now: Instant) -> bool {
        let inner = self.lock();
        now.saturating_duration_since(inner.began) >= LEASE && !inner.leases.contains_key(&ino)
    }

    /// Session `session` made file `ino`: it holds the file's lease at
    /// once, so a file written by the mount that created it costs no
    /// lease call.
    pub fn created(&self, ino: u64, session: &str) {
        if session.is_empty() || session.len() > MAX_SESSION_ID {
            return;
        }
        let mut inner = self.lock();
        if inner.leases.len() < MAX_LEASES && inner.sessions.contains_key(session) {
            inner.leases.entry(ino).or_insert_with(|| Lease {
                session: session.to_owned(),
                wanted: false,
                told: None,
            });
        }
    }

    /// A watch call: what changed since the caller's cursor, and which of
    /// its leases others want.
    pub async fn watch(&self, req: pb::WatchRequest) -> Result<pb::WatchReply, ClusterError> {
        check_session(&req.session)?;
        let revoke = self.lock().settle(&req, Instant::now())?;
        self.wake.notify_waiters();
        if req.now {
            // A barrier catching up: what the feed holds, at once.
            return Ok(self.lock().watch_reply(&req, &revoke, Instant::now()));
        }
        let answer = self
            .poll(|inner, now| inner.watch_step(&req, &revoke, now))
            .await?;
        // Nothing came: the answer as it stands (the cursor moves past the
        // caller's own changes).
        Ok(match answer {
            Some(reply) => reply,
            None => self.lock().watch_reply(&req, &revoke, Instant::now()),
        })
    }

    /// A lease call: takes (or gives back) the write lease of a file. Not
    /// granted: ask again (the holder was asked to give it back).
    pub async fn write_lease(
        &self,
        req: pb::WriteLeaseRequest,
    ) -> Result<pb::WriteLeaseReply, ClusterError> {
        check_session(&req.session)?;
        if req.ino == 0 {
            return Err(ClusterError::Invalid("a lease call names its inode".into()));
        }
        let reply = self.poll(|inner, now| inner.lease_step(&req, now)).await?;
        Ok(reply.unwrap_or_else(|| pb::WriteLeaseReply {
            granted: false,
            epoch: self.lock().epoch,
        }))
    }

    /// Looks with `step` until it is done or [`WATCH_POLL`] passed (None).
    async fn poll<T>(
        &self,
        mut step: impl FnMut(&mut Inner, Instant) -> Result<Step<T>, ClusterError>,
    ) -> Result<Option<T>, ClusterError> {
        let deadline = tokio::time::Instant::now() + WATCH_POLL;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (done, wake_others) = {
                let mut inner = self.lock();
                let leases = inner.leases.len();
                let expired = inner.expire(Instant::now());
                let wanted = inner.leases.values().filter(|l| l.wanted).count();
                let done = step(&mut inner, Instant::now())?;
                let changed = expired
                    || inner.leases.len() != leases
                    || inner.leases.values().filter(|l| l.wanted).count() != wanted;
                (done, changed)
            };
            if wake_others {
                self.wake.notify_waiters();
            }
            if let Step::Done(r) = done {
                return Ok(Some(r));
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// How many leases and sessions are held.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.leases.len(), inner.sessions.len())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn check_session(session: &str) -> Result<(), ClusterError> {
    if session.is_empty() || session.len() > MAX_SESSION_ID {
        return Err(ClusterError::Invalid(format!(
            "a session id has 1 to {MAX_SESSION_ID} bytes"
        )));
    }
    Ok(())
}

impl Inner {
    fn fresh(now: Instant, term: Term) -> Inner {
        Inner {
            epoch: rand::random::<u64>() | 1,
            grace_until: now + term.grace(GRACE),
            // In a first term, no live holder has leases to claim back:
            // the term counts as old enough at once.
            began: match term {
                Term::First => now.checked_sub(LEASE).unwrap_or(now),
                Term::Later => now,
            },
            first_seq: 1,
            log: VecDeque::new(),
            leases: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    fn next_seq(&self) -> u64 {
        self.first_seq + self.log.len() as u64
    }

    /// Drops the sessions silent for the lease, and their leases; true when
    /// a lease went.
    fn expire(&mut self, now: Instant) -> bool {
        let before = self.sessions.len();
        self.sessions
            .retain(|_, seen| now.saturating_duration_since(*seen) < LEASE);
        if self.sessions.len() == before {
            return false;
        }
        let leases = self.leases.len();
        let sessions = &self.sessions;
        self.leases.retain(|ino, l| {
            let live = sessions.contains_key(&l.session);
            if !live {
                tracing::info!(session = %l.session, ino, "a mount's write lease ran out");
            }
            live
        });
        self.leases.len() != leases
    }

    fn touch(&mut self, session: &str, now: Instant) -> Result<(), ClusterError> {
        if !self.sessions.contains_key(session) && self.sessions.len() >= MAX_SESSIONS {
            return Err(ClusterError::NoSpace(format!(
                "the MDS already follows {MAX_SESSIONS} mounts"
            )));
        }
        self.sessions.insert(session.to_owned(), now);
        Ok(())
    }

    /// What a watch call changes once, when it comes: the leases it gives
    /// back, and the leases it claims (after a change of leader, or after
    /// its session ran out while it was cut off). Answers the claimed
    /// leases another session holds since, which the caller no longer
    /// holds (it stops writing, then takes them again).
    fn settle(&mut self, req: &pb::WatchRequest, now: Instant) -> Result<Vec<u64>, ClusterError> {
        self.touch(&req.session, now)?;
        for ino in &req.released {
            if self
                .leases
                .get(ino)
                .is_some_and(|l| l.session == req.session)
            {
                self.leases.remove(ino);
            }
        }
        let mut lost = Vec::new();
        for ino in &req.held {
            match self.leases.get(ino) {
                Some(l) if l.session == req.session => {}
                Some(_) => lost.push(*ino),
                None if self.leases.len() < MAX_LEASES => {
                    self.leases.insert(
                        *ino,
                        Lease {
                            session: req.session.clone(),
                            wanted: false,
                            told: None,
                        },
                    );
                }
                None => lost.push(*ino),
            }
        }
        Ok(lost)
    }

    fn watch_step(
        &mut self,
        req: &pb::WatchRequest,
        lost_leases: &[u64],
        now: Instant,
    ) -> Result<Step<pb::WatchReply>, ClusterError> {
        self.touch(&req.session, now)?;
        let reply = self.watch_reply(req, lost_leases, now);
        if reply.lost
            || !reply.changed.is_empty()
            || !reply.revoke.is_empty()
            || !reply.taken.is_empty()
        {
            return Ok(Step::Done(reply));
        }
        Ok(Step::Wait)
    }

    /// What a watch call is answered now: the changes past its cursor, and
    /// the leases it must give back (wanted by others, or lost).
    fn watch_reply(
        &mut self,
        req: &pb::WatchRequest,
        lost_leases: &[u64],
        now: Instant,
    ) -> pb::WatchReply {
        let mut revoke = Vec::new();
        for (ino, l) in &mut self.leases {
            let due = l
                .told
                .is_none_or(|t| now.saturating_duration_since(t) >= WATCH_POLL);
            if l.session == req.session && l.wanted && due {
                l.told = Some(now);
                revoke.push(*ino);
            }
        }
        let lost =
            req.epoch != self.epoch || req.since < self.first_seq || req.since > self.next_seq();
        let (changed, next) = if lost {
            (Vec::new(), self.next_seq())
        } else {
            self.changes_since(req.since, &req.session)
        };
        let more = next < self.next_seq();
        pb::WatchReply {
            epoch: self.epoch,
            next,
            changed,
            lost,
            revoke,
            taken: lost_leases.to_vec(),
            more,
        }
    }

    /// The inodes other sessions changed from `since` on, and the cursor
    /// after them.
    fn changes_since(&self, since: u64, session: &str) -> (Vec<u64>, u64) {
        let mut seen = HashSet::new();
        let mut changed = Vec::new();
        let mut next = since;
        let skip = (since - self.first_seq) as usize;
        for (ino, by) in self.log.iter().skip(skip) {
            if changed.len() >= MAX_CHANGED {
                break;
            }
            next += 1;
            if by != session && seen.insert(*ino) {
                changed.push(*ino);
            }
        }
        (changed, next)
    }

    fn lease_step(
        &mut self,
        req: &pb::WriteLeaseRequest,
        now: Instant,
    ) -> Result<Step<pb::WriteLeaseReply>, ClusterError> {
        self.touch(&req.session, now)?;
        let granted = pb::WriteLeaseReply {
            granted: true,
            epoch: self.epoch,
        };
        if req.release {
            if self
                .leases
                .get(&req.ino)
                .is_some_and(|l| l.session == req.session)
            {
                self.leases.remove(&req.ino);
            }
            return Ok(Step::Done(granted));
        }
        let full = self.leases.len() >= MAX_LEASES;
        match self.leases.get_mut(&req.ino) {
            Some(l) if l.session == req.session => Ok(Step::Done(granted)),
            Some(l) => {
                l.wanted = true;
                Ok(Step::Wait)
            }
            // In the grace, a free lease may still be claimed back.
            None if now < self.grace_until => Ok(Step::Wait),
            None if full => Err(ClusterError::NoSpace(format!(
                "the cluster already holds {MAX_LEASES} write leases"
            ))),
            None => {
                self.leases.insert(
                    req.ino,
                    Lease {
                        session: req.session.clone(),
                        wanted: false,
                        told: None,
                    },
                );
                Ok(Step::Done(granted))
            }
        }
    }
}

#[cfg(test)]
mod tests;
