//! Durability of a whole MDS: group commit, what each persistence level
//! waits for, state across a restart.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_durable_commits() {
    let (_tmp, mds) = mds_with_bucket("b").await;
    let before = mds.durable_commits();
    const N: usize = 200;
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let state = mds.state().clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            state.submit(put("b", &format!("k{i:04}"), i as u64)).await
        }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Ok(CommandReply::Node(_))));
    }
    let commits = mds.durable_commits() - before;
    eprintln!("{N} concurrent commands made {commits} durable commits");
    assert!(commits >= 1);
    assert!(
        commits < N as u64,
        "{N} commands took {commits} durable commits: no batching"
    );
    let page = mds
        .state()
        .reader()
        .unwrap()
        .list_keys("b", b"", b"", 0)
        .unwrap();
    assert_eq!(page.entries.len(), N);
    // A failure inside a batch does not disturb the others.
    let results = futures::future::join_all(vec![
        mds.execute(put("b", "ok1", 1)),
        mds.execute(put("nobucket", "x", 1)),
        mds.execute(put("b", "ok2", 1)),
    ])
    .await;
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(ClusterError::NotFound(_))));
}

/// Commands that ask for the OS only are answered without waiting for an
/// fsync each (the flusher makes them durable within a second), while the
/// same commands asking for the disk wait for one each when sent one at a
/// time; a barrier waits for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_persisted_commands_wait_for_no_fsync() {
    use cairn_common::Persist;
    let (_tmp, mds) = mds_with_bucket("b").await;
    const N: u64 = 40;
    let sequential = |persist: Persist, prefix: &'static str| {
        let state = mds.state().clone();
        crate::persist::scoped(persist, async move {
            for i in 0..N {
                let reply = state.submit(put("b", &format!("{prefix}{i:03}"), i)).await;
                assert!(matches!(reply, Ok(CommandReply::Node(_))), "{reply:?}");
            }
        })
    };
    let before = mds.durable_commits();
    sequential(Persist::Disk, "disk").await;
    let disk = mds.durable_commits() - before;
    assert!(
        disk >= N,
        "{N} commands asking for the disk made {disk} fsyncs"
    );

    let before = mds.durable_commits();
    let started = std::time::Instant::now();
    sequential(Persist::Os, "os").await;
    let os = mds.durable_commits() - before;
    // The flusher's own commits: one a second at most.
    let allowed = started.elapsed().as_secs() + 2;
    assert!(
        os <= allowed,
        "{N} commands asking for the OS made {os} fsyncs"
    );

    let before = mds.durable_commits();
    mds.state().barrier().await.unwrap();
    assert!(mds.durable_commits() > before, "a barrier made no fsync");
    let page = mds
        .state()
        .reader()
        .unwrap()
        .list_keys("b", b"", b"", 0)
        .unwrap();
    assert_eq!(page.entries.len(), 2 * N as usize);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let (_tmp, dir, cfg) = new_cluster();
    let (file_ino, chunk_id) = {
        let mds = Mds::open(&dir, MdsOptions::default()).await.unwrap();
        assert_eq!(mds.config(), cfg);
        // A second open of the same directory is refused while this one runs.
        let err = Mds::open(&dir, MdsOptions::default()).await.err().unwrap();
        assert!(matches!(err, MdsError::Locked { .. }), "{err}");
        mds.execute(Command::CreateBucket {
            name: "b".into(),
            owner: "me".into(),
            now_ns: 1,
        })
        .await
        .unwrap();
        let cs = match mds
            .execute(Command::RegisterCs {
                host: "h1".into(),
                tier: 0,
                capacity: 0,
                journal: false,
                now_ns: 1,
            })
            .await
            .unwrap()
        {
            CommandReply::CsRegistered { cs_id } => cs_id,
            r => panic!("{r:?}"),
        };
        let bucket_ino = mds.state().reader().unwrap().bucket("b").unwrap().ino;
        let chunk_id = match mds
            .execute(Command::AllocateChunk {
                owner: bucket_ino,
                chain: vec![cs],
            })
            .await
            .unwrap()
        {
            CommandReply::Chunk { chunk_id, .. } => chunk_id,
            r => panic!("{r:?}"),
        };
        let mut cmd = put("b", "dir/file", 10);
        if let Command::PutKey { object, .. } = &mut cmd {
            object.extents = vec![crate::schema::Extent {
                file_offset: 0,
                chunk_id,
                chunk_offset: 0,
                length: 10,
            }];
        }
        let node = match mds.execute(cmd).await.unwrap() {
            CommandReply::Node(n) => n,
            r => panic!("{r:?}"),
        };
        (node.ino, chunk_id)
    };
    // Dropped: the lock is released and the state is on disk.
    let mds = Mds::open(&dir, MdsOptions::default()).await.unwrap();
    assert_eq!(mds.config(), cfg);
    let r = mds.state().reader().unwrap();
    let node = r.get_key("b", b"dir/file").unwrap();
    assert_eq!(
        (node.ino, node.size, node.etag.as_str()),
        (file_ino, 10, "etag-dir/file")
    );
    let bucket = r.bucket("b").unwrap();
    assert_eq!(bucket.owner, "me");
    let dir_node = r.lookup(bucket.ino, b"dir").unwrap();
    assert!(dir_node.implicit);
    assert_eq!(r.lookup(dir_node.ino, b"file").unwrap().ino, file_ino);
    assert_eq!(r.chunk(chunk_id).unwrap().refs, 1);
    assert_eq!(r.chunk_servers().unwrap().len(), 1);
    drop(r);
    // Counters survived: new ids do not collide with old ones.
    let n = match mds.execute(put("b", "new", 0)).await.unwrap() {
        CommandReply::Node(n) => n,
        r => panic!("{r:?}"),
    };
    assert!(n.ino > file_ino);
}

#[tokio::test]
async fn open_explains_a_missing_mds() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Mds::open(&tmp.path().join("nothing"), MdsOptions::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, MdsError::NotInitialised { .. }));
    assert!(err.to_string().contains("make-mds -I"), "{err}");
}
