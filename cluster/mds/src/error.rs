//! Errors of the MDS process itself (opening, creating, serving).
//!
//! Namespace errors travel as [`ClusterError`] (with their errno) from `apply` to
//! the client; `MdsError` is for the operator: each variant says what was
//! being done and, where there is one, what to do about it.

use std::path::PathBuf;

use cairn_common::ClusterError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MdsError {
    #[error("no MDS in {dir}: run `cairn -c NAME make-mds -I -r {dir} -a ADDR` to create one")]
    NotInitialised { dir: PathBuf },

    #[error("{dir} already holds an MDS ({file} exists): refusing to overwrite it")]
    AlreadyInitialised { dir: PathBuf, file: PathBuf },

    #[error("{dir} is in use by a running MDS (cannot lock {lock}): stop that MDS first")]
    Locked { dir: PathBuf, lock: PathBuf },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Db {
        context: String,
        #[source]
        source: Box<redb::Error>,
    },

    #[error("the MDS state in {dir} is damaged: {message}")]
    Corrupt { dir: PathBuf, message: String },

    #[error("invalid argument: {0}")]
    Invalid(String),

    #[error(transparent)]
    Fs(#[from] ClusterError),

    #[error("cannot hash the cluster password: {0}")]
    Password(String),

    #[error("the MDS's certificates: {0}")]
    Pki(#[from] cairn_common::pki::PkiError),

    #[error("the MDS's TLS identity: {0}")]
    Tls(#[from] cairn_common::tls::NodeTlsError),

    #[error("the MDS gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl MdsError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MdsError {
        let context = context.into();
        move |source| MdsError::Io { context, source }
    }

    /// Wraps a redb error with what was being done.
    pub(crate) fn db<E: Into<redb::Error>>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> MdsError {
        let context = context.into();
        move |source| MdsError::Db {
            context,
            source: Box::new(source.into()),
        }
    }
}
