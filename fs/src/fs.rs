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
use cairn_common::{FsError, ROOT_INO};
use tokio::sync::Mutex as AsyncMutex;

use crate::{
    attr::TTL,
    backend::{Backend, NewNode},
    dir::{Entry, Listing, PAGE},
    dirty::overlay,
    entry_cache::{just_before, EntryCache, Hit, PREFETCH},
    error::{Error, Result},
    names::{bucket_name, check_new_name, unlinked_name, NAME_MAX},
    open_file::{Limits, OpenFile},
    prefetch::Prefetcher,
    timed::timed,
    unlinks::{Pushed, UnlinkQueue},
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
pub enum Sized {
    /// size 0: how large the value is.
    Size(u32),
    Data(Vec<u8>),
}

/// The answer to a getxattr/listxattr with a buffer of `size` bytes.
pub fn sized(value: Vec<u8>, size: u32) -> Result<Sized> {
    let len =
        u32::try_from(value.len()).map_err(|_| Error::TooBig(format!("{} bytes", value.len())))?;
    if size == 0 {
        Ok(Sized::Size(len))
    } else if len > size {
        Err(Error::Range(format!("{len} bytes do not fit in {size}")))
    } else {
        Ok(Sized::Data(value))
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
                    Some(Ok(())) | Some(Err(FsError::NotFound(_))) => continue,
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
    FsError::NotFound(String::from_utf8_lossy(name).into_owned()).into()
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
        call: impl std::future::Future<Output = std::result::Result<T, FsError>>,
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
                e.file.refresh(node);
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
            }
        }
        self.released.notify_waiters();
        result
    }

    // ----------------------------------------------------------- namespace

    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node> {
        self.lookup_entry(parent, name).await.map(|(node, _)| node)
    }

    /// lookup, and how long the kernel may keep the answer.
    pub async fn lookup_entry(&self, parent: u64, name: &[u8]) -> Result<(Node, Duration)> {
        if name.len() > NAME_MAX {
            return Err(FsError::NameTooLong(String::from_utf8_lossy(name).into_owned()).into());
        }
        // The top level (buckets) is small and made through S3 mostly.
        if self.entries.enabled() && !is_top(parent) {
            match self.cached_entry(parent, name) {
                Cached::Answer(answer) => return answer,
                Cached::Unknown => {
                    if let Some(found) = self.prefetch(parent, name).await {
                        return found;
                    }
                }
                Cached::Ask => {}
            }
        }
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let node = self
            .ask("lookup", self.backend.lookup(parent, name))
            .await?;
        self.entries.fill_node(&node, generation, started);
        Ok((self.local(node), TTL))
    }

    /// What the entry cache says of `name` in `parent`.
    fn cached_entry(&self, parent: u64, name: &[u8]) -> Cached {
        match self.entries.lookup(parent, name) {
            None => Cached::Unknown,
            Some(Hit::Found(node, left)) if self.open_file(node.ino).is_none() => {
                Cached::Answer(Ok((node, left)))
            }
            // A file open here has a newer local view than the page.
            Some(Hit::Found(..)) => Cached::Ask,
            Some(Hit::Absent) => Cached::Answer(Err(not_found(name))),
        }
    }

    /// lookup answered by the entry cache alone, without waiting (the
    /// node, or ENOENT); None when it takes [`Fs::lookup_entry`]. (The
    /// FUSE adapter answers these on its own thread: no hop to the
    /// runtime.)
    pub fn lookup_cached(&self, parent: u64, name: &[u8]) -> Option<Result<(Node, Duration)>> {
        if name.len() > NAME_MAX || is_top(parent) {
            return None;
        }
        match self.cached_entry(parent, name) {
            Cached::Answer(answer) => Some(answer),
            Cached::Unknown | Cached::Ask => None,
        }
    }

    /// getattr answered by the entry cache alone, as [`Fs::lookup_cached`].
    pub fn getattr_cached(&self, ino: u64) -> Option<(Node, Duration)> {
        if self.open_file(ino).is_some() {
            return None;
        }
        self.entries.getattr(ino)
    }

    /// A lookup that missed the entry cache: fetches the page of `parent`
    /// that starts at `name` and keeps it. None when the page does not
    /// tell (the MDS refused the listing, or the page ended short of
    /// `name`): then a plain lookup answers.
    async fn prefetch(&self, parent: u64, name: &[u8]) -> Option<Result<(Node, Duration)>> {
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let after = just_before(name);
        let page = self
            .ask("lookup", self.backend.readdir(parent, &after, PREFETCH))
            .await
            .ok()?;
        self.entries.fill(parent, after, &page, generation, started);
        let (entries, more) = page;
        let past = !more
            || entries
                .last()
                .is_some_and(|(last, _)| last.as_slice() >= name);
        match entries.into_iter().find(|(n, _)| n == name) {
            Some((_, node)) => Some(Ok((self.local(node), TTL))),
            None if past => Some(Err(not_found(name))),
            None => None,
        }
    }

    pub async fn getattr(&self, ino: u64) -> Result<Node> {
        self.getattr_entry(ino).await.map(|(node, _)| node)
    }

    /// getattr, and how long the kernel may keep the answer.
    pub async fn getattr_entry(&self, ino: u64) -> Result<(Node, Duration)> {
        if let Some(kept) = self.getattr_cached(ino) {
            return Ok(kept);
        }
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let node = self.ask("getattr", self.backend.getattr(ino)).await?;
        self.entries.fill_node(&node, generation, started);
        Ok((self.local(node), TTL))
    }

    /// chmod, chown, truncate, utimens. An open file commits its buffered
    /// writes first.
    pub async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node> {
        if let Some(size) = attr.size {
            if size > crate::open_file::MAX_FILE_SIZE {
                return Err(Error::FileTooBig(format!("size {size}")));
            }
        }
        match self.retain_open(ino) {
            Some(file) => {
                let result = file.setattr(&self.backend, attr).await;
                self.entries.forget_node(ino);
                let released = self.drop_ref(&file).await;
                let node = result?;
                released?;
                Ok(node)
            }
            None => {
                let node = self
                    .ask("setattr", self.backend.setattr(ino, attr))
                    .await
                    .inspect_err(|_| self.entries.forget_node(ino))?;
                self.entries.put_node(&node);
                Ok(self.local(node))
            }
        }
    }

    /// mkdir; at the top level, a new bucket owned by the mount's key.
    pub async fn mkdir(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        check_new_name(name)?;
        if is_top(parent) {
            let bucket = bucket_name(name)?;
            self.ask(
                "create bucket",
                self.backend.create_bucket(bucket, &self.opts.owner),
            )
            .await?;
            let node = self
                .ask("lookup", self.backend.lookup(parent, name))
                .await?;
            let attr = SetAttr {
                mode: Some(mode & 0o7777),
                uid: Some(uid),
                gid: Some(gid),
                ..SetAttr::default()
            };
            return self
                .ask("setattr", self.backend.setattr(node.ino, attr))
                .await;
        }
        self.make(parent, name, NodeKind::Dir, mode, uid, gid, b"", true)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn make(
        &self,
        parent: u64,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        target: &[u8],
        exclusive: bool,
    ) -> Result<Node> {
        check_new_name(name)?;
        if is_top(parent) {
            return Err(top_level_refused("create"));
        }
        let new = NewNode {
            parent,
            name,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            target,
            exclusive,
        };
        // A refusal (EEXIST) says the cache's page may be wrong about the
        // name: one made through S3 since the page was fetched.
        let node = self
            .ask("create", self.backend.create(new))
            .await
            .inspect_err(|_| self.entries.forget_name(parent, name))?;
        self.entries.added(parent, name, &node);
        Ok(node)
    }

    /// mknod: regular files only.
    pub async fn mknod(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        if mode & libc::S_IFMT != libc::S_IFREG && mode & libc::S_IFMT != 0 {
            return Err(Error::NotPermitted(
                "device files, FIFOs and sockets cannot be stored".into(),
            ));
        }
        self.make(parent, name, NodeKind::File, mode, uid, gid, b"", true)
            .await
    }

    pub async fn symlink(
        &self,
        parent: u64,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        if target.is_empty() || target.len() > 4095 {
            return Err(FsError::Invalid("symlink target must be 1 to 4095 bytes".into()).into());
        }
        self.make(
            parent,
            name,
            NodeKind::Symlink,
            0o777,
            uid,
            gid,
            target,
            true,
        )
        .await
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        self.ask("readlink", self.backend.readlink(ino)).await
    }

    /// unlink; a file open here lives on under a hidden name until its
    /// last close.
    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<()> {
        if self.queue_unlink(parent, name) {
            return Ok(());
        }
        // No fresh page holds the name: one listing call fetches the page
        // for this name and the few hundred after it (`rm -r`, a cleaning
        // loop), then the cache can tell.
        if self.entries.enabled()
            && !is_top(parent)
            && matches!(self.cached_entry(parent, name), Cached::Unknown)
        {
            let _ = self.prefetch(parent, name).await;
            if self.queue_unlink(parent, name) {
                return Ok(());
            }
        }
        if self.any_open() {
            if let Ok(node) = self.backend_lookup(parent, name).await {
                if node.kind == NodeKind::File && node.nlink <= 1 && self.in_use(node.ino).await {
                    if let Some(file) = self.retain_open(node.ino) {
                        let hidden = unlinked_name(node.ino);
                        let moved = self
                            .ask(
                                "rename",
                                self.backend.rename(parent, name, parent, &hidden, true),
                            )
                            .await;
                        self.name_changed(parent, name, moved.is_ok(), false);
                        self.entries.forget_name(parent, &hidden);
                        if moved.is_ok() {
                            file.set_unlinked(parent, hidden);
                        }
                        let released = self.drop_ref(&file).await;
                        moved?;
                        return released;
                    }
                }
            }
        }
        let unlinked = self.ask("unlink", self.backend.unlink(parent, name)).await;
        self.name_changed(parent, name, unlinked.is_ok(), false);
        unlinked
    }

    /// Queues an unlink for the MDS when the entry cache proves it will
    /// succeed: a fresh page holds the name, it names a file or symlink,
    /// and no handle here holds that open. `Refused`: it was not queued
    /// (take [`Fs::unlink`]); `StartSender`: the caller spawns
    /// [`Fs::unlink_sender`]. Never waits: the FUSE adapter answers these on
    /// its own thread.
    pub fn unlink_cached(&self, parent: u64, name: &[u8]) -> Pushed {
        if is_top(parent) || name.len() > NAME_MAX {
            return Pushed::Refused;
        }
        let Some(Hit::Found(node, _)) = self.entries.lookup(parent, name) else {
            return Pushed::Refused;
        };
        if node.kind == NodeKind::Dir || self.open_file(node.ino).is_some() {
            return Pushed::Refused;
        }
        let pushed = self.unlinks.push(NamedInode {
            parent,
            name: name.to_vec(),
            ino: node.ino,
        });
        if pushed != Pushed::Refused {
            self.entries.removed(parent, name, false);
        }
        pushed
    }

    /// The task that sends the queued unlinks (see [`Fs::unlink_cached`]).
    pub fn unlink_sender(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        send_unlinks(
            self.backend.clone(),
            self.unlinks.clone(),
            self.entries.clone(),
            self.timeout(),
        )
    }

    /// [`Fs::unlink_cached`], starting the sender on this runtime.
    fn queue_unlink(&self, parent: u64, name: &[u8]) -> bool {
        match self.unlink_cached(parent, name) {
            Pushed::Refused => false,
            Pushed::Queued => true,
            Pushed::StartSender => {
                tokio::spawn(self.unlink_sender());
                true
            }
        }
    }

    /// After a call that removes `name` (a directory with `dir`) from
    /// `parent`: gone from the entry cache if it succeeded; else what the
    /// cache knew of it is dropped.
    fn name_changed(&self, parent: u64, name: &[u8], gone: bool, dir: bool) {
        if gone {
            self.entries.removed(parent, name, dir);
        } else {
            self.entries.forget_name(parent, name);
        }
    }

    async fn backend_lookup(&self, parent: u64, name: &[u8]) -> Result<Node> {
        self.ask("lookup", self.backend.lookup(parent, name)).await
    }

    /// rmdir; at the top level, deletes the (empty) bucket.
    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<()> {
        self.settle_unlinked_in(parent, name).await;
        if is_top(parent) {
            let bucket = bucket_name(name).map_err(|_| {
                Error::from(FsError::NotFound(
                    String::from_utf8_lossy(name).into_owned(),
                ))
            })?;
            return self
                .ask("delete bucket", self.backend.delete_bucket(bucket))
                .await;
        }
        let removed = self.ask("rmdir", self.backend.rmdir(parent, name)).await;
        self.name_changed(parent, name, removed.is_ok(), true);
        removed
    }

    /// Before an rmdir: files unlinked while open live on under hidden
    /// names in the directory until their release, which the kernel sends
    /// after close() returns. Waits (up to `RELEASE_GRACE`) for those whose
    /// handles are all closed, so that `close; unlink; rmdir` works.
    async fn settle_unlinked_in(&self, parent: u64, name: &[u8]) {
        let hidden: Vec<(u64, u64)> = locked(&self.open)
            .values()
            .filter_map(|e| e.file.unlinked().map(|(dir, _)| (dir, e.file.ino)))
            .collect();
        if hidden.is_empty() {
            return;
        }
        let Ok(dir) = self.backend_lookup(parent, name).await else {
            return;
        };
        for (_, ino) in hidden.into_iter().filter(|(d, _)| *d == dir.ino) {
            if self.in_use(ino).await {
                continue;
            }
            // Released: its last reference removes the hidden name; wait
            // for that to finish.
            let deadline = tokio::time::Instant::now() + RELEASE_GRACE;
            loop {
                let released = self.released.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                if self.open_file(ino).is_none_or(|f| f.unlinked().is_none()) {
                    break;
                }
                if tokio::time::timeout_at(deadline, released).await.is_err() {
                    break;
                }
            }
        }
    }

    /// rename, replacing the target unless `no_replace`. Across buckets,
    /// and of buckets themselves, EXDEV (so `mv` copies).
    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<()> {
        check_new_name(new_name)?;
        if is_top(parent) || is_top(new_parent) {
            return Err(FsError::CrossDevice(
                "buckets cannot be renamed and files cannot move to the top level".into(),
            )
            .into());
        }
        // A target open here keeps its content under a hidden name.
        let mut kept: Option<Arc<OpenFile<B>>> = None;
        if !no_replace && self.any_open() {
            if let Ok(target) = self.backend_lookup(new_parent, new_name).await {
                if target.kind == NodeKind::File
                    && target.nlink <= 1
                    && self.in_use(target.ino).await
                {
                    if let Some(file) = self.retain_open(target.ino) {
                        let hidden = unlinked_name(target.ino);
                        let linked = self
                            .ask("link", self.backend.link(target.ino, new_parent, &hidden))
                            .await;
                        self.entries.forget_node(target.ino);
                        match linked {
                            Ok(_) => {
                                file.set_unlinked(new_parent, hidden);
                                kept = Some(file);
                            }
                            Err(e) => {
                                self.drop_ref(&file).await?;
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
        let result = self
            .ask(
                "rename",
                self.backend
                    .rename(parent, name, new_parent, new_name, no_replace),
            )
            .await;
        self.entries.forget_name(parent, name);
        self.entries.forget_name(new_parent, new_name);
        if let Some(file) = kept {
            self.drop_ref(&file).await?;
        }
        result
    }

    pub async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node> {
        check_new_name(new_name)?;
        if is_top(new_parent) {
            return Err(top_level_refused("link"));
        }
        let node = self
            .ask("link", self.backend.link(ino, new_parent, new_name))
            .await
            .inspect_err(|_| {
                self.entries.forget_node(ino);
                self.entries.forget_name(new_parent, new_name);
            })?;
        self.entries.added(new_parent, new_name, &node);
        Ok(self.local(node))
    }

    // --------------------------------------------------------------- files

    /// create (O_CREAT): makes the file (or, without O_EXCL, takes the one
    /// that appeared meanwhile) and opens it.
    pub async fn create(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
        flags: i32,
    ) -> Result<(Node, u64)> {
        let exclusive = flags & libc::O_EXCL != 0;
        let mut node = self
            .make(parent, name, NodeKind::File, mode, uid, gid, b"", exclusive)
            .await?;
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => {
                return Err(FsError::IsDir(String::from_utf8_lossy(name).into()).into())
            }
            NodeKind::Symlink => {
                return Err(FsError::Exists(String::from_utf8_lossy(name).into()).into())
            }
        }
        if flags & libc::O_TRUNC != 0 && node.size > 0 {
            let attr = SetAttr {
                size: Some(0),
                ..SetAttr::default()
            };
            node = self
                .ask("truncate", self.backend.setattr(node.ino, attr))
                .await?;
            self.entries.put_node(&node);
        }
        let fh = self.open_node(node.clone(), flags);
        Ok((self.local(node), fh))
    }

    fn open_node(&self, node: Node, flags: i32) -> u64 {
        let file = self.retain(node);
        let fh = self.fh();
        let handle = Arc::new(Handle {
            file,
            append: flags & libc::O_APPEND != 0,
            flushed: AtomicBool::new(false),
            prefetch: AsyncMutex::new(Prefetcher::default()),
        });
        locked(&self.files).insert(fh, handle);
        fh
    }

    fn open_file_handle(&self, fh: u64) -> Option<Arc<Handle<B>>> {
        locked(&self.files).get(&fh).cloned()
    }

    pub(crate) fn handle(&self, fh: u64) -> Result<Arc<Handle<B>>> {
        self.open_file_handle(fh).ok_or(Error::BadHandle(fh))
    }

    /// open: the node is fetched afresh (close-to-open consistency).
    pub async fn open(&self, ino: u64, flags: i32) -> Result<u64> {
        let node = self.ask("open", self.backend.getattr(ino)).await?;
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(FsError::IsDir(format!("inode {ino}")).into()),
            NodeKind::Symlink => {
                return Err(FsError::Invalid(format!("inode {ino} is a symlink")).into())
            }
        }
        Ok(self.open_node(node, flags))
    }

    /// read: committed bytes (with read-ahead) under the file's own
    /// buffered writes; short only at the end of the file.
    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let started = Instant::now();
        let read = self.read_at(fh, offset, size).await;
        let bytes = read.as_ref().map_or(0, |b| b.len() as u64);
        self.opts
            .door
            .record(DoorOp::Read, bytes, started.elapsed(), read.is_ok());
        read
    }

    async fn read_at(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let h = self.handle(fh)?;
        let view = h.file.view(offset, u64::from(size));
        if offset >= view.size {
            return Ok(Vec::new());
        }
        let end = view.size.min(offset + u64::from(size));
        let mut buf = vec![0u8; (end - offset) as usize];
        let committed_end = end.min(view.node.size);
        if offset < committed_end {
            let n = (committed_end - offset) as usize;
            h.prefetch
                .lock()
                .await
                .read_into(
                    &self.backend,
                    &view.node,
                    view.version,
                    offset,
                    &mut buf[..n],
                    self.timeout(),
                )
                .await?;
        }
        overlay(&mut buf, offset, &view.overlay);
        Ok(buf)
    }

    /// write: buffered; returns the bytes taken.
    pub async fn write(&self, fh: u64, offset: u64, data: Bytes) -> Result<u32> {
        let h = self.handle(fh)?;
        let len = u32::try_from(data.len())
            .map_err(|_| Error::TooBig(format!("a write of {} bytes", data.len())))?;
        let at = if h.append { None } else { Some(offset) };
        let started = Instant::now();
        let written = h.file.write(&self.backend, at, data).await;
        self.opts.door.record(
            DoorOp::Write,
            u64::from(len),
            started.elapsed(),
            written.is_ok(),
        );
        written?;
        self.max_write.fetch_max(u64::from(len), Ordering::Relaxed);
        Ok(len)
    }

    /// flush (each close): what is buffered goes to the chunk servers and
    /// is committed, without forcing it to disk.
    pub async fn flush(&self, fh: u64) -> Result<()> {
        let h = self.handle(fh)?;
        h.flushed.store(true, Ordering::Release);
        h.file.flush(&self.backend).await
    }

    /// fsync: on stable storage on every replica, and committed durably
    /// (with every namespace change this mount was answered before it).
    pub async fn fsync(&self, fh: u64) -> Result<()> {
        let h = self.handle(fh)?;
        let started = Instant::now();
        let synced = match h.file.fsync(&self.backend).await {
            Ok(()) => self.sync_metadata().await,
            Err(e) => Err(e),
        };
        self.opts
            .door
            .record(DoorOp::Fsync, 0, started.elapsed(), synced.is_ok());
        synced
    }

    /// fsyncdir: the mount's namespace changes so far are durable.
    pub async fn sync_metadata(&self) -> Result<()> {
        self.ask("fsync of metadata", self.backend.sync_metadata())
            .await
    }

    /// release (last close of a handle).
    pub async fn release(&self, fh: u64) -> Result<()> {
        let h = locked(&self.files)
            .remove(&fh)
            .ok_or(Error::BadHandle(fh))?;
        self.drop_ref(&h.file).await
    }

    // --------------------------------------------------------- directories

    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        let dir = self.ask("opendir", self.backend.getattr(ino)).await?;
        if dir.kind != NodeKind::Dir {
            return Err(FsError::NotDir(format!("inode {ino}")).into());
        }
        let fh = self.fh();
        locked(&self.dirs).insert(fh, Arc::new(AsyncMutex::new(Listing::new(dir))));
        Ok(fh)
    }

    /// Up to `max` entries from `offset` on (see `dir` for offsets).
    pub async fn readdir(&self, fh: u64, offset: u64, max: usize) -> Result<Vec<Entry>> {
        let listing = locked(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or(Error::BadHandle(fh))?;
        let mut l = listing.lock().await;
        let want = usize::try_from(offset.saturating_sub(2))
            .unwrap_or(usize::MAX)
            .saturating_add(max);
        while l.needs_page(want) {
            let ino = l.dir.ino;
            let cursor = l.cursor().to_vec();
            let (page, more) = self
                .ask("readdir", self.backend.readdir(ino, &cursor, PAGE))
                .await?;
            l.add_page(page, more);
        }
        let mut entries = l.entries_from(offset, max);
        for e in &mut entries {
            if let Some(file) = self.open_file(e.node.ino) {
                file.apply(&mut e.node);
            }
        }
        Ok(entries)
    }

    pub fn releasedir(&self, fh: u64) -> Result<()> {
        locked(&self.dirs)
            .remove(&fh)
            .map(|_| ())
            .ok_or(Error::BadHandle(fh))
    }

    // ---------------------------------------------------------------- misc

    pub async fn statfs(&self) -> Result<StatFs> {
        let cap = self.ask("statfs", self.backend.capacity()).await?;
        const BSIZE: u64 = 4096;
        let files = cap.inodes.saturating_add(u64::from(u32::MAX));
        Ok(StatFs {
            blocks: cap.total / BSIZE,
            bfree: cap.free / BSIZE,
            bavail: cap.free / BSIZE,
            files,
            ffree: files - cap.inodes,
            bsize: BSIZE as u32,
            namelen: NAME_MAX as u32,
            frsize: BSIZE as u32,
        })
    }

    /// getxattr of a name outside `user.*`, answered without waiting:
    /// no such attribute exists. (The kernel asks for
    /// `security.capability` before every write.)
    pub fn getxattr_outside_user(&self, name: &str) -> Option<Error> {
        (!name.starts_with(XATTR_USER)).then(|| Error::NoAttr(name.to_string()))
    }

    pub async fn getxattr(&self, ino: u64, name: &str) -> Result<Vec<u8>> {
        if let Some(refused) = self.getxattr_outside_user(name) {
            return Err(refused);
        }
        let node = self.getattr(ino).await?;
        node.xattrs
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NoAttr(name.to_string()))
    }

    /// Names of the set attributes, each NUL-terminated.
    pub async fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        let node = self.getattr(ino).await?;
        let mut out = Vec::new();
        for name in node.xattrs.keys() {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
        Ok(out)
    }

    pub async fn setxattr(&self, ino: u64, name: &str, value: &[u8], flags: i32) -> Result<()> {
        if !name.starts_with(XATTR_USER) {
            return Err(Error::NotSupported(format!(
                "extended attribute `{name}`: only user.* attributes are kept"
            )));
        }
        if name.len() > NAME_MAX || name.len() == XATTR_USER.len() {
            return Err(Error::Range(format!("attribute name `{name}`")));
        }
        if value.len() > XATTR_VALUE_MAX {
            return Err(Error::TooBig(format!(
                "a value of {} bytes for `{name}` (at most {XATTR_VALUE_MAX})",
                value.len()
            )));
        }
        if flags & (XATTR_CREATE | XATTR_REPLACE) != 0 {
            let node = self.getattr(ino).await?;
            let exists = node.xattrs.contains_key(name);
            if flags & XATTR_CREATE != 0 && exists {
                return Err(FsError::Exists(name.to_string()).into());
            }
            if flags & XATTR_REPLACE != 0 && !exists {
                return Err(Error::NoAttr(name.to_string()));
            }
        }
        let attr = SetAttr {
            set_xattrs: vec![(name.to_string(), value.to_vec())],
            ..SetAttr::default()
        };
        let set = self.ask("setxattr", self.backend.setattr(ino, attr)).await;
        self.entries.forget_node(ino);
        set.map(|_| ())
    }

    pub async fn removexattr(&self, ino: u64, name: &str) -> Result<()> {
        if !name.starts_with(XATTR_USER) {
            return Err(Error::NoAttr(name.to_string()));
        }
        let node = self.getattr(ino).await?;
        if !node.xattrs.contains_key(name) {
            return Err(Error::NoAttr(name.to_string()));
        }
        let attr = SetAttr {
            remove_xattrs: vec![name.to_string()],
            ..SetAttr::default()
        };
        let removed = self
            .ask("removexattr", self.backend.setattr(ino, attr))
            .await;
        self.entries.forget_node(ino);
        removed.map(|_| ())
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
    }
}
