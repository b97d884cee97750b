//! The replicated log in front of the state machine: openraft.
//!
//! Every change to the MDS state is a [`Command`] appended to the raft log
//! (a [`LogStore`] in its own redb file, `raft.redb`), replicated to the
//! other MDS, and applied once committed by the same deterministic
//! [`crate::apply::apply`] that a lone MDS used before (the
//! [`StateMachine`] on `mds.redb`). One MDS is a group of one: its writes
//! commit as soon as its own log has them on disk.
//!
//! Group commit: the [`Batcher`] proposes every command waiting as one log
//! entry, so concurrent commands share one append and one fsync.

mod batcher;
mod log_store;
pub(crate) mod membership;
mod network;
mod state_machine;
mod tail;

use std::{collections::BTreeMap, io::Cursor, path::Path, sync::Arc, time::Duration};

use cairn_common::ClusterError;
use openraft::{BasicNode, Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandReply};
use crate::error::MdsError;

pub(crate) use batcher::Batcher;
pub(crate) use log_store::{LogStore, RAFT_FILE};
pub(crate) use network::{Network, RaftService};
pub(crate) use state_machine::StateMachine;

/// A raft log entry's payload: commands proposed together (group commit),
/// applied in order, and how far the entry must reach before it counts
/// as appended (the strictest any of its commands asked for).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub commands: Vec<Command>,
    pub persist: cairn_common::Persist,
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} commands", self.commands.len())
    }
}

/// What applying an entry answered, one reply per command: a refused
/// command is applied too (as nothing), refused the same way on every MDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response(pub Vec<Result<CommandReply, ClusterError>>);

openraft::declare_raft_types!(
    /// Cairn's raft types: node ids are small integers, a node is its address.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;

/// The node id of the MDS that created the cluster.
pub const FIRST_NODE: NodeId = 1;

/// Entries between two snapshots; the log keeps [`LOG_KEPT`] entries
/// before the last snapshot, so a follower briefly behind catches up from
/// the log rather than a whole snapshot.
pub const SNAPSHOT_EVERY: u64 = 20_000;
pub const LOG_KEPT: u64 = 5_000;

/// Raft timings: a heartbeat every 150 ms and an election after 1 to 2 s
/// of silence, so a dead leader is replaced in about two seconds (the
/// target is writes resuming within five) while a busy machine's pauses
/// do not start needless elections.
pub fn config(snapshot_every: u64, log_kept: u64) -> Result<Arc<Config>, MdsError> {
    let config = Config {
        cluster_name: "cairn-mds".into(),
        heartbeat_interval: 150,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: log_kept,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(|e| {
        MdsError::Invalid(format!("raft configuration: {e}"))
    })?))
}

/// Starts the raft node of the MDS in `dir`, on its open state database.
/// A fresh first MDS (`make-mds -I`) initialises a group of itself.
pub(crate) async fn start(
    dir: &Path,
    db: Arc<redb::Database>,
    tls: cairn_common::tls::NodeTls,
    first_addr: &str,
    snapshot_every: u64,
    log_kept: u64,
) -> Result<(Raft, LogStore), MdsError> {
    let log = LogStore::open(dir, first_addr)?;
    let node_id = log.node_id();
    let sm = StateMachine::open(db)?;
    let config = config(snapshot_every, log_kept)?;
    let raft = Raft::new(node_id, config, Network::new(tls), log.clone(), sm)
        .await
        .map_err(|e| MdsError::Invalid(format!("raft did not start: {e}")))?;
    if let Some(addr) = log.bootstrap_addr()? {
        if !raft
            .is_initialized()
            .await
            .map_err(|e| MdsError::Invalid(format!("raft: {e}")))?
        {
            let mut members = BTreeMap::new();
            members.insert(node_id, BasicNode { addr: addr.clone() });
            raft.initialize(members)
                .await
                .map_err(|e| MdsError::Invalid(format!("raft initialisation: {e}")))?;
            tracing::info!(node_id, %addr, "raft group of one initialised");
        }
        log.clear_bootstrap()?;
    }
    Ok((raft, log))
}

/// How long a client write may wait for its commit before the caller is
/// told the metadata service is unavailable (a minority cannot commit).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read may wait for the majority to confirm this MDS leads.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
