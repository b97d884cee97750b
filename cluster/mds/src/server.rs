//! A running MDS: its open state, its committer, and the gRPC server.

use std::{
    fs::File,
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use cairn_common::{auth::ServerAuth, ClusterConfig, FsError};
use cairn_proto::{
    cluster_admin_server::ClusterAdminServer, join_server::JoinServer,
    metadata_server::MetadataServer, s3_meta_server::S3MetaServer,
};
use redb::{Database, DatabaseError};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{server::TcpIncoming, Server},
};

use crate::apply::create_tables;
use crate::command::{Command, CommandReply};
use crate::committer::Committer;
use crate::error::MdsError;
use crate::heal::{shared::HealShared, BackgroundWork};
use crate::init::{lock_dir, DB_FILE};
use crate::query::Reader;
use crate::registry::Registry;
use crate::schema::ClusterMeta;
use crate::service::{JoinService, MdsService};

/// Largest gRPC message in either direction. Listings of 10 000 entries
/// with their layouts exceed tonic's 4 MiB default.
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Clone, Debug)]
pub struct MdsOptions {
    /// A chunk server silent for longer than this is offline.
    pub offline_after: Duration,
    /// A chunk server silent for longer than this (the grace period) has
    /// its replicas counted lost: they are restored elsewhere.
    pub lost_after: Duration,
    /// Replica copies at once towards, and from, one chunk server.
    pub max_copies_per_cs: usize,
    /// Fill difference (0..1) between the fullest and the emptiest chunk
    /// server of a tier that starts the balancer.
    pub balance_threshold: f64,
    /// Bytes per second the balancing (and tier) moves into, and out of,
    /// one chunk server copy at together.
    pub balance_rate: u64,
    /// How long a chunk released by its last holder stays readable before
    /// it is freed.
    pub release_grace: Duration,
    /// How long an allocated chunk may stay out of every layout before it
    /// is collected.
    pub uncommitted_timeout: Duration,
    /// Time between two passes of the background work.
    pub heal_interval: Duration,
}

impl Default for MdsOptions {
    fn default() -> Self {
        MdsOptions {
            // Ten missed one-second heartbeats: long enough to ride out a GC
            // pause or a busy disk, short enough that writers stop choosing a
            // dead CS quickly.
            offline_after: Duration::from_secs(10),
            // A minute: a CS restart (upgrade, reboot of its process) comes
            // back well within it and costs no copy; a dead disk starts
            // being re-replicated a minute after its last heartbeat.
            lost_after: Duration::from_secs(60),
            // Four 64 MiB copies in and out keep a disk streaming (each
            // copy is sequential) without starving its clients' queue.
            max_copies_per_cs: 4,
            // PCS's figure: closer is not worth the moves.
            balance_threshold: 0.05,
            // 20 MiB/s of moves into and out of each CS: about a tenth of
            // a disk's sequential bandwidth, so clients keep most of it; a
            // 1 TiB imbalance levels in about 15 hours.
            balance_rate: 20 << 20,
            // Long enough for a reader holding an old layout to finish
            // reading a few 64 MiB chunks on a slow link.
            release_grace: Duration::from_secs(60),
            // A write allocates and commits within seconds; an hour covers
            // the slowest multipart part on the slowest link.
            uncommitted_timeout: Duration::from_secs(3600),
            // Heartbeats come every second: deciding more often gains
            // nothing.
            heal_interval: Duration::from_secs(1),
        }
    }
}

/// What the handlers share. Field order is drop order: the committer (which
/// joins its thread) goes before the database handle, the directory lock
/// last.
pub(crate) struct State {
    pub committer: Committer,
    pub db: Arc<Database>,
    pub registry: Registry,
    /// Copies in flight, touched chunks, healing figures.
    pub heal: HealShared,
    pub options: MdsOptions,
    /// When this MDS opened: a CS not heard from since is offline, then lost.
    pub started: Instant,
    pub meta: ClusterMeta,
    pub dir: PathBuf,
    /// Serialises AuthNode attempts, so that password guesses cannot run in
    /// parallel to beat the delay on failure.
    pub join_gate: tokio::sync::Mutex<()>,
    /// What `cairn top` and the status page list as events.
    pub events: crate::events::EventLog,
    _lock: File,
}

impl State {
    pub fn reader(&self) -> Result<Reader, FsError> {
        Reader::new(&self.db)
    }

    pub async fn submit(&self, command: Command) -> Result<CommandReply, FsError> {
        self.committer.submit(command).await
    }
}

/// The metadata server.
pub struct Mds {
    pub(crate) state: Arc<State>,
    /// Where the gRPC calls are counted (see `status_page`).
    pub(crate) metrics: Option<cairn_metrics::PartMetrics>,
}

impl Mds {
    /// Opens the MDS state in `dir` and starts its committer. Refuses a
    /// directory without an MDS and one that a running MDS holds.
    pub async fn open(dir: &Path, options: MdsOptions) -> Result<Mds, MdsError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || Mds::open_blocking(&dir, options))
            .await
            .map_err(|e| MdsError::Invalid(format!("opening the MDS panicked: {e}")))?
    }

    fn open_blocking(dir: &Path, options: MdsOptions) -> Result<Mds, MdsError> {
        let db_path = dir.join(DB_FILE);
        if !db_path.is_file() {
            return Err(MdsError::NotInitialised {
                dir: dir.to_path_buf(),
            });
        }
        let lock = lock_dir(dir)?;
        let db = match Database::open(&db_path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(MdsError::Locked {
                    dir: dir.to_path_buf(),
                    lock: db_path,
                })
            }
            Err(e) => {
                return Err(MdsError::db(format!("cannot open {}", db_path.display()))(
                    e,
                ))
            }
        };
        // Tables a newer version added appear here; existing ones are kept.
        let txn = db
            .begin_write()
            .map_err(MdsError::db("cannot begin a transaction"))?;
        create_tables(&txn)?;
        txn.commit()
            .map_err(MdsError::db("cannot commit the table check"))?;
        let db = Arc::new(db);
        let meta = Reader::new(&db)
            .and_then(|r| r.cluster_meta())
            .map_err(|e| MdsError::Corrupt {
                dir: dir.to_path_buf(),
                message: e.to_string(),
            })?;
        let committer = Committer::start(db.clone())
            .map_err(MdsError::io("cannot start the committer thread"))?;
        tracing::info!(cluster = %meta.name, dir = %dir.display(), "MDS opened");
        Ok(Mds {
            state: Arc::new(State {
                committer,
                db,
                registry: Registry::new(options.offline_after),
                heal: HealShared::default(),
                options,
                started: Instant::now(),
                meta,
                dir: dir.to_path_buf(),
                join_gate: tokio::sync::Mutex::new(()),
                events: crate::events::EventLog::default(),
                _lock: lock,
            }),
            metrics: None,
        })
    }

    /// The cluster's config as clients need it (from the `meta` table).
    pub fn config(&self) -> ClusterConfig {
        self.state.meta.config()
    }

    /// The directory this MDS keeps its state in.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// Durable commits (fsyncs) made since open: at most one per batch of
    /// concurrent commands.
    pub fn durable_commits(&self) -> u64 {
        self.state.committer.durable_commits()
    }

    /// Applies a command through the committer, as the handlers do.
    #[cfg(test)]
    pub(crate) async fn execute(&self, command: Command) -> Result<CommandReply, FsError> {
        self.state.submit(command).await
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The background work of this MDS, to drive by hand in tests.
    #[cfg(test)]
    pub(crate) fn background(&self) -> BackgroundWork {
        BackgroundWork::new(self.state.clone())
    }

    /// Serves Metadata, S3Meta and ClusterAdmin (behind the cluster
    /// credential) and
    /// Join (open: it checks the password itself) on `listener` until
    /// `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MdsError> {
        let addr = listener.local_addr().ok();
        let auth = ServerAuth(self.state.meta.auth());
        let service = MdsService::new(self.state.clone());
        let metadata = MetadataServer::new(service.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let s3_meta = S3MetaServer::new(service.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let admin = ClusterAdminServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let join = JoinServer::new(JoinService::new(self.state.clone()));
        tracing::info!(addr = ?addr, cluster = %self.state.meta.name, "MDS serving");
        // The background work runs for as long as the server does.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(crate::events::watch(self.state.clone(), stopped.clone()));
        let background = tokio::spawn(BackgroundWork::new(self.state.clone()).run(stopped));
        let served = Server::builder()
            .layer(cairn_metrics::GrpcLayer::new(self.metrics.clone()))
            .add_service(InterceptedService::new(metadata, auth.clone()))
            .add_service(InterceptedService::new(s3_meta, auth.clone()))
            .add_service(InterceptedService::new(admin, auth))
            .add_service(join)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await;
        let _ = stop.send(true);
        let _ = watcher.await;
        if background.await.is_err() {
            tracing::error!("the MDS background work panicked");
        }
        served?;
        tracing::info!(addr = ?addr, "MDS stopped");
        Ok(())
    }
}
