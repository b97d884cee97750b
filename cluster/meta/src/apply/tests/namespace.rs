//! The namespace: lookups and their errnos, the top level (buckets only),
//! unlink, rename, link and set-attr rules.

use super::*;

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
        Err(ClusterError::Exists(_))
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
