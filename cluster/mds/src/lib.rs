//! Cairn's metadata server (MDS): the namespace (POSIX tree and S3 key
//! index, kept in step in one transaction), the chunk map, the chunk server
//! registry and replica placement, all in one redb file.
//!
//! Layout of the crate (no module uses one that uses it back: the house
//! test checks it):
//! * `schema`, `command`, `apply`, `query`, `lifecycle_plan`: the
//!   metadata core, from the cairn-meta crate (re-exported here);
//! * `raft`: the replicated log (openraft) in front of `apply`, with group
//!   commit (one fsync per batch of appends), snapshots and membership;
//! * `placement`: the pure replica placement function;
//! * `registry`: live chunk server figures from heartbeats;
//! * `health`: chunk states and liveness, pure;
//! * `state`: what handlers and background work share (the database, the
//!   raft node, the registry, the in-memory observations: `in_flight`,
//!   `events`, `doors`, `allocations`, `lifecycle_status`), with
//!   `submit` and its typed form (`reply`); it depends on no handler;
//! * `heal`: the background work (re-replication, trimming, drains,
//!   balancing, collection of unreferenced chunks) behind one entry point;
//! * `lifecycle`: the S3 lifecycle runner, also the leader's only, and
//!   `lifecycle_plan`, its pure planner; `event_watch`: events from
//!   changes of liveness;
//! * `stat`: the cluster's figures, one function for the gRPC `Stat`, the
//!   status page and the metrics, and the cheap `Space` for statfs;
//!   `process`: this process's own figures;
//! * `service`, `s3_service`: the gRPC edge (protobuf stops there);
//!   `status_page`: the HTML page and the metrics sampler;
//! * `options`, `init`, `server`: how an MDS runs, creating a cluster,
//!   running an MDS.

mod allocations;
mod cert_expiry;
pub mod convert;
mod doors;
pub mod error;
mod event_watch;
mod events;
mod file_watch;
mod heal;
mod health;
mod identity;
mod in_flight;
mod init;
mod lifecycle;
mod lifecycle_status;
mod locks;
mod options;
mod persist;
mod placement;
mod process;
mod raft;
mod registry;
mod reply;
mod s3_service;
mod server;
mod service;
mod stat;
mod state;
mod status_page;
mod term;

// The metadata core lives in cairn-meta; its old paths here keep working.
use cairn_meta::{apply, query};
pub use cairn_meta::{command, lifecycle_plan, schema};

pub use error::MdsError;
pub use identity::rotate_own_cert;
pub use init::{create_member, init_cluster, DB_FILE, DEFAULT_REPLICAS, LOCK_FILE};
pub use lifecycle::ACTIONS_PER_SECOND as LIFECYCLE_ACTIONS_PER_SECOND;
pub use options::MdsOptions;
pub use raft::{LOG_KEPT, SNAPSHOT_EVERY};
pub use server::Mds;
pub use status_page::StatusSource;

#[cfg(test)]
mod tests;
