//! Unit tests of `apply`: namespace semantics and errnos, the key index kept
//! in step with the tree, chunk reference counting, replica bookkeeping.

use std::collections::BTreeMap;

use cairn_common::{FsError, ROOT_INO};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{apply, create_tables};
use crate::command::{AttrChange, Command, CommandReply, ObjectSpec, ReplicaRef};
use crate::query::Reader;
use crate::schema::{self, ClusterMeta, Extent, Inode, NodeKind, EMPTY_ETAG};

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
    pub(super) fn run(&mut self, cmd: Command) -> Result<CommandReply, FsError> {
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
    ) -> Result<Inode, FsError> {
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
    ) -> Result<Inode, FsError> {
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
    ) -> Result<Inode, FsError> {
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

    pub(super) fn delete_key(&mut self, bucket: &str, key: &[u8]) -> Result<CommandReply, FsError> {
        let now = self.tick();
        self.run(Command::DeleteKey {
            bucket: bucket.into(),
            key: key.to_vec(),
            now_ns: now,
        })
    }

    pub(super) fn unlink(&mut self, parent: u64, name: &str) -> Result<CommandReply, FsError> {
        let now = self.tick();
        self.run(Command::Unlink {
            parent,
            name: name.into(),
            now_ns: now,
        })
    }

    pub(super) fn rmdir(&mut self, parent: u64, name: &str) -> Result<CommandReply, FsError> {
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
    ) -> Result<CommandReply, FsError> {
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
    ) -> Result<Inode, FsError> {
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

    pub(super) fn lookup(&self, parent: u64, name: &str) -> Result<Inode, FsError> {
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

pub(super) fn is_errno(r: &Result<impl std::fmt::Debug, FsError>, errno: i32) -> bool {
    matches!(r, Err(e) if e.errno() == errno)
}

// ------------------------------------------------------------- namespace ---

#[test]
fn create_lookup_and_errnos() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let d = f.mkdir(b, "d");
    let file = f.file(d, "f");
    assert_eq!(f.lookup(d, "f").unwrap().ino, file);
    assert_eq!(f.lookup(d, "f").unwrap().etag, EMPTY_ETAG);
    assert!(is_errno(&f.lookup(d, "nope"), libc::ENOENT));
    assert!(is_errno(&f.create(d, "f", NodeKind::File), libc::EEXIST));
    assert!(is_errno(
        &f.create(file, "x", NodeKind::File),
        libc::ENOTDIR
    ));
    assert!(is_errno(&f.create(999, "x", NodeKind::File), libc::ENOENT));
    assert!(is_errno(&f.create(d, "a/b", NodeKind::File), libc::EINVAL));
    assert!(is_errno(&f.create(d, "..", NodeKind::Dir), libc::EINVAL));
    assert!(is_errno(
        &f.create(d, &"x".repeat(256), NodeKind::File),
        libc::ENAMETOOLONG
    ));
    // Not exclusive: the existing node of the same kind comes back.
    let now = f.tick();
    let again = node(
        f.run(Command::CreateNode {
            parent: d,
            name: b"f".to_vec(),
            kind: NodeKind::File,
            mode: 0o600,
            uid: 0,
            gid: 0,
            symlink_target: vec![],
            exclusive: false,
            now_ns: now,
        })
        .unwrap(),
    );
    assert_eq!(again.ino, file);
    // Directory link counts: b has one subdirectory.
    assert_eq!(f.reader().inode(b).unwrap().nlink, 3);
    assert_eq!(f.reader().inode(d).unwrap().nlink, 2);
    // Inherited attributes.
    assert_eq!(f.reader().inode(file).unwrap().replicas, 3);
}

#[test]
fn root_holds_only_buckets() {
    let mut f = Fixture::new();
    assert!(is_errno(
        &f.create(ROOT_INO, "file", NodeKind::File),
        libc::EACCES
    ));
    // mkdir at the top makes a bucket.
    let b = f.mkdir(ROOT_INO, "made-by-mkdir");
    assert_eq!(f.reader().bucket("made-by-mkdir").unwrap().ino, b);
    assert_eq!(f.reader().inode(ROOT_INO).unwrap().nlink, 3);
    assert!(matches!(
        f.run(Command::CreateBucket {
            name: "made-by-mkdir".into(),
            owner: String::new(),
            now_ns: 5
        }),
        Err(FsError::Exists(_))
    ));
    // rmdir at the top deletes it.
    f.rmdir(ROOT_INO, "made-by-mkdir").unwrap();
    assert!(f.reader().bucket("made-by-mkdir").is_err());
    assert_eq!(f.reader().inode(ROOT_INO).unwrap().nlink, 2);
}

#[test]
fn unlink_rmdir_errnos() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let d = f.mkdir(b, "d");
    f.file(d, "f");
    assert!(is_errno(&f.rmdir(b, "d"), libc::ENOTEMPTY));
    assert!(is_errno(&f.unlink(b, "d"), libc::EISDIR));
    assert!(is_errno(&f.rmdir(d, "f"), libc::ENOTDIR));
    assert!(is_errno(&f.unlink(d, "nope"), libc::ENOENT));
    f.unlink(d, "f").unwrap();
    f.rmdir(b, "d").unwrap();
    assert!(f.key_names("b").is_empty());
    assert_eq!(f.reader().inode(b).unwrap().nlink, 2);
    assert!(is_errno(&f.reader().inode(d).map(|_| ()), libc::ENOENT));
}

#[test]
fn a_conditional_unlink_removes_only_the_inode_it_names() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let old = f.file(b, "f");
    f.unlink(b, "f").unwrap();
    let new = f.file(b, "f");
    let unlink_of = |ino: u64| Command::UnlinkInode {
        parent: b,
        name: b"f".to_vec(),
        ino,
        now_ns: 9,
    };
    // The name now names another file: ENOENT, and the file stays.
    assert!(is_errno(&f.run(unlink_of(old)), libc::ENOENT));
    assert_eq!(f.keys("b"), vec![("f".into(), new)]);
    f.run(unlink_of(new)).unwrap();
    assert!(f.key_names("b").is_empty());
    assert!(is_errno(&f.reader().inode(new).map(|_| ()), libc::ENOENT));
    assert!(is_errno(&f.run(unlink_of(new)), libc::ENOENT));
}

#[test]
fn keys_follow_create_rename_unlink_and_link() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let a = f.mkdir(b, "a");
    let sub = f.mkdir(a, "sub");
    let c = f.file(sub, "c");
    let top = f.file(b, "top");
    let sym = f.create(a, "ln", NodeKind::Symlink).unwrap().ino;
    assert_eq!(
        f.keys("b"),
        vec![
            ("a/".into(), a),
            ("a/ln".into(), sym),
            ("a/sub/".into(), sub),
            ("a/sub/c".into(), c),
            ("top".into(), top)
        ]
    );
    // Rename a file within and across directories.
    f.rename(sub, "c", b, "c2", false).unwrap();
    assert!(f.key_names("b").contains(&"c2".to_string()));
    assert!(!f.key_names("b").contains(&"a/sub/c".to_string()));
    // Rename a directory: every key below moves.
    f.rename(b, "c2", sub, "deep", false).unwrap();
    f.rename(b, "a", b, "z", false).unwrap();
    assert_eq!(
        f.key_names("b"),
        vec!["top", "z/", "z/ln", "z/sub/", "z/sub/deep"]
    );
    assert_eq!(f.lookup(b, "z").unwrap().ino, a);
    // Hard link: a second key for the same inode.
    let linked = f.link(top, sub, "top-link").unwrap();
    assert_eq!(linked.nlink, 2);
    let keys = f.keys("b");
    assert!(keys.contains(&("top".into(), top)));
    assert!(keys.contains(&("z/sub/top-link".into(), top)));
    f.unlink(b, "top").unwrap();
    assert_eq!(f.reader().inode(top).unwrap().nlink, 1);
    assert!(!f.key_names("b").contains(&"top".to_string()));
    assert!(f.key_names("b").contains(&"z/sub/top-link".to_string()));
    assert!(is_errno(&f.link(top, sub, "top-link"), libc::EEXIST));
    assert!(is_errno(&f.link(sub, b, "dirlink"), libc::EACCES));
}

#[test]
fn rename_rules() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let other = f.bucket("other");
    let d = f.mkdir(b, "d");
    let e = f.mkdir(d, "e");
    f.file(b, "f1");
    let f2 = f.file(b, "f2");
    f.file(e, "inner");
    // Across buckets.
    assert!(is_errno(
        &f.rename(b, "f1", other, "f1", false),
        libc::EXDEV
    ));
    assert!(is_errno(
        &f.rename(ROOT_INO, "b", ROOT_INO, "c", false),
        libc::EACCES
    ));
    // Into its own subtree.
    assert!(is_errno(&f.rename(b, "d", e, "d", false), libc::EINVAL));
    assert!(is_errno(&f.rename(b, "d", d, "x", false), libc::EINVAL));
    // no_replace.
    assert!(is_errno(&f.rename(b, "f1", b, "f2", true), libc::EEXIST));
    // Kinds must agree; a replaced directory must be empty.
    assert!(is_errno(&f.rename(b, "d", b, "f2", false), libc::ENOTDIR));
    assert!(is_errno(&f.rename(b, "f1", b, "d", false), libc::EISDIR));
    let empty = f.mkdir(b, "empty");
    assert!(is_errno(
        &f.rename(b, "empty", d, "e", false),
        libc::ENOTEMPTY
    ));
    // Replacing a file frees the old inode and keeps one key.
    let f1 = f.lookup(b, "f1").unwrap().ino;
    f.rename(b, "f1", b, "f2", false).unwrap();
    assert!(is_errno(&f.reader().inode(f2).map(|_| ()), libc::ENOENT));
    assert_eq!(f.lookup(b, "f2").unwrap().ino, f1);
    assert_eq!(f.keys("b").iter().filter(|(k, _)| k == "f2").count(), 1);
    assert!(!f.key_names("b").contains(&"f1".to_string()));
    // Replacing an empty directory; link counts follow.
    f.rmdir(e, "inner").ok(); // inner is a file: ENOTDIR, ignored
    f.unlink(e, "inner").unwrap();
    f.rename(b, "empty", d, "e", false).unwrap();
    assert_eq!(f.lookup(d, "e").unwrap().ino, empty);
    assert_eq!(f.reader().inode(d).unwrap().nlink, 3);
    assert_eq!(f.reader().inode(b).unwrap().nlink, 3); // only d left at top
    assert!(f.key_names("b").contains(&"d/e/".to_string()));
    // Renaming onto another name of the same file does nothing.
    let g = f.file(b, "g");
    f.link(g, b, "g2").unwrap();
    f.rename(b, "g", b, "g2", false).unwrap();
    assert_eq!(f.lookup(b, "g").unwrap().ino, g);
    assert_eq!(f.lookup(b, "g2").unwrap().ino, g);
}

#[test]
fn set_attr_changes_and_truncation() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let file = f.file(b, "f");
    let c1 = f.allocate(file, &[cs]);
    let c2 = f.allocate(file, &[cs]);
    let now = f.tick();
    f.run(Command::CommitWrite {
        ino: file,
        extents: vec![ext(0, c1, 0, CHUNK), ext(CHUNK, c2, 0, 100)],
        size: CHUNK + 100,
        etag: "e".into(),
        mtime_ns: 0,
        chunk_lengths: vec![(c1, CHUNK), (c2, 100)],
        replace_layout: true,
        now_ns: now,
    })
    .unwrap();
    let set = |f: &mut Fixture, change: AttrChange| {
        let now = f.tick();
        f.run(Command::SetAttr {
            ino: file,
            change,
            now_ns: now,
        })
        .map(node)
    };
    let n = set(
        &mut f,
        AttrChange {
            mode: Some(0o100600),
            uid: Some(7),
            set_xattrs: BTreeMap::from([("user.a".to_string(), b"1".to_vec())]),
            ..AttrChange::default()
        },
    )
    .unwrap();
    assert_eq!(
        (n.mode, n.uid, n.xattrs.get("user.a").cloned()),
        (0o600, 7, Some(b"1".to_vec()))
    );
    // Truncating down past c2 frees it; c1 is trimmed.
    let n = set(
        &mut f,
        AttrChange {
            size: Some(10),
            remove_xattrs: vec!["user.a".into()],
            ..AttrChange::default()
        },
    )
    .unwrap();
    assert_eq!(n.layout, vec![ext(0, c1, 0, 10)]);
    assert_eq!(n.etag, "", "a truncated file's ETag is stale");
    assert!(n.xattrs.is_empty());
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(f.chunk_exists(c1));
    assert!(f.queued_deletes().contains(&(cs, c2, 1)));
    // Up: only the size.
    let n = set(
        &mut f,
        AttrChange {
            size: Some(1 << 30),
            ..AttrChange::default()
        },
    )
    .unwrap();
    assert_eq!(n.size, 1 << 30);
    assert_eq!(n.layout, vec![ext(0, c1, 0, 10)]);
    // To zero: everything released, ETag of empty content.
    let n = set(
        &mut f,
        AttrChange {
            size: Some(0),
            ..AttrChange::default()
        },
    )
    .unwrap();
    assert!(n.layout.is_empty());
    assert_eq!(n.etag, EMPTY_ETAG);
    f.collect();
    assert!(!f.chunk_exists(c1));
    // Sizes of directories are refused.
    let now = f.tick();
    assert!(is_errno(
        &f.run(Command::SetAttr {
            ino: b,
            change: AttrChange {
                size: Some(1),
                ..AttrChange::default()
            },
            now_ns: now
        }),
        libc::EISDIR
    ));
    assert!(is_errno(
        &set(
            &mut f,
            AttrChange {
                replicas: Some(0),
                ..AttrChange::default()
            }
        ),
        libc::EINVAL
    ));
}

#[test]
fn the_minimum_replica_count_is_set_with_the_count_and_inherited() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let set = |f: &mut Fixture, ino: u64, replicas: Option<u32>, min: u32| {
        let now = f.tick();
        f.run(Command::SetAttrWithMinimum {
            ino,
            change: AttrChange {
                replicas,
                ..AttrChange::default()
            },
            min_replicas: min,
            now_ns: now,
        })
        .map(node)
    };
    // New buckets take the root's: 3 and the default minimum (stored as 0).
    let root_made = f.create(b, "before", NodeKind::File).unwrap();
    assert_eq!((root_made.replicas, root_made.min_replicas), (3, 0));
    let n = set(&mut f, b, Some(3), 3).unwrap();
    assert_eq!((n.replicas, n.min_replicas), (3, 3));
    // What is made below inherits both.
    let d = f.mkdir(b, "d");
    let file = f.create(d, "f", NodeKind::File).unwrap();
    assert_eq!((file.replicas, file.min_replicas), (3, 3));
    // A plain SetAttr leaves the minimum alone.
    let now = f.tick();
    let n = node(
        f.run(Command::SetAttr {
            ino: file.ino,
            change: AttrChange {
                replicas: Some(4),
                ..AttrChange::default()
            },
            now_ns: now,
        })
        .unwrap(),
    );
    assert_eq!((n.replicas, n.min_replicas), (4, 3));
    // A minimum above the count is refused, and changes nothing.
    assert!(is_errno(&set(&mut f, file.ino, Some(2), 3), libc::EINVAL));
    assert!(is_errno(&set(&mut f, file.ino, None, 5), libc::EINVAL));
    assert_eq!(f.lookup(d, "f").unwrap().replicas, 4);
    // Back to the default minimum.
    let n = set(&mut f, file.ino, Some(5), 0).unwrap();
    assert_eq!((n.replicas, n.min_replicas), (5, 0));
}

// ------------------------------------------------------------------- keys ---

#[test]
fn put_key_makes_implicit_dirs_that_delete_key_removes() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let n = f.put("b", b"a/b/c", obj(0, "e1")).unwrap();
    let a = f.lookup(b, "a").unwrap();
    assert!(a.implicit);
    let bdir = f.lookup(a.ino, "b").unwrap();
    assert!(bdir.implicit);
    assert_eq!(f.lookup(bdir.ino, "c").unwrap().ino, n.ino);
    assert!(!n.key_only);
    // Implicit directories have no keys.
    assert_eq!(f.key_names("b"), vec!["a/b/c"]);
    f.put("b", b"a/x", obj(0, "e2")).unwrap();
    f.delete_key("b", b"a/b/c").unwrap();
    // a/b emptied and removed; a still holds x.
    assert!(f.lookup(a.ino, "b").is_err());
    assert_eq!(f.names(a.ino), vec!["x"]);
    f.delete_key("b", b"a/x").unwrap();
    assert!(
        f.lookup(b, "a").is_err(),
        "emptied implicit directory removed"
    );
    assert_eq!(f.dentry_count(), 1, "only the bucket's own dentry is left");
}

#[test]
fn explicit_directories_stay_when_emptied() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    // A marker makes `m` explicit; mkdir makes `k` explicit. S3 clients
    // send markers as empty files.
    let m = f
        .put(
            "b",
            b"m/",
            ObjectSpec {
                kind: Some(NodeKind::File),
                etag: EMPTY_ETAG.into(),
                ..ObjectSpec::default()
            },
        )
        .unwrap();
    assert_eq!(m.kind, NodeKind::Dir);
    assert_eq!(m.etag, EMPTY_ETAG);
    let k = f.mkdir(b, "k");
    f.put("b", b"m/sub/file", obj(0, "e")).unwrap();
    f.put("b", b"k/file", obj(0, "e")).unwrap();
    f.delete_key("b", b"m/sub/file").unwrap();
    f.delete_key("b", b"k/file").unwrap();
    assert_eq!(f.lookup(b, "m").unwrap().ino, m.ino);
    assert!(f.lookup(m.ino, "sub").is_err(), "implicit sub removed");
    assert_eq!(f.lookup(b, "k").unwrap().ino, k);
    assert_eq!(f.key_names("b"), vec!["k/", "m/"]);
    // A marker on an existing implicit directory makes it explicit.
    f.put("b", b"i/j/file", obj(0, "e")).unwrap();
    let i = f.lookup(b, "i").unwrap();
    assert!(i.implicit);
    let marked = f.put("b", b"i/", obj(0, "")).unwrap();
    assert_eq!(marked.ino, i.ino);
    assert!(!f.lookup(b, "i").unwrap().implicit);
    f.delete_key("b", b"i/j/file").unwrap();
    assert!(f.lookup(b, "i").is_ok());
    // Deleting the marker of a non-empty directory keeps it, implicit.
    f.put("b", b"i/keep", obj(0, "e")).unwrap();
    f.delete_key("b", b"i/").unwrap();
    assert!(f.lookup(b, "i").unwrap().implicit);
    assert!(!f.key_names("b").contains(&"i/".to_string()));
    // Deleting the marker of an empty directory removes it.
    f.delete_key("b", b"m/").unwrap();
    assert!(f.lookup(b, "m").is_err());
}

#[test]
fn non_posix_keys_live_only_in_the_key_index() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let long = format!("x/{}", "y".repeat(300));
    let odd: Vec<&[u8]> = vec![
        b"a//b",
        b"./x",
        b"a/../b",
        b"/lead",
        long.as_bytes(),
        b"nul\0byte",
    ];
    for key in &odd {
        let n = f.put("b", key, obj(3, "e")).unwrap();
        assert!(n.key_only, "{}", String::from_utf8_lossy(key));
        assert_eq!(f.reader().get_key("b", key).unwrap().ino, n.ino);
    }
    // A key ending in `/` with content is an object, key-only.
    let slash = f.put("b", b"dir/", obj(5, "e")).unwrap();
    assert!(slash.key_only);
    assert_eq!(slash.kind, NodeKind::File);
    assert_eq!(
        f.dentry_count(),
        1,
        "no dentries or implicit dirs were made"
    );
    assert!(f.names(b).is_empty());
    assert_eq!(f.key_names("b").len(), odd.len() + 1);
    // Fully usable: replaced, deleted.
    let again = f.put("b", b"a//b", obj(9, "e2")).unwrap();
    assert_eq!(again.size, 9);
    assert_eq!(f.reader().get_key("b", b"a//b").unwrap().size, 9);
    f.delete_key("b", b"a//b").unwrap();
    assert!(is_errno(&f.reader().get_key("b", b"a//b"), libc::ENOENT));
    // A bucket with key-only objects is not empty.
    assert!(is_errno(
        &f.run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: 99
        }),
        libc::ENOTEMPTY
    ));
}

#[test]
fn key_whose_path_is_taken_by_another_kind_is_key_only() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let file_a = f.put("b", b"a", obj(1, "e")).unwrap();
    // `a/b` while `a` is a file.
    let under = f.put("b", b"a/b", obj(1, "e")).unwrap();
    assert!(under.key_only);
    assert_eq!(f.lookup(b, "a").unwrap().ino, file_a.ino);
    // `d` while `d/` is a directory.
    f.put("b", b"d/x", obj(1, "e")).unwrap();
    let file_d = f.put("b", b"d", obj(1, "e")).unwrap();
    assert!(file_d.key_only);
    assert_eq!(f.lookup(b, "d").unwrap().kind, NodeKind::Dir);
    assert_eq!(f.key_names("b"), vec!["a", "a/b", "d", "d/x"]);
    // A filesystem create at the path of a key-only object replaces it.
    f.delete_key("b", b"a").unwrap();
    let a_dir = f.mkdir(b, "a");
    let created = f.file(a_dir, "b");
    assert_eq!(f.reader().get_key("b", b"a/b").unwrap().ino, created);
    assert!(is_errno(
        &f.reader().inode(under.ino).map(|_| ()),
        libc::ENOENT
    ));
}

#[test]
fn list_keys_in_byte_order_with_prefix_start_after_and_limit() {
    let mut f = Fixture::new();
    f.bucket("b");
    f.bucket("b2");
    f.put("b2", b"a0", obj(0, "e")).unwrap();
    let keys: Vec<&[u8]> = vec![b"a/b", b"a-b", b"a0", b"B", b"a", b"\xffz", b"a/a", b"ab"];
    for k in &keys {
        f.put("b", k, obj(0, "e")).unwrap();
    }
    let list = |f: &Fixture, prefix: &[u8], after: &[u8], limit: u32| {
        let page = f.reader().list_keys("b", prefix, after, limit).unwrap();
        (
            page.entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            page.more,
        )
    };
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    sorted.sort();
    assert_eq!(list(&f, b"", b"", 0), (sorted.clone(), false));
    assert_eq!(
        sorted
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>(),
        vec!["B", "a", "a-b", "a/a", "a/b", "a0", "ab", "\u{fffd}z"]
    );
    assert_eq!(
        list(&f, b"a/", b"", 0).0,
        vec![b"a/a".to_vec(), b"a/b".to_vec()]
    );
    assert_eq!(
        list(&f, b"a", b"a-b", 2),
        (vec![b"a/a".to_vec(), b"a/b".to_vec()], true)
    );
    assert_eq!(
        list(&f, b"a", b"a/b", 2),
        (vec![b"a0".to_vec(), b"ab".to_vec()], false)
    );
    // start_after before the prefix: the prefix rules.
    assert_eq!(list(&f, b"a/", b"A", 0).0.len(), 2);
    // Pages chain to the full listing.
    let mut after = Vec::new();
    let mut all = Vec::new();
    loop {
        let (page, more) = list(&f, b"", &after, 3);
        all.extend(page.iter().cloned());
        after = page.last().cloned().unwrap_or_default();
        if !more {
            break;
        }
    }
    assert_eq!(all, sorted);
    assert!(is_errno(
        &f.reader().list_keys("nope", b"", b"", 0).map(|_| ()),
        libc::ENOENT
    ));
}

#[test]
fn conditional_puts() {
    let mut f = Fixture::new();
    f.bucket("b");
    assert!(is_errno(
        &f.put_cond("b", b"k", obj(1, "e1"), Some("\"e1\""), None, 0),
        libc::ENOENT
    ));
    f.put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 0)
        .unwrap();
    assert!(matches!(
        f.put_cond("b", b"k", obj(1, "e2"), None, Some("*"), 0),
        Err(FsError::PreconditionFailed(_))
    ));
    assert!(matches!(
        f.put_cond("b", b"k", obj(1, "e2"), Some("\"other\""), None, 0),
        Err(FsError::PreconditionFailed(_))
    ));
    assert_eq!(f.reader().get_key("b", b"k").unwrap().etag, "e1");
    let n = f
        .put_cond("b", b"k", obj(2, "e2"), Some("\"e1\""), None, 0)
        .unwrap();
    assert_eq!(n.etag, "e2");
    f.put_cond("b", b"k", obj(3, "e3"), Some("*"), None, 0)
        .unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 3);
    assert!(is_errno(&f.put("nobucket", b"k", obj(0, "")), libc::ENOENT));
    assert!(is_errno(&f.put("b", b"", obj(0, "")), libc::EINVAL));
    assert!(is_errno(
        &f.put("b", &[b'k'; 1025], obj(0, "")),
        libc::ENAMETOOLONG
    ));
}

#[test]
fn put_key_request_ids_are_deduplicated() {
    let mut f = Fixture::new();
    f.bucket("b");
    let first = f
        .put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 42)
        .unwrap();
    // The retry would fail its condition if applied again; it gets the same
    // answer instead.
    let retry = f
        .put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 42)
        .unwrap();
    assert_eq!(first, retry);
    // A different content under the same id is not applied either.
    f.put_cond("b", b"k", obj(7, "e7"), None, None, 42).unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 1);
    // Another id applies.
    f.put_cond("b", b"k", obj(7, "e7"), None, None, 43).unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 7);
}

#[test]
fn failed_command_leaves_no_partial_change() {
    let mut f = Fixture::new();
    f.bucket("b");
    let before = f.dentry_count();
    // Implicit dirs would be made before the extents' missing chunk is found.
    let err = f.put("b", b"x/y/z", obj_with(12345, 10, "e"));
    assert!(is_errno(&err, libc::EINVAL));
    assert_eq!(f.dentry_count(), before);
    assert!(f.key_names("b").is_empty());
    // The inode counter did not move either: the next inode is the same.
    let next = f.put("b", b"ok", obj(0, "e")).unwrap().ino;
    let txn = f.db.begin_read().unwrap();
    let counters: schema::Counters = schema::get_record::<&str, _, _>(
        &txn.open_table(schema::META).unwrap(),
        schema::META_COUNTERS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(counters.next_ino, next + 1);
}

// ----------------------------------------------------------------- chunks ---

#[test]
fn chunk_references_are_counted_and_freed() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs1 = f.register_cs("h1");
    let cs2 = f.register_cs("h2");
    let c1 = f.allocate(b, &[cs1, cs2]);
    assert_eq!(f.refs(c1), 0);
    let n = f.put("b", b"obj", obj_with(c1, 100, "e1")).unwrap();
    assert_eq!(f.refs(c1), 1);
    // Hard link: same inode, still one reference.
    f.link(n.ino, b, "obj-link").unwrap();
    assert_eq!(f.refs(c1), 1);
    // Replacing the object releases c1 for the new c2.
    let c2 = f.allocate(b, &[cs1, cs2]);
    f.put("b", b"obj", obj_with(c2, 50, "e2")).unwrap();
    f.collect();
    assert!(!f.chunk_exists(c1));
    assert_eq!(f.refs(c2), 1);
    let deletes = f.queued_deletes();
    assert!(deletes.contains(&(cs1, c1, 1)) && deletes.contains(&(cs2, c1, 1)));
    // Both names see the new content; dropping one name keeps the chunk.
    assert_eq!(
        f.lookup(b, "obj-link").unwrap().layout,
        vec![ext(0, c2, 0, 50)]
    );
    f.delete_key("b", b"obj").unwrap();
    assert!(f.chunk_exists(c2));
    f.unlink(b, "obj-link").unwrap();
    f.collect();
    assert!(!f.chunk_exists(c2));
    // Deletions are handed to each CS once.
    match f.run(Command::TakeReplicaDeletes { cs_id: cs1 }).unwrap() {
        CommandReply::Deletes(d) => {
            let ids: Vec<u64> = d.iter().map(|r| r.chunk_id).collect();
            assert_eq!(ids, vec![c1, c2]);
        }
        r => panic!("{r:?}"),
    }
    match f.run(Command::TakeReplicaDeletes { cs_id: cs1 }).unwrap() {
        CommandReply::Deletes(d) => assert!(d.is_empty()),
        r => panic!("{r:?}"),
    }
    assert_eq!(
        f.queued_deletes().len(),
        2,
        "cs2's deletions are still queued"
    );
}

#[test]
fn a_chunk_shared_by_two_inodes_lives_until_both_release_it() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let c = f.allocate(b, &[cs]);
    f.put("b", b"x", obj_with(c, 10, "e")).unwrap();
    f.put("b", b"y", obj_with(c, 10, "e")).unwrap();
    assert_eq!(f.refs(c), 2);
    f.delete_key("b", b"x").unwrap();
    assert_eq!(f.refs(c), 1);
    f.delete_key("b", b"y").unwrap();
    f.collect();
    assert!(!f.chunk_exists(c));
}

#[test]
fn commit_write_overlays_extents_and_tracks_lengths() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let file = f.file(b, "f");
    let c1 = f.allocate(file, &[cs]);
    let c2 = f.allocate(file, &[cs]);
    let commit = |f: &mut Fixture,
                  extents: Vec<Extent>,
                  size: u64,
                  lengths: Vec<(u64, u64)>,
                  replace: bool| {
        let now = f.tick();
        f.run(Command::CommitWrite {
            ino: file,
            extents,
            size,
            etag: String::new(),
            mtime_ns: 77,
            chunk_lengths: lengths,
            replace_layout: replace,
            now_ns: now,
        })
        .map(node)
    };
    commit(
        &mut f,
        vec![ext(0, c1, 0, 1000)],
        1000,
        vec![(c1, 1000)],
        false,
    )
    .unwrap();
    // A random write in the middle splits the extent.
    let n = commit(
        &mut f,
        vec![ext(100, c2, 0, 50)],
        1000,
        vec![(c2, 50)],
        false,
    )
    .unwrap();
    assert_eq!(
        n.layout,
        vec![
            ext(0, c1, 0, 100),
            ext(100, c2, 0, 50),
            ext(150, c1, 150, 850)
        ]
    );
    assert_eq!(n.mtime_ns, 77);
    assert_eq!(f.reader().chunk(c1).unwrap().length, 1000);
    assert_eq!(f.reader().chunk(c2).unwrap().length, 50);
    // Lengths are high-water marks.
    commit(
        &mut f,
        vec![ext(100, c2, 0, 10)],
        1000,
        vec![(c2, 10)],
        false,
    )
    .unwrap();
    assert_eq!(f.reader().chunk(c2).unwrap().length, 50);
    // Overwriting all of c1's ranges releases it.
    let n = commit(
        &mut f,
        vec![ext(0, c2, 0, 1000)],
        1000,
        vec![(c2, 1000)],
        true,
    )
    .unwrap();
    assert_eq!(n.layout, vec![ext(0, c2, 0, 1000)]);
    f.collect();
    assert!(!f.chunk_exists(c1));
    // Bad extents are refused.
    assert!(is_errno(
        &commit(&mut f, vec![ext(0, c2, CHUNK - 1, 2)], 2, vec![], true),
        libc::EINVAL
    ));
    assert!(is_errno(
        &commit(
            &mut f,
            vec![ext(0, c2, 0, 10), ext(5, c2, 0, 10)],
            20,
            vec![],
            true
        ),
        libc::EINVAL
    ));
    assert!(is_errno(
        &commit(&mut f, vec![ext(0, 999, 0, 10)], 10, vec![], true),
        libc::EINVAL
    ));
    let now = f.tick();
    assert!(is_errno(
        &f.run(Command::CommitWrite {
            ino: b,
            extents: vec![],
            size: 0,
            etag: String::new(),
            mtime_ns: 0,
            chunk_lengths: vec![],
            replace_layout: true,
            now_ns: now
        }),
        libc::EISDIR
    ));
}

#[test]
fn layout_algebra() {
    use super::chunks::{overlay_extents, truncate_extents};
    let old = vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100)];
    // Spanning the boundary.
    assert_eq!(
        overlay_extents(&old, &[ext(50, 3, 0, 100)]),
        vec![ext(0, 1, 0, 50), ext(50, 3, 0, 100), ext(150, 2, 50, 50)]
    );
    // Past the end (append) and covering all.
    assert_eq!(
        overlay_extents(&old, &[ext(300, 3, 0, 10)]),
        vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100), ext(300, 3, 0, 10)]
    );
    assert_eq!(
        overlay_extents(&old, &[ext(0, 3, 0, 200)]),
        vec![ext(0, 3, 0, 200)]
    );
    assert_eq!(
        truncate_extents(&old, 150),
        vec![ext(0, 1, 0, 100), ext(100, 2, 0, 50)]
    );
    assert_eq!(truncate_extents(&old, 100), vec![ext(0, 1, 0, 100)]);
    assert!(truncate_extents(&old, 0).is_empty());
}

#[test]
fn allocate_chunk_checks_owner_and_chain() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    assert!(is_errno(
        &f.run(Command::AllocateChunk {
            owner: 999,
            chain: vec![cs]
        }),
        libc::ENOENT
    ));
    assert!(is_errno(
        &f.run(Command::AllocateChunk {
            owner: b,
            chain: vec![]
        }),
        libc::EINVAL
    ));
    assert!(is_errno(
        &f.run(Command::AllocateChunk {
            owner: b,
            chain: vec![cs, cs]
        }),
        libc::EINVAL
    ));
    assert!(is_errno(
        &f.run(Command::AllocateChunk {
            owner: b,
            chain: vec![77]
        }),
        libc::EINVAL
    ));
    let c = f.allocate(b, &[cs]);
    let info = f.reader().chunk(c).unwrap();
    assert_eq!(
        (info.version, info.length, info.replicas.clone()),
        (1, 0, vec![cs])
    );
    assert_eq!(f.reader().replica_count(cs).unwrap(), 1);
}

#[test]
fn allocate_chunks_makes_count_chunks_in_one_command() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs1 = f.register_cs("h1");
    let cs2 = f.register_cs("h2");
    for count in [0, super::chunks::MAX_ALLOCATE + 1] {
        assert!(is_errno(
            &f.run(Command::AllocateChunks {
                owner: b,
                chain: vec![cs1, cs2],
                count
            }),
            libc::EINVAL
        ));
    }
    let made = match f
        .run(Command::AllocateChunks {
            owner: b,
            chain: vec![cs1, cs2],
            count: 3,
        })
        .unwrap()
    {
        CommandReply::Chunks(made) => made,
        r => panic!("{r:?}"),
    };
    let ids: Vec<u64> = made.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for id in ids {
        let info = f.reader().chunk(id).unwrap();
        assert_eq!((info.refs, info.replicas.clone()), (0, vec![cs1, cs2]));
    }
    assert_eq!(f.reader().replica_count(cs2).unwrap(), 3);
    // A refused one leaves nothing behind: the next chunk id follows on.
    let next = f.allocate(b, &[cs1]);
    assert_eq!(next, made[2].0 + 1);
}

#[test]
fn drop_replica_bumps_the_version_once() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let (cs1, cs2, cs3) = (
        f.register_cs("h1"),
        f.register_cs("h2"),
        f.register_cs("h3"),
    );
    let c = f.allocate(b, &[cs1, cs2, cs3]);
    let drop = |f: &mut Fixture, version: u64, cs_id: u32, bad: bool| {
        let cmd = if bad {
            Command::DropBadReplica {
                chunk_id: c,
                version,
                cs_id,
            }
        } else {
            Command::DropReplica {
                chunk_id: c,
                version,
                cs_id,
            }
        };
        f.run(cmd).map(|r| match r {
            CommandReply::Chunk { chunk, .. } => chunk,
            r => panic!("{r:?}"),
        })
    };
    let after = drop(&mut f, 1, cs2, false).unwrap();
    assert_eq!((after.version, after.replicas.clone()), (2, vec![cs1, cs3]));
    assert!(f.queued_deletes().contains(&(cs2, c, 1)));
    assert_eq!(f.reader().replica_count(cs2).unwrap(), 0);
    // A writer that saw version 1 drops cs3: nothing changes, it gets v2.
    let same = drop(&mut f, 1, cs3, false).unwrap();
    assert_eq!((same.version, same.replicas.clone()), (2, vec![cs1, cs3]));
    // A bad replica is dropped without a bump: the survivors stay readable.
    let after = drop(&mut f, 2, cs3, true).unwrap();
    assert_eq!((after.version, after.replicas.clone()), (2, vec![cs1]));
    assert!(f.queued_deletes().contains(&(cs3, c, 2)));
    // The last replica stays: refused for a writer, kept for a bad report.
    assert!(is_errno(&drop(&mut f, 2, cs1, false), libc::EIO));
    let kept = drop(&mut f, 2, cs1, true).unwrap();
    assert_eq!((kept.version, kept.replicas), (2, vec![cs1]));
    assert!(is_errno(
        &f.run(Command::DropReplica {
            chunk_id: 999,
            version: 1,
            cs_id: cs1
        }),
        libc::ENOENT
    ));
}

#[test]
fn full_report_reconciles_the_chunk_map() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let (cs1, cs2) = (f.register_cs("h1"), f.register_cs("h2"));
    let kept = f.allocate(b, &[cs1, cs2]);
    let missing = f.allocate(b, &[cs1, cs2]);
    let stale = f.allocate(b, &[cs1, cs2]);
    let elsewhere = f.allocate(b, &[cs2]);
    let freed = f.allocate(b, &[cs1]);
    let in_flight = f.allocate(b, &[cs1, cs2]);
    let in_flight_old = f.allocate(b, &[cs1, cs2]);
    let dropped = f.allocate(b, &[cs1, cs2]);
    // Committed chunks (referenced by objects); the in-flight ones are not.
    for (i, c) in [kept, missing, stale, elsewhere, dropped]
        .into_iter()
        .enumerate()
    {
        f.put("b", format!("o{i}").as_bytes(), obj_with(c, 1, "e"))
            .unwrap();
    }
    // `stale` goes to version 2 (cs2 dropped); cs1 will report version 1.
    f.run(Command::DropReplica {
        chunk_id: stale,
        version: 1,
        cs_id: cs2,
    })
    .unwrap();
    f.run(Command::DropReplica {
        chunk_id: in_flight_old,
        version: 1,
        cs_id: cs2,
    })
    .unwrap();
    // `dropped`: cs1 was dropped by a writer (version 2); its copy is stale.
    f.run(Command::DropReplica {
        chunk_id: dropped,
        version: 1,
        cs_id: cs1,
    })
    .unwrap();
    // `freed`: referenced then released, so queued for deletion on cs1.
    f.put("b", b"tmp", obj_with(freed, 1, "e")).unwrap();
    f.delete_key("b", b"tmp").unwrap();
    f.collect();
    assert!(f.queued_deletes().contains(&(cs1, freed, 1)));
    let r = |chunk_id, version| ReplicaRef {
        chunk_id,
        version,
        length: 1,
    };
    let report = vec![
        r(kept, 1),
        r(stale, 1),
        r(elsewhere, 1),
        r(freed, 1),
        r(424242, 3),
        r(in_flight_old, 1),
        r(dropped, 1),
    ];
    let deletes = match f
        .run(Command::ReconcileReplicas { cs_id: cs1, report })
        .unwrap()
    {
        CommandReply::Reconciled {
            deletes,
            set_versions,
        } => {
            // `stale` (listed, behind: its writer died before SetVersion) is
            // ordered to the chunk's version.
            assert_eq!(set_versions, vec![(stale, 1, 2)]);
            deletes
                .into_iter()
                .map(|d| (d.chunk_id, d.version))
                .collect::<Vec<_>>()
        }
        r => panic!("{r:?}"),
    };
    let mut expected = vec![(elsewhere, 1), (freed, 1), (424242, 3), (dropped, 1)];
    expected.sort();
    assert_eq!(deletes, expected);
    // `missing` is no longer listed on cs1; `kept` is; `stale` (listed, but
    // behind: its writer died before SetVersion) is kept for repair.
    assert_eq!(f.reader().chunk(missing).unwrap().replicas, vec![cs2]);
    assert_eq!(f.reader().chunk(stale).unwrap().replicas, vec![cs1]);
    assert_eq!(f.reader().chunk(kept).unwrap().replicas, vec![cs1, cs2]);
    // Uncommitted chunks are left to their writer: not reported yet, or
    // reported mid-version-bump, they stay listed.
    assert_eq!(
        f.reader().chunk(in_flight).unwrap().replicas,
        vec![cs1, cs2]
    );
    assert_eq!(f.reader().chunk(in_flight_old).unwrap().replicas, vec![cs1]);
    assert_eq!(f.reader().replica_count(cs1).unwrap(), 4);
    // The queued deletion was handed out and forgotten.
    assert!(!f
        .queued_deletes()
        .iter()
        .any(|(cs, c, _)| *cs == cs1 && *c == freed));
    assert!(is_errno(
        &f.run(Command::ReconcileReplicas {
            cs_id: 99,
            report: vec![]
        }),
        libc::ENOENT
    ));
}

#[test]
fn delete_bucket_needs_no_keys() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    f.put("b", b"a/b/c", obj(0, "e")).unwrap();
    let del = |f: &mut Fixture| {
        let now = f.tick();
        f.run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: now,
        })
    };
    assert!(is_errno(&del(&mut f), libc::ENOTEMPTY));
    // Emptied through the filesystem, implicit directories remain without
    // keys: the bucket is empty for S3 and goes with them.
    let a = f.lookup(b, "a").unwrap().ino;
    let bb = f.lookup(a, "b").unwrap().ino;
    f.unlink(bb, "c").unwrap();
    assert!(f.lookup(b, "a").is_ok());
    del(&mut f).unwrap();
    assert!(f.reader().bucket("b").is_err());
    assert_eq!(f.dentry_count(), 0);
    assert!(is_errno(&del(&mut f), libc::ENOENT));
    assert!(is_errno(&f.reader().inode(b).map(|_| ()), libc::ENOENT));
}

#[test]
fn cs_registration_and_address() {
    let mut f = Fixture::new();
    let a = f.register_cs("h1");
    let b = f.register_cs("h1");
    assert_eq!((a, b), (1, 2));
    assert!(is_errno(
        &f.run(Command::RegisterCs {
            host: String::new(),
            tier: 0,
            capacity: 0,
            journal: false,
            now_ns: 1
        }),
        libc::EINVAL
    ));
    f.run(Command::SetCsAddr {
        cs_id: a,
        addr: "127.0.0.1:5".into(),
    })
    .unwrap();
    assert_eq!(
        f.reader().chunk_server(a).unwrap().unwrap().addr,
        "127.0.0.1:5"
    );
    assert!(is_errno(
        &f.run(Command::SetCsAddr {
            cs_id: 9,
            addr: "x".into()
        }),
        libc::ENOENT
    ));
}

#[test]
fn init_twice_is_refused() {
    let mut f = Fixture::new();
    let meta = f.reader().cluster_meta().unwrap();
    assert!(is_errno(
        &f.run(Command::InitCluster { meta, now_ns: 2 }),
        libc::EEXIST
    ));
}

// ---------------------------------------------------------------- S3 meta ---

fn part(number: u32, chunk: u64, size: u64) -> crate::schema::PartInfo {
    crate::schema::PartInfo {
        part_number: number,
        etag: format!("p{number}"),
        size,
        extents: vec![ext(0, chunk, 0, size)],
        modified_ns: 1,
        checksums: BTreeMap::new(),
    }
}

impl Fixture {
    fn create_upload(
        &mut self,
        bucket: &str,
        key: &[u8],
        id: &str,
    ) -> Result<CommandReply, FsError> {
        self.run(Command::CreateUpload {
            bucket: bucket.into(),
            key: key.to_vec(),
            object: ObjectSpec {
                content_type: "text/plain".into(),
                ..ObjectSpec::default()
            },
            upload_id: id.into(),
            created_ns: 5,
        })
    }

    fn put_part(&mut self, id: &str, p: crate::schema::PartInfo) -> Result<CommandReply, FsError> {
        let lengths = p.extents.iter().map(|e| (e.chunk_id, e.length)).collect();
        self.run(Command::PutPart {
            upload_id: id.into(),
            part: p,
            chunk_lengths: lengths,
        })
    }

    fn complete(&mut self, id: &str, parts: &[u32], request_id: u64) -> Result<Inode, FsError> {
        let now = self.tick();
        self.run(Command::CompleteUpload {
            upload_id: id.into(),
            part_numbers: parts.to_vec(),
            etag: "md5-2".into(),
            if_match: None,
            if_none_match: None,
            mtime_ns: 9,
            request_id,
            now_ns: now,
        })
        .map(node)
    }
}

#[test]
fn access_keys_and_permissions() {
    let mut f = Fixture::new();
    f.bucket("b");
    let secret = "s".repeat(40);
    let create = |f: &mut Fixture, id: &str| {
        f.run(Command::CreateAccessKey {
            key_id: id.into(),
            secret: secret.clone(),
            name: "app".into(),
            now_ns: 3,
        })
    };
    create(&mut f, "CKTEST").unwrap();
    assert!(is_errno(&create(&mut f, "CKTEST"), libc::EEXIST));
    assert!(is_errno(&create(&mut f, "bad id!"), libc::EINVAL));
    let set = |f: &mut Fixture, bucket: &str, read: bool, write: bool| {
        f.run(Command::SetBucketPermission {
            key_id: "CKTEST".into(),
            permission: crate::schema::BucketPermission {
                bucket: bucket.into(),
                read,
                write,
                owner: false,
            },
        })
    };
    assert!(is_errno(
        &set(&mut f, "nobucket", true, false),
        libc::ENOENT
    ));
    set(&mut f, "b", true, false).unwrap();
    set(&mut f, "b", true, true).unwrap();
    let key = f.reader().access_key("CKTEST").unwrap();
    assert_eq!(key.secret, secret);
    assert_eq!(key.permissions.len(), 1, "one row per bucket");
    assert!(key.permissions[0].write);
    assert!(
        !format!("{key:?}").contains(&secret),
        "secrets stay out of Debug"
    );
    // Deleting the bucket drops its permissions.
    let now = f.tick();
    f.run(Command::DeleteBucket {
        name: "b".into(),
        now_ns: now,
    })
    .unwrap();
    assert!(f
        .reader()
        .access_key("CKTEST")
        .unwrap()
        .permissions
        .is_empty());
    f.run(Command::DeleteAccessKey {
        key_id: "CKTEST".into(),
    })
    .unwrap();
    assert!(f.reader().access_keys().unwrap().is_empty());
    assert!(is_errno(
        &f.run(Command::DeleteAccessKey {
            key_id: "CKTEST".into()
        }),
        libc::ENOENT
    ));
}

#[test]
fn multipart_parts_become_the_object_without_copy() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    assert!(is_errno(
        &f.create_upload("nobucket", b"k", "u0"),
        libc::ENOENT
    ));
    f.create_upload("b", b"dir/big", "u1").unwrap();
    assert!(is_errno(
        &f.create_upload("b", b"dir/big", "u1"),
        libc::EEXIST
    ));
    let (c1, c2, c3, c2b) = (
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
    );
    f.put_part("u1", part(1, c1, 100)).unwrap();
    f.put_part("u1", part(2, c2, 50)).unwrap();
    f.put_part("u1", part(3, c3, 10)).unwrap();
    assert_eq!(f.refs(c2), 1);
    // Re-uploading part 2 releases its first chunk.
    f.put_part("u1", part(2, c2b, 60)).unwrap();
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(is_errno(&f.put_part("u1", part(0, c3, 10)), libc::EINVAL));
    assert!(is_errno(&f.put_part("nope", part(1, c3, 10)), libc::ENOENT));
    assert_eq!(f.reader().upload("u1").unwrap().parts.len(), 3);
    // Order and existence are checked.
    assert!(is_errno(&f.complete("u1", &[2, 1], 0), libc::EINVAL));
    assert!(is_errno(&f.complete("u1", &[1, 4], 0), libc::EINVAL));
    assert!(
        f.reader().upload("u1").is_ok(),
        "a refused completion keeps the upload"
    );
    // Parts 1 and 2 only: part 3 is released.
    let n = f.complete("u1", &[1, 2], 77).unwrap();
    assert_eq!(n.size, 160);
    assert_eq!(n.layout, vec![ext(0, c1, 0, 100), ext(100, c2b, 0, 60)]);
    assert_eq!(
        (n.etag.as_str(), n.content_type.as_str(), n.mtime_ns),
        ("md5-2", "text/plain", 9)
    );
    assert_eq!(
        (f.refs(c1), f.refs(c2b)),
        (1, 1),
        "references passed to the object"
    );
    f.collect();
    assert!(!f.chunk_exists(c3));
    assert!(is_errno(&f.reader().upload("u1").map(|_| ()), libc::ENOENT));
    assert_eq!(f.reader().get_key("b", b"dir/big").unwrap().ino, n.ino);
    assert!(f.lookup(b, "dir").unwrap().implicit);
    // A retried completion gets the same answer.
    assert_eq!(f.complete("u1", &[1, 2], 77).unwrap(), n);
    assert!(is_errno(&f.complete("u1", &[1, 2], 78), libc::ENOENT));
}

#[test]
fn aborted_uploads_and_deleted_buckets_free_parts() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let (c1, c2) = (f.allocate(b, &[cs]), f.allocate(b, &[cs]));
    f.create_upload("b", b"x", "u1").unwrap();
    f.put_part("u1", part(1, c1, 10)).unwrap();
    f.run(Command::AbortUpload {
        upload_id: "u1".into(),
    })
    .unwrap();
    f.collect();
    assert!(!f.chunk_exists(c1));
    assert!(is_errno(
        &f.run(Command::AbortUpload {
            upload_id: "u1".into()
        }),
        libc::ENOENT
    ));
    f.create_upload("b", b"y", "u2").unwrap();
    f.put_part("u2", part(1, c2, 10)).unwrap();
    let now = f.tick();
    f.run(Command::DeleteBucket {
        name: "b".into(),
        now_ns: now,
    })
    .unwrap();
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(is_errno(&f.reader().upload("u2").map(|_| ()), libc::ENOENT));
}

#[test]
fn list_uploads_by_key_then_id_with_markers() {
    let mut f = Fixture::new();
    f.bucket("b");
    for (key, id) in [
        ("a", "2"),
        ("a", "1"),
        ("b", "3"),
        ("c/d", "4"),
        ("c/e", "5"),
    ] {
        f.create_upload("b", key.as_bytes(), id).unwrap();
    }
    let list = |f: &Fixture, prefix: &str, key_marker: &str, id_marker: &str, limit: u32| {
        let (ups, more) = f
            .reader()
            .list_uploads(
                "b",
                prefix.as_bytes(),
                key_marker.as_bytes(),
                id_marker,
                limit,
            )
            .unwrap();
        (
            ups.into_iter().map(|u| u.upload_id).collect::<Vec<_>>(),
            more,
        )
    };
    assert_eq!(
        list(&f, "", "", "", 0),
        (
            vec!["1".into(), "2".into(), "3".into(), "4".into(), "5".into()],
            false
        )
    );
    assert_eq!(
        list(&f, "", "", "", 2),
        (vec!["1".into(), "2".into()], true)
    );
    assert_eq!(list(&f, "", "a", "1", 0).0, vec!["2", "3", "4", "5"]);
    assert_eq!(list(&f, "", "a", "", 0).0, vec!["3", "4", "5"]);
    assert_eq!(list(&f, "c/", "", "", 0).0, vec!["4", "5"]);
    assert_eq!(list(&f, "c/", "c/d", "", 0).0, vec!["5"]);
}

#[test]
fn overwriting_an_object_replaces_its_metadata() {
    let mut f = Fixture::new();
    f.bucket("b");
    let first = ObjectSpec {
        size: 0,
        etag: "e1".into(),
        content_type: "text/plain".into(),
        user_meta: BTreeMap::from([("color".to_string(), "blue".to_string())]),
        headers: BTreeMap::from([("cache-control".to_string(), "max-age=60".to_string())]),
        ..ObjectSpec::default()
    };
    let a = f.put("b", b"docs/report.txt", first).unwrap();
    let second = ObjectSpec {
        size: 0,
        etag: "e2".into(),
        content_type: "application/octet-stream".into(),
        ..ObjectSpec::default()
    };
    let b = f.put("b", b"docs/report.txt", second).unwrap();
    assert_eq!(a.ino, b.ino);
    let got = f.reader().get_key("b", b"docs/report.txt").unwrap();
    assert_eq!(got.content_type, "application/octet-stream");
    assert!(got.user_meta.is_empty());
    assert!(got.headers.is_empty());
    assert_eq!(got.etag, "e2");
}
