//! `cairn-client`: the one way the front doors (S3 gateway, FUSE mount) and
//! the admin CLI reach a Cairn cluster.
//!
//! A request flows one way: door -> this library -> MDS (metadata) and chunk
//! servers (data) -> back. Metadata calls are thin typed wrappers over the
//! MDS's gRPC services, each through one wrapper (`mds_conn`) that follows
//! the leader and retries as the call's policy (`retry`) allows; data
//! moves in streams: [`StreamWriter`] cuts a stream into chain-replicated
//! chunks, [`Client::read`] streams a byte range back with
//! checksum-verified failover between replicas.
//!
//! Where the calls are: `namespace` (the tree by inode), `objects`
//! (buckets and keys), `chunks` (allocation, locations), `s3meta` (access
//! keys, uploads), `versions`, `special` (special files, holes), `admin`
//! and `members` (chunk servers and MDS membership), `stat`.

mod admin;
mod certs;
mod chain;
pub mod chunk_pool;
mod chunks;
mod etag;
mod file;
mod file_watch;
pub mod layout;
mod locks;
mod mds_conn;
mod members;
mod namespace;
mod node;
mod objects;
mod reader;
mod report;
mod retry;
mod rpc;
mod s3meta;
mod space;
mod special;
pub mod sse;
mod stat;
mod suspects;
#[cfg(test)]
mod testing;
mod versions;
mod writer;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub use cairn_common::Persist;
use cairn_common::{ClusterConfig, ClusterError};

pub use admin::{AttrsChanged, RemoveCs};
pub use cairn_common::ClusterError as Error;
pub use certs::{Renewed, RevokeTarget, RevokedCert};
pub use etag::needs_etag;
pub use file::{Commit, FileWriter, FoldedAttrs};
pub use file_watch::{FileEvent, LEASE_WAIT};
pub use locks::{ByteLock, LockKind, LockRange, RENEW_EVERY as LOCK_RENEW_EVERY};
pub use members::AddedMds;
pub use namespace::SetAttr;
pub use node::{
    Bucket, ChunkLocation, CsAddr, Extent, LockMode, NamedInode, Node, NodeKind, ObjectProtection,
    Retention,
};
pub use objects::{ObjectMeta, PutConditions};
pub use report::{DoorCounters, DoorOp, DoorTotals, REPORT_EVERY};
pub use s3meta::{
    generate_key_id, generate_secret, AccessKey, BucketPermission, Completion, Part, Upload,
};
pub use space::Space;
pub use stat::{
    BlockedChunk, ClientStat, ClusterEvent, ClusterStat, CsStat, LifecycleBucket, LifecycleTotals,
    MdsStat, NodeCert,
};
pub use versions::{BucketProtection, Deleted, ObjectVersion, ProtectionChange, Versioning};
pub use writer::{StreamWriter, WrittenData};

use mds_conn::MdsConn;
use rpc::CsPool;

/// How long cached chunk locations are trusted.
const LOCATION_TTL: Duration = Duration::from_secs(5);

/// Options of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The caller's host label: reads prefer a replica there. Defaults to
    /// the machine's hostname.
    pub host: Option<String>,
    /// How long a metadata call may take in all, retries included (each
    /// call says which failures it may be retried after: `retry`).
    pub mds_timeout: Duration,
    /// Where the MDS must have this client's metadata changes before it
    /// answers (see [`cairn_common::persist`]): [`Persist::Disk`] unless
    /// the caller follows POSIX, as the FUSE door does.
    pub persist: Persist,
    /// How long a chunk server call may go without an answer: one write
    /// piece (up to 4 MiB, written and, for the last, synced on every hop
    /// of its chain), a sync, a version change, or the next message of a
    /// read stream. A replica that overruns it is treated as gone: dropped
    /// from a write (which goes on while the chunk's minimum of replicas
    /// remain), left for the next replica by a read. Chain hops get a
    /// little less each (`cairn_common::net::next_budget`), so the hop
    /// before a dead one answers in time. Long enough for a busy disk's
    /// sync; short enough that a write waits seconds, not minutes, on a
    /// host that vanished.
    pub cs_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            host: None,
            mds_timeout: Duration::from_secs(10),
            persist: Persist::Disk,
            cs_timeout: Duration::from_secs(8),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) mds: MdsConn,
    pub(crate) cs: Arc<CsPool>,
    /// `ClientOptions::cs_timeout`.
    pub(crate) cs_timeout: Duration,
    /// Chunk servers not reached lately (see `suspects`).
    pub(crate) suspects: suspects::Suspects,
    pub(crate) chunk_size: u64,
    pub(crate) host: String,
    locations: Mutex<HashMap<u64, (Instant, ChunkLocation)>>,
    pub(crate) pool: chunk_pool::ChunkPool,
    /// Bucket settings read lately (`Client::bucket_setting_recent`).
    pub(crate) settings: versions::RecentSettings,
    /// This process's node certificate and the cluster's revocation list.
    pub(crate) tls: cairn_common::tls::NodeTls,
    /// This client's byte-range lock session.
    pub(crate) locks: locks::LockSession,
    /// This client's write leases (`file_watch`).
    pub(crate) leases: file_watch::Leases,
    /// The cluster master key of SSE-S3, when this host holds the CA key.
    pub(crate) master_key: Option<sse::MasterKey>,
}

/// A handle on the cluster; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub use cairn_common::host::hostname;

impl Client {
    /// Makes a client for the cluster in `config`. Connections are made on
    /// first use; an MDS that does not answer shows up as
    /// [`ClusterError::Unavailable`] with what to check.
    pub fn connect(config: &ClusterConfig, options: ClientOptions) -> Result<Client, ClusterError> {
        Client::connect_as(config, options, cairn_common::node_cert::Role::Client)
    }

    /// As [`Client::connect`], with this host's certificate of `role`
    /// (`cairn cert rotate` renews each role's with its own).
    pub fn connect_as(
        config: &ClusterConfig,
        options: ClientOptions,
        role: cairn_common::node_cert::Role,
    ) -> Result<Client, ClusterError> {
        let tls = config
            .node_tls(role)
            .map_err(|e| ClusterError::Invalid(e.to_string()))?;
        let mds = MdsConn::new(
            &config.mds_addrs,
            &tls,
            options.mds_timeout,
            options.persist,
        )?;
        let host = options.host.unwrap_or_else(hostname);
        Ok(Client {
            inner: Arc::new(Inner {
                mds,
                cs: CsPool::new(tls.clone()),
                cs_timeout: options.cs_timeout,
                suspects: suspects::Suspects::default(),
                chunk_size: config
                    .chunk_size
                    .clamp(1 << 20, cairn_common::MAX_CHUNK_SIZE),
                locks: locks::LockSession::new(&host),
                leases: file_watch::Leases::default(),
                host,
                locations: Mutex::new(HashMap::new()),
                pool: chunk_pool::ChunkPool::default(),
                settings: versions::RecentSettings::default(),
                tls,
                master_key: sse::MasterKey::load(
                    &config
                        .dir
                        .clone()
                        .unwrap_or_else(|| cairn_common::config::config_dir().join(&config.name)),
                    &config.cluster_id,
                ),
            }),
        })
    }

    pub fn chunk_size(&self) -> u64 {
        self.inner.chunk_size
    }

    pub fn host(&self) -> &str {
        &self.inner.host
    }
}
