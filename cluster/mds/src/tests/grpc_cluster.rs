//! Chunk servers over gRPC: registration, heartbeats, placement of new
//! chunks, stat, and what an offline chunk server is still given.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_chunk_servers_placement_and_stat() {
    let s = serve().await;
    let ch = channel(s.addr, &s.cfg, Role::Client).await;
    let mut md = metadata(&ch);
    let mut cs = admin(&channel(s.addr, &s.cfg, Role::Cs).await);

    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "b".into(),
            owner: String::new(),
            ..Default::default()
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
        ClusterError::from_status(&err),
        ClusterError::Unavailable(_)
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
    assert!(matches!(
        ClusterError::from_status(&err),
        ClusterError::Invalid(_)
    ));

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
            continues_version: String::new(),
            session: String::new(),
            // A chmod folded into the commit.
            mode: Some(0o640),
            uid: None,
            gid: None,
            atime_ns: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((committed.size, committed.extents.len()), (4096, 1));
    assert_eq!(committed.mode & 0o7777, 0o640);
    let located = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![loc.chunk_id],
            writer_ino: 0,
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
    assert_eq!(ClusterError::from_status(&err).errno(), libc::ENOENT);

    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(stat.cluster_name, "test");
    assert_eq!(stat.chunk_servers.len(), 3);
    assert!(stat
        .chunk_servers
        .iter()
        .all(|c| c.status() == pb::CsStatus::Active));
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
            writer_ino: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(located.chunks[0].version, 2, "no bump for a bad replica");
    assert_eq!(located.chunks[0].replicas.len(), 1);
    let err = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![31337],
            writer_ino: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(ClusterError::from_status(&err).errno(), libc::ENOENT);
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
    let ch = channel(addr, &cfg, Role::Client).await;
    let mut md = metadata(&ch);
    let mut cs = admin(&channel(addr, &cfg, Role::Cs).await);
    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "b".into(),
            owner: String::new(),
            ..Default::default()
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
    // Everyone but `first` keeps beating; `first` sends none from now on
    // (its silence is this test's choice, not a race with the clock), until
    // the MDS says it is offline.
    let others: Vec<u32> = ids.iter().copied().filter(|&id| id != first).collect();
    cairn_testkit::until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "the silent chunk server to be offline",
        || {
            let (mut cs, mut md, others) = (cs.clone(), md.clone(), others.clone());
            async move {
                for id in others {
                    cs.heartbeat(heartbeat(id, 9100 + id as u16))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let stat = md.stat(pb::Empty {}).await.map_err(|e| e.to_string())?;
                let state = stat
                    .into_inner()
                    .chunk_servers
                    .into_iter()
                    .find(|c| c.cs_id == first)
                    .map(|c| c.status());
                if state == Some(pb::CsStatus::Offline) {
                    Ok(())
                } else {
                    Err(format!("state {state:?}"))
                }
            }
        },
    )
    .await
    .unwrap();
    let located = md
        .locate_chunks(pb::LocateChunksRequest {
            chunk_ids: vec![loc.chunk_id],
            writer_ino: 0,
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
            .status()
    };
    assert_eq!(state(first), pb::CsStatus::Offline);
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
