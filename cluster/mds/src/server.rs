//! A running MDS: its open state, its raft node, and the gRPC server.

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
    mds_raft_server::MdsRaftServer, metadata_server::MetadataServer, s3_meta_server::S3MetaServer,
};
use redb::{Database, DatabaseError};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{server::TcpIncoming, Server},
};

use crate::apply::create_tables;
use crate::command::{Command, CommandReply};
use crate::error::MdsError;
use crate::heal::{shared::HealShared, BackgroundWork};
use crate::init::{lock_dir, DB_FILE};
use crate::query::Reader;
use crate::raft::{self, membership::Members, LogStore, Raft, RaftService};
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
    /// Raft log entries between two snapshots of the state.
    pub snapshot_every: u64,
    /// Raft log entries kept before the last snapshot.
    pub log_kept: u64,
    /// The length of a lifecycle day: 24 hours, shortened by tests only.
    pub lifecycle_day: Duration,
    /// Lifecycle changes per second at most.
    pub lifecycle_rate: u32,
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
            snapshot_every: raft::SNAPSHOT_EVERY,
            log_kept: raft::LOG_KEPT,
            lifecycle_day: Duration::from_secs(86_400),
            lifecycle_rate: crate::lifecycle::ACTIONS_PER_SECOND,
        }
    }
}

/// What the handlers share. Field order is drop order: the raft node goes
/// before the database handle, the directory lock last.
pub(crate) struct State {
    pub batcher: raft::Batcher,
    pub raft: Raft,
    pub members: Members,
    pub log: LogStore,
    pub db: Arc<Database>,
    pub registry: Registry,
    /// Copies in flight, touched chunks, healing figures.
    pub heal: HealShared,
    pub options: MdsOptions,
    /// When this MDS opened or last became the leader (chunk servers only
    /// report to the leader): a CS not heard from since is offline, then
    /// lost.
    pub started: std::sync::Mutex<Instant>,
    /// When this MDS process opened its state (its uptime).
    pub opened: Instant,
    pub meta: ClusterMeta,
    pub dir: PathBuf,
    /// Serialises AuthNode attempts, so that password guesses cannot run in
    /// parallel to beat the delay on failure.
    pub join_gate: tokio::sync::Mutex<()>,
    /// What `cairn top` and the status page list as events.
    pub events: crate::events::EventLog,
    /// The doors that report to this MDS while it leads.
    pub clients: crate::clients::ClientTable,
    /// How new chunks are being placed (normal, short, refused).
    pub allocations: crate::allocations::Allocations,
    /// What the lifecycle runner did.
    pub lifecycle: crate::lifecycle::LifecycleStatus,
    _lock: File,
}

impl State {
    /// A reader of the applied state as it is here (no leader check): for
    /// the background work and tests.
    pub fn reader(&self) -> Result<Reader, FsError> {
        Reader::new(&self.db)
    }

    /// A linearizable reader: this MDS confirms it still leads (read
    /// index) and has applied everything committed before the call.
    pub async fn read(&self) -> Result<Reader, FsError> {
        match tokio::time::timeout(raft::READ_TIMEOUT, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Reader::new(&self.db),
            Ok(Err(e)) => Err(FsError::Unavailable(format!("metadata read: {e}"))),
            Err(_) => Err(FsError::Unavailable(format!(
                "this MDS could not confirm it leads within {} s: is a majority of the MDS up?",
                raft::READ_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The addresses of every MDS of the group (the recorded ones before
    /// the group is known).
    pub fn mds_addrs(&self) -> Vec<String> {
        let addrs: Vec<String> = self.members.addrs().into_values().collect();
        if addrs.is_empty() {
            self.meta.mds_addrs.clone()
        } else {
            addrs
        }
    }

    pub fn started(&self) -> Instant {
        self.started
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }

    pub fn is_leader(&self) -> bool {
        self.members.check_leader().is_ok()
    }

    /// Appends a command to the raft log and answers once it is committed
    /// (persisted as the call being handled asked) and applied here.
    pub async fn submit(&self, command: Command) -> Result<CommandReply, FsError> {
        let deadline = tokio::time::Instant::now() + raft::WRITE_TIMEOUT;
        self.wait_for_leader(deadline).await?;
        self.batcher.submit(command, crate::persist::asked()).await
    }

    /// Answers once every change answered before it is on stable storage
    /// on a majority of the MDS: an entry of no command, fsynced.
    pub async fn barrier(&self) -> Result<(), FsError> {
        let deadline = tokio::time::Instant::now() + raft::WRITE_TIMEOUT;
        self.wait_for_leader(deadline).await?;
        let entry = raft::Request {
            commands: Vec::new(),
            persist: cairn_common::Persist::Disk,
        };
        match tokio::time::timeout(raft::WRITE_TIMEOUT, self.raft.client_write(entry)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(FsError::Unavailable(format!("metadata barrier: {e}"))),
            Err(_) => Err(FsError::Unavailable(format!(
                "metadata barrier not committed within {} s: is a majority of the MDS up?",
                raft::WRITE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Waits (until `deadline`) while no leader is known; refuses at once
    /// if another MDS leads.
    async fn wait_for_leader(&self, deadline: tokio::time::Instant) -> Result<(), FsError> {
        let mut metrics = self.raft.metrics();
        loop {
            let leader = metrics.borrow().current_leader;
            match leader {
                Some(id) if id == self.members.node_id => return Ok(()),
                Some(_) => {
                    return Err(FsError::Unavailable(
                        self.members
                            .check_leader()
                            .err()
                            .map(|s| s.message().to_string())
                            .unwrap_or_else(|| "leadership changed".into()),
                    ))
                }
                None => {}
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(FsError::Unavailable("the raft node stopped".into())),
                Err(_) => {
                    return Err(FsError::Unavailable(
                        "no MDS leader elected: is a majority of the MDS up?".into(),
                    ))
                }
            }
        }
    }
}

/// The state database is still open in this process (a closing MDS).
struct Closing;

/// The metadata server.
pub struct Mds {
    pub(crate) state: Arc<State>,
    /// Where the gRPC calls are counted (see `status_page`).
    pub(crate) metrics: Option<cairn_metrics::PartMetrics>,
}

impl Mds {
    /// Opens the MDS state in `dir` and starts its raft node. Refuses a
    /// directory without an MDS and one that a running MDS holds.
    pub async fn open(dir: &Path, options: MdsOptions) -> Result<Mds, MdsError> {
        // A previous MDS of this process on the same directory (tests
        // reopen one) may still be closing: its raft tasks hold the files
        // for a moment after the directory lock is released.
        let deadline = Instant::now() + Duration::from_secs(5);
        let (db, meta, lock) = loop {
            let path = dir.to_path_buf();
            let opened = tokio::task::spawn_blocking(move || Mds::open_files(&path))
                .await
                .map_err(|e| MdsError::Invalid(format!("opening the MDS panicked: {e}")))?;
            match opened {
                Err(Closing) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(Closing) => {
                    return Err(MdsError::Locked {
                        dir: dir.to_path_buf(),
                        lock: dir.join(DB_FILE),
                    })
                }
                Ok(opened) => break opened?,
            }
        };
        let first_addr = meta.mds_addrs.first().cloned().unwrap_or_default();
        let (raft, log) = raft::start(dir, db.clone(), meta.auth(), &first_addr, &options).await?;
        let members = Members {
            raft: raft.clone(),
            node_id: log.node_id(),
            meta: postcard::to_allocvec(&meta).map_err(|e| MdsError::Invalid(e.to_string()))?,
        };
        lone_election(&raft, log.node_id()).await;
        tracing::info!(cluster = %meta.name, dir = %dir.display(), node_id = log.node_id(), "MDS opened");
        Ok(Mds {
            state: Arc::new(State {
                batcher: raft::Batcher::start(raft.clone()),
                raft,
                members,
                log,
                db,
                registry: Registry::new(options.offline_after),
                heal: HealShared::default(),
                options,
                started: std::sync::Mutex::new(Instant::now()),
                opened: Instant::now(),
                meta,
                dir: dir.to_path_buf(),
                join_gate: tokio::sync::Mutex::new(()),
                events: crate::events::EventLog::default(),
                clients: crate::clients::ClientTable::default(),
                allocations: crate::allocations::Allocations::default(),
                lifecycle: crate::lifecycle::LifecycleStatus::default(),
                _lock: lock,
            }),
            metrics: None,
        })
    }

    /// Opens the state database; `Err(Closing)` when this process still
    /// has it open.
    #[allow(clippy::type_complexity)]
    fn open_files(
        dir: &Path,
    ) -> Result<Result<(Arc<Database>, ClusterMeta, File), MdsError>, Closing> {
        let db_path = dir.join(DB_FILE);
        if !db_path.is_file() {
            return Ok(Err(MdsError::NotInitialised {
                dir: dir.to_path_buf(),
            }));
        }
        let lock = match lock_dir(dir) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let db = match Database::open(&db_path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => return Err(Closing),
            Err(e) => {
                return Ok(Err(MdsError::db(format!(
                    "cannot open {}",
                    db_path.display()
                ))(e)))
            }
        };
        if let Ok(probe) = redb::Database::open(dir.join(raft::RAFT_FILE)) {
            drop(probe);
        } else if dir.join(raft::RAFT_FILE).exists() {
            return Err(Closing);
        }
        Ok((|| {
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
            Ok((db, meta, lock))
        })())
    }

    /// The cluster's config as clients need it (from the `meta` table).
    pub fn config(&self) -> ClusterConfig {
        let mut config = self.state.meta.config();
        config.mds_addrs = self.state.mds_addrs();
        config
    }

    /// Where this MDS was made to listen (make-mds -a).
    pub fn addr(&self) -> String {
        self.state
            .log
            .addr()
            .or_else(|| self.state.meta.mds_addrs.first().cloned())
            .unwrap_or_default()
    }

    /// This MDS's raft node id.
    pub fn node_id(&self) -> u64 {
        self.state.members.node_id
    }

    /// The directory this MDS keeps its state in.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// Durable commits (fsyncs) made since open: at most one per batch of
    /// concurrent commands.
    pub fn durable_commits(&self) -> u64 {
        self.state.log.durable_commits()
    }

    /// Applies a command through raft, as the handlers do.
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
        let raft_service = MdsRaftServer::new(RaftService {
            raft: self.state.raft.clone(),
            members: self.state.members.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
        // Clients and chunk servers talk to the leader only; a follower
        // refuses them with the leader's address.
        let gate = LeaderGate {
            auth: auth.clone(),
            members: self.state.members.clone(),
        };
        tracing::info!(addr = ?addr, cluster = %self.state.meta.name, "MDS serving");
        // The background work runs for as long as the server does.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(crate::events::watch(self.state.clone(), stopped.clone()));
        let background = tokio::spawn(BackgroundWork::new(self.state.clone()).run(stopped.clone()));
        let lifecycle = tokio::spawn(crate::lifecycle::run(self.state.clone(), stopped.clone()));
        let leadership = tokio::spawn(watch_leadership(self.state.clone(), stopped));
        // Without NODELAY a reply's trailers wait behind its unacked data
        // (Nagle): a successful read took milliseconds instead of a round trip.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = Server::builder()
            .layer(cairn_metrics::GrpcLayer::new(self.metrics.clone()))
            .layer(crate::persist::PersistLayer)
            .add_service(InterceptedService::new(metadata, gate.clone()))
            .add_service(InterceptedService::new(s3_meta, gate.clone()))
            .add_service(InterceptedService::new(admin, gate))
            .add_service(InterceptedService::new(raft_service, auth))
            .add_service(join)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        let _ = stop.send(true);
        let _ = watcher.await;
        if background.await.is_err() {
            tracing::error!("the MDS background work panicked");
        }
        if lifecycle.await.is_err() {
            tracing::error!("the MDS lifecycle runner panicked");
        }
        if leadership.await.is_err() {
            tracing::error!("the MDS leadership watcher panicked");
        }
        if let Err(e) = self.state.raft.shutdown().await {
            tracing::error!(error = %e, "raft did not shut down cleanly");
        }
        served?;
        tracing::info!(addr = ?addr, "MDS stopped");
        Ok(())
    }
}

/// A group of one elects itself at once rather than after an election
/// timeout, so a lone MDS serves as soon as it opens. Waits (a few seconds
/// at most) until it leads; returns at once for a member of a larger group
/// or one that has yet to learn its group.
async fn lone_election(raft: &Raft, me: u64) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(5);
    let mut elected = false;
    loop {
        let metrics = raft.metrics().borrow().clone();
        if metrics.current_leader == Some(me) && metrics.state == openraft::ServerState::Leader {
            return;
        }
        let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
        // A joining MDS knows no group until its first snapshot; the
        // metrics of one just initialised show its group within moments.
        let unknown = voters.is_empty() && started.elapsed() > Duration::from_millis(300);
        if voters.iter().any(|v| *v != me) || unknown {
            return;
        }
        if voters == [me] && !elected {
            let _ = raft.trigger().elect().await;
            elected = true;
        }
        if Instant::now() > deadline {
            tracing::warn!("this MDS did not become the leader of its group of one");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The cluster credential, then leadership.
#[derive(Clone)]
struct LeaderGate {
    auth: ServerAuth,
    members: Members,
}

impl tonic::service::Interceptor for LeaderGate {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let request = self.auth.call(request)?;
        self.members.check_leader()?;
        Ok(request)
    }
}

/// Follows this MDS's leadership: on becoming leader it restarts the
/// chunk servers' clocks (they report to the leader only, so the new
/// leader has heard none of them yet); while leader it promotes learners
/// that have caught up.
async fn watch_leadership(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut was_leader = state.is_leader();
    let mut ticks = tokio::time::interval(Duration::from_millis(300));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let leader = state.is_leader();
        if leader && !was_leader {
            tracing::info!(
                node_id = state.members.node_id,
                "this MDS is now the leader"
            );
            if let Ok(mut started) = state.started.lock() {
                *started = Instant::now();
            }
        }
        was_leader = leader;
        if leader {
            state.members.promote_caught_up().await;
        }
    }
}
