//! A running MDS: its open state, its raft node, and the gRPC server.

use std::{
    fs::File,
    future::Future,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use cairn_common::{
    node_cert::Role,
    tls::peer::{PeerCheck, ANY_NODE},
    ClusterConfig,
};
use cairn_proto::{
    cluster_admin_server::ClusterAdminServer, join_server::JoinServer,
    mds_raft_server::MdsRaftServer, metadata_server::MetadataServer, s3_meta_server::S3MetaServer,
};
use redb::{Database, DatabaseError};
use tonic::{service::interceptor::InterceptedService, transport::Server};

use crate::apply::create_tables;
use crate::error::MdsError;
use crate::heal::BackgroundWork;
use crate::in_flight::HealShared;
use crate::init::{lock_dir, DB_FILE};
use crate::options::MdsOptions;
use crate::query::Reader;
use crate::raft::{self, membership::Members, Raft, RaftService};
use crate::registry::Registry;
use crate::schema::ClusterMeta;
use crate::service::{JoinService, MdsService};
use crate::state::State;

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
        let tls = crate::identity::own_tls(dir, &meta.cluster_id)?;
        let (raft, log) = raft::start(
            dir,
            db.clone(),
            tls.clone(),
            &first_addr,
            options.snapshot_every,
            options.log_kept,
        )
        .await?;
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
                tls,
                dir: dir.to_path_buf(),
                join_gate: tokio::sync::Mutex::new(()),
                events: crate::events::EventLog::default(),
                doors: crate::doors::DoorTable::default(),
                locks: crate::locks::LockService::new(Instant::now()),
                file_watch: crate::file_watch::FileWatch::new(Instant::now()),
                allocations: crate::allocations::Allocations::default(),
                lifecycle: crate::lifecycle_status::LifecycleStatus::default(),
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
    pub(crate) async fn execute(
        &self,
        command: crate::command::Command,
    ) -> Result<crate::command::CommandReply, cairn_common::ClusterError> {
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

    /// Serves Metadata, S3Meta and MdsRaft to any node of the cluster,
    /// ClusterAdmin to chunk servers, and Join (to a peer without a
    /// certificate too: it checks the password itself), all in mutual TLS
    /// on `listener`, until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MdsError> {
        let addr = listener.local_addr().ok();
        let tls = self.state.tls.clone();
        let any_node = PeerCheck::new(&tls, ANY_NODE);
        let service = MdsService::new(self.state.clone());
        let metadata = MetadataServer::new(service.clone())
            .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE);
        let s3_meta = S3MetaServer::new(service.clone())
            .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE);
        let admin = ClusterAdminServer::new(service)
            .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
            .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE);
        let join = JoinServer::new(JoinService::new(self.state.clone()));
        let raft_service = MdsRaftServer::new(RaftService {
            raft: self.state.raft.clone(),
            members: self.state.members.clone(),
            tls: tls.clone(),
            dir: self.state.dir.clone(),
        })
        .max_decoding_message_size(cairn_common::net::MDS_MAX_MESSAGE)
        .max_encoding_message_size(cairn_common::net::MDS_MAX_MESSAGE);
        // Clients and chunk servers talk to the leader only; a follower
        // refuses them with the leader's address.
        let gate = LeaderGate {
            peer: any_node.clone(),
            members: self.state.members.clone(),
        };
        // Only chunk servers register and beat.
        let cs_gate = LeaderGate {
            peer: PeerCheck::new(&tls, &[Role::Cs]),
            members: self.state.members.clone(),
        };
        tracing::info!(addr = ?addr, cluster = %self.state.meta.name, "MDS serving");
        // The background work runs for as long as the server does.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(crate::event_watch::watch(
            self.state.clone(),
            stopped.clone(),
        ));
        let background = tokio::spawn(BackgroundWork::new(self.state.clone()).run(stopped.clone()));
        let lifecycle = tokio::spawn(crate::lifecycle::run(self.state.clone(), stopped.clone()));
        let revocations = tokio::spawn(crate::service::keep_revoked(
            self.state.clone(),
            stopped.clone(),
        ));
        let leadership = tokio::spawn(watch_leadership(self.state.clone(), stopped));
        let cert_watch = tls.watch();
        let renewal = tokio::spawn(crate::identity::keep_renewed(
            self.state.dir.clone(),
            self.state.meta.cluster_id.clone(),
        ));
        // Without NODELAY a reply's trailers wait behind its unacked data
        // (Nagle): a successful read took milliseconds instead of a round trip.
        // (The TLS listener sets NODELAY on every accepted socket.)
        let incoming = cairn_common::tls::peer::incoming(listener, &tls)
            .map_err(MdsError::io("cannot serve TLS on the MDS listener"))?;
        let served = Server::builder()
            .layer(cairn_metrics::GrpcLayer::new(self.metrics.clone()))
            .layer(crate::persist::PersistLayer)
            .add_service(InterceptedService::new(metadata, gate.clone()))
            .add_service(InterceptedService::new(s3_meta, gate.clone()))
            .add_service(InterceptedService::new(admin, cs_gate))
            .add_service(InterceptedService::new(raft_service, any_node))
            .add_service(join)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        let _ = stop.send(true);
        cert_watch.abort();
        renewal.abort();
        let _ = watcher.await;
        if background.await.is_err() {
            tracing::error!("the MDS background work panicked");
        }
        if lifecycle.await.is_err() {
            tracing::error!("the MDS lifecycle runner panicked");
        }
        if revocations.await.is_err() {
            tracing::error!("the MDS revocation list watcher panicked");
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

/// The caller's certificate and role, then leadership.
#[derive(Clone)]
struct LeaderGate {
    peer: PeerCheck,
    members: Members,
}

impl tonic::service::Interceptor for LeaderGate {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let request = self.peer.call(request)?;
        self.members.check_leader()?;
        Ok(request)
    }
}

/// Follows this MDS's leadership: on becoming leader it restarts the
/// chunk servers' clocks (they report to the leader only, so the new
/// leader has heard none of them yet) and the lock table (the mounts claim
/// their locks back); while leader it promotes learners
/// that have caught up.
async fn watch_leadership(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    // A leader from the start (one MDS) begins its term at the first tick
    // too, which comes at once: its grace depends on the term's number.
    let mut was_leader = false;
    let mut ticks = tokio::time::interval(Duration::from_millis(300));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let leader = state.is_leader();
        if leader && !was_leader {
            let number = state.members.term();
            tracing::info!(
                node_id = state.members.node_id,
                term = number,
                "this MDS is now the leader"
            );
            let term = crate::term::Term::numbered(number);
            if let Ok(mut started) = state.started.lock() {
                *started = Instant::now();
            }
            state.locks.new_term(Instant::now(), term);
            state.file_watch.new_term(Instant::now(), term);
        }
        was_leader = leader;
        if leader {
            state.members.promote_caught_up().await;
        }
    }
}
