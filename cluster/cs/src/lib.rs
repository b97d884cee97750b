//! Cairn's chunk server (`cairn cs`): one per disk directory, it stores
//! chunk replicas as checksummed files and serves them over `ChunkService`.
//!
//! Modules, from the disk up:
//! * [`replica`]: the replica file format (header with per-block CRC32C);
//! * [`sync`]: group commit of flushes;
//! * [`journal`]: the optional write journal on a fast device;
//! * [`store`]: the replicas of one CS, capacity, durability;
//! * [`service`]: the gRPC `ChunkService` with pipelined chain writes;
//! * [`heartbeat`]: the loop that reports to the MDS and follows its orders;
//! * [`copy`]: replica copies pulled from other chunk servers, verified;
//! * [`scrub`]: the background re-reading of replicas;
//! * [`identity`]: the CS directory, `cs.toml`, and `make-cs`.
//!
//! The process-level API is [`make_cs`] and [`ChunkServer`].

pub mod copy;
pub mod error;
pub mod heartbeat;
pub mod identity;
pub mod journal;
pub mod metrics;
mod peers;
pub mod replica;
pub mod scrub;
pub mod service;
pub mod store;
pub mod sync;

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
};

use cairn_common::{
    net::{CONNECTION_WINDOW, MAX_FRAME, STREAM_WINDOW},
    node_cert::Role,
    tls::{
        peer::{PeerCheck, ANY_NODE},
        NodeTls,
    },
    ClusterConfig,
};
use cairn_proto::chunk_service_server::ChunkServiceServer;
use tonic::{service::interceptor::InterceptedService, transport::Server};

pub use error::{CsError, ReplicaError};
pub use identity::{make_cs, write_identity, CsIdentity, JournalConfig, MakeCsOptions};
pub use scrub::ScrubPolicy;

use crate::{
    service::{ChunkSvc, MAX_MESSAGE},
    store::Store,
};

/// An opened chunk server: its directory is locked and its replicas
/// indexed (journal replayed); [`ChunkServer::serve`] runs it.
pub struct ChunkServer {
    dir: PathBuf,
    identity: CsIdentity,
    cfg: ClusterConfig,
    /// Its node certificate (role cs), the CA and the revoked serials.
    tls: NodeTls,
    store: Arc<Store>,
    scrub: ScrubPolicy,
    /// Where its calls are counted (see [`metrics`]).
    metrics: Option<cairn_metrics::PartMetrics>,
}

impl ChunkServer {
    /// Opens the CS directory `dir` of `cfg`'s cluster. Refuses a directory
    /// without `cs.toml`, one of another cluster, and one already in use by
    /// a running chunk server.
    pub async fn open(dir: &Path, cfg: ClusterConfig) -> Result<ChunkServer, CsError> {
        let identity = CsIdentity::load(dir)?;
        if identity.cluster_id != cfg.cluster_id {
            return Err(CsError::OtherCluster {
                dir: dir.to_path_buf(),
                found: identity.cluster_name,
                found_id: identity.cluster_id,
                expected: cfg.name,
            });
        }
        let tls = cfg.node_tls(Role::Cs)?;
        let d = dir.to_path_buf();
        let id = identity.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&d, &id))
            .await
            .map_err(|e| CsError::Io {
                what: "open",
                path: dir.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })??;
        tracing::info!(
            cs_id = identity.cs_id,
            dir = %dir.display(),
            replicas = store.replica_count(),
            journal = store.has_journal(),
            "chunk server opened"
        );
        Ok(ChunkServer {
            dir: dir.to_path_buf(),
            identity,
            cfg,
            tls,
            store: Arc::new(store),
            scrub: ScrubPolicy::default(),
            metrics: None,
        })
    }

    pub fn cs_id(&self) -> u32 {
        self.identity.cs_id
    }

    /// How the background scrubber reads (default: [`ScrubPolicy::default`]).
    pub fn set_scrub_policy(&mut self, policy: ScrubPolicy) {
        self.scrub = policy;
    }

    pub fn identity(&self) -> &CsIdentity {
        &self.identity
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Disk flushes of replica files so far (group commit: fewer than the
    /// syncs asked for under load).
    pub fn flushes(&self) -> u64 {
        self.store.flushes()
    }

    /// Serves `ChunkService` on `listener` and heartbeats to the MDS,
    /// announcing `advertise_addr`, until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        advertise_addr: String,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CsError> {
        let tls = self.tls.clone();
        let svc = ChunkServiceServer::new(ChunkSvc::new(Arc::clone(&self.store), tls.clone()))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let heartbeat = tokio::spawn(heartbeat::run(
            Arc::clone(&self.store),
            self.cfg.clone(),
            tls.clone(),
            advertise_addr.clone(),
        ));
        let scrubber = tokio::spawn(scrub::run(Arc::clone(&self.store), self.scrub));
        tracing::info!(cs_id = self.cs_id(), addr = %advertise_addr, "chunk service listening");
        let cert_watch = tls.watch();
        let incoming =
            cairn_common::tls::peer::incoming(listener, &tls).map_err(|source| CsError::Io {
                what: "serve TLS on",
                path: self.dir.clone(),
                source,
            })?;
        let result = Server::builder()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_frame_size(MAX_FRAME)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
            .layer(cairn_metrics::GrpcLayer::new(self.metrics.clone()))
            .add_service(InterceptedService::new(svc, PeerCheck::new(&tls, ANY_NODE)))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        heartbeat.abort();
        scrubber.abort();
        cert_watch.abort();
        // Aborted tasks are dropped when the runtime gets to them: wait, so
        // that the directory's lock goes with the last user of the store
        // and a restart in the same process can open it at once.
        let _ = heartbeat.await;
        let _ = scrubber.await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&self.store) > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if Arc::strong_count(&self.store) > 1 {
            tracing::warn!(
                cs_id = self.cs_id(),
                "a request still holds the store after shutdown; the directory stays locked until it ends"
            );
        }
        tracing::info!(cs_id = self.cs_id(), "chunk service stopped");
        result.map_err(CsError::Serve)
    }
}
