//! Cairn's metadata core: the state the MDS replicates and the one
//! deterministic function that changes it, with no RPC and no consensus
//! (those stay in cairn-mds). Anything that needs the real namespace rules
//! without a server (the MDS, the mount's test backend) builds on it.
//!
//! Layout of the crate:
//! * [`schema`]: tables and versioned records;
//! * [`command`]: every change as a plain value;
//! * [`apply`]: the one deterministic function that applies a command;
//! * [`names`]: what a name may be;
//! * [`query`]: reads on snapshots;
//! * [`lifecycle_plan`]: the S3 lifecycle's pure planner;
//! * [`error`]: storage failures as namespace errors.

pub mod apply;
pub mod command;
pub mod error;
pub mod lifecycle_plan;
pub mod names;
pub mod query;
pub mod schema;
