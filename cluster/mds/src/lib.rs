//! Cairn's metadata server (MDS): the namespace (POSIX tree and S3 key
//! index, kept in step in one transaction), the chunk map, the chunk server
//! registry and replica placement, all in one redb file.
//!
//! Layout of the crate:
//! * [`schema`]: tables and versioned records;
//! * [`command`]: every change as a plain value;
//! * `apply`: the one deterministic function that applies a command;
//! * `raft`: the replicated log (openraft) in front of `apply`, with group
//!   commit (one fsync per batch of appends), snapshots and membership;
//! * `query`: reads on snapshots;
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
mod apply;
pub mod clients;
pub mod command;
mod convert;
pub mod error;
mod event_watch;
pub mod events;
pub mod heal;
pub mod health;
mod in_flight;
mod init;
pub mod lifecycle;
pub mod lifecycle_plan;
mod lifecycle_status;
mod options;
mod persist;
pub mod placement;
mod process;
mod query;
pub mod raft;
pub mod registry;
mod s3_service;
pub mod schema;
mod server;
mod service;
mod stat;
mod state;
mod status_page;

pub use error::MdsError;
pub use init::{create_member, init_cluster, DB_FILE, DEFAULT_REPLICAS, LOCK_FILE};
pub use options::MdsOptions;
pub use server::Mds;
pub use status_page::StatusSource;

#[cfg(test)]
mod tests;
