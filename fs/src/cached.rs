//! A [`Backend`] that reads through the local-disk [`ReadCache`]: every
//! other call goes straight to the wrapped backend. Reads are cut into
//! the cache's blocks of each chunk; a block wholly below the chunk's
//! length is looked up (keyed by chunk id, version and the file's ctime)
//! and, on a miss,
//! read whole from the cluster and stored; the ragged end of a chunk is
//! read directly. Commits drop the blocks of every chunk the write touched.

use std::{collections::HashMap, sync::Arc};

use bytes::Bytes;
use cairn_client::{
    ByteLock, ChunkLocation, Commit, Extent, FileEvent, LockRange, NamedInode, Node, NodeKind,
    ObjectVersion, SetAttr, WrittenData,
};
use cairn_common::ClusterError;
use futures::future::try_join_all;

use crate::{
    backend::{Backend, Capacity, DirPage, NewNode},
    readcache::{BlockKey, ReadCache, CACHE_BLOCK},
};

pub struct Cached<B: Backend> {
    inner: B,
    cache: Arc<ReadCache>,
}

impl<B: Backend> Cached<B> {
    pub fn new(inner: B, cache: Arc<ReadCache>) -> Cached<B> {
        Cached { inner, cache }
    }

    pub fn cache(&self) -> &Arc<ReadCache> {
        &self.cache
    }

    /// Chunk bytes `[offset, offset + len)` from the cluster (zeros past
    /// what the chunk holds).
    async fn chunk_bytes(
        &self,
        chunk_id: u64,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ClusterError> {
        let node = chunk_view(chunk_id, offset, len);
        let pieces = self.inner.read(&node, 0, len).await?;
        let mut out = Vec::with_capacity(len as usize);
        for p in pieces {
            out.extend_from_slice(&p);
        }
        out.resize(len as usize, 0);
        Ok(Bytes::from(out))
    }

    /// One block of a chunk read through a file changed at `stamp`, from
    /// the cache or the cluster.
    async fn block(
        &self,
        loc: &ChunkLocation,
        stamp: i64,
        block: u64,
    ) -> Result<Bytes, ClusterError> {
        let key = BlockKey {
            chunk_id: loc.chunk_id,
            version: loc.version,
            stamp,
            block,
        };
        if let Some(data) = self.cache.get(key).await {
            return Ok(data);
        }
        let epoch = self.cache.epoch(loc.chunk_id);
        let data = self
            .chunk_bytes(loc.chunk_id, block * CACHE_BLOCK, CACHE_BLOCK)
            .await?;
        self.cache.put(key, data.clone(), epoch).await;
        Ok(data)
    }
}

/// A node whose only extent is chunk bytes `[offset, offset + len)`.
fn chunk_view(chunk_id: u64, offset: u64, len: u64) -> Node {
    Node {
        ino: 0,
        kind: NodeKind::File,
        mode: 0,
        uid: 0,
        gid: 0,
        size: len,
        atime_ns: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        nlink: 1,
        etag: String::new(),
        content_type: String::new(),
        user_meta: Default::default(),
        headers: Default::default(),
        replicas: 0,
        min_replicas: 0,
        tier: 0,
        extents: vec![Extent {
            file_offset: 0,
            chunk_id,
            chunk_offset: offset,
            length: len,
        }],
        symlink_target: Vec::new(),
        xattrs: Default::default(),
        version_id: String::new(),
        protection: Default::default(),
        rdev: 0,
    }
}

/// One piece of a read: file bytes at `dst` (relative to the read) are
/// chunk bytes `[from, to)`.
struct Piece {
    dst: usize,
    chunk_id: u64,
    from: u64,
    to: u64,
}

impl<B: Backend> Backend for Cached<B> {
    type Writer = B::Writer;

    async fn read(&self, node: &Node, offset: u64, len: u64) -> Result<Vec<Bytes>, ClusterError> {
        let end = node.size.min(offset.saturating_add(len));
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut pieces = Vec::new();
        for e in &node.extents {
            let a = e.file_offset.max(offset);
            let b = e.end().min(end);
            if a >= b {
                continue;
            }
            let ca = e.chunk_offset + (a - e.file_offset);
            let cb = ca + (b - a);
            // Cut at block boundaries of the chunk.
            let mut pos = ca;
            while pos < cb {
                let stop = ((pos / CACHE_BLOCK) + 1)
                    .saturating_mul(CACHE_BLOCK)
                    .min(cb);
                pieces.push(Piece {
                    dst: (a + (pos - ca) - offset) as usize,
                    chunk_id: e.chunk_id,
                    from: pos,
                    to: stop,
                });
                pos = stop;
            }
        }
        let mut ids: Vec<u64> = pieces.iter().map(|p| p.chunk_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let locs: HashMap<u64, ChunkLocation> = self
            .inner
            .locations(&ids)
            .await?
            .into_iter()
            .map(|l| (l.chunk_id, l))
            .collect();
        let fetches = pieces.iter().map(|p| {
            let loc = locs.get(&p.chunk_id);
            async move {
                let Some(loc) = loc else {
                    return Err(ClusterError::Io(format!(
                        "no location for chunk {}",
                        p.chunk_id
                    )));
                };
                let block = p.from / CACHE_BLOCK;
                let block_end = (block + 1) * CACHE_BLOCK;
                if block_end <= loc.length {
                    let data = self.block(loc, node.ctime_ns, block).await?;
                    let at = (p.from - block * CACHE_BLOCK) as usize;
                    let n = (p.to - p.from) as usize;
                    data.get(at..at + n)
                        .map(Bytes::copy_from_slice)
                        .ok_or_else(|| {
                            ClusterError::Io(format!(
                                "cached block of chunk {} is short",
                                p.chunk_id
                            ))
                        })
                } else {
                    self.chunk_bytes(p.chunk_id, p.from, p.to - p.from).await
                }
            }
        });
        let parts = try_join_all(fetches).await?;
        let mut buf = vec![0u8; (end - offset) as usize];
        for (p, data) in pieces.iter().zip(parts) {
            buf[p.dst..p.dst + data.len()].copy_from_slice(&data);
        }
        Ok(vec![Bytes::from(buf)])
    }

    async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        let node = self.inner.commit_write(ino, written, commit).await;
        // Whatever the outcome, the chunks may hold new bytes now.
        for (chunk_id, _) in &written.chunk_lengths {
            self.cache.invalidate_chunk(*chunk_id).await;
        }
        node
    }

    async fn wrote_in_place(&self, ino: u64, chunk_ids: &[u64]) -> Result<(), ClusterError> {
        for chunk_id in chunk_ids {
            self.cache.invalidate_chunk(*chunk_id).await;
        }
        self.inner.wrote_in_place(ino, chunk_ids).await
    }

    async fn changed_elsewhere(&self, ino: u64) {
        // Bytes written in place with no commit keep the file's ctime,
        // which the blocks are keyed by.
        match self.inner.getattr(ino).await {
            Ok(node) => {
                for extent in &node.extents {
                    self.cache.invalidate_chunk(extent.chunk_id).await;
                }
            }
            // Gone, or the cluster out of reach: its next read asks again.
            Err(e) => {
                tracing::debug!(ino, error = %e, "a file changed elsewhere was not read again")
            }
        }
        self.inner.changed_elsewhere(ino).await;
    }

    async fn sync_metadata(&self) -> Result<(), ClusterError> {
        self.inner.sync_metadata().await
    }

    // What the read cache has no part in goes to the cluster as it is: the
    // trait's defaults are for backends that no other mount shares.

    /// The destination's new ctime keys its blocks anew: nothing to drop
    /// (the source's chunks keep their bytes).
    async fn clone_range(
        &self,
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        length: u64,
    ) -> Result<Node, ClusterError> {
        self.inner
            .clone_range(src, src_offset, dst, dst_offset, length)
            .await
    }

    async fn test_lock(
        &self,
        ino: u64,
        owner: u64,
        range: LockRange,
    ) -> Result<Option<ByteLock>, ClusterError> {
        self.inner.test_lock(ino, owner, range).await
    }

    async fn set_lock(
        &self,
        ino: u64,
        owner: u64,
        range: LockRange,
        wait: bool,
        gave_up: Box<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<(), ClusterError> {
        self.inner.set_lock(ino, owner, range, wait, gave_up).await
    }

    async fn drop_locks(&self, ino: u64, owner: u64) -> Result<(), ClusterError> {
        self.inner.drop_locks(ino, owner).await
    }

    async fn fill_etag(&self, ino: u64) -> Result<(), ClusterError> {
        self.inner.fill_etag(ino).await
    }

    async fn end_lock_session(&self) -> Result<(), ClusterError> {
        self.inner.end_lock_session().await
    }

    async fn write_lease(&self, ino: u64) -> Result<bool, ClusterError> {
        self.inner.write_lease(ino).await
    }

    fn holds_write_lease(&self, ino: u64) -> bool {
        self.inner.holds_write_lease(ino)
    }

    fn drop_write_lease(&self, ino: u64) {
        self.inner.drop_write_lease(ino);
    }

    async fn send_released(&self) {
        self.inner.send_released().await;
    }

    fn watch_files(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<FileEvent>> {
        self.inner.watch_files()
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), ClusterError> {
        self.inner
            .list_versions(bucket, prefix, key_marker, version_id_marker, limit)
            .await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> Result<ObjectVersion, ClusterError> {
        self.inner.get_version(bucket, key, version_id).await
    }

    async fn punch_hole(&self, ino: u64, offset: u64, len: u64) -> Result<Node, ClusterError> {
        // Chunks keep their bytes: cached blocks stay true.
        self.inner.punch_hole(ino, offset, len).await
    }

    async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, ClusterError> {
        self.inner.lookup(parent, name).await
    }
    async fn getattr(&self, ino: u64) -> Result<Node, ClusterError> {
        self.inner.getattr(ino).await
    }
    async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, ClusterError> {
        self.inner.setattr(ino, attr).await
    }
    async fn create(&self, new: NewNode<'_>) -> Result<Node, ClusterError> {
        self.inner.create(new).await
    }
    async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        self.inner.unlink(parent, name).await
    }

    async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), ClusterError>>, ClusterError> {
        self.inner.unlink_many(unlinks).await
    }
    async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        self.inner.rmdir(parent, name).await
    }
    async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), ClusterError> {
        self.inner
            .rename(parent, name, new_parent, new_name, no_replace)
            .await
    }
    async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, ClusterError> {
        self.inner.link(ino, new_parent, new_name).await
    }
    async fn readlink(&self, ino: u64) -> Result<Vec<u8>, ClusterError> {
        self.inner.readlink(ino).await
    }
    async fn readdir(&self, ino: u64, after: &[u8], limit: u32) -> Result<DirPage, ClusterError> {
        self.inner.readdir(ino, after, limit).await
    }
    async fn create_bucket(&self, name: &str, owner: &str) -> Result<(), ClusterError> {
        self.inner.create_bucket(name, owner).await
    }
    async fn delete_bucket(&self, name: &str) -> Result<(), ClusterError> {
        self.inner.delete_bucket(name).await
    }
    async fn capacity(&self) -> Result<Capacity, ClusterError> {
        self.inner.capacity().await
    }
    async fn locations(&self, ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.inner.locations(ids).await
    }
    fn writer(&self, node: &Node) -> B::Writer {
        self.inner.writer(node)
    }
}
