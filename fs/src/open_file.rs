//! One open file, shared by every handle on its inode: the committed node,
//! the write buffer, the size and times the file has locally, and the
//! batches that carry the buffer to the chunk servers.
//!
//! Writes land in the [`DirtyMap`] and return at once. When enough bytes
//! wait (`BATCH_BYTES`) a background batch takes them all, writes them
//! (in place or into slot chunks, see `cairn_client::layout`) and commits
//! the new extents, size, mtime and ETag in one MDS call; a writer that
//! gets `MAX_UNSENT` ahead of the batches waits for them. `flush` (close)
//! and `fsync` run a batch in the foreground, `fsync` forcing every chunk
//! written so far to stable storage on every replica first.
//!
//! `fdatasync` of bytes written in place (no new extent, the size as
//! committed, the ETag stale already) costs one synced round to each
//! replica and no commit: the MDS is only told, in memory, so that other
//! mounts drop their caches (`wrote_in_place`). The mtime is then *owed*:
//! it goes with the file's next commit (close, fsync, a full buffer, a
//! lease given back), and this mount shows it meanwhile.
//!
//! A chmod, chown or utimens of a file with bytes buffered (or an mtime
//! owed) is folded into the commit that comes anyway: `tar -x` sets all
//! three on every file it unpacks, between its last write and its close.
//!
//! Invariants:
//! * batches of one file never overlap in time (`writer` lock), so two
//!   writes of the same bytes reach the chunks in the order they were made;
//! * a buffered byte leaves the `DirtyMap` only after the commit that makes
//!   it visible in the layout, so a read (committed layout + overlay of the
//!   buffer) always sees the file's own writes;
//! * a failed batch leaves its bytes buffered; the error is reported once,
//!   to the next write, flush or fsync, and the next batch sends them again.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use bytes::Bytes;
use cairn_client::{Commit, FoldedAttrs, Node, SetAttr, WrittenData};
use cairn_common::ClusterError;
use tokio::sync::Notify;

use crate::{
    backend::{Backend, DataWriter},
    dirty::DirtyMap,
    error::{Error, Result},
    etag::{Etag, SeqMd5},
    timed::timed,
};

/// Buffered bytes that start a background batch: large pieces for the
/// chain, a few per chunk.
pub const BATCH_BYTES: u64 = 16 << 20;

/// Buffered, unsent bytes past which a writer waits for the batches.
pub const MAX_UNSENT: u64 = 64 << 20;

/// When batches start and writers wait.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for one call to the cluster.
    pub timeout: Duration,
    /// Buffered bytes that start a background batch.
    pub batch_bytes: u64,
    /// Unsent bytes past which a writer waits.
    pub max_unsent: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            batch_bytes: BATCH_BYTES,
            max_unsent: MAX_UNSENT,
        }
    }
}

/// Largest file size (what `off_t` can address).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// What a read needs, taken at one instant: the committed node, the local
/// size, and the buffered bytes over the range.
pub struct ReadView {
    pub node: Arc<Node>,
    pub size: u64,
    pub overlay: Vec<(u64, Bytes)>,
    /// Changes whenever the committed content changes: prefetched data of
    /// another version is not used.
    pub version: u64,
}

#[derive(Debug)]
struct FileState {
    node: Arc<Node>,
    size: u64,
    mtime_ns: i64,
    dirty: DirtyMap,
    /// Generation of the last write.
    gen: u64,
    /// Bytes written since the last batch was cut.
    unsent: u64,
    md5: SeqMd5,
    /// Failure of a background batch, reported once.
    error: Option<Error>,
    /// The hidden name (parent, name) an unlinked open file lives under.
    unlinked: Option<(u64, Vec<u8>)>,
    version: u64,
    /// Versioned buckets: the version this window of writes made (by the
    /// create or truncate that opened it, or its first commit), which the
    /// next commits change in place; empty: the next commit makes a new
    /// version. A close or fsync ends the window once a write went into
    /// it: a close with nothing written (a process that inherited the
    /// descriptor across fork and exec closes it) leaves it open.
    window: String,
    /// A commit of written bytes went into the window.
    window_written: bool,
    /// The write lease was taken afresh: the writer forgets the chunks
    /// another mount's commits dropped before its next batch.
    relayout: bool,
    /// Bytes were synced in place with no commit, or attributes were
    /// folded: the mtime (and `folded`) are owed to the next commit.
    owed: bool,
    /// Attributes set since the last commit, and when.
    folded: FoldedAttrs,
    folded_ns: i64,
    /// Commits of this file, and how many of them a metadata barrier
    /// (`sync_metadata`) has made durable: the first count starts at one,
    /// for the create or open before any commit.
    commits: u64,
    durable_commits: u64,
}

/// How far a batch takes the bytes it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Sent and committed, not forced to stable storage (close, a full
    /// buffer).
    Sent,
    /// On stable storage on every replica, committed only if the layout,
    /// size or ETag must change (fdatasync).
    Data,
    /// On stable storage and committed (fsync).
    All,
}

/// The state of one open inode.
pub struct OpenFile<B: Backend> {
    pub ino: u64,
    state: Mutex<FileState>,
    writer: tokio::sync::Mutex<Option<B::Writer>>,
    progress: Notify,
    flush_scheduled: AtomicBool,
    limits: Limits,
}

/// A cut of the buffer, on its way to the cluster.
struct Cut {
    segments: Vec<(u64, Bytes)>,
    window: String,
    gen: u64,
    node: Arc<Node>,
    size: u64,
    etag: Etag,
    mtime_ns: i64,
    attrs: FoldedAttrs,
}

impl<B: Backend> OpenFile<B> {
    /// Starts a window of writes in `version_id`, a version the opener
    /// just made (an empty file created or truncated): the next commits
    /// fill it instead of keeping it as a version of its own.
    pub fn open_window(&self, version_id: &str) {
        let mut st = self.lock();
        if st.dirty.is_empty() && st.window.is_empty() {
            version_id.clone_into(&mut st.window);
        }
    }

    pub fn new(node: Node, limits: Limits) -> OpenFile<B> {
        OpenFile {
            ino: node.ino,
            state: Mutex::new(FileState {
                size: node.size,
                mtime_ns: node.mtime_ns,
                md5: SeqMd5::for_size(node.size),
                node: Arc::new(node),
                dirty: DirtyMap::default(),
                gen: 0,
                unsent: 0,
                error: None,
                unlinked: None,
                version: 0,
                window: String::new(),
                window_written: false,
                relayout: false,
                owed: false,
                folded: FoldedAttrs::default(),
                folded_ns: 0,
                commits: 1,
                durable_commits: 0,
            }),
            writer: tokio::sync::Mutex::new(None),
            progress: Notify::new(),
            flush_scheduled: AtomicBool::new(false),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, FileState> {
        // A panic while holding the lock leaves plain data behind; the
        // state is still consistent field by field, so go on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the local view over a node from the MDS: the size and mtime of
    /// buffered writes, and the link the hidden name holds.
    pub fn apply(&self, node: &mut Node) {
        let st = self.lock();
        if !st.dirty.is_empty() || st.owed {
            node.size = st.size;
            node.mtime_ns = st.mtime_ns;
        }
        let f = st.folded;
        if !f.is_empty() {
            node.mode = f.mode.map_or(node.mode, |m| m & 0o7777);
            node.uid = f.uid.unwrap_or(node.uid);
            node.gid = f.gid.unwrap_or(node.gid);
            node.atime_ns = f.atime_ns.unwrap_or(node.atime_ns);
            node.ctime_ns = node.ctime_ns.max(st.folded_ns);
        }
        if st.unlinked.is_some() {
            node.nlink = node.nlink.saturating_sub(1);
        }
    }

    /// The node as this mount sees it.
    pub fn node(&self) -> Node {
        let mut node = (*self.lock().node).clone();
        self.apply(&mut node);
        node
    }

    /// The change time of the committed node this mount holds.
    pub fn committed_ctime(&self) -> i64 {
        self.lock().node.ctime_ns
    }

    pub fn size(&self) -> u64 {
        self.lock().size
    }

    pub fn is_dirty(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    pub fn unlinked(&self) -> Option<(u64, Vec<u8>)> {
        self.lock().unlinked.clone()
    }

    pub fn set_unlinked(&self, parent: u64, name: Vec<u8>) {
        self.lock().unlinked = Some((parent, name));
    }

    /// The hidden name is gone (the last close removed it).
    pub fn clear_unlinked(&self) {
        self.lock().unlinked = None;
    }

    /// What a read of `[offset, offset + len)` needs.
    pub fn view(&self, offset: u64, len: u64) -> ReadView {
        let st = self.lock();
        ReadView {
            node: st.node.clone(),
            size: st.size,
            overlay: st.dirty.segments_in(offset, len),
            version: st.version,
        }
    }

    /// Buffers a write of `data` at `offset` (at the end of the file when
    /// `offset` is None: O_APPEND). Returns where it went.
    pub async fn write(
        self: &Arc<Self>,
        backend: &Arc<B>,
        offset: Option<u64>,
        data: Bytes,
    ) -> Result<u64> {
        let len = data.len() as u64;
        let (at, unsent) = loop {
            if !backend.holds_write_lease(self.ino) {
                self.take_lease(backend).await?;
            }
            let mut st = self.lock();
            // Bytes are buffered only under the lease (see `give_back`).
            if !backend.holds_write_lease(self.ino) {
                continue;
            }
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            let at = offset.unwrap_or(st.size);
            if at.checked_add(len).is_none_or(|end| end > MAX_FILE_SIZE) {
                return Err(Error::FileTooBig(format!(
                    "a write of {len} bytes at {at} ends past the largest file size"
                )));
            }
            if len == 0 {
                return Ok(at);
            }
            st.gen += 1;
            let gen = st.gen;
            st.md5.write(at, &data);
            st.dirty.insert(at, data, gen);
            st.size = st.size.max(at + len);
            st.mtime_ns = cairn_common::time::now_ns();
            st.unsent += len;
            break (at, st.unsent);
        };
        if unsent >= self.limits.batch_bytes {
            self.schedule_batch(backend);
        }
        if unsent >= self.limits.max_unsent {
            self.wait_for_room(backend).await?;
        }
        Ok(at)
    }

    /// Waits until the batches have taken the buffer below `MAX_UNSENT`.
    async fn wait_for_room(self: &Arc<Self>, backend: &Arc<B>) -> Result<()> {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if let Some(e) = st.error.take() {
                    return Err(e);
                }
                if st.unsent < self.limits.max_unsent {
                    return Ok(());
                }
            }
            self.schedule_batch(backend);
            notified.await;
        }
    }

    /// Starts a batch in the background unless one is already waiting.
    fn schedule_batch(self: &Arc<Self>, backend: &Arc<B>) {
        if self.flush_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        let backend = Arc::clone(backend);
        tokio::spawn(async move {
            let mut writer = me.writer.lock().await;
            me.flush_scheduled.store(false, Ordering::Release);
            if let Err(e) = me.batch(&backend, &mut writer, Reach::Sent).await {
                tracing::warn!(ino = me.ino, error = %e, "background write failed; reported at the next write, flush or fsync");
                me.lock().error = Some(e);
            }
            me.progress.notify_waiters();
        });
    }

    /// Sends everything buffered and commits it (see [`Reach`]); synced,
    /// every chunk written so far is on stable storage on each replica
    /// before the commit. The caller holds the writer lock.
    async fn batch(&self, backend: &B, writer: &mut Option<B::Writer>, reach: Reach) -> Result<()> {
        let sync = reach != Reach::Sent;
        let cut = {
            let mut st = self.lock();
            if st.dirty.is_empty() && !(st.owed && reach != Reach::Data) {
                None
            } else {
                st.unsent = 0;
                Some(Cut {
                    segments: st.dirty.segments(),
                    window: st.window.clone(),
                    gen: st.gen,
                    node: st.node.clone(),
                    size: st.size,
                    etag: st.md5.etag(st.size),
                    mtime_ns: st.mtime_ns,
                    attrs: st.folded,
                })
            }
        };
        let node = match &cut {
            Some(cut) => cut.node.clone(),
            None => self.lock().node.clone(),
        };
        let w = writer.get_or_insert_with(|| backend.writer(&node));
        if std::mem::take(&mut self.lock().relayout) {
            w.retain_chunks(&node.extents);
        }
        let Some(cut) = cut else {
            if sync {
                timed(self.limits.timeout, "fsync", w.sync()).await?;
            }
            return Ok(());
        };
        let bytes: u64 = cut.segments.iter().map(|(_, d)| d.len() as u64).sum();
        let may_skip_commit =
            reach == Reach::Data && bytes > 0 && cut.attrs.is_empty() && commit_only_mtime(&cut);
        let result = async {
            let written = if cut.segments.is_empty() {
                WrittenData::default()
            } else {
                timed(
                    self.limits.timeout,
                    "write to the chunk servers",
                    w.write(&cut.node.extents, cut.segments, sync),
                )
                .await?
            };
            if sync {
                timed(self.limits.timeout, "fsync", w.sync()).await?;
            }
            if may_skip_commit && written.extents.is_empty() {
                let chunks: Vec<u64> = written.chunk_lengths.iter().map(|(id, _)| *id).collect();
                let told = timed(
                    self.limits.timeout,
                    "tell of the write",
                    backend.wrote_in_place(self.ino, &chunks),
                )
                .await;
                match told {
                    Ok(()) => return Ok(None),
                    // The MDS has an ETag for the file by now: commit.
                    Err(Error::Cluster(ClusterError::PreconditionFailed(_))) => {}
                    Err(e) => return Err(e),
                }
            }
            let etag = cut.etag.get().await.unwrap_or_default();
            let commit = Commit {
                size: cut.size,
                etag: &etag,
                mtime_ns: cut.mtime_ns,
                replace_layout: false,
                continues_version: &cut.window,
                attrs: cut.attrs,
            };
            timed(
                self.limits.timeout,
                "commit",
                backend.commit_write(self.ino, &written, &commit),
            )
            .await
            .map(Some)
        }
        .await;
        let node = match result {
            Ok(Some(node)) => node,
            Ok(None) => {
                tracing::debug!(ino = self.ino, bytes, "batch synced in place, mtime owed");
                let mut st = self.lock();
                st.dirty.remove_upto(cut.gen);
                st.owed = true;
                st.version += 1;
                drop(st);
                self.progress.notify_waiters();
                return Ok(());
            }
            Err(e) => {
                // Keep the bytes buffered for the next batch.
                let mut st = self.lock();
                st.unsent += bytes;
                return Err(e);
            }
        };
        let mut st = self.lock();
        st.owed = false;
        // Folded only under the writer lock, which this batch holds.
        st.folded = FoldedAttrs::default();
        st.commits += 1;
        st.window.clone_from(&node.version_id);
        st.window_written = true;
        st.dirty.remove_upto(cut.gen);
        if st.dirty.is_empty() {
            st.size = node.size;
        }
        st.node = Arc::new(node);
        st.version += 1;
        drop(st);
        self.progress.notify_waiters();
        Ok(())
    }

    /// Takes the file's write lease, which the mount holds while it
    /// buffers writes of the file. Taken afresh (another mount may have
    /// written the file meanwhile), the file's node is read again, so that
    /// no byte goes in place into a chunk the other writer's commits
    /// dropped.
    async fn take_lease(&self, backend: &B) -> Result<()> {
        let fresh = timed(
            self.limits.timeout + cairn_client::LEASE_WAIT,
            "take the write lease",
            backend.write_lease(self.ino),
        )
        .await?;
        if !fresh {
            return Ok(());
        }
        let node = timed(self.limits.timeout, "getattr", backend.getattr(self.ino)).await?;
        self.moved_on(node);
        self.lock().relayout = true;
        Ok(())
    }

    /// Takes a fresh node from the MDS (at open, or when another mount
    /// changed the file). Buffered writes stay on top of it; with some
    /// buffered, the content is no longer a sequence this mount wrote (the
    /// ETag goes stale at the next commit).
    pub fn moved_on(&self, node: Node) {
        let mut st = self.lock();
        // The MDS sets ctime at every change: an older node is a late answer.
        if *st.node == node || node.ctime_ns < st.node.ctime_ns {
            return;
        }
        if st.dirty.is_empty() {
            st.size = node.size;
            st.mtime_ns = node.mtime_ns;
            st.md5 = SeqMd5::for_size(node.size);
        } else {
            st.size = node.size.max(st.dirty.end());
            st.md5 = SeqMd5::Unknown;
        }
        st.node = Arc::new(node);
        st.version += 1;
    }

    /// Another mount waits for this file's write lease: what is buffered
    /// goes out and is committed first, then the lease goes back. A write
    /// that comes meanwhile is sent too: the lease is dropped only with
    /// the buffer empty, under the state lock that writes buffer under.
    pub async fn give_back(&self, backend: &B) {
        let mut writer = self.writer.lock().await;
        loop {
            if let Err(e) = self.batch(backend, &mut writer, Reach::Sent).await {
                // The bytes stay buffered, and so does the lease: the
                // other mount waits for the next batch or close.
                tracing::warn!(ino = self.ino, error = %e, "buffered writes not sent; the write lease stays until they are");
                self.lock().error = Some(e);
                return;
            }
            let st = self.lock();
            if st.dirty.is_empty() && !st.owed {
                backend.drop_write_lease(self.ino);
                break;
            }
        }
        drop(writer);
        backend.send_released().await;
    }

    /// close(): sends what is buffered and commits it, without forcing it
    /// to stable storage. Reports a failure of an earlier background batch
    /// only if its bytes still could not be sent.
    pub async fn flush(&self, backend: &B) -> Result<()> {
        self.flush_inner(backend, Reach::Sent).await
    }

    /// fsync() (`Reach::All`) or fdatasync() (`Reach::Data`): everything
    /// written is on stable storage on every replica when this returns Ok.
    /// Returns the count of commits to pass to [`OpenFile::made_durable`]
    /// after a metadata barrier, None when every commit is durable already.
    pub async fn fsync(&self, backend: &B, reach: Reach) -> Result<Option<u64>> {
        self.flush_inner(backend, reach).await?;
        let st = self.lock();
        Ok((st.commits != st.durable_commits).then_some(st.commits))
    }

    /// A metadata barrier made the first `commits` commits durable.
    pub fn made_durable(&self, commits: u64) {
        let mut st = self.lock();
        st.durable_commits = st.durable_commits.max(commits);
    }

    async fn flush_inner(&self, backend: &B, reach: Reach) -> Result<()> {
        let mut writer = self.writer.lock().await;
        let result = self.batch(backend, &mut writer, reach).await;
        // An earlier background failure left its bytes buffered and this
        // batch sent them again: only this batch's outcome tells.
        let mut st = self.lock();
        st.error = None;
        if result.is_ok() && st.window_written {
            // What was written is a version now; the next write starts one.
            st.window.clear();
            st.window_written = false;
        }
        result
    }

    /// Changes attributes of the open file: buffered writes are committed
    /// first, so that times and sizes set afterwards (utimens after the
    /// last write, a truncate) are the ones that stay.
    pub async fn setattr(&self, backend: &B, attr: SetAttr) -> Result<Node> {
        let mut writer = self.writer.lock().await;
        if let Some(node) = self.fold(backend, &attr) {
            return Ok(node);
        }
        self.batch(backend, &mut writer, Reach::Sent).await?;
        let size = attr.size;
        let node = timed(
            self.limits.timeout,
            "setattr",
            backend.setattr(self.ino, attr),
        )
        .await?;
        if size.is_some() {
            if let Some(w) = writer.as_mut() {
                w.retain_chunks(&node.extents);
            }
        }
        let mut st = self.lock();
        if let Some(size) = size {
            st.dirty.truncate(size);
            st.md5.truncate(size);
        }
        st.size = node.size.max(st.dirty.end());
        if st.dirty.is_empty() {
            st.mtime_ns = node.mtime_ns;
        }
        st.node = Arc::new(node.clone());
        st.window.clone_from(&node.version_id);
        st.window_written = false;
        st.version += 1;
        st.commits += 1;
        drop(st);
        let mut out = node;
        self.apply(&mut out);
        Ok(out)
    }

    /// A chmod, chown or utimens while this mount writes the file (bytes
    /// buffered or an mtime owed, so under the write lease): kept for the
    /// commit that comes anyway. None: not that case, ask the MDS. The
    /// caller holds the writer lock, so no batch is between its cut and
    /// its commit.
    fn fold(&self, backend: &B, attr: &SetAttr) -> Option<Node> {
        let only_foldable = attr.size.is_none()
            && attr.replicas.is_none()
            && attr.min_replicas.is_none()
            && attr.tier.is_none()
            && attr.set_xattrs.is_empty()
            && attr.remove_xattrs.is_empty();
        if !only_foldable || !backend.holds_write_lease(self.ino) {
            return None;
        }
        let mut st = self.lock();
        if st.dirty.is_empty() && !st.owed {
            return None;
        }
        let f = &mut st.folded;
        f.mode = attr.mode.or(f.mode);
        f.uid = attr.uid.or(f.uid);
        f.gid = attr.gid.or(f.gid);
        f.atime_ns = attr.atime_ns.or(f.atime_ns);
        if let Some(mtime) = attr.mtime_ns {
            st.mtime_ns = mtime;
        }
        st.owed = true;
        st.folded_ns = cairn_common::time::now_ns();
        drop(st);
        Some(self.node())
    }

    /// Punches a hole: the hole is cut into the layout the buffered writes
    /// made (see [`OpenFile::relayout`]).
    pub async fn punch(&self, backend: &B, offset: u64, len: u64) -> Result<Node> {
        self.relayout(
            backend,
            "punch hole",
            backend.punch_hole(self.ino, offset, len),
        )
        .await
    }

    /// Bytes `[src_offset, src_offset + len)` of file `src` become this
    /// file's from `offset`, sharing the source's chunks
    /// (`copy_file_range`; see [`OpenFile::relayout`]).
    pub async fn clone_range_from(
        &self,
        backend: &B,
        src: u64,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> Result<Node> {
        let call = backend.clone_range(src, src_offset, self.ino, offset, len);
        self.relayout(backend, "copy_file_range", call).await
    }

    /// A change of layout made by the MDS (`call`): buffered writes are
    /// committed first, so that none lands on the range later with older
    /// bytes; chunks the change dropped are forgotten by the writer. The
    /// content is no longer a known sequence: the ETag goes stale.
    async fn relayout(
        &self,
        backend: &B,
        what: &str,
        call: impl std::future::Future<Output = std::result::Result<Node, ClusterError>>,
    ) -> Result<Node> {
        let mut writer = self.writer.lock().await;
        self.batch(backend, &mut writer, Reach::Sent).await?;
        let node = timed(self.limits.timeout, what, call).await?;
        if let Some(w) = writer.as_mut() {
            w.retain_chunks(&node.extents);
        }
        let mut st = self.lock();
        st.md5 = SeqMd5::Unknown;
        st.size = node.size.max(st.dirty.end());
        st.node = Arc::new(node.clone());
        st.version += 1;
        st.commits += 1;
        Ok(node)
    }

    /// The committed layout with everything buffered sent first: what
    /// lseek's SEEK_DATA and SEEK_HOLE read.
    pub async fn settled(&self, backend: &B) -> Result<(Arc<Node>, u64)> {
        let mut writer = self.writer.lock().await;
        self.batch(backend, &mut writer, Reach::Sent).await?;
        let st = self.lock();
        Ok((st.node.clone(), st.size))
    }
}

/// Whether the commit of `cut`, if its bytes all go in place (no new
/// extent), would carry only the mtime: the size as committed, the
/// committed ETag stale already, no version window (a versioned bucket's
/// writes never go in place). fdatasync need not make the mtime durable.
fn commit_only_mtime(cut: &Cut) -> bool {
    cut.size == cut.node.size && cut.node.etag.is_empty() && cut.window.is_empty()
}
