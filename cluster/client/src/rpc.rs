//! Connections: to the MDS (with failover across its addresses and retry of
//! idempotent calls) and a pool of channels to chunk servers, all built by
//! `cairn_common::net` (keepalive PINGs and socket timeouts that notice a
//! vanished host in seconds).
//!
//! Invariant: an MDS call attempt waits at most `MDS_ATTEMPT` (or what is
//! left of the call's time), so a call to an MDS whose host vanished moves
//! on to the next address; a call that is not idempotent and got no answer
//! fails `Unavailable` (the change may or may not have been made), never
//! hangs.

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
    net,
    net::{CS_MAX_MESSAGE, MDS_MAX_MESSAGE},
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
    transport::Channel,
    Request, Status,
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

/// Longest wait for one MDS call attempt. Metadata calls answer in
/// milliseconds (a commit waits for one group fsync); four seconds is far
/// past that on a loaded machine, and leaves an idempotent call with the
/// default ten seconds time to try two more addresses. (A host that
/// vanished is usually noticed sooner, by the channel's PINGs.)
pub(crate) const MDS_ATTEMPT: Duration = Duration::from_secs(4);

/// A lazily connecting channel to a Cairn node (see `cairn_common::net`).
pub(crate) fn channel(addr: &str) -> Result<Channel, FsError> {
    net::channel(addr).map_err(|e| FsError::Invalid(e.to_string()))
}

pub(crate) use cairn_common::errno::is_transport_failure;

/// The MDS side: every address from the cluster config; calls go to the
/// last one that answered.
pub(crate) struct MdsConn {
    endpoints: Vec<(String, MdsChannel)>,
    current: AtomicUsize,
    timeout: Duration,
    /// Longest wait for one attempt (`MDS_ATTEMPT`; shorter in tests).
    attempt: Duration,
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
            attempt: MDS_ATTEMPT,
        })
    }

    /// Gives each attempt at most `attempt` instead of `MDS_ATTEMPT`.
    #[cfg(test)]
    pub(crate) fn with_attempt(mut self, attempt: Duration) -> MdsConn {
        self.attempt = attempt;
        self
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
    /// since a lost answer does not tell whether the change was made. Each
    /// attempt waits at most `MDS_ATTEMPT`, or what is left of the timeout.
    pub(crate) async fn call<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, FsError>
    where
        F: Fn(MetadataRpc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_on(idempotent, |ch| {
            call(
                MetadataClient::new(ch)
                    .max_decoding_message_size(MDS_MAX_MESSAGE)
                    .max_encoding_message_size(MDS_MAX_MESSAGE),
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
                    .max_decoding_message_size(MDS_MAX_MESSAGE)
                    .max_encoding_message_size(MDS_MAX_MESSAGE),
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
            let wait = self
                .attempt
                .min(deadline.saturating_duration_since(Instant::now()));
            let Ok(result) = tokio::time::timeout(wait, call(rpc.clone())).await else {
                // No answer: the host may be gone without a reset. The next
                // call tries the next MDS, even when this one gives up.
                self.current.store(idx + 1, Ordering::Relaxed);
                tracing::warn!(mds = %addr, wait = ?wait, "MDS call got no answer in time");
                if !idempotent {
                    return Err(FsError::Unavailable(format!(
                        "MDS at {addr} did not answer within {:.1}s; the change may or may not \
                         have been made",
                        wait.as_secs_f64()
                    )));
                }
                if Instant::now() + pause > deadline {
                    return Err(FsError::Unavailable(format!(
                        "no MDS answered within {:.1}s (last tried: {addr})",
                        self.timeout.as_secs_f64()
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
                continue;
            };
            match result {
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
                .max_decoding_message_size(CS_MAX_MESSAGE)
                .max_encoding_message_size(CS_MAX_MESSAGE);
        map.insert(addr.to_string(), rpc.clone());
        Ok(rpc)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use cairn_proto as pb;

    use super::*;
    use crate::testing::fake_mds;

    /// An MDS that takes calls and never answers (a host gone without a
    /// reset looks the same until the PINGs give up): each attempt is
    /// bounded, an idempotent call moves on to the next address, one that
    /// is not idempotent fails Unavailable.
    #[tokio::test]
    async fn a_silent_mds_costs_one_attempt() {
        let (silent, good) = (fake_mds().await, fake_mds().await);
        silent.set(|s| s.hang = true);
        let auth = ClusterAuth::new("test", b"secret".to_vec());
        let attempt = Duration::from_millis(300);
        let conn = MdsConn::new(
            &[silent.addr.clone(), good.addr.clone()],
            &auth,
            Duration::from_secs(5),
            Persist::Disk,
        )
        .unwrap()
        .with_attempt(attempt);
        let locate = |mut m: MetadataRpc| async move {
            m.locate_chunks(pb::LocateChunksRequest {
                chunk_ids: vec![1],
                writer_ino: 0,
            })
            .await
        };
        let started = Instant::now();
        let reply = conn.call(true, locate).await.unwrap();
        assert!(reply.chunks.is_empty());
        let took = started.elapsed();
        assert!(took >= attempt && took < attempt * 3, "{took:?}");
        assert_eq!(silent.state.lock().unwrap().calls, 1);

        // The good one answered last and is asked first now; make the
        // silent one current again for the call that is not idempotent.
        conn.current.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let err = conn.call(false, locate).await.unwrap_err();
        assert!(matches!(err, FsError::Unavailable(_)), "{err:?}");
        assert!(err.to_string().contains("may or may not"), "{err}");
        assert!(started.elapsed() < attempt * 3);
        assert_eq!(good.state.lock().unwrap().calls, 1);
    }
}
