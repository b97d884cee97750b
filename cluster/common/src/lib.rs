//! What every Cairn process shares: the cluster's config on disk, the
//! mutual TLS that authenticates cluster RPC ([`tls`]), a file's layout and its
//! algebra ([`extent`]), the channels it travels on
//! and the deadlines of chained calls, namespace errors that carry an errno
//! across the wire, and small helpers for sizes and time.
//!
//! Features (both on by default): `rpc`, what needs tonic (the channels of
//! `net` and their TLS, errors to and from a gRPC
//! status, the wire's chunk server states in `summary`); `pki`, the
//! cluster's certificate authority and node certificates. The metadata
//! core (`cairn-meta`) builds with neither, so no RPC stack is in its tree.

pub mod byte_locks;
pub mod config;
pub mod errno;
pub mod extent;
pub mod host;
#[cfg(feature = "rpc")]
pub mod join;
pub mod lifecycle;
#[cfg(feature = "rpc")]
pub mod net;
#[cfg(feature = "pki")]
pub mod node_cert;
pub mod node_kind;
pub mod persist;
#[cfg(feature = "pki")]
pub mod pki;
pub mod replicas;
pub mod summary;
pub mod time;
#[cfg(feature = "rpc")]
pub mod tls;
pub mod units;

pub use config::ClusterConfig;
pub use errno::ClusterError;
pub use persist::Persist;

/// Inode number of the namespace root; buckets are its children.
pub const ROOT_INO: u64 = 1;

/// Largest chunk a cluster may be created with, and the default.
pub const MAX_CHUNK_SIZE: u64 = 64 << 20;

/// Size of a checksummed block inside a replica.
pub const CHECKSUM_BLOCK: u64 = 64 << 10;
