//! The filesystem: every POSIX operation as a plain async method over a
//! [`Backend`], returning errors that carry their errno. The FUSE adapter
//! (`fuse.rs`) only translates; tests drive this directly.
//!
//! Inode numbers are the namespace's own (the root is 1, as in FUSE), so
//! no inode table is needed; what the mount keeps is per open file
//! ([`OpenFile`], shared by the handles of an inode), per handle (O_APPEND,
//! read-ahead) and per directory handle (the listing).
//!
//! Namespace rules of the projection (see SEMANTICS.md): the top level
//! holds buckets only (mkdir = create bucket, rmdir = delete bucket; no
//! files, links or renames there); an unlinked file that is still open
//! here lives on under a hidden name until its last close.

mod barriers;
mod coherence;
mod fallocate;
mod files;
mod locks;
mod lookup;
mod namespace;
mod special;
mod versions;
mod xattr;

pub use coherence::Stale;
pub use fallocate::{
    FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE,
};
pub use locks::{HeldLock, LockCall};
pub use special::kind_of_mode;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_client::{DoorCounters, DoorOp, NamedInode, Node, NodeKind, SetAttr};
use cairn_common::{ClusterError, ROOT_INO};
use tokio::sync::Mutex as AsyncMutex;

use crate::{
    attr::TTL,
    backend::{Backend, NewNode},
    dir::{Entry, Listing, PAGE},
    dirty::overlay,
    entry_cache::{just_before, EntryCache, Hit, PREFETCH},
    error::{Error, Result},
    names::{bucket_name, check_new_name, unlinked_name, NAME_MAX},
    open_file::{Limits, OpenFile, Reach},
    prefetch::Prefetcher,
    timed::timed,
    twins::Twins,
    unlinks::{Pushed, UnlinkQueue},
    version_tree::{is_virtual, VirtualInodes},
};

/// Largest value of an extended attribute (XATTR_SIZE_MAX).
pub const XATTR_VALUE_MAX: usize = 64 << 10;

/// How long an unlink waits for the release of handles already closed.
const RELEASE_GRACE: Duration = Duration::from_secs(1);

/// The only extended attribute namespace kept.
pub const XATTR_USER: &str = "user.";

/// setxattr flags.
pub const XATTR_CREATE: i32 = 1;
pub const XATTR_REPLACE: i32 = 2;

#[derive(Debug, Clone, Default)]
pub struct FsOptions {
    /// Access key id that owns the buckets made by mkdir at the top level.
    pub owner: String,
    /// Longest wait for one call to the cluster before EIO, and the sizes
    /// of write batches.
    pub limits: Limits,
    /// Counts what the mount serves (reported to the MDS by the mount).
    pub door: Arc<DoorCounters>,
    /// How long looked-up entries and attributes are answered from the
    /// mount's own cache (see `entry_cache`); zero: never, every lookup
    /// and getattr asks the MDS. At most [`TTL`].
    pub entry_ttl: Duration,
}

/// Counters of the mount, for its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStats {
    pub reads: u64,
    pub read_bytes: u64,
    pub writes: u64,
    pub write_bytes: u64,
    /// Largest write request the kernel sent (max_write at work).
    pub max_write: u64,
    /// Unlinks answered at once and queued for the MDS, and those of them
    /// the MDS did not make (see `unlinks`).
    pub queued_unlinks: u64,
    pub refused_unlinks: u64,
}

/// statfs answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// What the caller of getxattr/listxattr gets for a buffer of `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrReply {
    /// size 0: how large the value is.
    Size(u32),
    Data(Vec<u8>),
}

/// The answer to a getxattr/listxattr with a buffer of `size` bytes.
pub fn xattr_reply(value: Vec<u8>, size: u32) -> Result<XattrReply> {
    let len =
        u32::try_from(value.len()).map_err(|_| Error::TooBig(format!("{} bytes", value.len())))?;
    if size == 0 {
        Ok(XattrReply::Size(len))
    } else if len > size {
        Err(Error::Range(format!("{len} bytes do not fit in {size}")))
    } else {
        Ok(XattrReply::Data(value))
    }
}

/// One open file handle.
pub struct Handle<B: Backend> {
    pub file: Arc<OpenFile<B>>,
    append: bool,
    /// Set once close() flushed the handle. The kernel sends RELEASE after
    /// close() returns, asynchronously; an unlink that finds only flushed
    /// handles waits for their release rather than keeping the file alive
    /// (else `close; unlink; rmdir` would race into ENOTEMPTY).
    flushed: AtomicBool,
    pub(crate) prefetch: AsyncMutex<Prefetcher>,
    /// The lock owners that took locks through this open file: their locks
    /// go at its last close.
    lock_owners: Mutex<Vec<u64>>,
}

struct OpenEntry<B: Backend> {
    file: Arc<OpenFile<B>>,
    /// Handles and operations holding the file open.
    refs: u32,
}

pub struct Fs<B: Backend> {
    backend: Arc<B>,
    opts: FsOptions,
    open: Mutex<HashMap<u64, OpenEntry<B>>>,
    files: Mutex<HashMap<u64, Arc<Handle<B>>>>,
    dirs: Mutex<HashMap<u64, Arc<AsyncMutex<Listing>>>>,
    next_fh: AtomicU64,
    /// Signalled at every release.
    released: tokio::sync::Notify,
    /// Largest write request the kernel sent.
    max_write: AtomicU64,
    entries: Arc<EntryCache>,
    /// Unlinks answered and not yet made by the MDS.
    unlinks: Arc<UnlinkQueue>,
    /// Bucket names of the top-level directories seen (for `.versions`).
    buckets: Mutex<HashMap<u64, String>>,
    /// Inodes of the `.versions` trees.
    virtuals: Mutex<VirtualInodes>,
    /// Drops the kernel's cache of a file (see `coherence`).
    invalidate: std::sync::OnceLock<Invalidate>,
    /// How far the changes of other mounts were applied (see `barriers`).
    feed: barriers::Feed,
    /// Pages as the kernel has them, for the files locked here.
    twins: Twins,
}

/// Drops the kernel's cached pages and attributes of an inode.
pub type Invalidate = Arc<dyn Fn(Stale) + Send + Sync>;

/// Samples `fs`'s counters at every scrape while it lives.
pub(crate) fn watch_metrics<B: Backend>(fs: &Arc<Fs<B>>) {
    let Some(part) = crate::metrics::part() else {
        return;
    };
    let weak = Arc::downgrade(fs);
    part.metrics().on_scrape(move || {
        if let Some(fs) = weak.upgrade() {
            let s = fs.stats();
            part.set_bytes_totals(s.write_bytes, s.read_bytes);
            part.set_event_total("fuse_reads", s.reads);
            part.set_event_total("fuse_writes", s.writes);
            part.set_event_total("unlinks_queued", s.queued_unlinks);
            part.set_event_total("unlinks_refused", s.refused_unlinks);
        }
        async {}
    });
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends the queued unlinks in batches until none is left (see `unlinks`).
async fn send_unlinks<B: Backend>(
    backend: Arc<B>,
    queue: Arc<UnlinkQueue>,
    entries: Arc<EntryCache>,
    timeout: Duration,
) {
    loop {
        let batch = queue.take();
        if batch.is_empty() {
            return;
        }
        let outcomes = timed(timeout, "unlink", backend.unlink_many(&batch)).await;
        let mut refused = 0;
        for (i, u) in batch.iter().enumerate() {
            let error = match &outcomes {
                Ok(each) => match each.get(i) {
                    // ENOENT: the file meant is gone already.
                    Some(Ok(())) | Some(Err(ClusterError::NotFound(_))) => continue,
                    Some(Err(e)) => e.to_string(),
                    None => "no outcome".to_string(),
                },
                Err(e) => e.to_string(),
            };
            refused += 1;
            tracing::warn!(
                parent = u.parent,
                name = %String::from_utf8_lossy(&u.name),
                error,
                "a queued unlink was not made: the file stays"
            );
            entries.forget_name(u.parent, &u.name);
        }
        queue.answered(batch.len(), refused);
    }
}

/// What the entry cache can say of a name.
// Returned once per lookup and never stored: boxing the node would cost an
// allocation per cached answer.
#[allow(clippy::large_enum_variant)]
enum Cached {
    /// A fresh page answers: the name's node, or ENOENT.
    Answer(Result<(Node, Duration)>),
    /// No fresh page covers the name: fetch one.
    Unknown,
    /// A page covers the name but cannot answer for it: ask the MDS.
    Ask,
}

fn not_found(name: &[u8]) -> Error {
    ClusterError::NotFound(String::from_utf8_lossy(name).into_owned()).into()
}

fn is_top(parent: u64) -> bool {
    parent == ROOT_INO
}

fn top_level_refused(what: &str) -> Error {
    Error::NotPermitted(format!(
        "{what}: the top level holds buckets only (mkdir makes one)"
    ))
}

impl<B: Backend> Fs<B> {
    pub fn new(backend: B, opts: FsOptions) -> Fs<B> {
        Fs {
            backend: Arc::new(backend),
            open: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            released: tokio::sync::Notify::new(),
            max_write: AtomicU64::new(0),
            entries: Arc::new(EntryCache::new(opts.entry_ttl.min(TTL))),
            unlinks: Arc::new(UnlinkQueue::default()),
            buckets: Mutex::new(HashMap::new()),
            virtuals: Mutex::new(VirtualInodes::default()),
            invalidate: std::sync::OnceLock::new(),
            feed: barriers::Feed::default(),
            twins: Twins::default(),
            opts,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn stats(&self) -> FsStats {
        let t = self.opts.door.totals();
        let (queued, refused) = self.unlinks.counts();
        FsStats {
            reads: t.read_ops,
            read_bytes: t.read_bytes,
            writes: t.write_ops,
            write_bytes: t.write_bytes,
            max_write: self.max_write.load(Ordering::Relaxed),
            queued_unlinks: queued,
            refused_unlinks: refused,
        }
    }

    fn timeout(&self) -> Duration {
        self.opts.limits.timeout
    }

    /// A namespace call to the cluster, bounded by the timeout. It waits
    /// for the queued unlinks first (see `unlinks`): `call` is an async
    /// backend method, which sends nothing before it is first polled.
    async fn ask<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = std::result::Result<T, ClusterError>>,
    ) -> Result<T> {
        self.unlinks.settle().await;
        timed(self.timeout(), what, call).await
    }

    fn fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts the local view of an open file over a node from the MDS.
    fn local(&self, mut node: Node) -> Node {
        let file = locked(&self.open).get(&node.ino).map(|e| e.file.clone());
        if let Some(file) = file {
            file.apply(&mut node);
        }
        node
    }

    fn open_file(&self, ino: u64) -> Option<Arc<OpenFile<B>>> {
        locked(&self.open).get(&ino).map(|e| e.file.clone())
    }

    fn any_open(&self) -> bool {
        !locked(&self.open).is_empty()
    }

    /// Whether handles on `ino` remain open: if every one of them has
    /// been closed (flushed), waits up to `RELEASE_GRACE` for the kernel's
    /// pending releases first.
    async fn in_use(&self, ino: u64) -> bool {
        let deadline = tokio::time::Instant::now() + RELEASE_GRACE;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let (open, closing) = {
                let files = locked(&self.files);
                let mine = files.values().filter(|h| h.file.ino == ino);
                let (mut open, mut closing) = (0, 0);
                for h in mine {
                    if h.flushed.load(Ordering::Acquire) {
                        closing += 1;
                    } else {
                        open += 1;
                    }
                }
                (open, closing)
            };
            if open > 0 {
                return true;
            }
            if closing == 0 {
                return false;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return true;
            }
        }
    }

    /// Takes a reference on the open state of `node`, making it if needed.
    fn retain(&self, node: Node) -> Arc<OpenFile<B>> {
        let mut open = locked(&self.open);
        match open.get_mut(&node.ino) {
            Some(e) => {
                e.refs += 1;
                e.file.moved_on(node);
                e.file.clone()
            }
            None => {
                let file = Arc::new(OpenFile::new(node, self.opts.limits));
                open.insert(
                    file.ino,
                    OpenEntry {
                        file: file.clone(),
                        refs: 1,
                    },
                );
                file
            }
        }
    }

    /// Takes one more reference on an open file, if it is open.
    fn retain_open(&self, ino: u64) -> Option<Arc<OpenFile<B>>> {
        let mut open = locked(&self.open);
        open.get_mut(&ino).map(|e| {
            e.refs += 1;
            e.file.clone()
        })
    }

    /// Drops a reference; the last one sends what is buffered and removes
    /// the hidden name of an unlinked file. The file leaves the open table
    /// only after that, so an rmdir waiting for it sees the name gone.
    async fn drop_ref(&self, file: &Arc<OpenFile<B>>) -> Result<()> {
        let last = {
            let mut open = locked(&self.open);
            match open.get_mut(&file.ino) {
                Some(e) if Arc::ptr_eq(&e.file, file) => {
                    e.refs = e.refs.saturating_sub(1);
                    e.refs == 0
                }
                _ => false,
            }
        };
        if !last {
            return Ok(());
        }
        let flushed = file.flush(&self.backend).await;
        if flushed.is_ok() {
            self.backend.drop_write_lease(file.ino);
        }
        // Before the file leaves the open table (while it is there, lookups
        // and getattrs of it bypass the entry cache).
        self.entries.forget_node(file.ino);
        let mut result = flushed;
        if let Some((parent, name)) = file.unlinked() {
            let gone = self.ask("unlink", self.backend.unlink(parent, &name)).await;
            if gone.is_ok() {
                file.clear_unlinked();
            }
            result = result.and(gone);
        }
        {
            let mut open = locked(&self.open);
            if open
                .get(&file.ino)
                .is_some_and(|e| e.refs == 0 && Arc::ptr_eq(&e.file, file))
            {
                open.remove(&file.ino);
                self.twins.forget(file.ino);
            }
        }
        self.released.notify_waiters();
        result
    }

    // ---------------------------------------------------------------- misc

    pub async fn statfs(&self) -> Result<StatFs> {
        let cap = self.ask("statfs", self.backend.capacity()).await?;
        const BSIZE: u64 = 4096;
        // What can still be written, after replication (`Capacity`).
        let files = cap.inodes.saturating_add(cap.free_inodes);
        Ok(StatFs {
            blocks: cap.total / BSIZE,
            bfree: cap.free / BSIZE,
            bavail: cap.free / BSIZE,
            files,
            ffree: cap.free_inodes,
            bsize: BSIZE as u32,
            namelen: NAME_MAX as u32,
            frsize: BSIZE as u32,
        })
    }

    /// At unmount: sends the queued unlinks and what every open file still
    /// buffers.
    pub async fn shutdown(&self) {
        self.unlinks.settle().await;
        let files: Vec<Arc<OpenFile<B>>> = locked(&self.open)
            .values()
            .map(|e| e.file.clone())
            .collect();
        for file in files {
            if let Err(e) = file.flush(&self.backend).await {
                tracing::error!(ino = file.ino, error = %e, "could not send buffered writes at unmount");
            }
        }
        if let Err(e) = self.backend.end_lock_session().await {
            tracing::warn!(error = %e, "the locks of this mount were not dropped at unmount; the cluster drops them when its lease runs out");
        }
    }
}
