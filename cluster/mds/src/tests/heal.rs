//! The background work driven by hand against a real MDS state: chunk
//! servers are heartbeats recorded in the registry at chosen instants, and
//! copies are reported through the ClusterAdmin handler, as a CS does.

use std::time::{Duration, Instant};

use cairn_proto as pb;
use cairn_proto::cluster_admin_server::ClusterAdmin;
use tonic::Request;

use crate::command::{AttrChange, Command, CommandReply, ObjectSpec};
use crate::registry::Figures;
use crate::schema::{CsState, Extent};
use crate::service::MdsService;
use crate::{init_cluster, Mds, MdsOptions};

struct Rig {
    _tmp: tempfile::TempDir,
    mds: Mds,
    cs: Vec<u32>,
    bucket: u64,
}

impl Rig {
    async fn new(hosts: &[&str]) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mds");
        init_cluster(&dir, "t", "127.0.0.1:0", "pw", 1 << 20).unwrap();
        let mds = Mds::open(
            &dir,
            MdsOptions {
                offline_after: Duration::from_secs(2),
                lost_after: Duration::from_secs(5),
                release_grace: Duration::from_secs(3),
                uncommitted_timeout: Duration::from_secs(100),
                ..MdsOptions::default()
            },
        )
        .await
        .unwrap();
        let mut cs = Vec::new();
        for host in hosts {
            match mds
                .execute(Command::RegisterCs {
                    host: host.to_string(),
                    tier: 0,
                    capacity: 1 << 30,
                    journal: false,
                    now_ns: 1,
                })
                .await
                .unwrap()
            {
                CommandReply::CsRegistered { cs_id } => cs.push(cs_id),
                r => panic!("{r:?}"),
            }
        }
        let bucket = match mds
            .execute(Command::CreateBucket {
                name: "b".into(),
                owner: String::new(),
                now_ns: 1,
            })
            .await
            .unwrap()
        {
            CommandReply::Bucket(b) => b.ino,
            r => panic!("{r:?}"),
        };
        Rig {
            _tmp: tmp,
            mds,
            cs,
            bucket,
        }
    }

    /// Every CS but `silent` beats at `now`; `silent` last beat at `then`.
    fn beat(&self, now: Instant, silent: &[(u32, Instant)]) {
        for &id in &self.cs {
            let at = silent
                .iter()
                .find(|(s, _)| *s == id)
                .map_or(now, |(_, t)| *t);
            self.mds.state().registry.record(
                id,
                Figures {
                    addr: format!("127.0.0.1:{}", 9000 + id),
                    capacity: 1 << 30,
                    free: 1 << 30,
                    ..Figures::default()
                },
                at,
            );
        }
    }

    async fn object(&self, key: &str, chain: &[u32]) -> u64 {
        let chunk_id = match self
            .mds
            .execute(Command::AllocateChunk {
                owner: self.bucket,
                chain: chain.to_vec(),
            })
            .await
            .unwrap()
        {
            CommandReply::Chunk { chunk_id, .. } => chunk_id,
            r => panic!("{r:?}"),
        };
        self.mds
            .execute(Command::PutKey {
                bucket: "b".into(),
                key: key.as_bytes().to_vec(),
                object: ObjectSpec {
                    size: 1000,
                    etag: "e".into(),
                    extents: vec![Extent {
                        file_offset: 0,
                        chunk_id,
                        chunk_offset: 0,
                        length: 1000,
                    }],
                    ..ObjectSpec::default()
                },
                if_match: None,
                if_none_match: None,
                request_id: 0,
                now_ns: 1,
            })
            .await
            .unwrap();
        chunk_id
    }

    fn replicas(&self, chunk_id: u64) -> Vec<u32> {
        let mut r = self
            .mds
            .state()
            .reader()
            .unwrap()
            .chunk(chunk_id)
            .unwrap()
            .replicas;
        r.sort();
        r
    }

    /// The copies handed to `cs` in a heartbeat, reported done.
    async fn complete_copies(&self, cs: u32) -> Vec<(u64, bool)> {
        let svc = MdsService::new(self.mds.state().clone());
        let orders = self.mds.state().heal.take_orders(cs);
        let mut out = Vec::new();
        for o in orders {
            let reply = svc
                .report_copy(Request::new(pb::ReportCopyRequest {
                    cs_id: cs,
                    chunk_id: o.chunk_id,
                    version: o.version,
                    length: o.length,
                    ok: true,
                    error: String::new(),
                }))
                .await
                .unwrap()
                .into_inner();
            out.push((o.chunk_id, reply.keep));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_cs_is_re_replicated_then_trimmed() {
    let rig = Rig::new(&["h1", "h2", "h3", "h4"]).await;
    let (a, b, c, d) = (rig.cs[0], rig.cs[1], rig.cs[2], rig.cs[3]);
    let chunk = rig.object("k", &[a, b, c]).await;
    let mut work = rig.mds.background();
    let t0 = Instant::now();
    rig.beat(t0, &[]);
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.copies_ordered, 0, "healthy: nothing to do");

    // c falls silent: offline, then lost after the grace.
    let t1 = t0 + Duration::from_secs(3);
    rig.beat(t1, &[(c, t0)]);
    assert_eq!(
        work.tick(t1).await.unwrap().copies_ordered,
        0,
        "within the grace"
    );
    let t2 = t0 + Duration::from_secs(6);
    rig.beat(t2, &[(c, t0)]);
    let r = work.tick(t2).await.unwrap();
    assert_eq!(r.copies_ordered, 1, "lost: restored elsewhere");
    assert_eq!(rig.complete_copies(d).await, vec![(chunk, true)]);
    assert_eq!(rig.replicas(chunk), vec![a, b, c, d]);
    // Next pass: the lost replica is trimmed.
    let r = work.tick(t2).await.unwrap();
    assert_eq!(r.trimmed, 1);
    assert_eq!(rig.replicas(chunk), vec![a, b, d]);
    // When c returns, its copy is not listed any more: reconciliation
    // deletes it.
    match rig
        .mds
        .execute(Command::ReconcileReplicas {
            cs_id: c,
            report: vec![crate::command::ReplicaRef {
                chunk_id: chunk,
                version: 1,
                length: 1000,
            }],
        })
        .await
        .unwrap()
    {
        CommandReply::Reconciled { deletes, .. } => {
            assert_eq!(deletes.len(), 1);
            assert_eq!(deletes[0].chunk_id, chunk);
        }
        r => panic!("{r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_then_removal_and_replica_count_changes() {
    let rig = Rig::new(&["h1", "h2", "h3", "h4"]).await;
    let (a, b, c, d) = (rig.cs[0], rig.cs[1], rig.cs[2], rig.cs[3]);
    let chunk = rig.object("k", &[a, b, c]).await;
    let mut work = rig.mds.background();
    let t0 = Instant::now();
    rig.beat(t0, &[]);
    rig.mds
        .execute(Command::SetCsDraining {
            cs_id: c,
            draining: true,
        })
        .await
        .unwrap();
    // Not removable while it holds a committed chunk.
    let refused = rig
        .mds
        .execute(Command::RemoveCs {
            cs_id: c,
            force: false,
        })
        .await;
    assert!(
        matches!(refused, Err(cairn_common::ClusterError::PreconditionFailed(ref m)) if m.contains("drained first")),
        "{refused:?}"
    );
    assert_eq!(work.tick(t0).await.unwrap().copies_ordered, 1);
    assert_eq!(rig.complete_copies(d).await, vec![(chunk, true)]);
    assert_eq!(rig.replicas(chunk), vec![a, b, c, d], "copied first");
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.trimmed, 1, "then trimmed from the draining CS");
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.removed, vec![c], "and the drained CS leaves");
    let info = rig.mds.state().reader().unwrap().chunk_server(c).unwrap();
    assert_eq!(info.map(|i| i.state), Some(CsState::Removed));
    assert_eq!(rig.replicas(chunk), vec![a, b, d]);

    // Replica count of the object: 2, then 3 again.
    let ino = rig
        .mds
        .state()
        .reader()
        .unwrap()
        .get_key("b", b"k")
        .unwrap()
        .ino;
    let set = |replicas| Command::SetAttr {
        ino,
        change: AttrChange {
            replicas: Some(replicas),
            ..AttrChange::default()
        },
        now_ns: 2,
    };
    rig.mds.execute(set(2)).await.unwrap();
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.trimmed, 1, "overcommitted: trimmed to 2");
    assert_eq!(rig.replicas(chunk).len(), 2);
    rig.mds.execute(set(3)).await.unwrap();
    let r = work.tick(t0).await.unwrap();
    assert_eq!(
        (r.copies_ordered, r.blocked),
        (0, 1),
        "the only free CS has the trimmed replica's deletion queued"
    );
    // Its next heartbeat takes the deletion; then it gets the chunk again.
    rig.mds
        .execute(Command::TakeReplicaDeletes { cs_id: d })
        .await
        .unwrap();
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.copies_ordered, 1, "degraded: copied to 3");
    assert_eq!(rig.complete_copies(d).await, vec![(chunk, true)]);
    assert_eq!(rig.replicas(chunk), vec![a, b, d]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_chunks_are_freed_after_the_grace_and_stale_copies_refused() {
    let rig = Rig::new(&["h1", "h2", "h3", "h4"]).await;
    let (a, b, c, d) = (rig.cs[0], rig.cs[1], rig.cs[2], rig.cs[3]);
    let chunk = rig.object("k", &[a, b, c]).await;
    let mut work = rig.mds.background();
    let t0 = Instant::now();
    rig.beat(t0, &[(c, t0 - Duration::from_secs(60))]);
    assert_eq!(work.tick(t0).await.unwrap().copies_ordered, 1);
    // The object goes while the copy runs: the copy is not kept.
    rig.mds
        .execute(Command::DeleteKey {
            bucket: "b".into(),
            key: b"k".to_vec(),
            now_ns: 3,
        })
        .await
        .unwrap();
    assert_eq!(rig.complete_copies(d).await, vec![(chunk, false)]);
    // Released: still readable for the grace period, then freed.
    let r = work.tick(t0).await.unwrap();
    assert_eq!(r.freed, 0);
    assert!(rig.mds.state().reader().unwrap().chunk(chunk).is_ok());
    let r = work.tick(t0 + Duration::from_secs(4)).await.unwrap();
    assert_eq!(r.freed, 1);
    assert!(matches!(
        rig.mds.state().reader().unwrap().chunk(chunk),
        Err(cairn_common::ClusterError::NotFound(_))
    ));
}
