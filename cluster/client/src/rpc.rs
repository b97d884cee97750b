//! Connections: to the MDS (with failover across its addresses and retry of
//! idempotent calls) and a pool of channels to chunk servers.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use cairn_common::{
    auth::ClientAuth,
    errno::LEADER_HEADER,
    persist::{PERSIST_HEADER, PERSIST_OS},
    ClusterAuth, FsError, Persist,
};
use cairn_proto::{
    chunk_service_client::ChunkServiceClient, metadata_client::MetadataClient,
    s3_meta_client::S3MetaClient,
};
use tonic::{
    metadata::MetadataValue,
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Channel, Endpoint},
    Code, Request, Status,
};

/// A channel that adds the cluster credential to every call.
pub(crate) type AuthChannel = InterceptedService<Channel, ClientAuth>;
/// A channel to the MDS: the credential, and the persistence asked for.
pub(crate) type MdsChannel = InterceptedService<Channel, MdsHeaders>;
pub(crate) type MetadataRpc = MetadataClient<MdsChannel>;
pub(crate) type S3MetaRpc = S3MetaClient<MdsChannel>;
pub(crate) type ChunkRpc = ChunkServiceClient<AuthChannel>;

/// Adds the cluster credential to every MDS call and, for a client that
/// asked for [`Persist::Os`], the `cairn-persist` header.
#[derive(Clone)]
pub(crate) struct MdsHeaders {
    auth: ClientAuth,
    persist: Persist,
}

impl Interceptor for MdsHeaders {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let mut req = self.auth.call(req)?;
        if self.persist == Persist::Os {
            req.metadata_mut()
                .insert(PERSIST_HEADER, MetadataValue::from_static(PERSIST_OS));
        }
        Ok(req)
    }
}

/// Largest message a client accepts: listings with layouts can be large.
const MAX_MESSAGE: usize = 64 << 20;

/// Builds a lazily connecting channel tuned for bulk data on a LAN:
/// large HTTP/2 windows so that one stream can fill the link.
pub(crate) fn channel(addr: &str) -> Result<Channel, FsError> {
    let uri = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| FsError::Invalid(format!("bad address `{addr}`: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(8 << 20))
        .initial_connection_window_size(Some(32 << 20))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20));
    Ok(endpoint.connect_lazy())
}

/// A status that says the peer was not reached (no answer from a handler).
pub(crate) fn is_transport_failure(status: &Status) -> bool {
    status
        .metadata()
        .get(cairn_common::errno::ERRNO_HEADER)
        .is_none()
        && matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
        )
}

/// The MDS side: every address from the cluster config; calls go to the
/// last one that answered.
pub(crate) struct MdsConn {
    endpoints: Vec<(String, MdsChannel)>,
    current: AtomicUsize,
    timeout: Duration,
}

impl MdsConn {
    pub(crate) fn new(
        addrs: &[String],
        auth: &ClusterAuth,
        timeout: Duration,
        persist: Persist,
    ) -> Result<MdsConn, FsError> {
        if addrs.is_empty() {
            return Err(FsError::Invalid(
                "the cluster config names no MDS address".into(),
            ));
        }
        let endpoints = addrs
            .iter()
            .map(|a| {
                let headers = MdsHeaders {
                    auth: ClientAuth(auth.clone()),
                    persist,
                };
                let ch = InterceptedService::new(channel(a)?, headers);
                Ok((a.clone(), ch))
            })
            .collect::<Result<Vec<_>, FsError>>()?;
        Ok(MdsConn {
            endpoints,
            current: AtomicUsize::new(0),
            timeout,
        })
    }

    fn unreachable(&self, addr: &str, status: &Status) -> FsError {
        FsError::Unavailable(format!(
            "MDS at {addr} does not answer: is `cairn mds` running? check `-c CLUSTER` and the \
             MDS addresses in its config ({})",
            status.message()
        ))
    }

    /// Runs `call` against the MDS. Idempotent calls are retried on other
    /// addresses and after a pause until the timeout; others are tried once,
    /// since a lost answer does not tell whether the change was made.
    pub(crate) async fn call<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, FsError>
    where
        F: Fn(MetadataRpc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_on(idempotent, |ch| {
            call(
                MetadataClient::new(ch)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
            )
        })
        .await
    }

    /// As `call`, on the MDS's S3Meta service.
    pub(crate) async fn call_s3<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, FsError>
    where
        F: Fn(S3MetaRpc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_on(idempotent, |ch| {
            call(
                S3MetaClient::new(ch)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
            )
        })
        .await
    }

    async fn call_on<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, FsError>
    where
        F: Fn(MdsChannel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let idx = self.current.load(Ordering::Relaxed) % self.endpoints.len();
            let (addr, rpc) = &self.endpoints[idx];
            match call(rpc.clone()).await {
                Ok(reply) => return Ok(reply.into_inner()),
                // A follower refused the call without executing it: go to
                // the leader it names (or the next MDS while none is
                // elected), whatever the call.
                Err(status) if status.metadata().get(LEADER_HEADER).is_some() => {
                    if Instant::now() + pause > deadline {
                        return Err(FsError::Unavailable(format!(
                            "no MDS leader answered in time ({})",
                            status.message()
                        )));
                    }
                    let leader = status
                        .metadata()
                        .get(LEADER_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    match self.endpoints.iter().position(|(a, _)| a == leader) {
                        Some(i) if !leader.is_empty() => {
                            self.current.store(i, Ordering::Relaxed);
                            // The leader is known: retry at once (a short
                            // pause in case it has just stepped down).
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        _ => {
                            self.current.store(idx + 1, Ordering::Relaxed);
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_millis(500));
                        }
                    }
                }
                Err(status)
                    if is_transport_failure(&status) || retry_unavailable(idempotent, &status) =>
                {
                    // The next call tries the next MDS, even when this one
                    // gives up.
                    self.current.store(idx + 1, Ordering::Relaxed);
                    if !(idempotent || never_sent(&status)) || Instant::now() + pause > deadline {
                        return Err(self.unreachable(addr, &status));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(status) => return Err(FsError::from_status(&status)),
            }
        }
    }
}

/// Whether the call failed before reaching the MDS (its connection was
/// refused): then even a call that is not idempotent is safe to retry.
fn never_sent(status: &Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        if e.to_string()
            .to_ascii_lowercase()
            .contains("connection refused")
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// An idempotent call the MDS answered "unavailable" (a leader that lost
/// its majority or stepped down mid-call) is safe to try again elsewhere.
fn retry_unavailable(idempotent: bool, status: &Status) -> bool {
    idempotent && matches!(FsError::from_status(status), FsError::Unavailable(_))
}

/// Channels to chunk servers, one per address, made on first use.
pub(crate) struct CsPool {
    auth: ClusterAuth,
    channels: Mutex<HashMap<String, ChunkRpc>>,
}

impl CsPool {
    pub(crate) fn new(auth: ClusterAuth) -> Arc<CsPool> {
        Arc::new(CsPool {
            auth,
            channels: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn get(&self, addr: &str) -> Result<ChunkRpc, FsError> {
        let mut map = self
            .channels
            .lock()
            .map_err(|_| FsError::Io("chunk server pool lock poisoned".into()))?;
        if let Some(rpc) = map.get(addr) {
            return Ok(rpc.clone());
        }
        let rpc =
            ChunkServiceClient::with_interceptor(channel(addr)?, ClientAuth(self.auth.clone()))
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
        map.insert(addr.to_string(), rpc.clone());
        Ok(rpc)
    }
}
