//! Tests of a whole MDS: group commit, restart, and the gRPC services with
//! their authentication.

use std::{sync::Arc, time::Duration};

use cairn_common::{auth::ClientAuth, ClusterAuth, ClusterConfig, FsError, ROOT_INO};
use cairn_proto as pb;
use cairn_proto::{
    cluster_admin_client::ClusterAdminClient, join_client::JoinClient,
    metadata_client::MetadataClient,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel, Code};

use crate::command::{Command, CommandReply, ObjectSpec};
use crate::schema::NodeKind;
use crate::{init_cluster, Mds, MdsError, MdsOptions};

const PASSWORD: &str = "correct horse";

fn new_cluster() -> (tempfile::TempDir, std::path::PathBuf, ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let mds_dir = dir.path().join("mds");
    let cfg = init_cluster(&mds_dir, "test", "127.0.0.1:0", PASSWORD, 1 << 20).unwrap();
    (dir, mds_dir, cfg)
}

fn put(bucket: &str, key: &str, size: u64) -> Command {
    Command::PutKey {
        bucket: bucket.into(),
        key: key.as_bytes().to_vec(),
        object: ObjectSpec {
            size,
            etag: format!("etag-{key}"),
            ..ObjectSpec::default()
        },
        if_match: None,
        if_none_match: None,
        request_id: 0,
        now_ns: 1,
    }
}

/// A fresh MDS with one bucket; the directory lives as long as the guard.
async fn mds_with_bucket(bucket: &str) -> (tempfile::TempDir, Mds) {
    let (tmp, dir, _) = new_cluster();
    let mds = Mds::open(&dir, MdsOptions::default()).await.unwrap();
    mds.execute(Command::CreateBucket {
        name: bucket.into(),
        owner: String::new(),
        now_ns: 1,
    })
    .await
    .unwrap();
    (tmp, mds)
}

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
    assert!(matches!(results[1], Err(FsError::NotFound(_))));
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

// ------------------------------------------------------------------ gRPC ---

struct Served {
    _tmp: tempfile::TempDir,
    cfg: ClusterConfig,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), MdsError>>,
}

async fn serve() -> Served {
    let (tmp, dir, cfg) = new_cluster();
    let mds = Mds::open(
        &dir,
        MdsOptions {
            offline_after: Duration::from_secs(5),
            ..MdsOptions::default()
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mds.serve(listener, async move {
        let _ = stopped.await;
    }));
    Served {
        _tmp: tmp,
        cfg,
        addr,
        stop: Some(stop),
        server,
    }
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

type Authed<C> = C;

fn metadata(
    ch: &Channel,
    auth: ClusterAuth,
) -> Authed<MetadataClient<InterceptedService<Channel, ClientAuth>>> {
    MetadataClient::with_interceptor(ch.clone(), ClientAuth(auth))
}

fn admin(
    ch: &Channel,
    auth: ClusterAuth,
) -> ClusterAdminClient<InterceptedService<Channel, ClientAuth>> {
    ClusterAdminClient::with_interceptor(ch.clone(), ClientAuth(auth))
}

fn heartbeat(cs_id: u32, port: u16) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        cs_id,
        addr: format!("127.0.0.1:{port}"),
        capacity: 100 << 30,
        used: u64::from(cs_id) << 20,
        free: 100 << 30,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metadata_and_auth() {
    let mut s = serve().await;
    let ch = channel(s.addr).await;
    let mut md = metadata(&ch, s.cfg.auth());

    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "photos".into(),
            owner: "AKID".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bucket.name, "photos");
    let again = md
        .create_bucket(pb::BucketRequest {
            name: "photos".into(),
            owner: String::new(),
        })
        .await
        .unwrap_err();
    assert!(matches!(FsError::from_status(&again), FsError::Exists(_)));

    let put = md
        .put_key(pb::PutKeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
            node: Some(pb::Node {
                size: 0,
                etag: "abc".into(),
                content_type: "image/jpeg".into(),
                user_meta: [("who".to_string(), "tom".to_string())].into(),
                ..Default::default()
            }),
            if_match: None,
            if_none_match: Some("*".into()),
            request_id: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.kind, pb::NodeKind::File as i32);
    let got = md
        .get_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.ino, got.content_type.as_str()),
        (put.ino, "image/jpeg")
    );
    assert_eq!(got.user_meta.get("who").map(String::as_str), Some("tom"));
    // The same object through the POSIX door.
    let dir = md
        .lookup(pb::LookupRequest {
            parent: bucket.ino,
            name: b"2024".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dir.kind, pb::NodeKind::Dir as i32);
    let listing = md
        .readdir(pb::ReaddirRequest {
            ino: dir.ino,
            after: vec![],
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].name, b"cat.jpg");
    // A file made through the POSIX door shows in the key listing.
    let made = md
        .create(pb::CreateRequest {
            parent: dir.ino,
            name: b"dog.jpg".to_vec(),
            kind: pb::NodeKind::File as i32,
            mode: 0o644,
            exclusive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys = md
        .list_keys(pb::ListKeysRequest {
            bucket: "photos".into(),
            prefix: b"2024/".to_vec(),
            start_after: vec![],
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&[u8]> = keys.entries.iter().map(|e| e.key.as_slice()).collect();
    assert_eq!(
        names,
        vec![b"2024/cat.jpg".as_slice(), b"2024/dog.jpg".as_slice()]
    );
    assert_eq!(keys.entries[1].node.as_ref().unwrap().ino, made.ino);
    assert!(!keys.truncated);
    // Errnos cross the wire.
    let err = md
        .rmdir(pb::NameRequest {
            parent: bucket.ino,
            name: b"2024".to_vec(),
        })
        .await
        .unwrap_err();
    assert!(matches!(FsError::from_status(&err), FsError::NotEmpty(_)));
    let err = md
        .get_attr(pb::InoRequest { ino: 999_999 })
        .await
        .unwrap_err();
    assert_eq!(FsError::from_status(&err).errno(), libc::ENOENT);
    let root = md
        .get_attr(pb::InoRequest { ino: ROOT_INO })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(root.kind, pb::NodeKind::Dir as i32);

    // A wrong secret is refused before any handler runs, and changes nothing.
    let mut forged = metadata(
        &ch,
        ClusterAuth::new(s.cfg.cluster_id.clone(), vec![0u8; 32]),
    );
    let err = forged
        .create_bucket(pb::BucketRequest {
            name: "evil".into(),
            owner: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = forged
        .delete_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // No credential at all.
    let mut bare = MetadataClient::new(ch.clone());
    assert_eq!(
        bare.list_buckets(pb::Empty {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut forged_admin = admin(
        &ch,
        ClusterAuth::new(s.cfg.cluster_id.clone(), b"nope".to_vec()),
    );
    assert_eq!(
        forged_admin
            .register_cs(pb::RegisterCsRequest {
                host: "h".into(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let buckets = md
        .list_buckets(pb::Empty {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert_eq!(
        buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        vec!["photos"]
    );
    assert!(md
        .get_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .is_ok());
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert!(
        stat.chunk_servers.is_empty(),
        "the forged RegisterCs did nothing"
    );

    // Join: the one open service checks the password itself.
    let mut join = JoinClient::new(ch.clone());
    let reply = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.cluster_id, s.cfg.cluster_id);
    assert_eq!(hex::encode(&reply.secret), s.cfg.secret);
    assert_eq!(reply.chunk_size, 1 << 20);
    assert_eq!(reply.mds_addrs, s.cfg.mds_addrs);
    let started = std::time::Instant::now();
    let err = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: "wrong".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a wrong password is slowed down"
    );

    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.server)
        .await
        .expect("server stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_chunk_servers_placement_and_stat() {
    let s = serve().await;
    let ch = channel(s.addr).await;
    let mut md = metadata(&ch, s.cfg.auth());
    let mut cs = admin(&ch, s.cfg.auth());

    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "b".into(),
            owner: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for host in ["h1", "h2"] {
        let r = cs
            .register_cs(pb::RegisterCsRequest {
                host: host.into(),
                tier: 0,
                capacity: 0,
                journal: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.cluster_id, s.cfg.cluster_id);
        ids.push(r.cs_id);
    }
    for (i, id) in ids.iter().enumerate() {
        cs.heartbeat(heartbeat(*id, 9000 + i as u16)).await.unwrap();
    }
    // Two hosts for the default 3:2: placed on both, short of the normal
    // count, and the cluster says it writes degraded.
    let short = md
        .allocate_chunk(pb::AllocateChunkRequest {
            ino: bucket.ino,
            client_host: String::new(),
            avoid: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.replicas.len(), 2);
    assert_eq!(short.min_replicas, 2, "the default minimum of 3 is 2");
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert!(
        stat.writing_degraded.starts_with("2 of 3 replicas placed"),
        "{}",
        stat.writing_degraded
    );
    assert_eq!((stat.chunks_placed_short, stat.allocations_refused), (1, 0));
    assert!(stat
        .events
        .iter()
        .any(|e| e.severity == "warn" && e.message.starts_with("writing degraded")));
    // A strict 3:3 bucket: refused with the reasons, as unavailable (hosts
    // are missing), not as full.
    let strict = md
        .set_attr(pb::SetAttrRequest {
            ino: bucket.ino,
            replicas: Some(3),
            min_replicas: Some(3),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((strict.replicas, strict.min_replicas), (3, 3));
    let err = md
        .allocate_chunk(pb::AllocateChunkRequest {
            ino: bucket.ino,
            client_host: String::new(),
            avoid: Vec::new(),
        })
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("need 3 chunk servers on distinct hosts, 2 available"),
        "{}",
        err.message()
    );
    assert!(matches!(
        FsError::from_status(&err),
        FsError::Unavailable(_)
    ));
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(stat.allocations_refused, 1);
    // A minimum above the count is refused.
    let err = md
        .set_attr(pb::SetAttrRequest {
            ino: bucket.ino,
            min_replicas: Some(4),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(FsError::from_status(&err), FsError::Invalid(_)));

    let third = cs
        .register_cs(pb::RegisterCsRequest {
            host: "h3".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cs_id;
    ids.push(third);
    cs.heartbeat(heartbeat(third, 9002)).await.unwrap();
    let loc = md
        .allocate_chunk(pb::AllocateChunkRequest {
            ino: bucket.ino,
            client_host: "h3".into(),
            avoid: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(loc.version, 1);
    assert_eq!(loc.replicas.len(), 3);
    assert_eq!(
        loc.replicas[0].host, "h3",
        "the client's host leads the chain"
    );
    assert_eq!(loc.replicas[0].addr, "127.0.0.1:9002");
    let mut hosts: Vec<&str> = loc.replicas.iter().map(|r| r.host.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, vec!["h1", "h2", "h3"]);
    assert_eq!(loc.min_replicas, 3, "the bucket is 3:3");
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(stat.writing_degraded, "", "three hosts: writing at 3 again");
    assert!(stat
        .events
        .iter()
        .any(|e| e.message == "writing at the normal replica count again"));

    // A file written with that chunk.
    let file = md
        .create(pb::CreateRequest {
            parent: bucket.ino,
            name: b"f".to_vec(),
            kind: pb::NodeKind::File as i32,
            mode: 0o644,
            exclusive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let committed = md
        .commit_write(pb::CommitWriteRequest {
            ino: file.ino,
            extents: vec![pb::Extent {
                file_offset: 0,
                chunk_id: loc.chunk_id,
                chunk_offset: 0,
                length: 4096,
            }],
            size: 4096,
            etag: "e".into(),
            mtime_ns: 5,
            chunk_lengths: vec![pb::ChunkLength {
                chunk_id: loc.chunk_id,
                length: 4096,
            }],
            replace_layout: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((committed.size, committed.extents.len()), (4096, 1));
    let located = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![loc.chunk_id],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(located.chunks[0].length, 4096);
    assert_eq!(located.chunks[0].replicas.len(), 3);

    // A writer drops a replica: version 2, two replicas left.
    let dropped = md
        .drop_replica(pb::DropReplicaRequest {
            chunk_id: loc.chunk_id,
            version: 1,
            cs_id: ids[0],
            reason: "connection reset".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dropped.version, 2);
    assert_eq!(dropped.replicas.len(), 2);
    assert!(!dropped.replicas.iter().any(|r| r.cs_id == ids[0]));
    // ...and the dropped CS is told to delete its stale copy.
    let reply = cs
        .heartbeat(heartbeat(ids[0], 9000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.delete.len(), 1);
    assert_eq!(
        (reply.delete[0].chunk_id, reply.delete[0].version),
        (loc.chunk_id, 1)
    );
    let reply = cs
        .heartbeat(heartbeat(ids[0], 9000))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.delete.is_empty(), "handed out once");

    // A full report with a replica the MDS does not know.
    let mut report = heartbeat(ids[1], 9001);
    report.full_report = true;
    report.replica_report = vec![
        pb::ReplicaInfo {
            chunk_id: loc.chunk_id,
            version: 2,
            length: 4096,
        },
        pb::ReplicaInfo {
            chunk_id: 777_777,
            version: 1,
            length: 1,
        },
    ];
    let reply = cs.heartbeat(report).await.unwrap().into_inner();
    assert_eq!(
        reply.delete.iter().map(|d| d.chunk_id).collect::<Vec<_>>(),
        vec![777_777]
    );
    let err = cs.heartbeat(heartbeat(4242, 1)).await.unwrap_err();
    assert_eq!(FsError::from_status(&err).errno(), libc::ENOENT);

    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(stat.cluster_name, "test");
    assert_eq!(stat.chunk_servers.len(), 3);
    assert!(stat.chunk_servers.iter().all(|c| c.state == "active"));
    assert!(stat
        .chunk_servers
        .iter()
        .all(|c| c.addr.starts_with("127.0.0.1:")));
    // The written chunk, and the one placed short on two hosts earlier
    // (allocated, never committed).
    assert_eq!(stat.chunks, 2);
    assert_eq!(stat.chunks_by_replicas.get(&2), Some(&2));
    assert_eq!(stat.chunk_states.get("uncommitted"), Some(&1));
    assert_eq!(stat.buckets, 1);
    assert_eq!(stat.logical_bytes, 4096);
    let holder = stat
        .chunk_servers
        .iter()
        .find(|c| c.cs_id == ids[1])
        .unwrap();
    assert_eq!(holder.replicas, 2, "the written chunk and the short one");
    assert!(holder.cost > 0.0);

    // Bad replica reports drop too (but never the last).
    md.report_bad_replica(pb::ReportBadReplicaRequest {
        chunk_id: loc.chunk_id,
        version: 2,
        cs_id: ids[1],
        reason: "crc mismatch".into(),
    })
    .await
    .unwrap();
    let located = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![loc.chunk_id],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(located.chunks[0].version, 2, "no bump for a bad replica");
    assert_eq!(located.chunks[0].replicas.len(), 1);
    let err = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![31337],
        })
        .await
        .unwrap_err();
    assert_eq!(FsError::from_status(&err).errno(), libc::ENOENT);
    let _ = NodeKind::File;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_chunk_servers_get_no_chunks_and_are_listed_last() {
    let (_tmp, dir, cfg) = new_cluster();
    let mds = Mds::open(
        &dir,
        MdsOptions {
            offline_after: Duration::from_millis(300),
            ..MdsOptions::default()
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mds.serve(listener, std::future::pending()));
    let ch = channel(addr).await;
    let mut md = metadata(&ch, cfg.auth());
    let mut cs = admin(&ch, cfg.auth());
    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "b".into(),
            owner: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for host in ["h1", "h2", "h3", "h4"] {
        let id = cs
            .register_cs(pb::RegisterCsRequest {
                host: host.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .cs_id;
        cs.heartbeat(heartbeat(id, 9100 + id as u16)).await.unwrap();
        ids.push(id);
    }
    let loc = md
        .allocate_chunk(pb::AllocateChunkRequest {
            ino: bucket.ino,
            client_host: String::new(),
            avoid: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = loc.replicas[0].cs_id;
    // Everyone but `first` keeps beating; `first` falls silent.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for id in ids.iter().filter(|&&id| id != first) {
            cs.heartbeat(heartbeat(*id, 9100 + *id as u16))
                .await
                .unwrap();
        }
    }
    let located = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![loc.chunk_id],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        located.chunks[0].replicas.len(),
        3,
        "offline is not dropped"
    );
    assert_eq!(
        located.chunks[0].replicas[2].cs_id, first,
        "offline is listed last"
    );
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    let state = |id: u32| {
        stat.chunk_servers
            .iter()
            .find(|c| c.cs_id == id)
            .unwrap()
            .state
            .clone()
    };
    assert_eq!(state(first), "offline");
    assert_eq!(stat.chunks_by_replicas.get(&2), Some(&1));
    for _ in 0..3 {
        let loc = md
            .allocate_chunk(pb::AllocateChunkRequest {
                ino: bucket.ino,
                client_host: String::new(),
                avoid: Vec::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!loc.replicas.iter().any(|r| r.cs_id == first));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_s3_meta_access_keys_and_uploads() {
    use cairn_proto::s3_meta_client::S3MetaClient;
    let s = serve().await;
    let ch = channel(s.addr).await;
    let mut md = metadata(&ch, s.cfg.auth());
    let mut s3 = S3MetaClient::with_interceptor(ch.clone(), ClientAuth(s.cfg.auth()));
    md.create_bucket(pb::BucketRequest {
        name: "b".into(),
        owner: String::new(),
    })
    .await
    .unwrap();
    let key = s3
        .create_access_key(pb::CreateAccessKeyRequest {
            name: "app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((key.key_id.len(), key.secret.len()), (20, 40));
    let half = s3
        .create_access_key(pb::CreateAccessKeyRequest {
            name: "x".into(),
            key_id: "ONLYID".into(),
            secret: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(FsError::from_status(&half).errno(), libc::EINVAL);
    let key = s3
        .set_bucket_permission(pb::BucketPermissionRequest {
            key_id: key.key_id.clone(),
            bucket: "b".into(),
            read: true,
            write: true,
            owner: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(key.permissions.len(), 1);
    let fetched = s3
        .get_access_key(pb::AccessKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, key);

    let upload = s3
        .create_upload(pb::CreateUploadRequest {
            bucket: "b".into(),
            key: b"big".to_vec(),
            node: Some(pb::Node {
                content_type: "video/mp4".into(),
                ..Default::default()
            }),
            upload_id: "u-1".into(),
            created_ns: 11,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upload.node.unwrap().content_type, "video/mp4");
    let listed = s3
        .list_uploads(pb::ListUploadsRequest {
            bucket: "b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.uploads.len(), 1);
    s3.abort_upload(pb::UploadRequest {
        upload_id: "u-1".into(),
    })
    .await
    .unwrap();

    // A wrong secret is refused and changes nothing.
    let mut forged = S3MetaClient::with_interceptor(
        ch.clone(),
        ClientAuth(ClusterAuth::new(s.cfg.cluster_id.clone(), vec![9u8; 32])),
    );
    let err = forged
        .delete_access_key(pb::AccessKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let keys = s3
        .list_access_keys(pb::Empty {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
}
