//! The connection to the MDS group: every address of the cluster config,
//! and the one wrapper every metadata call goes through ([`MdsConn::call`]
//! and its typed doors): leader redirects, the next address when one does
//! not answer, and retries as the call's [`Retry`] policy allows.
//!
//! Invariant: an attempt waits at most `MDS_ATTEMPT` (or what is left of
//! the call's time), so a call to an MDS whose host vanished moves on to
//! the next address; a call that must not be replayed and got no answer
//! fails `Unavailable` (the change may or may not have been made), never
//! hangs.

use std::{
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use cairn_common::{errno::LEADER_HEADER, tls::NodeTls, ClusterError, Persist};
use cairn_proto::{
    mds_raft_client::MdsRaftClient, metadata_client::MetadataClient, s3_meta_client::S3MetaClient,
};
use tonic::{service::interceptor::InterceptedService, Response, Status};

use crate::{
    retry::{Failure, Retry},
    rpc::{channel, is_transport_failure, MdsChannel, MdsHeaders},
};

pub(crate) type MetadataRpc = MetadataClient<MdsChannel>;
pub(crate) type S3MetaRpc = S3MetaClient<MdsChannel>;
pub(crate) type RaftRpc = MdsRaftClient<MdsChannel>;

/// Longest wait for one MDS call attempt. Metadata calls answer in
/// milliseconds (a commit waits for one group fsync); four seconds is far
/// past that on a loaded machine, and leaves an idempotent call with the
/// default ten seconds time to try two more addresses. (A host that
/// vanished is usually noticed sooner, by the channel's PINGs.)
pub(crate) const MDS_ATTEMPT: Duration = Duration::from_secs(4);

/// First pause before a retry, and the longest: a leader election takes
/// one to two seconds, so half a second between tries finds the new
/// leader without flooding the others.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// A gRPC service of the MDS, made over one of its channels.
pub(crate) trait MdsService: Sized {
    fn open(channel: MdsChannel) -> Self;
}

impl MdsService for MetadataRpc {
    fn open(channel: MdsChannel) -> Self {
        MetadataClient::new(channel)
            .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
    }
}

impl MdsService for S3MetaRpc {
    fn open(channel: MdsChannel) -> Self {
        S3MetaClient::new(channel)
            .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
    }
}

impl MdsService for RaftRpc {
    fn open(channel: MdsChannel) -> Self {
        MdsRaftClient::new(channel)
    }
}

/// The MDS side: every address from the cluster config; calls go to the
/// last one that answered (or the leader a follower named).
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
        tls: &NodeTls,
        timeout: Duration,
        persist: Persist,
    ) -> Result<MdsConn, ClusterError> {
        if addrs.is_empty() {
            return Err(ClusterError::Invalid(
                "the cluster config names no MDS address".into(),
            ));
        }
        let endpoints = addrs
            .iter()
            .map(|a| {
                let headers = MdsHeaders::new(persist);
                let ch = InterceptedService::new(channel(a, tls)?, headers);
                Ok((a.clone(), ch))
            })
            .collect::<Result<Vec<_>, ClusterError>>()?;
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

    /// A call of the Metadata service (namespace, chunks, cluster stat).
    pub(crate) async fn metadata<Req, T, F, Fut>(
        &self,
        retry: Retry,
        req: Req,
        call: F,
    ) -> Result<T, ClusterError>
    where
        Req: Clone,
        F: Fn(MetadataRpc, Req) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.call(retry, self.attempt, req, call).await
    }

    /// A call of the S3Meta service (access keys, uploads, versions).
    pub(crate) async fn s3<Req, T, F, Fut>(
        &self,
        retry: Retry,
        req: Req,
        call: F,
    ) -> Result<T, ClusterError>
    where
        Req: Clone,
        F: Fn(S3MetaRpc, Req) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.call(retry, self.attempt, req, call).await
    }

    /// A call of the MdsRaft service's membership changes. An attempt may
    /// take the whole timeout: the leader snapshots its state before it
    /// adds an MDS, which can take longer than a metadata call, and a
    /// change cut short could not be retried anyway.
    pub(crate) async fn raft<Req, T, F, Fut>(
        &self,
        retry: Retry,
        req: Req,
        call: F,
    ) -> Result<T, ClusterError>
    where
        Req: Clone,
        F: Fn(RaftRpc, Req) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.call(retry, self.timeout, req, call).await
    }

    /// Runs `call` with a copy of `req` against the MDS until it answers,
    /// or a failure its `retry` policy does not allow, or the client's
    /// timeout. Each attempt waits at most `attempt`, or what is left of
    /// the timeout. A follower's redirect is followed at once.
    async fn call<S, Req, T, F, Fut>(
        &self,
        retry: Retry,
        attempt: Duration,
        req: Req,
        call: F,
    ) -> Result<T, ClusterError>
    where
        S: MdsService,
        Req: Clone,
        F: Fn(S, Req) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            let idx = self.current.load(Ordering::Relaxed) % self.endpoints.len();
            let (addr, channel) = &self.endpoints[idx];
            let wait = attempt.min(deadline.saturating_duration_since(Instant::now()));
            let answer =
                tokio::time::timeout(wait, call(S::open(channel.clone()), req.clone())).await;
            // What went wrong, the error to give when it ends the call, and
            // another to give when the time is up instead (if it differs).
            let (failure, error, late) = match answer {
                Ok(Ok(reply)) => return Ok(reply.into_inner()),
                Err(_) => {
                    tracing::warn!(mds = %addr, wait = ?wait, "MDS call got no answer in time");
                    (
                        Failure::NoAnswer,
                        ClusterError::Unavailable(format!(
                            "MDS at {addr} did not answer within {:.1}s; the change may or may \
                             not have been made",
                            wait.as_secs_f64()
                        )),
                        Some(ClusterError::Unavailable(format!(
                            "no MDS answered within {:.1}s (last tried: {addr})",
                            self.timeout.as_secs_f64()
                        ))),
                    )
                }
                Ok(Err(status)) => {
                    let Some(failure) = classify(&status) else {
                        return Err(ClusterError::from_status(&status));
                    };
                    let error = match failure {
                        Failure::NotLeader => ClusterError::Unavailable(format!(
                            "no MDS leader answered in time ({})",
                            status.message()
                        )),
                        Failure::Refused | Failure::NoAnswer => unreachable_mds(addr, &status),
                        Failure::Lost if is_transport_failure(&status) => {
                            unreachable_mds(addr, &status)
                        }
                        Failure::Lost => ClusterError::from_status(&status),
                    };
                    if failure == Failure::NotLeader {
                        if let Some(i) = self.leader_named(&status) {
                            // The leader is known: go there at once (a
                            // short pause in case it has just stepped
                            // down). Never a replay: nothing ran.
                            self.current.store(i, Ordering::Relaxed);
                            if Instant::now() + FIRST_PAUSE > deadline {
                                return Err(error);
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                    }
                    (failure, error, None)
                }
            };
            // The next call tries the next MDS, even when this one gives up.
            self.current.store(idx + 1, Ordering::Relaxed);
            if !retry.allows(failure) {
                return Err(error);
            }
            if Instant::now() + pause > deadline {
                return Err(late.unwrap_or(error));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// The index of the leader a follower's refusal names, if it is one
    /// of this client's addresses.
    fn leader_named(&self, status: &Status) -> Option<usize> {
        let leader = status.metadata().get(LEADER_HEADER)?.to_str().ok()?;
        if leader.is_empty() {
            return None;
        }
        self.endpoints.iter().position(|(a, _)| a == leader)
    }
}

/// The failure behind a status that may be retried, or `None` for an
/// answer of the MDS that ends the call (not found, exists, ...).
fn classify(status: &Status) -> Option<Failure> {
    if status.metadata().get(LEADER_HEADER).is_some() {
        Some(Failure::NotLeader)
    } else if is_transport_failure(status) {
        Some(if never_sent(status) {
            Failure::Refused
        } else {
            Failure::Lost
        })
    } else if matches!(
        ClusterError::from_status(status),
        ClusterError::Unavailable(_)
    ) {
        Some(Failure::Lost)
    } else {
        None
    }
}

fn unreachable_mds(addr: &str, status: &Status) -> ClusterError {
    ClusterError::Unavailable(format!(
        "MDS at {addr} does not answer: is `cairn mds` running? check `-c CLUSTER` and the MDS \
         addresses in its config ({})",
        status.message()
    ))
}

/// Whether the call failed before reaching the MDS (its connection was
/// refused): then even a call that must not be replayed is safe to retry.
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

#[cfg(test)]
mod tests;
