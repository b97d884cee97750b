//! `make-cs` and heartbeats against a stand-in MDS that serves only
//! `ClusterAdmin`: registration, the full replica report after a start, the
//! counters, and deletions ordered by the MDS.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_common::{
    auth::{ClientAuth, ServerAuth},
    ClusterConfig,
};
use cairn_cs::{make_cs, ChunkServer, CsError, MakeCsOptions};
use cairn_proto::{
    chunk_service_client::ChunkServiceClient,
    cluster_admin_server::{ClusterAdmin, ClusterAdminServer},
    write_request, HeartbeatReply, HeartbeatRequest, RegisterCsReply, RegisterCsRequest,
    ReplicaInfo, WriteHeader, WriteRequest,
};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{server::TcpIncoming, Server},
    Request, Response, Status,
};

#[derive(Default)]
struct MdsState {
    registered: Vec<RegisterCsRequest>,
    beats: Vec<HeartbeatRequest>,
    /// Answered in every heartbeat reply.
    delete: Vec<ReplicaInfo>,
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
        state.beats.push(request.into_inner());
        Ok(Response::new(HeartbeatReply {
            delete: state.delete.clone(),
        }))
    }
}

fn cfg(mds_addr: &str) -> ClusterConfig {
    ClusterConfig {
        name: "hb".into(),
        cluster_id: "hb-cluster".into(),
        secret: "0123456789abcdef".into(),
        mds_addrs: vec![mds_addr.to_string()],
        chunk_size: 64 << 20,
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
    let svc = InterceptedService::new(ClusterAdminServer::new(mds), ServerAuth(cfg(&addr).auth()));
    tokio::spawn(
        Server::builder()
            .add_service(svc)
            .serve_with_incoming(TcpIncoming::from(listener)),
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
    let channel = cairn_cs::service::data_endpoint(addr)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = ChunkServiceClient::with_interceptor(channel, ClientAuth(cfg.auth()));
    let msgs = vec![
        WriteRequest {
            msg: Some(write_request::Msg::Header(WriteHeader {
                chunk_id,
                version: 1,
                offset: 0,
                chain: vec![],
                sync: true,
                create: true,
            })),
        },
        WriteRequest {
            msg: Some(write_request::Msg::Data(Bytes::from_static(data))),
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
