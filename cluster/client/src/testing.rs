//! Fake chunk servers and a fake MDS on 127.0.0.1 for the library's own
//! tests: real gRPC over real sockets, with behaviour a test sets (answer,
//! fail with a status, never answer, report hops failed, stall a read).
//!
//! A fake CS never forwards down a chain: a piece sent to it with a chain
//! comes back with the other hops neither written nor failed, as from a
//! chain head that did not reach them, and the client sends it to them
//! directly.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use cairn_common::{
    node_cert::Role,
    tls::{
        peer::{incoming, PeerIo},
        NodeTls,
    },
    ClusterConfig, ClusterError,
};
use cairn_proto as pb;
use futures::{Stream, StreamExt};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    codegen::{http, BoxFuture, Context, Poll, Service},
    server::{NamedService, UnaryService},
    transport::Server,
    Code, Request, Response, Status, Streaming,
};

use crate::{node::CsAddr, Client, ClientOptions};

/// What a fake does with a call.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    /// Does what was asked.
    Ok,
    /// Answers this status, having done nothing.
    Fail(Code),
    /// Never answers: a process that stopped with its connections open.
    Hang,
    /// Writes, and reports these hops of the chain failed with these
    /// errors, as a chain head whose next hop failed does.
    Report(Vec<(u32, ClusterError)>),
}

#[derive(Debug)]
pub(crate) struct CsState {
    pub(crate) write: Act,
    pub(crate) read: Act,
    pub(crate) sync: Act,
    pub(crate) set_version: Act,
    /// A read stream sends this many bytes, then nothing more, unended.
    pub(crate) read_stall_after: Option<u64>,
    /// chunk -> (version, bytes).
    pub(crate) chunks: HashMap<u64, (u64, Vec<u8>)>,
    /// Offsets of the reads asked, in order.
    pub(crate) reads: Vec<u64>,
}

pub(crate) struct FakeCs {
    pub(crate) hop: CsAddr,
    pub(crate) state: Arc<Mutex<CsState>>,
    _stop: oneshot::Sender<()>,
}

impl FakeCs {
    pub(crate) fn set(&self, f: impl FnOnce(&mut CsState)) {
        f(&mut self.state.lock().unwrap());
    }

    /// The chunk's (version, bytes), if this CS holds it.
    pub(crate) fn chunk(&self, id: u64) -> Option<(u64, Vec<u8>)> {
        self.state.lock().unwrap().chunks.get(&id).cloned()
    }
}

#[derive(Clone)]
struct CsSvc {
    cs_id: u32,
    state: Arc<Mutex<CsState>>,
}

impl CsSvc {
    fn act(&self, pick: impl FnOnce(&CsState) -> &Act) -> Act {
        pick(&self.state.lock().unwrap()).clone()
    }
}

async fn obey(act: &Act) -> Result<(), Status> {
    match act {
        Act::Fail(code) => Err(Status::new(*code, format!("fake failure {code:?}"))),
        Act::Hang => futures::future::pending().await,
        Act::Ok | Act::Report(_) => Ok(()),
    }
}

type Pinned<T> = std::pin::Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::chunk_service_server::ChunkService for CsSvc {
    async fn write(
        &self,
        request: Request<Streaming<pb::WriteRequest>>,
    ) -> Result<Response<pb::WriteReply>, Status> {
        let act = self.act(|s| &s.write);
        obey(&act).await?;
        let mut stream = request.into_inner();
        let Some(pb::WriteRequest {
            msg: Some(pb::write_request::Msg::Header(header)),
        }) = stream.message().await?
        else {
            return Err(Status::invalid_argument("no header"));
        };
        let mut data = Vec::new();
        while let Some(msg) = stream.message().await? {
            if let Some(pb::write_request::Msg::Data(d)) = msg.msg {
                data.extend_from_slice(&d);
            }
        }
        let mut state = self.state.lock().unwrap();
        let entry = state
            .chunks
            .entry(header.chunk_id)
            .or_insert((header.version, Vec::new()));
        if entry.0 != header.version {
            return Err(Status::failed_precondition("other version"));
        }
        let end = header.offset as usize + data.len();
        if entry.1.len() < end {
            entry.1.resize(end, 0);
        }
        entry.1[header.offset as usize..end].copy_from_slice(&data);
        let failed = match act {
            Act::Report(failed) => failed
                .into_iter()
                .map(|(cs_id, error)| pb::FailedHop {
                    cs_id,
                    errno: error.tag().to_string(),
                    error: error.detail().to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Response::new(pb::WriteReply {
            written: vec![self.cs_id],
            failed,
            chunk_length: entry.1.len() as u64,
        }))
    }

    type ReadStream = Pinned<pb::ReadReply>;

    async fn read(
        &self,
        request: Request<pb::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let r = request.into_inner();
        let act = self.act(|s| &s.read);
        let (data, stall) = {
            let mut state = self.state.lock().unwrap();
            state.reads.push(r.offset);
            let data = match state.chunks.get(&r.chunk_id) {
                Some((v, d)) if *v == r.version => d.clone(),
                _ => return Err(Status::not_found("no such replica")),
            };
            (data, state.read_stall_after)
        };
        obey(&act).await?;
        let from = (r.offset as usize).min(data.len());
        let to = if r.length == 0 {
            data.len()
        } else {
            (from + r.length as usize).min(data.len())
        };
        let data = Bytes::from(data).slice(from..to);
        let stall = stall.map(|n| n as usize);
        let stream = async_stream::stream! {
            let mut at = 0;
            while at < data.len() {
                let end = (at + (64 << 10)).min(data.len());
                let end = stall.map_or(end, |s| end.min(s.max(at)));
                if end == at {
                    futures::future::pending::<()>().await;
                }
                yield Ok(pb::ReadReply { data: data.slice(at..end) });
                at = end;
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn sync(&self, _: Request<pb::SyncRequest>) -> Result<Response<pb::Empty>, Status> {
        obey(&self.act(|s| &s.sync)).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn set_version(
        &self,
        request: Request<pb::SetVersionRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        obey(&self.act(|s| &s.set_version)).await?;
        let r = request.into_inner();
        let mut state = self.state.lock().unwrap();
        match state.chunks.get_mut(&r.chunk_id) {
            Some((v, _)) if *v == r.old_version || *v == r.new_version => {
                *v = r.new_version;
                Ok(Response::new(pb::Empty {}))
            }
            _ => Err(Status::not_found("no such replica")),
        }
    }

    async fn delete_replica(
        &self,
        _: Request<pb::DeleteReplicaRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        Ok(Response::new(pb::Empty {}))
    }

    type ReadForCopyStream = Pinned<pb::CopyPiece>;

    async fn read_for_copy(
        &self,
        _: Request<pb::ReadRequest>,
    ) -> Result<Response<Self::ReadForCopyStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}

/// The fakes' cluster.
const CLUSTER_ID: &str = "test";

fn node_dir() -> std::path::PathBuf {
    cairn_testkit::node::node_dir(CLUSTER_ID)
}

/// The identity of the library's client in the fakes' cluster.
pub(crate) fn client_tls() -> NodeTls {
    NodeTls::load(&node_dir(), CLUSTER_ID, Role::Client).unwrap()
}

/// A fake's sessions, in mutual TLS as a `role` node.
fn sessions(listener: TcpListener, role: Role) -> impl Stream<Item = std::io::Result<PeerIo>> {
    let tls = NodeTls::load(&node_dir(), CLUSTER_ID, role).unwrap();
    incoming(listener, &tls).unwrap()
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// Starts a fake chunk server on 127.0.0.1; it stops when dropped.
pub(crate) async fn fake_cs(cs_id: u32) -> FakeCs {
    let (listener, addr) = listen().await;
    let state = Arc::new(Mutex::new(CsState {
        write: Act::Ok,
        read: Act::Ok,
        sync: Act::Ok,
        set_version: Act::Ok,
        read_stall_after: None,
        chunks: HashMap::new(),
        reads: Vec::new(),
    }));
    let svc = CsSvc {
        cs_id,
        state: state.clone(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .add_service(pb::chunk_service_server::ChunkServiceServer::new(svc))
            .serve_with_incoming_shutdown(sessions(listener, Role::Cs), async {
                let _ = stopped.await;
            }),
    );
    FakeCs {
        hop: CsAddr {
            cs_id,
            addr,
            host: format!("host{cs_id}"),
        },
        state,
        _stop: stop,
    }
}

/// What the fake MDS knows and was told.
#[derive(Debug, Default)]
pub(crate) struct MdsState {
    pub(crate) chunks: HashMap<u64, pb::ChunkLocation>,
    /// (chunk, cs) of every DropReplica, in order.
    pub(crate) drops: Vec<(u64, u32)>,
    /// Every call hangs.
    pub(crate) hang: bool,
    /// Every call is refused with this status, unrun (a follower naming
    /// its leader, an MDS that lost its majority).
    pub(crate) refuse: Option<Status>,
    /// Calls received.
    pub(crate) calls: usize,
}

/// A fake `Metadata` service that knows DropReplica and LocateChunks and
/// answers UNIMPLEMENTED to the rest.
#[derive(Clone)]
pub(crate) struct FakeMds {
    pub(crate) addr: String,
    pub(crate) state: Arc<Mutex<MdsState>>,
    _stop: Arc<oneshot::Sender<()>>,
}

impl FakeMds {
    pub(crate) fn set(&self, f: impl FnOnce(&mut MdsState)) {
        f(&mut self.state.lock().unwrap());
    }
}

#[derive(Clone)]
struct MdsSvc(Arc<Mutex<MdsState>>);

impl NamedService for MdsSvc {
    const NAME: &'static str = "cairn.v1.Metadata";
}

struct Unary<F>(F);

impl<Req, Rep, F> UnaryService<Req> for Unary<F>
where
    F: FnMut(Req) -> Result<Rep, Status> + Send + 'static,
    Req: Send + 'static,
    Rep: Send + 'static,
{
    type Response = Rep;
    type Future = BoxFuture<Response<Rep>, Status>;
    fn call(&mut self, request: Request<Req>) -> Self::Future {
        let answer = (self.0)(request.into_inner()).map(Response::new);
        Box::pin(async move { answer })
    }
}

impl MdsSvc {
    fn drop_replica(&self, r: pb::DropReplicaRequest) -> Result<pb::ChunkLocation, Status> {
        let mut state = self.0.lock().unwrap();
        state.drops.push((r.chunk_id, r.cs_id));
        let loc = state
            .chunks
            .get_mut(&r.chunk_id)
            .ok_or_else(|| Status::not_found("no such chunk"))?;
        if loc.replicas.iter().any(|c| c.cs_id == r.cs_id) {
            loc.replicas.retain(|c| c.cs_id != r.cs_id);
            loc.version += 1;
        }
        Ok(loc.clone())
    }

    fn locate(&self, r: pb::LocateChunksRequest) -> Result<pb::LocateChunksReply, Status> {
        let state = self.0.lock().unwrap();
        Ok(pb::LocateChunksReply {
            chunks: r
                .chunk_ids
                .iter()
                .filter_map(|id| state.chunks.get(id).cloned())
                .collect(),
        })
    }
}

impl Service<http::Request<tonic::body::Body>> for MdsSvc {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let svc = self.clone();
        Box::pin(async move {
            let (hang, refuse) = {
                let mut state = svc.0.lock().unwrap();
                state.calls += 1;
                (state.hang, state.refuse.clone())
            };
            if hang {
                futures::future::pending::<()>().await;
            }
            if let Some(status) = refuse {
                return Ok(status.into_http());
            }
            Ok(match req.uri().path() {
                "/cairn.v1.Metadata/DropReplica" => {
                    let s = svc.clone();
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                        .unary(Unary(move |r| s.drop_replica(r)), req)
                        .await
                }
                "/cairn.v1.Metadata/LocateChunks" => {
                    let s = svc.clone();
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                        .unary(Unary(move |r| s.locate(r)), req)
                        .await
                }
                _ => Status::unimplemented("not in the fake").into_http(),
            })
        })
    }
}

/// Starts a fake MDS on 127.0.0.1; it stops when the last clone is dropped.
pub(crate) async fn fake_mds() -> FakeMds {
    let (listener, addr) = listen().await;
    let state = Arc::new(Mutex::new(MdsState::default()));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .add_service(MdsSvc(state.clone()))
            .serve_with_incoming_shutdown(sessions(listener, Role::Mds), async {
                let _ = stopped.await;
            }),
    );
    FakeMds {
        addr,
        state,
        _stop: Arc::new(stop),
    }
}

/// A client of the fake MDSs at `mds`, chunk servers answering within
/// `cs_timeout`.
pub(crate) fn client(mds: &[&FakeMds], cs_timeout: Duration) -> Client {
    let config = ClusterConfig {
        name: "test".into(),
        cluster_id: CLUSTER_ID.into(),
        mds_addrs: mds.iter().map(|m| m.addr.clone()).collect(),
        chunk_size: 64 << 20,
        dir: Some(node_dir()),
    };
    Client::connect(
        &config,
        ClientOptions {
            host: Some("client-host".into()),
            mds_timeout: Duration::from_secs(5),
            cs_timeout,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// The location of a chunk on `replicas` that the fake MDS knows.
pub(crate) fn place(
    mds: &FakeMds,
    chunk_id: u64,
    replicas: &[&FakeCs],
    min_replicas: u32,
) -> crate::ChunkLocation {
    let loc = pb::ChunkLocation {
        chunk_id,
        version: 1,
        length: 0,
        replicas: replicas.iter().map(|c| pb::CsAddr::from(&c.hop)).collect(),
        shared: false,
        min_replicas,
    };
    mds.set(|s| {
        s.chunks.insert(chunk_id, loc.clone());
    });
    loc.into()
}

/// Collects a stream of byte pieces.
pub(crate) async fn collect(
    stream: impl Stream<Item = Result<Bytes, cairn_common::ClusterError>>,
) -> Result<Vec<u8>, cairn_common::ClusterError> {
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}
