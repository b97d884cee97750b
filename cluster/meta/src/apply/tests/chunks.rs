//! Chunks: reference counts, layouts and their commits, allocation,
//! replica drops and reports, buckets and chunk servers.

use super::*;

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
fn a_commit_carries_the_attributes_set_since_the_last() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let file = f.file(b, "f");
    let c = f.allocate(file, &[cs]);
    let commit = |f: &mut Fixture, attrs: AttrChange| {
        let now = f.tick();
        let write = WriteCommit {
            ino: file,
            extents: vec![ext(0, c, 0, 100)],
            size: 100,
            etag: "e".into(),
            mtime_ns: 55,
            chunk_lengths: vec![(c, 100)],
            replace_layout: false,
            continues: String::new(),
        };
        f.run(Command::CommitWriteAttrs {
            write,
            attrs,
            now_ns: now,
        })
    };
    let n = node(
        commit(
            &mut f,
            AttrChange {
                mode: Some(0o100640),
                uid: Some(7),
                gid: Some(8),
                atime_ns: Some(33),
                ..AttrChange::default()
            },
        )
        .unwrap(),
    );
    assert_eq!((n.mode, n.uid, n.gid), (0o640, 7, 8));
    assert_eq!((n.atime_ns, n.mtime_ns, n.size), (33, 55, 100));
    assert_eq!(n.layout, vec![ext(0, c, 0, 100)]);
    assert_eq!(f.reader().inode(file).unwrap(), n);
    // No attributes: a plain commit.
    let n = node(commit(&mut f, AttrChange::default()).unwrap());
    assert_eq!((n.mode, n.uid), (0o640, 7));
    // A size, replicas or xattrs are never folded in, and nothing of the
    // commit stays.
    for wrong in [
        AttrChange {
            size: Some(5),
            ..AttrChange::default()
        },
        AttrChange {
            replicas: Some(2),
            ..AttrChange::default()
        },
        AttrChange {
            remove_xattrs: vec!["user.x".into()],
            ..AttrChange::default()
        },
    ] {
        assert!(is_errno(&commit(&mut f, wrong), libc::EINVAL));
    }
    assert_eq!(f.reader().inode(file).unwrap(), n);
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
    for count in [0, crate::apply::chunks::MAX_ALLOCATE + 1] {
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
