//! FIFOs, sockets and device nodes: inodes of the namespace with their
//! mode and device number, renamed, linked and unlinked like files, and
//! never objects (no key).

use super::*;

const KINDS: [NodeKind; 4] = [
    NodeKind::Fifo,
    NodeKind::Socket,
    NodeKind::CharDev,
    NodeKind::BlockDev,
];

impl Fixture {
    fn special(
        &mut self,
        parent: u64,
        name: &str,
        kind: NodeKind,
        rdev: u64,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::CreateSpecial {
            parent,
            name: name.into(),
            kind,
            mode: 0o640,
            uid: 7,
            gid: 8,
            rdev,
            now_ns: now,
        })
        .map(node)
    }
}

fn device(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::CharDev | NodeKind::BlockDev)
}

#[test]
fn every_kind_keeps_mode_owner_and_device_number() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    for (i, kind) in KINDS.into_iter().enumerate() {
        let rdev = if device(kind) { 0x0103 + i as u64 } else { 0 };
        let name = format!("n{i}");
        let n = f.special(b, &name, kind, rdev).unwrap();
        let found = f.lookup(b, &name).unwrap();
        assert_eq!(found, n);
        assert_eq!(
            (found.kind, found.mode, found.uid, found.gid, found.rdev),
            (kind, 0o640, 7, 8, rdev)
        );
        assert_eq!((found.size, found.nlink), (0, 1));
        assert!(found.layout.is_empty() && found.etag.is_empty());
        // Exclusive: a second mknod of the name is EEXIST.
        assert!(is_errno(&f.special(b, &name, kind, rdev), libc::EEXIST));
    }
    // A device number only for devices; only special kinds.
    assert!(is_errno(
        &f.special(b, "x", NodeKind::Fifo, 5),
        libc::EINVAL
    ));
    assert!(is_errno(
        &f.special(b, "y", NodeKind::File, 0),
        libc::EINVAL
    ));
    // Not at the top level, where only buckets live.
    assert!(f.special(ROOT_INO, "z", NodeKind::Fifo, 0).is_err());
    // No content: no truncate, no write.
    let fifo = f.lookup(b, "n0").unwrap().ino;
    let now = f.tick();
    let truncate = f.run(Command::SetAttr {
        ino: fifo,
        change: AttrChange {
            size: Some(10),
            ..AttrChange::default()
        },
        now_ns: now,
    });
    assert!(is_errno(&truncate, libc::EINVAL));
    // chmod and chown work as on any inode.
    let now = f.tick();
    f.run(Command::SetAttr {
        ino: fifo,
        change: AttrChange {
            mode: Some(0o600),
            uid: Some(1),
            ..AttrChange::default()
        },
        now_ns: now,
    })
    .unwrap();
    let n = f.lookup(b, "n0").unwrap();
    assert_eq!((n.mode, n.uid), (0o600, 1));
}

#[test]
fn special_files_are_never_objects() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let d = f.mkdir(b, "d");
    for (i, kind) in KINDS.into_iter().enumerate() {
        f.special(d, &format!("s{i}"), kind, 0).unwrap();
    }
    f.file(d, "plain");
    // Only the directory and the file have keys.
    assert_eq!(f.key_names("b"), vec!["d/", "d/plain"]);
    assert!(is_errno(&f.reader().get_key("b", b"d/s0"), libc::ENOENT));
    assert_eq!(f.names(d), vec!["plain", "s0", "s1", "s2", "s3"]);

    // An object put at the path of one is stored key-only: the FIFO stays.
    let put = f.put("b", b"d/s0", obj(0, EMPTY_ETAG)).unwrap();
    assert!(put.key_only);
    assert_eq!(f.lookup(d, "s0").unwrap().kind, NodeKind::Fifo);
    f.delete_key("b", b"d/s0").unwrap();
    assert_eq!(f.lookup(d, "s0").unwrap().kind, NodeKind::Fifo);

    // A bucket holding one is not empty for S3 either.
    f.unlink(d, "plain").unwrap();
    assert!(f
        .run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: 99,
        })
        .is_err());
}

#[test]
fn rename_link_and_unlink_of_each_kind() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let d1 = f.mkdir(b, "d1");
    let d2 = f.mkdir(b, "d2");
    for (i, kind) in KINDS.into_iter().enumerate() {
        let name = format!("s{i}");
        let n = f
            .special(d1, &name, kind, if device(kind) { 9 } else { 0 })
            .unwrap();
        // Rename within and across directories: same inode, no key.
        f.rename(d1, &name, d1, "tmp", false).unwrap();
        f.rename(d1, "tmp", d2, &name, false).unwrap();
        let moved = f.lookup(d2, &name).unwrap();
        assert_eq!((moved.ino, moved.kind, moved.rdev), (n.ino, kind, n.rdev));
        assert!(f.lookup(d1, &name).is_err());
        // Hard link: two names, nlink 2.
        let linked = f.link(n.ino, d1, &format!("l{i}")).unwrap();
        assert_eq!(linked.nlink, 2);
        // Over a file: the file goes, the special node takes the name.
        let file = f.file(d1, "victim");
        f.rename(d2, &name, d1, "victim", false).unwrap();
        assert_eq!(f.lookup(d1, "victim").unwrap().ino, n.ino);
        assert!(f.reader().inode(file).is_err());
        // A file renamed over it takes its name back, with a key.
        f.file(d2, "f");
        f.rename(d2, "f", d1, "victim", false).unwrap();
        assert_eq!(f.lookup(d1, "victim").unwrap().kind, NodeKind::File);
        assert_eq!(f.reader().inode(n.ino).unwrap().nlink, 1);
        // The last name goes: the inode goes.
        f.unlink(d1, &format!("l{i}")).unwrap();
        assert!(f.reader().inode(n.ino).is_err());
        f.unlink(d1, "victim").unwrap();
    }
    // A directory renamed with special nodes inside keeps them keyless.
    let s = f.special(d1, "fifo", NodeKind::Fifo, 0).unwrap();
    f.rename(b, "d1", d2, "moved", false).unwrap();
    let moved = f.lookup(d2, "moved").unwrap().ino;
    assert_eq!(f.lookup(moved, "fifo").unwrap().ino, s.ino);
    assert_eq!(f.key_names("b"), vec!["d2/", "d2/moved/"]);
}
