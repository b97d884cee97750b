//! `make-cs` and heartbeats against a stand-in MDS that serves only
//! `ClusterAdmin`: registration, the full replica report after a start, the
//! counters, deletions, version changes and replica copies ordered by the
//! MDS.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_common::{
    net,
    node_cert::Role,
    tls::{
        peer::{incoming, PeerCheck},
        NodeTls,
    },
    ClusterConfig,
};
use cairn_cs::{make_cs, ChunkServer, CsError, MakeCsOptions};
use cairn_proto::{
    chunk_service_client::ChunkServiceClient,
    cluster_admin_server::{ClusterAdmin, ClusterAdminServer},
    write_request, CsAddr, HeartbeatReply, HeartbeatRequest, ReadRequest, RegisterCsReply,
    RegisterCsRequest, ReplicaInfo, ReplicateOrder, ReportCopyReply, ReportCopyRequest,
    SetVersionOrder, WriteHeader, WriteRequest,
};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    service::interceptor::InterceptedService, transport::Server, Request, Response, Status,
};

#[derive(Default)]
struct MdsState {
    registered: Vec<RegisterCsRequest>,
    beats: Vec<HeartbeatRequest>,
    /// Answered in every heartbeat reply.
    delete: Vec<ReplicaInfo>,
    /// Handed out once, to the CS they name (by id).
    replicate: Vec<(u32, ReplicateOrder)>,
    set_version: Vec<(u32, SetVersionOrder)>,
    reports: Vec<ReportCopyRequest>,
    /// What ReportCopy answers.
    keep: bool,
}

#[derive(Clone)]
struct FakeMds {
    cluster_id: String,
    state: Arc<Mutex<MdsState>>,
}

#[tonic::async_trait]
impl ClusterAdmin for FakeMds {
    async fn register_cs(
        &self,
        request: Request<RegisterCsRequest>,
    ) -> Result<Response<RegisterCsReply>, Status> {
        let mut state = self.state.lock().unwrap();
        state.registered.push(request.into_inner());
        Ok(Response::new(RegisterCsReply {
            cs_id: 10 + state.registered.len() as u32,
            cluster_id: self.cluster_id.clone(),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatReply>, Status> {
        let mut state = self.state.lock().unwrap();
        let beat = request.into_inner();
        let cs_id = beat.cs_id;
        state.beats.push(beat);
        let (replicate, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.replicate)
            .into_iter()
            .partition(|(id, _)| *id == cs_id);
        state.replicate = rest;
        let (set_version, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.set_version)
            .into_iter()
            .partition(|(id, _)| *id == cs_id);
        state.set_version = rest;
        Ok(Response::new(HeartbeatReply {
            delete: state.delete.clone(),
            replicate: replicate.into_iter().map(|(_, o)| o).collect(),
            set_version: set_version.into_iter().map(|(_, o)| o).collect(),
            revoked_serials: Vec::new(),
        }))
    }

    async fn report_copy(
        &self,
        request: Request<ReportCopyRequest>,
    ) -> Result<Response<ReportCopyReply>, Status> {
        let mut state = self.state.lock().unwrap();
        state.reports.push(request.into_inner());
        Ok(Response::new(ReportCopyReply { keep: state.keep }))
    }
}

const CLUSTER_ID: &str = "hb-cluster";

fn tls(role: Role) -> NodeTls {
    NodeTls::load(&cairn_testkit::node::node_dir(CLUSTER_ID), CLUSTER_ID, role).unwrap()
}

fn cfg(mds_addr: &str) -> ClusterConfig {
    ClusterConfig {
        name: "hb".into(),
        cluster_id: CLUSTER_ID.into(),
        mds_addrs: vec![mds_addr.to_string()],
        chunk_size: 64 << 20,
        dir: Some(cairn_testkit::node::node_dir(CLUSTER_ID)),
    }
}

async fn start_mds() -> (String, Arc<Mutex<MdsState>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = Arc::new(Mutex::new(MdsState::default()));
    let mds = FakeMds {
        cluster_id: cfg(&addr).cluster_id,
        state: Arc::clone(&state),
    };
    let mds_tls = tls(Role::Mds);
    let svc = InterceptedService::new(
        ClusterAdminServer::new(mds),
        PeerCheck::new(&mds_tls, &[Role::Cs]),
    );
    tokio::spawn(
        Server::builder()
            .add_service(svc)
            .serve_with_incoming(incoming(listener, &mds_tls).unwrap()),
    );
    (addr, state)
}

/// Polls `check` every 50 ms until it holds, for at most 15 s.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve(
    dir: &Path,
    cfg: ClusterConfig,
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), CsError>>,
) {
    let cs = ChunkServer::open(dir, cfg).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(cs.serve(listener, addr.clone(), async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

async fn put(addr: &str, cfg: &ClusterConfig, chunk_id: u64, data: &'static [u8]) {
    put_bytes(addr, cfg, chunk_id, Bytes::from_static(data)).await
}

async fn put_bytes(addr: &str, cfg: &ClusterConfig, chunk_id: u64, data: Bytes) {
    let _ = cfg;
    let channel = net::connect(&net::endpoint(addr).unwrap(), &tls(Role::Client))
        .await
        .unwrap();
    let mut c = ChunkServiceClient::new(channel);
    let msgs = vec![
        WriteRequest {
            msg: Some(write_request::Msg::Header(WriteHeader {
                chunk_id,
                version: 1,
                offset: 0,
                chain: vec![],
                sync: true,
                create: true,
                budget_ms: 0,
            })),
        },
        WriteRequest {
            msg: Some(write_request::Msg::Data(data)),
        },
    ];
    c.write(futures::stream::iter(msgs)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_reports_and_deletes_what_the_mds_says() {
    let (mds_addr, mds) = start_mds().await;
    let cfg = cfg(&mds_addr);
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("cs");
    let identity = make_cs(
        MakeCsOptions {
            dir: dir.clone(),
            journal: Some((base.path().join("journal"), 16 << 20)),
            host: Some("rack1-host1".into()),
            tier: 2,
            capacity: Some(1 << 30),
        },
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(identity.cs_id, 11);
    {
        let state = mds.lock().unwrap();
        assert_eq!(state.registered.len(), 1);
        let r = &state.registered[0];
        assert_eq!(
            (r.host.as_str(), r.tier, r.capacity, r.journal),
            ("rack1-host1", 2, 1 << 30, true)
        );
    }
    // The directory is taken now.
    let again = make_cs(
        MakeCsOptions {
            dir: dir.clone(),
            journal: None,
            host: None,
            tier: 0,
            capacity: None,
        },
        &cfg,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(again, CsError::AlreadyACs { cs_id: 11, .. }),
        "{again}"
    );

    let (addr, stop, task) = serve(&dir, cfg.clone()).await;
    wait_for("a full report", || {
        mds.lock()
            .unwrap()
            .beats
            .iter()
            .any(|b| b.full_report && b.cs_id == 11 && b.addr == addr)
    })
    .await;
    put(&addr, &cfg, 7, b"doomed").await;
    put(&addr, &cfg, 8, b"kept").await;
    wait_for("counters and space in a heartbeat", || {
        mds.lock().unwrap().beats.last().is_some_and(|b| {
            b.replicas == 2
                && b.write_ops == 2
                && b.write_bytes == 10
                && b.capacity == 1 << 30
                && b.used > 0
        })
    })
    .await;

    // The MDS orders chunk 7 deleted.
    mds.lock().unwrap().delete = vec![ReplicaInfo {
        chunk_id: 7,
        version: 1,
        length: 6,
    }];
    let replica7 = cairn_cs::store::replica_path(&dir.join("chunks"), 7, 1);
    wait_for("the replica to be deleted", || !replica7.exists()).await;
    mds.lock().unwrap().delete.clear();
    assert!(cairn_cs::store::replica_path(&dir.join("chunks"), 8, 1).exists());

    // After a restart the first heartbeat reports what is on disk.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let before = mds.lock().unwrap().beats.len();
    let (_addr, stop, task) = serve(&dir, cfg.clone()).await;
    wait_for("a full report after the restart", || {
        mds.lock().unwrap().beats[before..]
            .iter()
            .any(|b| b.full_report)
    })
    .await;
    {
        let state = mds.lock().unwrap();
        let report = state.beats[before..]
            .iter()
            .find(|b| b.full_report)
            .unwrap();
        let held: Vec<(u64, u64, u64)> = report
            .replica_report
            .iter()
            .map(|r| (r.chunk_id, r.version, r.length))
            .collect();
        assert_eq!(held, [(8, 1, 4)]);
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

async fn read_all(addr: &str, cfg: &ClusterConfig, chunk_id: u64, version: u64) -> Vec<u8> {
    let _ = cfg;
    let channel = net::connect(&net::endpoint(addr).unwrap(), &tls(Role::Client))
        .await
        .unwrap();
    let mut c = ChunkServiceClient::new(channel);
    let mut stream = c
        .read(ReadRequest {
            chunk_id,
            version,
            offset: 0,
            length: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(piece) = stream.message().await.unwrap() {
        out.extend_from_slice(&piece.data);
    }
    out
}

async fn new_cs(
    base: &Path,
    name: &str,
    host: &str,
    cfg: &ClusterConfig,
) -> (std::path::PathBuf, u32) {
    let dir = base.join(name);
    let identity = make_cs(
        MakeCsOptions {
            dir: dir.clone(),
            journal: None,
            host: Some(host.into()),
            tier: 0,
            capacity: None,
        },
        cfg,
    )
    .await
    .unwrap();
    (dir, identity.cs_id)
}

/// A copy ordered by the MDS is pulled from the source, verified, reported,
/// and kept or deleted as the MDS answers; a corrupt source fails the copy
/// (and is quarantined on the source); version orders rename replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_and_version_orders_from_the_mds() {
    let (mds_addr, mds) = start_mds().await;
    mds.lock().unwrap().keep = true;
    let cfg = cfg(&mds_addr);
    let base = tempfile::tempdir().unwrap();
    let (src_dir, src_id) = new_cs(base.path(), "src", "h1", &cfg).await;
    let (dst_dir, dst_id) = new_cs(base.path(), "dst", "h2", &cfg).await;
    let (src_addr, src_stop, src_task) = serve(&src_dir, cfg.clone()).await;
    let (dst_addr, dst_stop, dst_task) = serve(&dst_dir, cfg.clone()).await;
    // 3 MiB and a bit: several pieces, a short last block.
    let data: Vec<u8> = (0..(3 << 20) + 1234).map(|i| (i * 7 % 251) as u8).collect();
    put_bytes(&src_addr, &cfg, 40, Bytes::from(data.clone())).await;
    put(&src_addr, &cfg, 41, b"not kept").await;
    let source = CsAddr {
        cs_id: src_id,
        addr: src_addr.clone(),
        host: "h1".into(),
    };
    let order = |chunk_id: u64, length: u64| ReplicateOrder {
        chunk_id,
        version: 1,
        length,
        sources: vec![
            // A dead source first: the copy moves on to the next one.
            CsAddr {
                cs_id: 99,
                addr: "127.0.0.1:1".into(),
                host: "h9".into(),
            },
            source.clone(),
        ],
        rate: 0,
    };
    mds.lock()
        .unwrap()
        .replicate
        .push((dst_id, order(40, data.len() as u64)));
    wait_for("the copy to be reported", || {
        mds.lock().unwrap().reports.iter().any(|r| r.chunk_id == 40)
    })
    .await;
    {
        let state = mds.lock().unwrap();
        let r = state.reports.iter().find(|r| r.chunk_id == 40).unwrap();
        assert!(r.ok, "{}", r.error);
        assert_eq!(
            (r.cs_id, r.version, r.length),
            (dst_id, 1, data.len() as u64)
        );
    }
    assert_eq!(
        read_all(&dst_addr, &cfg, 40, 1).await,
        data,
        "the copy reads back"
    );

    // A copy the MDS does not keep is deleted.
    mds.lock().unwrap().keep = false;
    mds.lock().unwrap().replicate.push((dst_id, order(41, 8)));
    let copy41 = cairn_cs::store::replica_path(&dst_dir.join("chunks"), 41, 1);
    wait_for("the unkept copy to be reported", || {
        mds.lock().unwrap().reports.iter().any(|r| r.chunk_id == 41)
    })
    .await;
    wait_for("the unkept copy to be deleted", || !copy41.exists()).await;

    // A corrupt source: the copy fails, nothing is kept, and the source
    // quarantines its replica.
    mds.lock().unwrap().keep = true;
    let src40 = cairn_cs::store::replica_path(&src_dir.join("chunks"), 40, 1);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&src40)
            .unwrap();
        f.seek(SeekFrom::Start(8192 + (2 << 20) + 17)).unwrap();
        f.write_all(&[0xEE; 32]).unwrap();
        f.sync_all().unwrap();
    }
    let (dst2_dir, dst2_id) = new_cs(base.path(), "dst2", "h3", &cfg).await;
    let (_dst2_addr, dst2_stop, dst2_task) = serve(&dst2_dir, cfg.clone()).await;
    mds.lock()
        .unwrap()
        .replicate
        .push((dst2_id, order(40, data.len() as u64)));
    wait_for("the failed copy to be reported", || {
        mds.lock()
            .unwrap()
            .reports
            .iter()
            .any(|r| r.chunk_id == 40 && r.cs_id == dst2_id)
    })
    .await;
    {
        let state = mds.lock().unwrap();
        let r = state
            .reports
            .iter()
            .find(|r| r.chunk_id == 40 && r.cs_id == dst2_id)
            .unwrap();
        assert!(!r.ok, "a copy from a corrupt source fails");
    }
    let failed = cairn_cs::store::replica_path(&dst2_dir.join("chunks"), 40, 1);
    wait_for("the failed copy to be gone", || !failed.exists()).await;
    wait_for("the corrupt source replica to be quarantined", || {
        !src40.exists()
    })
    .await;

    // A version order renames a replica.
    mds.lock().unwrap().set_version.push((
        dst_id,
        SetVersionOrder {
            chunk_id: 40,
            old_version: 1,
            new_version: 3,
        },
    ));
    let renamed = cairn_cs::store::replica_path(&dst_dir.join("chunks"), 40, 3);
    wait_for("the replica to be renamed", || renamed.exists()).await;
    assert_eq!(read_all(&dst_addr, &cfg, 40, 3).await, data);

    for (stop, task) in [
        (src_stop, src_task),
        (dst_stop, dst_task),
        (dst2_stop, dst2_task),
    ] {
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
