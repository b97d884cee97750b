//! [`MemCluster`]: the cluster as the mount's tests see it. Metadata is
//! the MDS's own: every call becomes the command or query the MDS would
//! run (`cairn_meta::apply` and `cairn_meta::query`), on redb's in-memory
//! backend, and answers through the MDS's own conversions. Chunk bytes
//! are kept in memory, written where the client's `plan_write` puts them.
//!
//! What is not the real cluster: no raft (one command, one transaction),
//! no chunk server (bytes are written at once, never lost), no healer (a
//! released chunk stays in the chunk map, as during its grace period).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use bytes::Bytes;
use cairn_client::{
    layout::{plan_write, ChunkTarget},
    ChunkLocation, Commit, Extent, FoldedAttrs, NamedInode, Node, NodeKind, ObjectVersion, SetAttr,
    WrittenData,
};
use cairn_common::ClusterError;
use cairn_mds::convert;
use cairn_meta::{
    apply::{apply, create_tables},
    command::{AttrChange, Command, CommandReply, ObjectSpec, WriteCommit},
    query::Reader,
    schema::{ClusterMeta, Inode},
};
use redb::{backends::InMemoryBackend, Database};

use crate::backend::{Backend, Capacity, DataWriter, DirPage, NewNode};

/// Chunk servers registered at start, on three hosts: every chunk has
/// three replicas, as on a real cluster.
const SERVERS: u32 = 3;

/// Space `capacity` reports (the model has no disks).
const TOTAL: u64 = 3 << 30;
const FREE: u64 = 2 << 30;
const FREE_INODES: u64 = 1 << 20;

struct Inner {
    db: Database,
    /// Chunk id -> the bytes written into it.
    chunks: Mutex<HashMap<u64, Vec<u8>>>,
    /// The last `now_ns` given to a command.
    clock: AtomicI64,
    chunk_size: u64,
    chain: Vec<u32>,
}

/// The real metadata core in memory, with chunk bytes beside it. Clones
/// share one cluster.
#[derive(Clone)]
pub struct MemCluster {
    inner: Arc<Inner>,
}

fn storage(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Io(format!("in-memory redb: {e}"))
}

fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn reply_mismatch(what: &str, reply: &CommandReply) -> ClusterError {
    ClusterError::Io(format!("{what}: unexpected reply {reply:?}"))
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(<md5::Md5 as md5::Digest>::digest(data))
}

fn node_of(inode: &Inode) -> Node {
    Node::from(convert::node_to_pb(inode))
}

impl MemCluster {
    /// A new cluster with chunks of `chunk_size` bytes (tests use tiny
    /// ones, so that a few bytes cross chunk boundaries), an empty root
    /// and three chunk servers.
    pub fn new(chunk_size: u64) -> MemCluster {
        Self::try_new(chunk_size).expect("an in-memory cluster")
    }

    fn try_new(chunk_size: u64) -> Result<MemCluster, ClusterError> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(storage)?;
        let cluster = MemCluster {
            inner: Arc::new(Inner {
                db,
                chunks: Mutex::new(HashMap::new()),
                clock: AtomicI64::new(0),
                chunk_size,
                chain: (1..=SERVERS).collect(),
            }),
        };
        let txn = cluster.inner.db.begin_write().map_err(storage)?;
        create_tables(&txn)?;
        txn.commit().map_err(storage)?;
        let meta = ClusterMeta {
            name: "test".into(),
            cluster_id: "test".into(),
            secret: vec![7; 32],
            password_hash: String::new(),
            chunk_size,
            mds_addrs: vec!["127.0.0.1:1".into()],
            created_ns: wall_clock_ns(),
            default_replicas: SERVERS,
        };
        let now_ns = cluster.now();
        cluster.run(Command::InitCluster { meta, now_ns })?;
        for cs in 1..=SERVERS {
            let now_ns = cluster.now();
            cluster.run(Command::RegisterCs {
                host: format!("host{cs}"),
                tier: 0,
                capacity: TOTAL,
                journal: false,
                now_ns,
            })?;
        }
        Ok(cluster)
    }

    /// A time for the next command: the wall clock, but always later than
    /// the one before (the MDS's leader clock never runs back).
    fn now(&self) -> i64 {
        let wall = wall_clock_ns();
        let prev = self
            .inner
            .clock
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(wall.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        wall.max(prev + 1)
    }

    /// Applies one command in its own transaction, as the MDS's committer
    /// does: all of it, or nothing on error.
    fn run(&self, command: Command) -> Result<CommandReply, ClusterError> {
        let txn = self.inner.db.begin_write().map_err(storage)?;
        match apply(&txn, &command) {
            Ok(reply) => {
                txn.commit().map_err(storage)?;
                Ok(reply)
            }
            Err(e) => {
                txn.abort().map_err(storage)?;
                Err(e)
            }
        }
    }

    fn run_node(&self, command: Command) -> Result<Node, ClusterError> {
        match self.run(command)? {
            CommandReply::Node(inode) => Ok(node_of(&inode)),
            other => Err(reply_mismatch("a node command", &other)),
        }
    }

    fn reader(&self) -> Result<Reader, ClusterError> {
        Reader::new(&self.inner.db)
    }

    fn chunk_bytes(&self) -> MutexGuard<'_, HashMap<u64, Vec<u8>>> {
        self.inner
            .chunks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes `[offset, offset + len)` of a file with this layout and size.
    fn bytes_of(&self, node: &Node, offset: u64, len: u64) -> Vec<u8> {
        let end = node.size.min(offset.saturating_add(len));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let chunks = self.chunk_bytes();
        for e in &node.extents {
            let (from, to) = (e.file_offset.max(offset), e.end().min(end));
            if from >= to {
                continue;
            }
            let data = chunks.get(&e.chunk_id).map_or(&[][..], Vec::as_slice);
            let at = (e.chunk_offset + from - e.file_offset) as usize;
            let n = (to - from) as usize;
            // Past what was written into the chunk reads as zeros.
            let have = data.len().saturating_sub(at).min(n);
            let dst = (from - offset) as usize;
            out[dst..dst + have].copy_from_slice(&data[at..at + have]);
        }
        out
    }

    /// The committed content of `ino`, as an S3 GET would serve it (empty
    /// when the inode is gone).
    pub fn content(&self, ino: u64) -> Vec<u8> {
        match self.node(ino) {
            Some(n) => self.bytes_of(&n, 0, n.size),
            None => Vec::new(),
        }
    }

    /// The inode as the MDS holds it now.
    pub fn node(&self, ino: u64) -> Option<Node> {
        let inode = self.reader().ok()?.inode(ino).ok()?;
        Some(node_of(&inode))
    }

    /// The S3 access key recorded as bucket `name`'s owner (empty: none).
    pub fn bucket_owner(&self, name: &str) -> Option<String> {
        Some(self.reader().ok()?.bucket(name).ok()?.owner)
    }

    /// Whether chunk `id` is still in the chunk map with a reference (not
    /// released by a truncate, a hole or an unlink).
    pub fn chunk_referenced(&self, id: u64) -> bool {
        self.reader()
            .and_then(|r| r.chunk(id))
            .is_ok_and(|c| c.refs > 0)
    }

    /// Replaces the content of file `ino` at once, as an S3 PUT over its
    /// key does (a new layout, a fresh ETag).
    pub fn put(&self, ino: u64, data: &[u8]) -> Node {
        self.try_put(ino, data).expect("a put into the model")
    }

    fn try_put(&self, ino: u64, data: &[u8]) -> Result<Node, ClusterError> {
        let node = self
            .node(ino)
            .ok_or_else(|| ClusterError::NotFound(format!("inode {ino}")))?;
        let mut writer = self.writer(&node);
        let segments = vec![(0, Bytes::copy_from_slice(data))];
        let written = writer.write_now(&[], segments)?;
        let etag = md5_hex(data);
        self.commit_now(
            ino,
            &written,
            &Commit {
                size: data.len() as u64,
                etag: &etag,
                mtime_ns: self.now(),
                replace_layout: true,
                continues_version: "",
                attrs: FoldedAttrs::default(),
            },
        )
    }

    /// Puts `data` at `key` of `bucket` through the S3 door's command
    /// (PutKey): a key that is no POSIX path gets an inode reachable
    /// only by its key.
    pub fn put_key(&self, bucket: &str, key: &[u8], data: &[u8]) -> Node {
        self.try_put_key(bucket, key, data)
            .expect("a PutKey into the model")
    }

    fn try_put_key(&self, bucket: &str, key: &[u8], data: &[u8]) -> Result<Node, ClusterError> {
        // The gateway writes the chunks before the key exists, for the
        // bucket.
        let mut writer = MemWriter {
            cluster: self.clone(),
            ino: self.reader()?.bucket(bucket)?.ino,
            slots: HashMap::new(),
        };
        let written = writer.write_now(&[], vec![(0, Bytes::copy_from_slice(data))])?;
        let now_ns = self.now();
        self.run_node(Command::PutKey {
            bucket: bucket.into(),
            key: key.to_vec(),
            object: ObjectSpec {
                size: data.len() as u64,
                etag: md5_hex(data),
                extents: written.extents,
                ..ObjectSpec::default()
            },
            if_match: None,
            if_none_match: None,
            request_id: 0,
            now_ns,
        })
    }

    fn commit_now(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        let a = commit.attrs;
        let attrs = AttrChange {
            mode: a.mode,
            uid: a.uid,
            gid: a.gid,
            atime_ns: a.atime_ns,
            ..AttrChange::default()
        };
        let w = WriteCommit {
            ino,
            extents: written.extents.clone(),
            size: commit.size,
            etag: commit.etag.to_string(),
            mtime_ns: commit.mtime_ns,
            chunk_lengths: written.chunk_lengths.clone(),
            replace_layout: commit.replace_layout,
            continues: commit.continues_version.to_string(),
        };
        self.run_node(Command::commit_write(w, attrs, self.now()))
    }

    fn allocate(&self, owner: u64) -> Result<u64, ClusterError> {
        match self.run(Command::AllocateChunk {
            owner,
            chain: self.inner.chain.clone(),
        })? {
            CommandReply::Chunk { chunk_id, .. } => Ok(chunk_id),
            other => Err(reply_mismatch("AllocateChunk", &other)),
        }
    }

    /// Chunks a write into `ino` must not change in place (the rule of
    /// the MDS's LocateChunks, `ChunkInfo::shared`).
    fn shared_chunks(&self, ino: u64, layout: &[Extent]) -> Result<Vec<u64>, ClusterError> {
        let reader = self.reader()?;
        let keeps_version = ino != 0 && reader.rewrite_keeps_version(ino)?;
        let mut shared = Vec::new();
        for e in layout {
            let chunk = reader.chunk(e.chunk_id)?;
            if chunk.shared(keeps_version) {
                shared.push(e.chunk_id);
            }
        }
        Ok(shared)
    }
}

/// Writes of one open file into the model's chunks, planned as the
/// client's `FileWriter` plans them; slot chunks are allocated by the
/// metadata core on first use.
pub struct MemWriter {
    cluster: MemCluster,
    ino: u64,
    slots: HashMap<u64, u64>,
}

impl MemWriter {
    fn write_now(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
    ) -> Result<WrittenData, ClusterError> {
        let chunk_size = self.cluster.inner.chunk_size;
        let shared = self.cluster.shared_chunks(self.ino, layout)?;
        let mut extents = Vec::new();
        let mut lengths: HashMap<u64, u64> = HashMap::new();
        for (offset, data) in segments {
            let plan = plan_write(layout, chunk_size, offset, data.len() as u64, |id| {
                shared.contains(&id)
            });
            for p in plan {
                let chunk_id = match p.target {
                    ChunkTarget::Existing(id) => id,
                    ChunkTarget::Slot(slot) => match self.slots.get(&slot) {
                        Some(id) => *id,
                        None => {
                            let id = self.cluster.allocate(self.ino)?;
                            self.slots.insert(slot, id);
                            id
                        }
                    },
                };
                let from = (p.file_offset - offset) as usize;
                let end = (p.chunk_offset + p.len) as usize;
                let mut chunks = self.cluster.chunk_bytes();
                let bytes = chunks.entry(chunk_id).or_default();
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[p.chunk_offset as usize..end]
                    .copy_from_slice(&data[from..from + p.len as usize]);
                let high = lengths.entry(chunk_id).or_default();
                *high = (*high).max(end as u64);
                if let ChunkTarget::Slot(_) = p.target {
                    extents.push(Extent {
                        file_offset: p.file_offset,
                        chunk_id,
                        chunk_offset: p.chunk_offset,
                        length: p.len,
                    });
                }
            }
        }
        let mut chunk_lengths: Vec<(u64, u64)> = lengths.into_iter().collect();
        chunk_lengths.sort_unstable();
        Ok(WrittenData {
            size: 0,
            md5_hex: String::new(),
            extents: cairn_common::extent::merge(extents),
            chunk_lengths,
        })
    }
}

impl DataWriter for MemWriter {
    async fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        _sync: bool,
    ) -> Result<WrittenData, ClusterError> {
        self.write_now(layout, segments)
    }

    async fn sync(&mut self) -> Result<(), ClusterError> {
        Ok(())
    }

    fn retain_chunks(&mut self, layout: &[Extent]) {
        self.slots
            .retain(|_, id| layout.iter().any(|e| e.chunk_id == *id));
    }
}

impl Backend for MemCluster {
    type Writer = MemWriter;

    async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, ClusterError> {
        Ok(node_of(&self.reader()?.lookup(parent, name)?))
    }

    async fn getattr(&self, ino: u64) -> Result<Node, ClusterError> {
        Ok(node_of(&self.reader()?.inode(ino)?))
    }

    async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, ClusterError> {
        let change = AttrChange {
            mode: attr.mode,
            uid: attr.uid,
            gid: attr.gid,
            size: attr.size,
            atime_ns: attr.atime_ns,
            mtime_ns: attr.mtime_ns,
            replicas: attr.replicas,
            tier: attr.tier,
            set_xattrs: attr.set_xattrs.into_iter().collect(),
            remove_xattrs: attr.remove_xattrs,
        };
        let now_ns = self.now();
        self.run_node(match attr.min_replicas {
            Some(min_replicas) => Command::SetAttrWithMinimum {
                ino,
                change,
                min_replicas,
                now_ns,
            },
            None => Command::SetAttr {
                ino,
                change,
                now_ns,
            },
        })
    }

    async fn create(&self, new: NewNode<'_>) -> Result<Node, ClusterError> {
        let kind = new.kind;
        let now_ns = self.now();
        self.run_node(if new.kind.is_special() {
            Command::CreateSpecial {
                parent: new.parent,
                name: new.name.to_vec(),
                kind,
                mode: new.mode,
                uid: new.uid,
                gid: new.gid,
                rdev: new.rdev,
                now_ns,
            }
        } else {
            Command::CreateNode {
                parent: new.parent,
                name: new.name.to_vec(),
                kind,
                mode: new.mode,
                uid: new.uid,
                gid: new.gid,
                symlink_target: new.target.to_vec(),
                exclusive: new.exclusive,
                now_ns,
            }
        })
    }

    async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        let now_ns = self.now();
        self.run(Command::Unlink {
            parent,
            name: name.to_vec(),
            now_ns,
        })
        .map(drop)
    }

    async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), ClusterError>>, ClusterError> {
        Ok(unlinks
            .iter()
            .map(|u| {
                let now_ns = self.now();
                self.run(Command::UnlinkInode {
                    parent: u.parent,
                    name: u.name.clone(),
                    ino: u.ino,
                    now_ns,
                })
                .map(drop)
            })
            .collect())
    }

    async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        let now_ns = self.now();
        self.run(Command::Rmdir {
            parent,
            name: name.to_vec(),
            now_ns,
        })
        .map(drop)
    }

    async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), ClusterError> {
        let now_ns = self.now();
        self.run(Command::Rename {
            parent,
            name: name.to_vec(),
            new_parent,
            new_name: new_name.to_vec(),
            no_replace,
            now_ns,
        })
        .map(drop)
    }

    async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, ClusterError> {
        let now_ns = self.now();
        self.run_node(Command::Link {
            ino,
            new_parent,
            new_name: new_name.to_vec(),
            now_ns,
        })
    }

    async fn readlink(&self, ino: u64) -> Result<Vec<u8>, ClusterError> {
        let inode = self.reader()?.inode(ino)?;
        if inode.kind != NodeKind::Symlink {
            return Err(ClusterError::Invalid(format!(
                "inode {ino} is not a symlink"
            )));
        }
        Ok(inode.symlink_target)
    }

    async fn readdir(&self, ino: u64, after: &[u8], limit: u32) -> Result<DirPage, ClusterError> {
        let page = self.reader()?.readdir(ino, after, limit)?;
        let entries = page
            .entries
            .iter()
            .map(|(name, inode)| (name.clone(), node_of(inode)))
            .collect();
        Ok((entries, page.more))
    }

    async fn create_bucket(&self, name: &str, owner: &str) -> Result<(), ClusterError> {
        let now_ns = self.now();
        self.run(Command::CreateBucket {
            name: name.into(),
            owner: owner.into(),
            now_ns,
        })
        .map(drop)
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), ClusterError> {
        let now_ns = self.now();
        self.run(Command::DeleteBucket {
            name: name.into(),
            now_ns,
        })
        .map(drop)
    }

    async fn capacity(&self) -> Result<Capacity, ClusterError> {
        Ok(Capacity {
            total: TOTAL,
            free: FREE,
            inodes: self.reader()?.inode_count()?,
            free_inodes: FREE_INODES,
        })
    }

    async fn read(&self, node: &Node, offset: u64, len: u64) -> Result<Vec<Bytes>, ClusterError> {
        Ok(vec![Bytes::from(self.bytes_of(node, offset, len))])
    }

    async fn locations(&self, ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        let reader = self.reader()?;
        ids.iter()
            .map(|&chunk_id| {
                let chunk = reader.chunk(chunk_id)?;
                Ok(ChunkLocation {
                    chunk_id,
                    version: chunk.version,
                    length: chunk.length,
                    replicas: Vec::new(),
                    shared: chunk.shared(false),
                    min_replicas: 0,
                })
            })
            .collect()
    }

    fn writer(&self, node: &Node) -> MemWriter {
        MemWriter {
            cluster: self.clone(),
            ino: node.ino,
            slots: HashMap::new(),
        }
    }

    async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        self.commit_now(ino, written, commit)
    }

    /// No other mount shares it.
    async fn wrote_in_place(&self, _ino: u64, _chunk_ids: &[u64]) -> Result<(), ClusterError> {
        Ok(())
    }

    /// Every change is applied before its call returns.
    async fn sync_metadata(&self) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), ClusterError> {
        let (versions, more) =
            self.reader()?
                .list_versions(bucket, prefix, key_marker, version_id_marker, limit)?;
        Ok((
            versions
                .iter()
                .map(|v| ObjectVersion::from(convert::version_to_pb(v)))
                .collect(),
            more,
        ))
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> Result<ObjectVersion, ClusterError> {
        let view = self.reader()?.get_version(bucket, key, Some(version_id))?;
        Ok(ObjectVersion::from(convert::version_to_pb(&view)))
    }

    async fn punch_hole(&self, ino: u64, offset: u64, len: u64) -> Result<Node, ClusterError> {
        let now_ns = self.now();
        self.run_node(Command::PunchHole {
            ino,
            offset,
            length: len,
            now_ns,
        })
    }
}
