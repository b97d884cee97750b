//! The one error helper of the core: storage failures become the namespace
//! error the client sees. Namespace errors travel as [`ClusterError`] (with
//! their errno) from `apply` and the queries to the client.

use cairn_common::ClusterError;

/// Turns storage-layer failures into the namespace error the client sees.
///
/// A redb failure inside a command is an I/O error of the metadata store:
/// the client gets EIO with the cause, and the transaction is aborted.
pub trait OrIo<T> {
    fn io(self) -> Result<T, ClusterError>;
}

impl<T, E: Into<redb::Error>> OrIo<T> for Result<T, E> {
    fn io(self) -> Result<T, ClusterError> {
        self.map_err(|e| ClusterError::Io(format!("metadata store: {}", e.into())))
    }
}
