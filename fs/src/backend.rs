//! What the filesystem needs from the cluster, as a trait: the real
//! [`cairn_client::Client`] implements it, and the tests drive the same
//! filesystem logic over the MDS's metadata core in memory
//! (`crate::test_backend`), without a kernel mount and without a cluster.
//!
//! Contract of every method: errors carry their errno ([`ClusterError`]); a
//! method does what the same-named MDS call does (see `proto/cairn.proto`).

use std::future::Future;

use bytes::Bytes;
use cairn_client::{
    ByteLock, ChunkLocation, Client, Commit, Extent, FileEvent, FileWriter, LockRange, NamedInode,
    Node, NodeKind, ObjectVersion, SetAttr, WrittenData,
};
use cairn_common::ClusterError;
use futures::StreamExt;

/// One page of a directory: entries after a name, and whether more follow.
pub type DirPage = (Vec<(Vec<u8>, Node)>, bool);

/// A new namespace entry.
#[derive(Debug, Clone)]
pub struct NewNode<'a> {
    pub parent: u64,
    pub name: &'a [u8],
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub target: &'a [u8],
    /// Fail with EEXIST if the name exists (else return what is there).
    pub exclusive: bool,
    /// Device number of a device node (`kind` CharDev or BlockDev).
    pub rdev: u64,
}

/// The cluster's space as `statfs` reports it, in bytes and inodes:
/// what can still be written, after replication (`cairn_client::Space`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    pub total: u64,
    pub free: u64,
    pub inodes: u64,
    /// New inodes that still fit.
    pub free_inodes: u64,
}

/// Writes of one open file into its chunks (see [`FileWriter`]).
pub trait DataWriter: Send + 'static {
    /// Writes `segments` against the committed `layout`; returns the
    /// extents to commit. With `sync`, durable on every live replica.
    fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        sync: bool,
    ) -> impl Future<Output = Result<WrittenData, ClusterError>> + Send;

    /// Forces everything written so far to stable storage on every live
    /// replica.
    fn sync(&mut self) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Forgets chunks that `layout` no longer holds (freed by the MDS when
    /// a truncate cut their last extent).
    fn retain_chunks(&mut self, layout: &[Extent]);
}

pub trait Backend: Send + Sync + 'static {
    type Writer: DataWriter;

    fn lookup(
        &self,
        parent: u64,
        name: &[u8],
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    fn getattr(&self, ino: u64) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    fn setattr(
        &self,
        ino: u64,
        attr: SetAttr,
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    fn create(&self, new: NewNode<'_>) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    fn unlink(
        &self,
        parent: u64,
        name: &[u8],
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Conditional unlinks (each only while its name names its inode),
    /// made together; one outcome each, in order.
    fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> impl Future<Output = Result<Vec<Result<(), ClusterError>>, ClusterError>> + Send;
    fn rmdir(
        &self,
        parent: u64,
        name: &[u8],
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    fn link(
        &self,
        ino: u64,
        new_parent: u64,
        new_name: &[u8],
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    fn readlink(&self, ino: u64) -> impl Future<Output = Result<Vec<u8>, ClusterError>> + Send;
    /// One page of entries after `after`; `true` when more follow.
    fn readdir(
        &self,
        ino: u64,
        after: &[u8],
        limit: u32,
    ) -> impl Future<Output = Result<DirPage, ClusterError>> + Send;
    fn create_bucket(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    fn delete_bucket(&self, name: &str) -> impl Future<Output = Result<(), ClusterError>> + Send;
    fn capacity(&self) -> impl Future<Output = Result<Capacity, ClusterError>> + Send;

    /// Bytes `[offset, offset + len)` of `node` (clamped to its size),
    /// verified, as the pieces they arrived in.
    fn read(
        &self,
        node: &Node,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<Bytes>, ClusterError>> + Send;
    /// Version, length and replicas of chunks (cached by the client).
    fn locations(
        &self,
        ids: &[u64],
    ) -> impl Future<Output = Result<Vec<ChunkLocation>, ClusterError>> + Send;
    /// A writer of the file `node` (its inode, replicas and tier).
    fn writer(&self, node: &Node) -> Self::Writer;
    /// Applies a write: the new extents replace what covered their bytes,
    /// the size, ETag (empty: stale) and mtime become the commit's; in a
    /// versioned bucket a new version is made unless the commit continues
    /// the current one (see [`Commit`]).
    fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send;
    /// Bytes of file `ino` in chunks `chunk_ids` were written in place and
    /// synced with no commit: the other mounts drop what they cache of it.
    fn wrote_in_place(
        &self,
        ino: u64,
        chunk_ids: &[u64],
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Another mount changed file `ino`: what this backend caches of its
    /// chunks goes.
    fn changed_elsewhere(&self, _ino: u64) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Makes every metadata change answered so far durable (the mount's
    /// changes ask only for the OS; fsync asks for this).
    fn sync_metadata(&self) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// One page of the versions of keys starting with `prefix`, after the
    /// markers as S3's ListObjectVersions takes them (keys ascending, each
    /// key's newest first), and whether more follow (the `.versions` tree).
    fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> impl Future<Output = Result<(Vec<ObjectVersion>, bool), ClusterError>> + Send;
    /// Version `version_id` of `key`.
    fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> impl Future<Output = Result<ObjectVersion, ClusterError>> + Send;
    /// Drops bytes `[offset, offset + len)` of file `ino` from its layout
    /// (they read as zeros; the size stays).
    fn punch_hole(
        &self,
        ino: u64,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send;

    /// Bytes of file `src` become bytes of file `dst`, sharing chunks
    /// (`copy_file_range`); a backend without it answers `NotSupported`
    /// (the kernel then copies the bytes itself).
    fn clone_range(
        &self,
        _src: u64,
        _src_offset: u64,
        _dst: u64,
        _dst_offset: u64,
        _length: u64,
    ) -> impl Future<Output = Result<Node, ClusterError>> + Send {
        async {
            Err(ClusterError::NotSupported(
                "this backend shares no chunks".into(),
            ))
        }
    }

    /// The lock of another owner in the way of `range` (`F_GETLK`). The
    /// cluster holds locks for every mount; a backend without them answers
    /// `NotSupported`.
    fn test_lock(
        &self,
        _ino: u64,
        _owner: u64,
        _range: LockRange,
    ) -> impl Future<Output = Result<Option<ByteLock>, ClusterError>> + Send {
        async { Err(no_locks()) }
    }
    /// Takes or drops a lock (`F_SETLK`, with `wait` `F_SETLKW`: until
    /// `gave_up` says the caller was interrupted).
    fn set_lock(
        &self,
        _ino: u64,
        _owner: u64,
        _range: LockRange,
        _wait: bool,
        _gave_up: Box<dyn Fn() -> bool + Send + Sync>,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send {
        async { Err(no_locks()) }
    }
    /// Drops every lock of `owner` on `ino` (no call when it holds none).
    fn drop_locks(
        &self,
        _ino: u64,
        _owner: u64,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send {
        async { Ok(()) }
    }
    /// Hashes a file whose ETag went stale (written in place) and stores
    /// the ETag; `PreconditionFailed` when the MDS kept none (the file
    /// changed meanwhile, or may still be written: try later).
    fn fill_etag(&self, _ino: u64) -> impl Future<Output = Result<(), ClusterError>> + Send {
        async { Ok(()) }
    }
    /// Drops every lock this mount holds (unmount).
    fn end_lock_session(&self) -> impl Future<Output = Result<(), ClusterError>> + Send {
        async { Ok(()) }
    }
    /// Holds `ino`'s write lease (one mount at a time sends a file's
    /// writes); true when it was not held before the call. A backend with
    /// one mount needs none.
    fn write_lease(&self, _ino: u64) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        async { Ok(false) }
    }
    /// Whether this mount holds `ino`'s write lease (no call). A backend
    /// with one mount always does.
    fn holds_write_lease(&self, _ino: u64) -> bool {
        true
    }
    /// Stops holding `ino`'s write lease at once (the cluster hears of it
    /// with `send_released` or soon after).
    fn drop_write_lease(&self, _ino: u64) {}
    /// Tells the cluster now of the leases dropped.
    fn send_released(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// What other mounts change, as it happens (`FileEvent`); None for a
    /// backend no other mount shares.
    fn watch_files(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<FileEvent>> {
        None
    }
    /// Catches up with what other mounts changed, now: the events go to
    /// `watch_files`' receiver. How many events were sent so far, this
    /// call's among them; None for a backend without a watch.
    fn catch_up_files(&self) -> impl Future<Output = Result<Option<u64>, ClusterError>> + Send {
        async { Ok(None) }
    }
}

fn no_locks() -> ClusterError {
    ClusterError::NotSupported("this backend keeps no locks".into())
}

impl DataWriter for FileWriter {
    async fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        sync: bool,
    ) -> Result<WrittenData, ClusterError> {
        FileWriter::write(self, layout, segments, sync).await
    }

    async fn sync(&mut self) -> Result<(), ClusterError> {
        FileWriter::sync(self).await
    }

    fn retain_chunks(&mut self, layout: &[Extent]) {
        FileWriter::retain_chunks(self, layout)
    }
}

impl Backend for Client {
    type Writer = FileWriter;

    async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, ClusterError> {
        Client::lookup(self, parent, name)
            .await
            .map(crate::sse::view)
    }

    async fn getattr(&self, ino: u64) -> Result<Node, ClusterError> {
        Client::getattr(self, ino).await.map(crate::sse::view)
    }

    async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, ClusterError> {
        if attr.size.is_some() {
            crate::sse::check_resize(&Client::getattr(self, ino).await?)?;
        }
        Client::setattr(self, ino, attr).await.map(crate::sse::view)
    }

    async fn create(&self, n: NewNode<'_>) -> Result<Node, ClusterError> {
        if n.kind.is_special() {
            return Client::create_special(
                self, n.parent, n.name, n.kind, n.mode, n.uid, n.gid, n.rdev,
            )
            .await;
        }
        Client::create(
            self,
            n.parent,
            n.name,
            n.kind,
            n.mode,
            n.uid,
            n.gid,
            n.target,
            n.exclusive,
        )
        .await
    }

    async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        Client::unlink(self, parent, name).await
    }

    async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), ClusterError>>, ClusterError> {
        Client::unlink_many(self, unlinks).await
    }

    async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        Client::rmdir(self, parent, name).await
    }

    async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), ClusterError> {
        Client::rename(self, parent, name, new_parent, new_name, no_replace).await
    }

    async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, ClusterError> {
        Client::link(self, ino, new_parent, new_name).await
    }

    async fn readlink(&self, ino: u64) -> Result<Vec<u8>, ClusterError> {
        Client::readlink(self, ino).await
    }

    async fn readdir(
        &self,
        ino: u64,
        after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), ClusterError> {
        let (entries, more) = Client::readdir(self, ino, after, limit).await?;
        let entries = entries
            .into_iter()
            .map(|(name, node)| (name, crate::sse::view(node)))
            .collect();
        Ok((entries, more))
    }

    async fn create_bucket(&self, name: &str, owner: &str) -> Result<(), ClusterError> {
        Client::create_bucket(self, name, owner).await.map(|_| ())
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), ClusterError> {
        Client::delete_bucket(self, name).await
    }

    async fn capacity(&self) -> Result<Capacity, ClusterError> {
        let (space, inodes) = Client::space(self).await?;
        Ok(Capacity {
            total: space.total,
            free: space.allocatable,
            inodes,
            free_inodes: space.free_inodes,
        })
    }

    async fn read(&self, node: &Node, offset: u64, len: u64) -> Result<Vec<Bytes>, ClusterError> {
        if let Some(read) = crate::sse::read(self, node, offset, len).await {
            return read;
        }
        let mut stream = std::pin::pin!(Client::read(self, node, offset, len));
        let mut out = Vec::new();
        while let Some(piece) = stream.next().await {
            out.push(piece?);
        }
        Ok(out)
    }

    async fn locations(&self, ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.cached_locations(ids).await
    }

    fn writer(&self, node: &Node) -> FileWriter {
        self.file_writer(node.ino, node.replicas, node.tier)
    }

    async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        Client::commit_write(self, ino, written, commit).await
    }

    async fn wrote_in_place(&self, ino: u64, chunk_ids: &[u64]) -> Result<(), ClusterError> {
        Client::wrote_in_place(self, ino, chunk_ids).await
    }

    async fn sync_metadata(&self) -> Result<(), ClusterError> {
        Client::sync_metadata(self).await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), ClusterError> {
        Client::list_versions(self, bucket, prefix, key_marker, version_id_marker, limit).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> Result<ObjectVersion, ClusterError> {
        Client::get_version(self, bucket, key, Some(version_id)).await
    }

    async fn punch_hole(&self, ino: u64, offset: u64, len: u64) -> Result<Node, ClusterError> {
        Client::punch_hole(self, ino, offset, len).await
    }

    async fn test_lock(
        &self,
        ino: u64,
        owner: u64,
        range: LockRange,
    ) -> Result<Option<ByteLock>, ClusterError> {
        Client::test_lock(self, ino, owner, &range).await
    }

    async fn set_lock(
        &self,
        ino: u64,
        owner: u64,
        range: LockRange,
        wait: bool,
        gave_up: Box<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<(), ClusterError> {
        Client::set_lock(self, ino, owner, &range, wait, gave_up).await
    }

    async fn drop_locks(&self, ino: u64, owner: u64) -> Result<(), ClusterError> {
        Client::drop_locks(self, ino, owner).await
    }

    async fn end_lock_session(&self) -> Result<(), ClusterError> {
        Client::end_lock_session(self).await
    }

    async fn clone_range(
        &self,
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        length: u64,
    ) -> Result<Node, ClusterError> {
        Client::clone_range(self, src, src_offset, dst, dst_offset, length).await
    }

    async fn fill_etag(&self, ino: u64) -> Result<(), ClusterError> {
        let node = Client::getattr(self, ino).await?;
        if !cairn_client::needs_etag(&node) {
            return Ok(());
        }
        Client::with_etag(self, node, true).await?;
        if cairn_client::needs_etag(&Client::getattr(self, ino).await?) {
            return Err(ClusterError::PreconditionFailed(format!(
                "the MDS kept no ETag for inode {ino} yet"
            )));
        }
        Ok(())
    }

    async fn write_lease(&self, ino: u64) -> Result<bool, ClusterError> {
        Client::write_lease(self, ino).await
    }

    fn holds_write_lease(&self, ino: u64) -> bool {
        Client::holds_write_lease(self, ino)
    }

    fn drop_write_lease(&self, ino: u64) {
        Client::drop_write_lease(self, ino);
    }

    async fn send_released(&self) {
        Client::send_released(self).await;
    }

    fn watch_files(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<FileEvent>> {
        Some(Client::watch_files(self))
    }

    async fn catch_up_files(&self) -> Result<Option<u64>, ClusterError> {
        Client::catch_up_files(self).await
    }
}
