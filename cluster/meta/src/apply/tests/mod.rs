//! Unit tests of `apply`: namespace semantics and errnos, the key index kept
//! in step with the tree, chunk reference counting, replica bookkeeping.

use std::collections::BTreeMap;

use cairn_common::{ClusterError, ROOT_INO};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{apply, create_tables};
use crate::command::{AttrChange, Command, CommandReply, ObjectSpec, ReplicaRef, WriteCommit};
use crate::query::Reader;
use crate::schema::{self, ClusterMeta, Extent, Inode, NodeKind, EMPTY_ETAG};

mod buckets;
mod certs;
mod chunks;
mod holes;
mod keys;
mod lifecycle;
mod namespace;
mod s3meta;
mod special;

const CHUNK: u64 = 1 << 20;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) db: Database,
    now: i64,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("mds.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        create_tables(&txn).unwrap();
        let meta = ClusterMeta {
            name: "t".into(),
            cluster_id: "id".into(),
            secret: vec![1; 32],
            password_hash: String::new(),
            chunk_size: CHUNK,
            mds_addrs: vec!["127.0.0.1:1".into()],
            created_ns: 1,
            default_replicas: 3,
        };
        apply(&txn, &Command::InitCluster { meta, now_ns: 1 }).unwrap();
        txn.commit().unwrap();
        Fixture {
            _dir: dir,
            db,
            now: 1,
        }
    }

    /// Applies one command in its own transaction, aborting on error, as
    /// the committer does.
    pub(super) fn run(&mut self, cmd: Command) -> Result<CommandReply, ClusterError> {
        let mut txn = self.db.begin_write().unwrap();
        // Tests need no fsync per command; the committer's durability has
        // its own tests.
        txn.set_durability(redb::Durability::None).unwrap();
        match apply(&txn, &cmd) {
            Ok(r) => {
                txn.commit().unwrap();
                Ok(r)
            }
            Err(e) => {
                txn.abort().unwrap();
                Err(e)
            }
        }
    }

    pub(super) fn tick(&mut self) -> i64 {
        self.now += 1;
        self.now
    }

    pub(super) fn reader(&self) -> Reader {
        Reader::new(&self.db).unwrap()
    }

    pub(super) fn bucket(&mut self, name: &str) -> u64 {
        let now = self.tick();
        match self
            .run(Command::CreateBucket {
                name: name.into(),
                owner: "me".into(),
                now_ns: now,
            })
            .unwrap()
        {
            CommandReply::Bucket(b) => b.ino,
            r => panic!("{r:?}"),
        }
    }

    pub(super) fn create(
        &mut self,
        parent: u64,
        name: &str,
        kind: NodeKind,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::CreateNode {
            parent,
            name: name.as_bytes().to_vec(),
            kind,
            mode: 0o644,
            uid: 1,
            gid: 1,
            symlink_target: if kind == NodeKind::Symlink {
                b"target".to_vec()
            } else {
                vec![]
            },
            exclusive: true,
            now_ns: now,
        })
        .map(node)
    }

    pub(super) fn mkdir(&mut self, parent: u64, name: &str) -> u64 {
        self.create(parent, name, NodeKind::Dir).unwrap().ino
    }

    pub(super) fn file(&mut self, parent: u64, name: &str) -> u64 {
        self.create(parent, name, NodeKind::File).unwrap().ino
    }

    pub(super) fn put(
        &mut self,
        bucket: &str,
        key: &[u8],
        spec: ObjectSpec,
    ) -> Result<Inode, ClusterError> {
        self.put_cond(bucket, key, spec, None, None, 0)
    }

    pub(super) fn put_cond(
        &mut self,
        bucket: &str,
        key: &[u8],
        spec: ObjectSpec,
        if_match: Option<&str>,
        if_none_match: Option<&str>,
        request_id: u64,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::PutKey {
            bucket: bucket.into(),
            key: key.to_vec(),
            object: spec,
            if_match: if_match.map(str::to_string),
            if_none_match: if_none_match.map(str::to_string),
            request_id,
            now_ns: now,
        })
        .map(node)
    }

    pub(super) fn delete_key(
        &mut self,
        bucket: &str,
        key: &[u8],
    ) -> Result<CommandReply, ClusterError> {
        let now = self.tick();
        self.run(Command::DeleteKey {
            bucket: bucket.into(),
            key: key.to_vec(),
            now_ns: now,
        })
    }

    pub(super) fn unlink(&mut self, parent: u64, name: &str) -> Result<CommandReply, ClusterError> {
        let now = self.tick();
        self.run(Command::Unlink {
            parent,
            name: name.into(),
            now_ns: now,
        })
    }

    pub(super) fn rmdir(&mut self, parent: u64, name: &str) -> Result<CommandReply, ClusterError> {
        let now = self.tick();
        self.run(Command::Rmdir {
            parent,
            name: name.into(),
            now_ns: now,
        })
    }

    pub(super) fn rename(
        &mut self,
        parent: u64,
        name: &str,
        new_parent: u64,
        new_name: &str,
        no_replace: bool,
    ) -> Result<CommandReply, ClusterError> {
        let now = self.tick();
        self.run(Command::Rename {
            parent,
            name: name.into(),
            new_parent,
            new_name: new_name.into(),
            no_replace,
            now_ns: now,
        })
    }

    pub(super) fn link(
        &mut self,
        ino: u64,
        new_parent: u64,
        new_name: &str,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::Link {
            ino,
            new_parent,
            new_name: new_name.into(),
            now_ns: now,
        })
        .map(node)
    }

    /// Every key of a bucket with its ino, in order.
    pub(super) fn keys(&self, bucket: &str) -> Vec<(String, u64)> {
        self.reader()
            .list_keys(bucket, b"", b"", 10_000)
            .unwrap()
            .entries
            .into_iter()
            .map(|(k, n)| (String::from_utf8_lossy(&k).into_owned(), n.ino))
            .collect()
    }

    pub(super) fn key_names(&self, bucket: &str) -> Vec<String> {
        self.keys(bucket).into_iter().map(|(k, _)| k).collect()
    }

    pub(super) fn names(&self, dir: u64) -> Vec<String> {
        self.reader()
            .readdir(dir, b"", 0)
            .unwrap()
            .entries
            .into_iter()
            .map(|(n, _)| String::from_utf8_lossy(&n).into_owned())
            .collect()
    }

    pub(super) fn lookup(&self, parent: u64, name: &str) -> Result<Inode, ClusterError> {
        self.reader().lookup(parent, name.as_bytes())
    }

    pub(super) fn register_cs(&mut self, host: &str) -> u32 {
        let now = self.tick();
        match self
            .run(Command::RegisterCs {
                host: host.into(),
                tier: 0,
                capacity: 0,
                journal: false,
                now_ns: now,
            })
            .unwrap()
        {
            CommandReply::CsRegistered { cs_id } => cs_id,
            r => panic!("{r:?}"),
        }
    }

    pub(super) fn allocate(&mut self, owner: u64, chain: &[u32]) -> u64 {
        match self
            .run(Command::AllocateChunk {
                owner,
                chain: chain.to_vec(),
            })
            .unwrap()
        {
            CommandReply::Chunk { chunk_id, .. } => chunk_id,
            r => panic!("{r:?}"),
        }
    }

    /// Frees every released chunk, as the background work does after the
    /// grace period.
    pub(super) fn collect(&mut self) {
        let released: Vec<u64> = self
            .reader()
            .chunks()
            .unwrap()
            .into_iter()
            .filter(|(_, c)| c.released)
            .map(|(id, _)| id)
            .collect();
        self.run(Command::FreeChunks {
            chunk_ids: released,
        })
        .unwrap();
    }

    pub(super) fn chunk_exists(&self, id: u64) -> bool {
        self.reader().chunk(id).is_ok()
    }

    pub(super) fn refs(&self, id: u64) -> u32 {
        self.reader().chunk(id).unwrap().refs
    }

    pub(super) fn queued_deletes(&self) -> Vec<(u32, u64, u64)> {
        let txn = self.db.begin_read().unwrap();
        let t = txn.open_table(schema::REPLICA_DELETES).unwrap();
        t.iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                let (cs, c) = k.value();
                (cs, c, v.value())
            })
            .collect()
    }

    pub(super) fn dentry_count(&self) -> u64 {
        let txn = self.db.begin_read().unwrap();
        txn.open_table(schema::DENTRIES).unwrap().len().unwrap()
    }
}

pub(super) fn node(r: CommandReply) -> Inode {
    match r {
        CommandReply::Node(n) => n,
        other => panic!("expected a node, got {other:?}"),
    }
}

pub(super) fn obj(size: u64, etag: &str) -> ObjectSpec {
    ObjectSpec {
        size,
        etag: etag.into(),
        ..ObjectSpec::default()
    }
}

pub(super) fn obj_with(chunk: u64, size: u64, etag: &str) -> ObjectSpec {
    ObjectSpec {
        size,
        etag: etag.into(),
        extents: vec![ext(0, chunk, 0, size)],
        ..ObjectSpec::default()
    }
}

pub(super) fn ext(file_offset: u64, chunk_id: u64, chunk_offset: u64, length: u64) -> Extent {
    Extent {
        file_offset,
        chunk_id,
        chunk_offset,
        length,
    }
}

pub(super) fn is_errno(r: &Result<impl std::fmt::Debug, ClusterError>, errno: i32) -> bool {
    matches!(r, Err(e) if e.errno() == errno)
}
