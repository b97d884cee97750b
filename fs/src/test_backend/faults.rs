//! [`Faulty`]: a backend wrapper that counts the calls the mount makes
//! and injects the failures the tests need (failed chunk writes, a dead
//! or hung MDS). It knows nothing of the namespace: what a call does is
//! the wrapped backend's.

use std::{
    future::Future,
    ops::Deref,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc,
    },
};

use bytes::Bytes;
use cairn_client::{
    ChunkLocation, Commit, Extent, NamedInode, Node, ObjectVersion, SetAttr, WrittenData,
};
use cairn_common::ClusterError;

use crate::backend::{Backend, Capacity, DataWriter, DirPage, NewNode};

/// Switches the next calls meet, and the calls seen so far.
#[derive(Default)]
pub struct Faults {
    /// Chunk writes that fail before this many succeed again.
    pub fail_writes: AtomicU32,
    /// Every call fails as if the MDS were gone.
    pub down: AtomicBool,
    /// Every call waits forever (a hung MDS).
    pub hang: AtomicBool,
    /// Chunk writes and syncs seen.
    pub writes: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_writes: AtomicU64,
    /// Metadata reads seen (what the entry cache saves).
    pub lookups: AtomicU64,
    pub getattrs: AtomicU64,
    pub readdirs: AtomicU64,
    /// Unlink calls seen: one by one, and batches.
    pub unlinks: AtomicU64,
    pub unlink_batches: AtomicU64,
    /// Commits of written data, and metadata barriers (fsync) asked for.
    pub commits: AtomicU64,
    pub metadata_syncs: AtomicU64,
    /// Bytes synced in place the MDS was told of, with no commit.
    pub in_place_notes: AtomicU64,
    /// Attribute changes asked of the MDS on their own.
    pub setattrs: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

impl Faults {
    /// Waits forever while hung; fails while down.
    async fn gate(&self) -> Result<(), ClusterError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(ClusterError::Unavailable("MDS down (injected)".into()));
        }
        Ok(())
    }

    /// Passes the gate, then runs `call`.
    async fn through<T>(
        &self,
        call: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        self.gate().await?;
        call.await
    }

    /// [`Faults::through`], counting the call once it passed the gate.
    async fn counted<T>(
        &self,
        seen: &AtomicU64,
        call: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        self.gate().await?;
        count(seen);
        call.await
    }
}

/// `B` with [`Faults`] in front of every call. Clones share the backend
/// and the faults; `Deref` reaches the backend's own test helpers.
#[derive(Clone)]
pub struct Faulty<B> {
    inner: B,
    pub faults: Arc<Faults>,
}

impl<B> Faulty<B> {
    pub fn new(inner: B) -> Faulty<B> {
        Faulty {
            inner,
            faults: Arc::new(Faults::default()),
        }
    }

    pub fn commits(&self) -> u64 {
        self.faults.commits.load(Ordering::SeqCst)
    }

    pub fn metadata_syncs(&self) -> u64 {
        self.faults.metadata_syncs.load(Ordering::SeqCst)
    }
}

impl<B> Deref for Faulty<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.inner
    }
}

/// A writer of the wrapped backend behind the same faults.
pub struct FaultyWriter<W> {
    inner: W,
    faults: Arc<Faults>,
}

impl<W: DataWriter> DataWriter for FaultyWriter<W> {
    async fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        sync: bool,
    ) -> Result<WrittenData, ClusterError> {
        let f = &self.faults;
        f.gate().await?;
        count(&f.writes);
        if sync {
            count(&f.sync_writes);
        }
        if f.fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ClusterError::Io("chunk write failed (injected)".into()));
        }
        self.inner.write(layout, segments, sync).await
    }

    async fn sync(&mut self) -> Result<(), ClusterError> {
        self.faults.gate().await?;
        count(&self.faults.syncs);
        self.inner.sync().await
    }

    fn retain_chunks(&mut self, layout: &[Extent]) {
        self.inner.retain_chunks(layout)
    }
}

impl<B: Backend> Backend for Faulty<B> {
    type Writer = FaultyWriter<B::Writer>;

    async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, ClusterError> {
        self.faults
            .counted(&self.faults.lookups, self.inner.lookup(parent, name))
            .await
    }

    async fn getattr(&self, ino: u64) -> Result<Node, ClusterError> {
        self.faults
            .counted(&self.faults.getattrs, self.inner.getattr(ino))
            .await
    }

    async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, ClusterError> {
        count(&self.faults.setattrs);
        self.faults.through(self.inner.setattr(ino, attr)).await
    }

    async fn create(&self, new: NewNode<'_>) -> Result<Node, ClusterError> {
        self.faults.through(self.inner.create(new)).await
    }

    async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        self.faults
            .counted(&self.faults.unlinks, self.inner.unlink(parent, name))
            .await
    }

    async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), ClusterError>>, ClusterError> {
        self.faults
            .counted(&self.faults.unlink_batches, self.inner.unlink_many(unlinks))
            .await
    }

    async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        self.faults.through(self.inner.rmdir(parent, name)).await
    }

    async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), ClusterError> {
        let call = self
            .inner
            .rename(parent, name, new_parent, new_name, no_replace);
        self.faults.through(call).await
    }

    async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, ClusterError> {
        let call = self.inner.link(ino, new_parent, new_name);
        self.faults.through(call).await
    }

    async fn readlink(&self, ino: u64) -> Result<Vec<u8>, ClusterError> {
        self.faults.through(self.inner.readlink(ino)).await
    }

    async fn readdir(&self, ino: u64, after: &[u8], limit: u32) -> Result<DirPage, ClusterError> {
        self.faults
            .counted(&self.faults.readdirs, self.inner.readdir(ino, after, limit))
            .await
    }

    async fn create_bucket(&self, name: &str, owner: &str) -> Result<(), ClusterError> {
        self.faults
            .through(self.inner.create_bucket(name, owner))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), ClusterError> {
        self.faults.through(self.inner.delete_bucket(name)).await
    }

    async fn capacity(&self) -> Result<Capacity, ClusterError> {
        self.faults.through(self.inner.capacity()).await
    }

    async fn read(&self, node: &Node, offset: u64, len: u64) -> Result<Vec<Bytes>, ClusterError> {
        self.faults
            .through(self.inner.read(node, offset, len))
            .await
    }

    async fn locations(&self, ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.faults.through(self.inner.locations(ids)).await
    }

    fn writer(&self, node: &Node) -> Self::Writer {
        FaultyWriter {
            inner: self.inner.writer(node),
            faults: self.faults.clone(),
        }
    }

    async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        self.faults.gate().await?;
        count(&self.faults.commits);
        self.inner.commit_write(ino, written, commit).await
    }

    async fn wrote_in_place(&self, ino: u64, chunk_ids: &[u64]) -> Result<(), ClusterError> {
        self.faults.gate().await?;
        count(&self.faults.in_place_notes);
        self.inner.wrote_in_place(ino, chunk_ids).await
    }

    async fn sync_metadata(&self) -> Result<(), ClusterError> {
        self.faults.gate().await?;
        count(&self.faults.metadata_syncs);
        self.inner.sync_metadata().await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), ClusterError> {
        let call = self
            .inner
            .list_versions(bucket, prefix, key_marker, version_id_marker, limit);
        self.faults.through(call).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> Result<ObjectVersion, ClusterError> {
        let call = self.inner.get_version(bucket, key, version_id);
        self.faults.through(call).await
    }

    async fn punch_hole(&self, ino: u64, offset: u64, len: u64) -> Result<Node, ClusterError> {
        self.faults
            .through(self.inner.punch_hole(ino, offset, len))
            .await
    }
}
