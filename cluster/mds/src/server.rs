//! A running MDS: its open state, its committer, and the gRPC server.

use std::{
    fs::File,
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
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
}

impl Default for MdsOptions {
    fn default() -> Self {
        MdsOptions {
            // Ten missed one-second heartbeats: long enough to ride out a GC
            // pause or a busy disk, short enough that writers stop choosing a
            // dead CS quickly.
            offline_after: Duration::from_secs(10),
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
    pub meta: ClusterMeta,
    pub dir: PathBuf,
    /// Serialises AuthNode attempts, so that password guesses cannot run in
    /// parallel to beat the delay on failure.
    pub join_gate: tokio::sync::Mutex<()>,
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
    state: Arc<State>,
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
                meta,
                dir: dir.to_path_buf(),
                join_gate: tokio::sync::Mutex::new(()),
                _lock: lock,
            }),
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
        Server::builder()
            .add_service(InterceptedService::new(metadata, auth.clone()))
            .add_service(InterceptedService::new(s3_meta, auth.clone()))
            .add_service(InterceptedService::new(admin, auth))
            .add_service(join)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await?;
        tracing::info!(addr = ?addr, "MDS stopped");
        Ok(())
    }
}
