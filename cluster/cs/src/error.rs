//! Errors of the chunk server.
//!
//! Two enums, each for one kind of caller:
//! * [`CsError`]: preparing, opening and running a chunk server. Its messages
//!   are for the operator and say what to do next.
//! * [`ReplicaError`]: one operation on one replica, answered to a client as a
//!   gRPC status ([`From<ReplicaError> for tonic::Status`]). Bad bytes are
//!   never returned: a checksum mismatch is an error of its own.

use std::path::PathBuf;

use thiserror::Error;
use tonic::Status;

/// Preparing, opening or running a chunk server went wrong.
#[derive(Debug, Error)]
pub enum CsError {
    #[error(transparent)]
    Tls(#[from] cairn_common::tls::NodeTlsError),

    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot create {dir}: its parent directory does not exist (create the parent, or check \
         the path)"
    )]
    ParentMissing { dir: PathBuf },
    #[error("{dir} is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error(
        "{dir} already holds chunk server {cs_id} of cluster `{cluster}`: start it with `cairn \
         -c {cluster} cs -r {dir}`, or remove it from the cluster (`cairn rm-cs`) and empty the \
         directory before making a new one"
    )]
    AlreadyACs {
        dir: PathBuf,
        cs_id: u32,
        cluster: String,
    },
    #[error(
        "{dir} holds files of cluster `{found}` (id {found_id}), not of cluster `{expected}`: \
         use `-c {found}` for it, or pick another directory"
    )]
    OtherCluster {
        dir: PathBuf,
        found: String,
        found_id: String,
        expected: String,
    },
    #[error(
        "{dir} is not empty and does not hold a chunk server: pick an empty or new directory \
         (found `{example}`)"
    )]
    NotEmpty { dir: PathBuf, example: String },
    #[error("{dir} is not writable by this process: {source} (check its owner and mode)")]
    NotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("not a chunk server directory: {dir} has no cs.toml: run `cairn -c NAME make-cs -r {dir}` first")]
    NotACsDir { dir: PathBuf },
    #[error("{path} is not a valid chunk server identity: {message}")]
    BadIdentity { path: PathBuf, message: String },
    #[error(
        "{dir} is already in use by a running chunk server{holder}: stop it first, or pick \
         another directory"
    )]
    InUse { dir: PathBuf, holder: String },
    #[error(
        "MDS at {addrs} does not answer: is `cairn mds` running? check -c CLUSTER and the MDS \
         addresses in its config ({detail})"
    )]
    MdsUnreachable { addrs: String, detail: String },
    #[error("MDS at {addr} refused to {what}: {message}")]
    MdsRefused {
        addr: String,
        what: &'static str,
        message: String,
    },
    #[error(
        "MDS at {addr} belongs to cluster id {mds_cluster_id}, not {expected}: the cluster \
         config is wrong or stale (run `cairn -c NAME auth-node` again)"
    )]
    MdsOtherCluster {
        addr: String,
        mds_cluster_id: String,
        expected: String,
    },
    #[error("journal {path}: {message}")]
    Journal { path: PathBuf, message: String },
    #[error("replica {chunk_id:016x}.{version} in {dir}: {source}")]
    Replica {
        dir: PathBuf,
        chunk_id: u64,
        version: u64,
        source: ReplicaError,
    },
    #[error("chunk service failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl CsError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CsError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// An error with its causes, `a: b: c`, for messages where the outermost
/// one alone (e.g. "transport error") says too little.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// One operation on one replica failed.
#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("chunk server {cs_id} has no replica of chunk {chunk_id:016x} version {version}")]
    NotFound {
        cs_id: u32,
        chunk_id: u64,
        version: u64,
    },
    #[error(
        "chunk server {cs_id} holds chunk {chunk_id:016x} at version {have}, not {want}: the \
         caller's chunk map is stale or this replica is"
    )]
    VersionMismatch {
        cs_id: u32,
        chunk_id: u64,
        have: u64,
        want: u64,
    },
    #[error(
        "chunk server {cs_id}: replica of chunk {chunk_id:016x} version {version} is corrupt: \
         {detail}; read another replica and report this one"
    )]
    Corrupt {
        cs_id: u32,
        chunk_id: u64,
        version: u64,
        detail: String,
    },
    #[error("chunk server {cs_id} is full: {detail}")]
    Full { cs_id: u32, detail: String },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("chunk server {cs_id}: cannot {what} replica of chunk {chunk_id:016x}: {source}")]
    Io {
        cs_id: u32,
        chunk_id: u64,
        what: &'static str,
        source: std::io::Error,
    },
}

impl ReplicaError {
    /// An I/O error, recognising a full disk (ENOSPC, EDQUOT) as [`ReplicaError::Full`].
    pub(crate) fn io(
        cs_id: u32,
        chunk_id: u64,
        what: &'static str,
        source: std::io::Error,
    ) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ReplicaError::Full {
                cs_id,
                detail: format!(
                    "its disk is out of space ({what} chunk {chunk_id:016x}: {source})"
                ),
            },
            _ => ReplicaError::Io {
                cs_id,
                chunk_id,
                what,
                source,
            },
        }
    }
}

impl From<ReplicaError> for Status {
    fn from(err: ReplicaError) -> Status {
        let msg = err.to_string();
        match err {
            ReplicaError::NotFound { .. } => Status::not_found(msg),
            ReplicaError::VersionMismatch { .. } => Status::failed_precondition(msg),
            ReplicaError::Corrupt { .. } => Status::data_loss(msg),
            ReplicaError::Full { .. } => Status::resource_exhausted(msg),
            ReplicaError::Invalid(_) => Status::invalid_argument(msg),
            ReplicaError::Io { .. } => Status::internal(msg),
        }
    }
}
