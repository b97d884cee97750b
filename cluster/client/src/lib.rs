//! `cairn-client`: the one way the front doors (S3 gateway, FUSE mount) and
//! the admin CLI reach a Cairn cluster.
//!
//! A request flows one way: door -> this library -> MDS (metadata) and chunk
//! servers (data) -> back. Metadata calls are thin typed wrappers over the
//! MDS's gRPC service; data moves in streams: [`StreamWriter`] cuts a stream
//! into chain-replicated chunks, [`Client::read`] streams a byte range back
//! with checksum-verified failover between replicas.

mod admin;
mod chain;
pub mod chunk_pool;
mod file;
pub mod layout;
mod node;
mod reader;
mod report;
mod rpc;
mod s3meta;
mod space;
mod special;
mod stat;
mod suspects;
#[cfg(test)]
mod testing;
mod versions;
mod writer;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
pub use cairn_common::Persist;
use cairn_common::{ClusterConfig, FsError};
use cairn_proto as pb;
use futures::{Stream, StreamExt};
use tracing::warn;

pub use admin::{AttrsChanged, RemoveCs};
pub use cairn_common::FsError as Error;
pub use file::{Commit, FileWriter};
pub use node::{
    Bucket, ChunkLocation, CsAddr, Extent, LockMode, NamedInode, Node, NodeKind, ObjectProtection,
    Retention,
};
pub use report::{DoorCounters, DoorOp, DoorTotals, REPORT_EVERY};
pub use s3meta::{
    generate_key_id, generate_secret, AccessKey, BucketPermission, Completion, Part, Upload,
};
pub use space::Space;
pub use stat::{
    BlockedChunk, ClientStat, ClusterEvent, ClusterStat, CsStat, LifecycleBucket, LifecycleTotals,
    MdsStat,
};
pub use versions::{BucketProtection, Deleted, ObjectVersion, ProtectionChange, Versioning};
pub use writer::{StreamWriter, WrittenData};

use rpc::{CsPool, MdsConn};

/// How long cached chunk locations are trusted.
const LOCATION_TTL: Duration = Duration::from_secs(5);

/// Options of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The caller's host label: reads prefer a replica there. Defaults to
    /// the machine's hostname.
    pub host: Option<String>,
    /// How long idempotent metadata calls keep retrying an MDS that does not
    /// answer.
    pub mds_timeout: Duration,
    /// Where the MDS must have this client's metadata changes before it
    /// answers (see [`cairn_common::persist`]): [`Persist::Disk`] unless
    /// the caller follows POSIX, as the FUSE door does.
    pub persist: Persist,
    /// How long a chunk server call may go without an answer: one write
    /// piece (up to 4 MiB, written and, for the last, synced on every hop
    /// of its chain), a sync, a version change, or the next message of a
    /// read stream. A replica that overruns it is treated as gone: dropped
    /// from a write (which goes on while the chunk's minimum of replicas
    /// remain), left for the next replica by a read. Chain hops get a
    /// little less each (`cairn_common::net::next_budget`), so the hop
    /// before a dead one answers in time. Long enough for a busy disk's
    /// sync; short enough that a write waits seconds, not minutes, on a
    /// host that vanished.
    pub cs_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            host: None,
            mds_timeout: Duration::from_secs(10),
            persist: Persist::Disk,
            cs_timeout: Duration::from_secs(8),
        }
    }
}

/// Content attributes of an object written through the key index.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    pub content_type: String,
    pub user_meta: std::collections::BTreeMap<String, String>,
    /// Other stored headers (content-encoding, cache-control, checksums...).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Tags, retention and legal hold of the new version (`None`: none;
    /// the bucket's default retention applies either way).
    pub protection: Option<ObjectProtection>,
}

/// Preconditions of a put: checked by the MDS in the transaction that
/// swaps the layout.
#[derive(Debug, Clone, Default)]
pub struct PutConditions {
    /// The current ETag must be this (`*`: the key must exist).
    pub if_match: Option<String>,
    /// `*`: the key must not exist.
    pub if_none_match: Option<String>,
}

/// Attribute changes for [`Client::setattr`]; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime_ns: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub replicas: Option<u32>,
    /// Fewest replicas a write may go on with (0: the default for the
    /// replica count).
    pub min_replicas: Option<u32>,
    pub tier: Option<u32>,
    pub set_xattrs: Vec<(String, Vec<u8>)>,
    pub remove_xattrs: Vec<String>,
}

pub(crate) struct Inner {
    pub(crate) mds: MdsConn,
    pub(crate) cs: Arc<CsPool>,
    /// `ClientOptions::cs_timeout`.
    pub(crate) cs_timeout: Duration,
    /// Chunk servers not reached lately (see `suspects`).
    pub(crate) suspects: suspects::Suspects,
    pub(crate) chunk_size: u64,
    pub(crate) host: String,
    locations: Mutex<HashMap<u64, (Instant, ChunkLocation)>>,
    pub(crate) pool: chunk_pool::ChunkPool,
    /// Bucket settings read lately (`Client::bucket_setting_recent`).
    pub(crate) settings: versions::RecentSettings,
}

/// A handle on the cluster; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The machine's hostname, the default host label.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes a
    // NUL-terminated name of at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn name_error(what: &str) -> impl Fn(&[u8]) -> Result<(), FsError> + '_ {
    move |name: &[u8]| {
        if name.is_empty() {
            Err(FsError::Invalid(format!("empty {what}")))
        } else {
            Ok(())
        }
    }
}

impl Client {
    /// Makes a client for the cluster in `config`. Connections are made on
    /// first use; an MDS that does not answer shows up as
    /// [`FsError::Unavailable`] with what to check.
    pub fn connect(config: &ClusterConfig, options: ClientOptions) -> Result<Client, FsError> {
        let auth = config.auth();
        let mds = MdsConn::new(
            &config.mds_addrs,
            &auth,
            options.mds_timeout,
            options.persist,
        )?;
        Ok(Client {
            inner: Arc::new(Inner {
                mds,
                cs: CsPool::new(auth),
                cs_timeout: options.cs_timeout,
                suspects: suspects::Suspects::default(),
                chunk_size: config
                    .chunk_size
                    .clamp(1 << 20, cairn_common::MAX_CHUNK_SIZE),
                host: options.host.unwrap_or_else(hostname),
                locations: Mutex::new(HashMap::new()),
                pool: chunk_pool::ChunkPool::default(),
                settings: versions::RecentSettings::default(),
            }),
        })
    }

    pub fn chunk_size(&self) -> u64 {
        self.inner.chunk_size
    }

    pub fn host(&self) -> &str {
        &self.inner.host
    }

    // ------------------------------------------------------------ namespace

    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, FsError> {
        let req = pb::LookupRequest {
            parent,
            name: name.to_vec(),
        };
        self.inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.lookup(r).await }
            })
            .await
            .map(Node::from)
    }

    pub async fn getattr(&self, ino: u64) -> Result<Node, FsError> {
        self.inner
            .mds
            .call(true, |mut m| async move {
                m.get_attr(pb::InoRequest { ino }).await
            })
            .await
            .map(Node::from)
    }

    pub async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, FsError> {
        let req = pb::SetAttrRequest {
            ino,
            mode: attr.mode,
            uid: attr.uid,
            gid: attr.gid,
            size: attr.size,
            atime_ns: attr.atime_ns,
            mtime_ns: attr.mtime_ns,
            replicas: attr.replicas,
            min_replicas: attr.min_replicas,
            tier: attr.tier,
            set_xattrs: attr.set_xattrs.into_iter().collect(),
            remove_xattrs: attr.remove_xattrs,
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.set_attr(r).await }
            })
            .await
            .map(Node::from)
    }

    /// Creates a file, directory or symlink (`target` for a symlink).
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        parent: u64,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        target: &[u8],
        exclusive: bool,
    ) -> Result<Node, FsError> {
        name_error("name")(name)?;
        let req = pb::CreateRequest {
            parent,
            name: name.to_vec(),
            kind: pb::NodeKind::from(kind) as i32,
            mode,
            uid,
            gid,
            symlink_target: target.to_vec(),
            exclusive,
            rdev: 0,
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.create(r).await }
            })
            .await
            .map(Node::from)
    }

    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        let req = pb::UnlinkRequest {
            parent,
            name: name.to_vec(),
            ino: 0,
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.unlink(r).await }
            })
            .await
            .map(|_| ())
    }

    /// Makes `unlinks`, each conditional on its inode, in one call and one
    /// group commit; one outcome each, in order. The call as a whole fails
    /// only when the MDS could not be asked (it is retried until the
    /// timeout, since every unlink in it is safe to retry).
    pub async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), FsError>>, FsError> {
        let req = pb::UnlinkManyRequest {
            unlinks: unlinks
                .iter()
                .map(|u| pb::UnlinkRequest {
                    parent: u.parent,
                    name: u.name.clone(),
                    ino: u.ino,
                })
                .collect(),
        };
        let reply = self
            .inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.unlink_many(r).await }
            })
            .await?;
        if reply.outcomes.len() != unlinks.len() {
            return Err(FsError::Io(format!(
                "the MDS answered {} outcomes for {} unlinks",
                reply.outcomes.len(),
                unlinks.len()
            )));
        }
        Ok(reply
            .outcomes
            .into_iter()
            .map(|o| match o.errno.as_str() {
                "" => Ok(()),
                tag => Err(FsError::from_tag(tag, &o.message)
                    .unwrap_or_else(|| FsError::Io(format!("{tag}: {}", o.message)))),
            })
            .collect())
    }

    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        let req = pb::NameRequest {
            parent,
            name: name.to_vec(),
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.rmdir(r).await }
            })
            .await
            .map(|_| ())
    }

    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), FsError> {
        let req = pb::RenameRequest {
            parent,
            name: name.to_vec(),
            new_parent,
            new_name: new_name.to_vec(),
            no_replace,
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.rename(r).await }
            })
            .await
            .map(|_| ())
    }

    pub async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, FsError> {
        let req = pb::LinkRequest {
            ino,
            new_parent,
            new_name: new_name.to_vec(),
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.link(r).await }
            })
            .await
            .map(Node::from)
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>, FsError> {
        self.inner
            .mds
            .call(true, |mut m| async move {
                m.readlink(pb::InoRequest { ino }).await
            })
            .await
            .map(|r| r.target)
    }

    /// One page of a directory, names after `after`; `more` is true when
    /// another page follows.
    pub async fn readdir(
        &self,
        ino: u64,
        after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), FsError> {
        let req = pb::ReaddirRequest {
            ino,
            after: after.to_vec(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.readdir(r).await }
            })
            .await?;
        let entries = reply
            .entries
            .into_iter()
            .map(|e| (e.name, e.node.map(Node::from)))
            .filter_map(|(name, node)| node.map(|n| (name, n)))
            .collect();
        Ok((entries, reply.more))
    }

    // -------------------------------------------------------------- buckets

    pub async fn create_bucket(&self, name: &str, owner: &str) -> Result<Bucket, FsError> {
        self.create_bucket_with(name, owner, false).await
    }

    /// CreateBucket, with object lock (and versioning) on from the start
    /// when `object_lock`.
    pub async fn create_bucket_with(
        &self,
        name: &str,
        owner: &str,
        object_lock: bool,
    ) -> Result<Bucket, FsError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: owner.into(),
            object_lock,
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.create_bucket(r).await }
            })
            .await
            .map(Bucket::from)
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<(), FsError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: String::new(),
            ..Default::default()
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.delete_bucket(r).await }
            })
            .await
            .map(|_| ())
    }

    pub async fn get_bucket(&self, name: &str) -> Result<Bucket, FsError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: String::new(),
            ..Default::default()
        };
        self.inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.get_bucket(r).await }
            })
            .await
            .map(Bucket::from)
    }

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, FsError> {
        self.inner
            .mds
            .call(
                true,
                |mut m| async move { m.list_buckets(pb::Empty {}).await },
            )
            .await
            .map(|r| r.buckets.into_iter().map(Bucket::from).collect())
    }

    // -------------------------------------------------------------- objects

    pub async fn head_object(&self, bucket: &str, key: &[u8]) -> Result<Node, FsError> {
        let req = pb::KeyRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
        };
        self.inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.get_key(r).await }
            })
            .await
            .map(Node::from)
    }

    /// A writer of new chunks whose replica and tier attributes come from
    /// inode `attr_ino` (the file, or the bucket of an object not yet
    /// committed). Nothing is visible until the data is committed.
    pub fn writer(&self, attr_ino: u64) -> StreamWriter {
        StreamWriter::new(self.inner.clone(), attr_ino)
    }

    /// Makes `written` the content of `bucket/key`, atomically: a reader
    /// sees the old object or the new one.
    pub async fn commit_object(
        &self,
        bucket: &str,
        key: &[u8],
        written: &WrittenData,
        meta: ObjectMeta,
        conditions: PutConditions,
    ) -> Result<Node, FsError> {
        let now = cairn_common::time::now_ns();
        let node = Node {
            ino: 0,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: written.size,
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
            nlink: 1,
            etag: written.md5_hex.clone(),
            content_type: meta.content_type,
            user_meta: meta.user_meta,
            headers: meta.headers,
            replicas: 0,
            min_replicas: 0,
            tier: 0,
            extents: written.extents.clone(),
            symlink_target: Vec::new(),
            xattrs: Default::default(),
            version_id: String::new(),
            protection: Default::default(),
            rdev: 0,
        };
        self.put_key_with(bucket, key, &node, conditions, meta.protection.as_ref())
            .await
    }

    /// Places `node` (attributes and layout, possibly made of other
    /// objects' chunks, as CopyObject and multipart do) at `bucket/key`.
    pub async fn put_key(
        &self,
        bucket: &str,
        key: &[u8],
        node: &Node,
        conditions: PutConditions,
    ) -> Result<Node, FsError> {
        self.put_key_with(bucket, key, node, conditions, None).await
    }

    /// [`Client::put_key`] with the new version's tags, retention and
    /// legal hold.
    pub async fn put_key_with(
        &self,
        bucket: &str,
        key: &[u8],
        node: &Node,
        conditions: PutConditions,
        protection: Option<&ObjectProtection>,
    ) -> Result<Node, FsError> {
        let req = pb::PutKeyRequest {
            protection: protection.map(pb::Protection::from),
            bucket: bucket.into(),
            key: key.to_vec(),
            node: Some(pb::Node::from(node)),
            if_match: conditions.if_match,
            if_none_match: conditions.if_none_match,
            // A retried call carries the same id; the MDS applies it once.
            request_id: rand::random::<u64>() | 1,
        };
        self.inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.put_key(r).await }
            })
            .await
            .map(Node::from)
    }

    /// Streams `body` into the cluster as `bucket/key`.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &[u8],
        body: S,
        meta: ObjectMeta,
        conditions: PutConditions,
    ) -> Result<Node, FsError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let b = self.get_bucket(bucket).await?;
        if conditions.if_none_match.as_deref() == Some("*") {
            // Fail early, before moving the data; the MDS checks again when
            // the layout is swapped.
            if self.head_object(bucket, key).await.is_ok() {
                return Err(FsError::PreconditionFailed(format!(
                    "{bucket}/{} exists",
                    String::from_utf8_lossy(key)
                )));
            }
        }
        let mut writer = self.writer(b.ino);
        let mut body = std::pin::pin!(body);
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| FsError::Io(format!("reading the upload: {e}")))?;
            writer.write(piece).await?;
        }
        let written = writer.finish().await?;
        self.commit_object(bucket, key, &written, meta, conditions)
            .await
    }

    pub async fn delete_object(&self, bucket: &str, key: &[u8]) -> Result<(), FsError> {
        let req = pb::KeyRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.delete_key(r).await }
            })
            .await
            .map(|_| ())
    }

    /// One page of keys in byte order: those starting with `prefix`, after
    /// `start_after`; `truncated` when more follow.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &[u8],
        start_after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), FsError> {
        let req = pb::ListKeysRequest {
            bucket: bucket.into(),
            prefix: prefix.to_vec(),
            start_after: start_after.to_vec(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.list_keys(r).await }
            })
            .await?;
        let entries = reply
            .entries
            .into_iter()
            .filter_map(|e| e.node.map(|n| (e.key, Node::from(n))))
            .collect();
        Ok((entries, reply.truncated))
    }

    /// Streams bytes `[offset, offset + len)` of a file (clamped to its
    /// size), verified, failing over between replicas.
    pub fn read(
        &self,
        node: &Node,
        offset: u64,
        len: u64,
    ) -> impl Stream<Item = Result<Bytes, FsError>> + Send + 'static {
        reader::read_range(self.inner.clone(), node.clone(), offset, len)
    }

    // --------------------------------------------------------------- chunks

    /// Current locations of chunks (bypassing the cache).
    pub async fn locate(&self, chunk_ids: &[u64]) -> Result<Vec<ChunkLocation>, FsError> {
        self.inner.locate_many(chunk_ids, 0).await
    }

    /// [`Client::locate`] for a writer of file `ino`: chunks a kept
    /// version may hold are answered `shared` (see `file`).
    pub async fn locate_for_write(
        &self,
        ino: u64,
        chunk_ids: &[u64],
    ) -> Result<Vec<ChunkLocation>, FsError> {
        self.inner.locate_many(chunk_ids, ino).await
    }

    /// Answers once every metadata change this client was answered is on
    /// stable storage on a majority of the MDS: what fsync adds for a
    /// client whose changes ask for [`Persist::Os`].
    pub async fn sync_metadata(&self) -> Result<(), FsError> {
        self.inner
            .mds
            .call(
                true,
                |mut m| async move { m.sync_metadata(pb::Empty {}).await },
            )
            .await
            .map(|_| ())
    }

    /// Applies a write to a file's layout (the FUSE door's commit).
    pub async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, FsError> {
        let req = pb::CommitWriteRequest {
            ino,
            extents: written
                .extents
                .iter()
                .copied()
                .map(pb::Extent::from)
                .collect(),
            size: commit.size,
            etag: commit.etag.into(),
            mtime_ns: commit.mtime_ns,
            chunk_lengths: written.chunk_lengths_pb(),
            replace_layout: commit.replace_layout,
            continues_version: commit.continues_version.into(),
        };
        self.inner
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.commit_write(r).await }
            })
            .await
            .map(Node::from)
    }

    pub async fn stat(&self) -> Result<ClusterStat, FsError> {
        self.inner
            .mds
            .call(true, |mut m| async move { m.stat(pb::Empty {}).await })
            .await
            .map(ClusterStat::from)
    }
}

/// A chunk the MDS allocated, refused when it came without a replica (no
/// chunk server had room).
fn placed(loc: ChunkLocation) -> Result<ChunkLocation, FsError> {
    if loc.replicas.is_empty() {
        return Err(FsError::NoSpace(format!(
            "the MDS allocated chunk {} with no replica",
            loc.chunk_id
        )));
    }
    Ok(loc)
}

impl Inner {
    /// A new chunk for a file of `key` (its replicas and tier) from the
    /// pool, which is refilled with one MDS call (see `chunk_pool`) on
    /// behalf of `attr_ino` when empty.
    pub(crate) async fn pooled_chunk(
        &self,
        attr_ino: u64,
        key: chunk_pool::PoolKey,
    ) -> Result<ChunkLocation, FsError> {
        if let Some(loc) = self.pool.take(key, Instant::now()) {
            return Ok(loc);
        }
        let at = Instant::now();
        let req = pb::AllocateChunksRequest {
            ino: attr_ino,
            client_host: self.host.clone(),
            count: chunk_pool::BATCH,
            avoid: self.suspects.list(Instant::now()),
        };
        // Not retried, as allocate_chunk.
        let reply = self
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.allocate_chunks(r).await }
            })
            .await?;
        let mut chunks = reply
            .chunks
            .into_iter()
            .map(|c| placed(c.into()))
            .collect::<Result<Vec<_>, _>>()?;
        if chunks.is_empty() {
            return Err(FsError::Io("the MDS allocated no chunk".into()));
        }
        let first = chunks.remove(0);
        self.pool.put(key, at, chunks);
        Ok(first)
    }

    /// A new chunk placed for `attr_ino` (its replicas and tier), with one
    /// MDS call of its own.
    pub(crate) async fn allocate_chunk(&self, attr_ino: u64) -> Result<ChunkLocation, FsError> {
        let req = pb::AllocateChunkRequest {
            ino: attr_ino,
            client_host: self.host.clone(),
            avoid: self.suspects.list(Instant::now()),
        };
        // Not retried: a lost answer leaves an unused chunk, which the MDS
        // collects; a retry would only allocate another.
        let loc = self
            .mds
            .call(false, |mut m| {
                let r = req.clone();
                async move { m.allocate_chunk(r).await }
            })
            .await?;
        placed(loc.into())
    }

    async fn locate_many(
        &self,
        ids: &[u64],
        writer_ino: u64,
    ) -> Result<Vec<ChunkLocation>, FsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let req = pb::LocateChunksRequest {
            chunk_ids: ids.to_vec(),
            writer_ino,
        };
        let reply = self
            .mds
            .call(true, |mut m| {
                let r = req.clone();
                async move { m.locate_chunks(r).await }
            })
            .await?;
        let locs: Vec<ChunkLocation> = reply.chunks.into_iter().map(ChunkLocation::from).collect();
        if let Ok(mut cache) = self.locations.lock() {
            let now = Instant::now();
            for l in &locs {
                cache.insert(l.chunk_id, (now, l.clone()));
            }
            if cache.len() > 100_000 {
                cache.retain(|_, (t, _)| now.duration_since(*t) < LOCATION_TTL);
            }
        }
        Ok(locs)
    }

    /// Fills the location cache for chunks not cached yet, in one call.
    pub(crate) async fn prefetch_locations(&self, ids: &[u64]) -> Result<(), FsError> {
        let missing: Vec<u64> = match self.locations.lock() {
            Ok(cache) => ids
                .iter()
                .copied()
                .filter(|id| {
                    cache
                        .get(id)
                        .is_none_or(|(t, _)| t.elapsed() >= LOCATION_TTL)
                })
                .collect(),
            Err(_) => ids.to_vec(),
        };
        for batch in missing.chunks(1000) {
            self.locate_many(batch, 0).await?;
        }
        Ok(())
    }

    pub(crate) async fn locate(&self, id: u64) -> Result<ChunkLocation, FsError> {
        if let Ok(cache) = self.locations.lock() {
            if let Some((t, loc)) = cache.get(&id) {
                if t.elapsed() < LOCATION_TTL {
                    return Ok(loc.clone());
                }
            }
        }
        self.locate_many(&[id], 0)
            .await?
            .into_iter()
            .find(|l| l.chunk_id == id)
            .ok_or_else(|| FsError::Io(format!("the MDS does not know chunk {id}")))
    }

    pub(crate) fn forget_location(&self, id: u64) {
        if let Ok(mut cache) = self.locations.lock() {
            cache.remove(&id);
        }
    }

    /// Puts a location a write just learnt from the MDS in the cache, as
    /// if just located.
    pub(crate) fn remember_location(&self, loc: &ChunkLocation) {
        if let Ok(mut cache) = self.locations.lock() {
            cache.insert(loc.chunk_id, (Instant::now(), loc.clone()));
        }
    }

    /// A replica of chunk `id` could not be reached: it becomes a suspect,
    /// and the cached location lists it last, so that the next readers of
    /// the chunk go elsewhere first.
    pub(crate) fn cs_unreachable(&self, id: u64, cs_id: u32) {
        self.suspects.mark(cs_id, Instant::now());
        if let Ok(mut cache) = self.locations.lock() {
            if let Some((_, loc)) = cache.get_mut(&id) {
                if let Some(pos) = loc.replicas.iter().position(|c| c.cs_id == cs_id) {
                    let cs = loc.replicas.remove(pos);
                    loc.replicas.push(cs);
                }
            }
        }
    }

    /// Replicas in the order a reader should try them: the caller's host
    /// first, then the MDS's order (lowest cost first), and suspects (not
    /// reached lately) last of all. When no replica is on the caller's
    /// host the `index`-th segment of a read starts on a different replica
    /// than its neighbours, so that a large read spreads over every
    /// replica.
    pub(crate) fn replica_order_for(&self, loc: &ChunkLocation, index: usize) -> Vec<CsAddr> {
        let mut order = loc.replicas.clone();
        if !order.is_empty() && order.iter().all(|c| c.host != self.host) {
            let n = order.len();
            order.rotate_left(index % n);
        }
        let now = Instant::now();
        order.sort_by_key(|c| (self.suspects.is_suspect(c.cs_id, now), c.host != self.host));
        order
    }

    /// Tells the MDS, in the background, that a replica returned bad data.
    /// The report must not hold up the read; its outcome only matters to
    /// healing, which also finds bad replicas by scrubbing.
    pub(crate) fn report_bad_replica(
        self: &Arc<Self>,
        loc: &ChunkLocation,
        cs_id: u32,
        status: &tonic::Status,
    ) {
        if !reader::is_bad_replica(status) {
            return;
        }
        warn!(chunk = loc.chunk_id, cs = cs_id, error = %status.message(), "reporting bad replica");
        let req = pb::ReportBadReplicaRequest {
            chunk_id: loc.chunk_id,
            version: loc.version,
            cs_id,
            reason: status.message().to_string(),
        };
        let inner = self.clone();
        tokio::spawn(async move {
            let res = inner
                .mds
                .call(false, |mut m| {
                    let r = req.clone();
                    async move { m.report_bad_replica(r).await }
                })
                .await;
            if let Err(e) = res {
                warn!(error = %e, "could not report a bad replica");
            }
        });
    }
}
