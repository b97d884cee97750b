//! The raft log, vote and committed index of one MDS, in `raft.redb`.
//!
//! Appends are written at once without an fsync (`Durability::None`), and
//! to the tail file (`raft.tail`, see [`super::tail`]) that brings them
//! back if the process dies. An append of entries that all ask for
//! [`Persist::Os`] is then reported written at once; any other is handed
//! to a flusher thread, which makes one durable commit for every append
//! waiting and only then tells openraft they are on disk: that is the
//! MDS's group commit. The flusher also commits durably at least every
//! [`FLUSH_EVERY`] while the tail holds anything. A durable redb commit
//! persists every earlier non-durable one, so the order of appends and
//! truncations on disk is the order they were made in. The vote is saved
//! durably on its own (rare); the committed index rides on the next
//! append.
//!
//! Invariant: appends are reported in the order they were made. An append
//! that could be reported at once waits for the flusher while an earlier
//! one does, and the flusher reports under the lock that orders appends.

use std::{
    fmt::Debug,
    ops::{Bound, RangeBounds},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
};

use cairn_common::Persist;
use openraft::{
    storage::{LogFlushed, RaftLogStorage},
    AnyError, Entry, EntryPayload, LogId, LogState, RaftLogReader, StorageError, StorageIOError,
    Vote,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

use super::tail::{Tail, TailOp};
use super::{NodeId, TypeConfig, FIRST_NODE};
use crate::error::MdsError;

/// The raft file inside an MDS directory.
pub const RAFT_FILE: &str = "raft.redb";

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

const NODE_ID: &str = "node_id";
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "last_purged";
/// The address a first MDS initialises its group of one with, until done.
const BOOTSTRAP: &str = "bootstrap";
/// This MDS's own address (where it listens by default).
const ADDR: &str = "addr";

/// Longest time a change written to the OS waits for its fsync.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

type SResult<T> = Result<T, StorageError<NodeId>>;

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AnyError> {
    postcard::to_allocvec(value).map_err(any)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AnyError> {
    postcard::from_bytes(bytes).map_err(any)
}

struct Inner {
    db: Arc<Database>,
    node_id: NodeId,
    /// Held across each change to the log and its record in the tail, and
    /// across each durable commit with the emptying of the tail.
    written: Arc<Mutex<Written>>,
    flusher: Mutex<Option<mpsc::Sender<LogFlushed<TypeConfig>>>>,
    flushes: Arc<Flushes>,
}

/// The tail file, how many appends wait for the flusher, and the
/// committed index not yet written.
struct Written {
    tail: Tail,
    waiting: usize,
    /// Saved by openraft since the last append; the next append's
    /// transaction writes it (one commit instead of two per entry).
    committed: Option<Option<LogId<NodeId>>>,
}

/// What the flusher thread counts: durable commits, and the time spent in
/// them (the share of time the MDS spends committing).
#[derive(Default)]
struct Flushes {
    commits: AtomicU64,
    busy_micros: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the flusher thread.
        if let Ok(mut tx) = self.flusher.lock() {
            tx.take();
        }
    }
}

/// The log store; clones share one database and one flusher.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl LogStore {
    /// Opens `dir/raft.redb`. A directory without one is the first MDS of
    /// its cluster (made by `make-mds -I`, or by a version before raft): it
    /// becomes node 1 and initialises a group of itself with `first_addr`.
    pub fn open(dir: &Path, first_addr: &str) -> Result<LogStore, MdsError> {
        let path = dir.join(RAFT_FILE);
        let fresh = !path.exists();
        let db = Database::create(&path)
            .map_err(MdsError::db(format!("cannot open {}", path.display())))?;
        let identity = fresh.then_some(Identity {
            node_id: FIRST_NODE,
            addr: first_addr,
            bootstrap: true,
        });
        write_tables(&db, &path, identity)?;
        LogStore::start(Arc::new(db), dir, &path)
    }

    /// Makes `dir/raft.redb` for an MDS joining a running group as
    /// `node_id` (it starts with an empty log and learns everything from
    /// the leader).
    pub fn create_member(dir: &Path, node_id: NodeId, addr: &str) -> Result<(), MdsError> {
        let path = dir.join(RAFT_FILE);
        let db = Database::create(&path)
            .map_err(MdsError::db(format!("cannot create {}", path.display())))?;
        let identity = Identity {
            node_id,
            addr,
            bootstrap: false,
        };
        write_tables(&db, &path, Some(identity))
    }

    fn start(db: Arc<Database>, dir: &Path, path: &Path) -> Result<LogStore, MdsError> {
        let node_id = {
            let txn = db
                .begin_read()
                .map_err(MdsError::db("cannot read the raft metadata"))?;
            let meta = txn
                .open_table(META)
                .map_err(MdsError::db("cannot read the raft metadata"))?;
            let bytes = meta
                .get(NODE_ID)
                .map_err(MdsError::db("cannot read the node id"))?
                .ok_or_else(|| MdsError::Invalid(format!("{} has no node id", path.display())))?;
            postcard::from_bytes::<NodeId>(bytes.value())
                .map_err(|e| MdsError::Invalid(format!("{}: node id: {e}", path.display())))?
        };
        let (mut tail, ops) = Tail::open(dir).map_err(MdsError::io(format!(
            "cannot open {}",
            dir.join(super::tail::TAIL_FILE).display()
        )))?;
        if !ops.is_empty() {
            replay(&db, &ops)?;
            // Only a stop without the final flush leaves a tail.
            tracing::warn!(
                changes = ops.len(),
                "the MDS did not stop cleanly: raft log changes replayed from its tail"
            );
        }
        tail.clear()
            .map_err(MdsError::io("cannot empty the raft tail"))?;
        let written = Arc::new(Mutex::new(Written {
            tail,
            waiting: 0,
            committed: None,
        }));
        let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
        let flushes = Arc::new(Flushes::default());
        let flusher = Flusher {
            db: db.clone(),
            written: written.clone(),
            counter: flushes.clone(),
        };
        std::thread::Builder::new()
            .name("mds-raft-flush".into())
            .spawn(move || flusher.run(&rx))
            .map_err(MdsError::io("cannot start the raft flusher thread"))?;
        Ok(LogStore {
            inner: Arc::new(Inner {
                db,
                node_id,
                written,
                flusher: Mutex::new(Some(tx)),
                flushes,
            }),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Durable (fsynced) commits of the log since open.
    pub fn durable_commits(&self) -> u64 {
        self.inner.flushes.commits.load(Ordering::Relaxed)
    }

    /// Seconds spent in durable commits of the log since open.
    pub fn commit_secs(&self) -> f64 {
        self.inner.flushes.busy_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// The address to initialise a group of one with, if this MDS has yet
    /// to do it.
    pub fn bootstrap_addr(&self) -> Result<Option<String>, MdsError> {
        self.get_meta_raw(BOOTSTRAP)
            .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| MdsError::Invalid(format!("raft metadata: {e}")))
    }

    /// This MDS's own address, as made by make-mds.
    pub fn addr(&self) -> Option<String> {
        self.get_meta_raw(ADDR)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub fn clear_bootstrap(&self) -> Result<(), MdsError> {
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(MdsError::db("cannot begin a raft transaction"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(MdsError::db("raft durability"))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(MdsError::db("cannot open the raft metadata"))?;
            meta.remove(BOOTSTRAP)
                .map_err(MdsError::db("cannot clear the bootstrap mark"))?;
        }
        txn.commit()
            .map_err(MdsError::db("cannot commit the raft metadata"))
    }

    fn get_meta_raw(&self, key: &str) -> Result<Option<Vec<u8>>, AnyError> {
        let txn = self.inner.db.begin_read().map_err(any)?;
        let meta = txn.open_table(META).map_err(any)?;
        Ok(meta.get(key).map_err(any)?.map(|v| v.value().to_vec()))
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AnyError> {
        match self.get_meta_raw(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> Result<(), AnyError> {
        let bytes = encode(value)?;
        let mut txn = self.inner.db.begin_write().map_err(any)?;
        txn.set_durability(durability).map_err(any)?;
        {
            let mut meta = txn.open_table(META).map_err(any)?;
            meta.insert(key, bytes.as_slice()).map_err(any)?;
        }
        txn.commit().map_err(any)
    }
}

/// Who a new raft file belongs to: written once, when the file is made.
struct Identity<'a> {
    node_id: NodeId,
    addr: &'a str,
    /// The first MDS of a cluster forms a group of itself at its first start.
    bootstrap: bool,
}

/// Makes sure both tables exist and, for a new file, records its identity.
fn write_tables(db: &Database, path: &Path, identity: Option<Identity>) -> Result<(), MdsError> {
    let txn = db
        .begin_write()
        .map_err(MdsError::db("cannot begin a raft transaction"))?;
    {
        txn.open_table(LOG)
            .map_err(MdsError::db("cannot open the raft log"))?;
        let mut meta = txn
            .open_table(META)
            .map_err(MdsError::db("cannot open the raft metadata"))?;
        if let Some(me) = identity {
            let id =
                postcard::to_allocvec(&me.node_id).map_err(|e| MdsError::Invalid(e.to_string()))?;
            meta.insert(NODE_ID, id.as_slice())
                .map_err(MdsError::db("cannot write the node id"))?;
            meta.insert(ADDR, me.addr.as_bytes())
                .map_err(MdsError::db("cannot write the address"))?;
            if me.bootstrap {
                meta.insert(BOOTSTRAP, me.addr.as_bytes())
                    .map_err(MdsError::db("cannot write the bootstrap address"))?;
            }
        }
    }
    txn.commit()
        .map_err(MdsError::db(format!("cannot write {}", path.display())))
}

/// Puts the tail's changes into the log, durably (at open).
fn replay(db: &Database, ops: &[TailOp]) -> Result<(), MdsError> {
    const FAILED: &str = "cannot replay the raft tail into the log";
    let mut txn = db.begin_write().map_err(MdsError::db(FAILED))?;
    txn.set_durability(Durability::Immediate)
        .map_err(MdsError::db("raft durability"))?;
    {
        let mut log = txn.open_table(LOG).map_err(MdsError::db(FAILED))?;
        for op in ops {
            match op {
                TailOp::Insert(rows) => {
                    for (index, bytes) in rows {
                        log.insert(*index, bytes.as_slice())
                            .map_err(MdsError::db(FAILED))?;
                    }
                }
                TailOp::RemoveFrom(index) => {
                    log.retain_in(*index.., |_, _| false)
                        .map_err(MdsError::db(FAILED))?;
                }
            }
        }
    }
    txn.commit().map_err(MdsError::db(FAILED))
}

/// The thread that makes the log durable: for the appends that wait, and
/// every [`FLUSH_EVERY`] for those already reported.
struct Flusher {
    db: Arc<Database>,
    written: Arc<Mutex<Written>>,
    counter: Arc<Flushes>,
}

impl Flusher {
    fn run(&self, rx: &mpsc::Receiver<LogFlushed<TypeConfig>>) {
        loop {
            let mut waiting = match rx.recv_timeout(FLUSH_EVERY) {
                Ok(first) => vec![first],
                Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The log is closing: what the tail holds goes to disk.
                    let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
                    if !written.tail.is_empty() {
                        if let Err(e) = self.commit(&mut written) {
                            tracing::error!(error = %e, "raft log flush at close failed");
                        }
                    }
                    return;
                }
            };
            while let Ok(next) = rx.try_recv() {
                waiting.push(next);
            }
            let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            if waiting.is_empty() && written.tail.is_empty() {
                continue;
            }
            let result = self.commit(&mut written);
            if let Err(e) = &result {
                tracing::error!(error = %e, "raft log flush failed");
            }
            written.waiting = written.waiting.saturating_sub(waiting.len());
            // Reported under the lock: no append is reported before these.
            for callback in waiting {
                callback.log_io_completed(result.clone().map_err(std::io::Error::other));
            }
        }
    }

    /// One durable commit of everything written, then an empty tail.
    fn commit(&self, written: &mut Written) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut txn = self.db.begin_write().map_err(|e| e.to_string())?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        self.counter.commits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counter
            .busy_micros
            .fetch_add(micros, Ordering::Relaxed);
        written
            .tail
            .clear()
            .map_err(|e| format!("cannot empty the raft tail: {e}"))
    }
}

/// Entries may be reported written before their fsync: every one of them
/// carries commands that asked for no more than the OS.
fn relaxed(entries: &[Entry<TypeConfig>]) -> bool {
    entries.iter().all(|e| match &e.payload {
        EntryPayload::Normal(request) => request.persist == Persist::Os,
        _ => false,
    })
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        let read = || -> Result<Vec<Entry<TypeConfig>>, AnyError> {
            let txn = self.inner.db.begin_read().map_err(any)?;
            let log = txn.open_table(LOG).map_err(any)?;
            let start = match range.start_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            let end = match range.end_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for item in log.range::<u64>((start, end)).map_err(any)? {
                let (_, v) = item.map_err(any)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> SResult<LogState<TypeConfig>> {
        let read = || -> Result<LogState<TypeConfig>, AnyError> {
            let last_purged: Option<LogId<NodeId>> = self.get_meta(PURGED)?;
            let txn = self.inner.db.begin_read().map_err(any)?;
            let log = txn.open_table(LOG).map_err(any)?;
            let last = match log.last().map_err(any)? {
                Some((_, v)) => Some(decode::<Entry<TypeConfig>>(v.value())?.log_id),
                None => last_purged,
            };
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: last,
            })
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> SResult<()> {
        self.put_meta(VOTE, vote, Durability::Immediate)
            .map_err(|e| StorageIOError::write_vote(e).into())
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<NodeId>>> {
        self.get_meta(VOTE)
            .map_err(|e| StorageIOError::read_vote(e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> SResult<()> {
        // Written with the next append, and durable with the flush after
        // it. A committed index lost in a crash is learnt again from the
        // leader: it only lets a restart apply entries before an election.
        let mut written = self.inner.written.lock().unwrap_or_else(|p| p.into_inner());
        written.committed = Some(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> SResult<Option<LogId<NodeId>>> {
        self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)
            .map(Option::flatten)
            .map_err(|e| StorageIOError::read(e).into())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let relaxed = relaxed(&entries);
        let rows = entries
            .iter()
            .map(|e| Ok((e.log_id.index, encode(e)?)))
            .collect::<Result<Vec<_>, AnyError>>()
            .map_err(StorageIOError::write_logs)?;
        let write = |committed: Option<Option<LogId<NodeId>>>| -> Result<(), AnyError> {
            let mut txn = self.inner.db.begin_write().map_err(any)?;
            txn.set_durability(Durability::None).map_err(any)?;
            {
                let mut log = txn.open_table(LOG).map_err(any)?;
                for (index, bytes) in &rows {
                    log.insert(*index, bytes.as_slice()).map_err(any)?;
                }
                if let Some(committed) = committed {
                    let bytes = encode(&committed)?;
                    let mut meta = txn.open_table(META).map_err(any)?;
                    meta.insert(COMMITTED, bytes.as_slice()).map_err(any)?;
                }
            }
            txn.commit().map_err(any)
        };
        let mut written = self.inner.written.lock().unwrap_or_else(|p| p.into_inner());
        let committed = written.committed.take();
        write(committed).map_err(StorageIOError::write_logs)?;
        written
            .tail
            .push(&TailOp::Insert(rows))
            .map_err(|e| StorageIOError::write_logs(any(e)))?;
        if relaxed && written.waiting == 0 {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let sender = self
            .inner
            .flusher
            .lock()
            .map_err(|_| StorageIOError::write_logs(any("raft flusher lock poisoned")))?
            .clone();
        match sender {
            Some(tx) => {
                tx.send(callback).map_err(|_| {
                    StorageIOError::write_logs(any("the raft flusher thread has stopped"))
                })?;
                written.waiting += 1;
                Ok(())
            }
            None => Err(StorageIOError::write_logs(any("the raft log is closed")).into()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        let mut written = self.inner.written.lock().unwrap_or_else(|p| p.into_inner());
        self.remove_range(log_id.index..)
            .map_err(StorageIOError::write_logs)?;
        written
            .tail
            .push(&TailOp::RemoveFrom(log_id.index))
            .map_err(|e| StorageIOError::write_logs(any(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        let purge = || -> Result<(), AnyError> {
            let bytes = encode(&log_id)?;
            let mut txn = self.inner.db.begin_write().map_err(any)?;
            txn.set_durability(Durability::None).map_err(any)?;
            {
                let mut meta = txn.open_table(META).map_err(any)?;
                meta.insert(PURGED, bytes.as_slice()).map_err(any)?;
                let mut log = txn.open_table(LOG).map_err(any)?;
                log.retain_in(..=log_id.index, |_, _| false).map_err(any)?;
            }
            txn.commit().map_err(any)
        };
        purge().map_err(|e| StorageIOError::write_logs(e).into())
    }
}

impl LogStore {
    fn remove_range(&self, range: std::ops::RangeFrom<u64>) -> Result<(), AnyError> {
        let mut txn = self.inner.db.begin_write().map_err(any)?;
        txn.set_durability(Durability::None).map_err(any)?;
        {
            let mut log = txn.open_table(LOG).map_err(any)?;
            log.retain_in(range, |_, _| false).map_err(any)?;
        }
        txn.commit().map_err(any)
    }
}
