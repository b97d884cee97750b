//! Cairn's metadata server (MDS): the namespace (POSIX tree and S3 key
//! index, kept in step in one transaction), the chunk map, the chunk server
//! registry and replica placement, all in one redb file.
//!
//! Layout of the crate:
//! * [`schema`], [`command`], `apply`, `query`, [`lifecycle_plan`]: the
//!   metadata core, from the cairn-meta crate (re-exported here);
//! * `raft`: the replicated log (openraft) in front of `apply`, with group
//!   commit (one fsync per batch of appends), snapshots and membership;
//! * [`placement`]: the pure replica placement function;
//! * [`registry`]: live chunk server figures from heartbeats;
//! * [`health`]: chunk states and liveness, pure;
//! * [`heal`]: the background work (re-replication, trimming, drains,
//!   balancing, collection of unreferenced chunks) behind one entry point;
//! * [`lifecycle`]: the S3 lifecycle runner, also the leader's only, and
//!   [`lifecycle_plan`], its pure planner;
//! * `service`, `s3_service`: the gRPC edge (protobuf stops there);
//! * `init`, `server`: creating a cluster, running an MDS.

mod allocations;
pub mod clients;
mod convert;
pub mod error;
pub mod events;
pub mod heal;
pub mod health;
mod init;
pub mod lifecycle;
mod persist;
pub mod placement;
pub mod raft;
pub mod registry;
mod s3_service;
mod server;
mod service;
mod status_page;

// The metadata core lives in cairn-meta; its old paths here keep working.
use cairn_meta::{apply, query};
pub use cairn_meta::{command, lifecycle_plan, schema};

pub use error::MdsError;
pub use init::{create_member, init_cluster, DB_FILE, DEFAULT_REPLICAS, LOCK_FILE};
pub use server::{Mds, MdsOptions};
pub use status_page::StatusSource;

#[cfg(test)]
mod tests;
