//! What the MDS's handlers and background work share: the open database,
//! the raft node, the chunk server registry and the in-memory observations
//! (copies in flight, events, doors, allocations, lifecycle runs).
//!
//! This module depends on no handler and no background task: they all
//! depend on it.

use std::{collections::BTreeMap, fs::File, path::PathBuf, sync::Arc, time::Instant};

use cairn_common::ClusterError;
use redb::Database;

use crate::command::{Command, CommandReply};
use crate::health::{self, CsView};
use crate::in_flight::HealShared;
use crate::options::MdsOptions;
use crate::query::Reader;
use crate::raft::{self, membership::Members, LogStore, Raft};
use crate::registry::Registry;
use crate::reply::ReplyOf;
use crate::schema::{ChunkServerInfo, ClusterMeta, CsState};

/// What the handlers share. Field order is drop order: the raft node goes
/// before the database handle, the directory lock last.
pub(crate) struct State {
    pub batcher: raft::Batcher,
    pub raft: Raft,
    pub members: Members,
    pub log: LogStore,
    pub db: Arc<Database>,
    pub registry: Registry,
    /// Copies in flight, touched chunks, healing figures.
    pub heal: HealShared,
    pub options: MdsOptions,
    /// When this MDS opened or last became the leader (chunk servers only
    /// report to the leader): a CS not heard from since is offline, then
    /// lost.
    pub started: std::sync::Mutex<Instant>,
    /// When this MDS process opened its state (its uptime).
    pub opened: Instant,
    pub meta: ClusterMeta,
    /// This MDS's node certificate, its CA and the revoked serials.
    pub tls: cairn_common::tls::NodeTls,
    pub dir: PathBuf,
    /// Serialises AuthNode attempts, so that password guesses cannot run in
    /// parallel to beat the delay on failure.
    pub join_gate: tokio::sync::Mutex<()>,
    /// What `cairn top` and the status page list as events.
    pub events: crate::events::EventLog,
    /// The doors that report to this MDS while it leads.
    pub doors: crate::doors::DoorTable,
    /// The mounts' byte-range locks while this MDS leads.
    pub locks: crate::locks::LockService,
    /// The feed of changed files and the write leases, while this MDS leads.
    pub file_watch: crate::file_watch::FileWatch,
    /// How new chunks are being placed (normal, short, refused).
    pub allocations: crate::allocations::Allocations,
    /// What the lifecycle runner did.
    pub lifecycle: crate::lifecycle_status::LifecycleStatus,
    /// Held for the life of the state: the directory lock.
    pub(crate) _lock: File,
}

impl State {
    /// Every registered (not removed) CS as the healer sees it at `now`.
    pub fn views(&self, servers: &[ChunkServerInfo], now: Instant) -> BTreeMap<u32, CsView> {
        let live = self.registry.snapshot();
        servers
            .iter()
            .filter(|s| s.state != CsState::Removed)
            .map(|s| {
                let l = live.get(&s.id);
                let figures = l.map(|l| l.figures.clone()).unwrap_or_default();
                let view = CsView {
                    id: s.id,
                    host: s.host.clone(),
                    tier: s.tier,
                    liveness: health::liveness(
                        l,
                        now,
                        self.started(),
                        self.options.offline_after,
                        self.options.lost_after,
                    ),
                    draining: s.state == CsState::Draining,
                    capacity: if s.capacity != 0 {
                        s.capacity
                    } else {
                        figures.capacity
                    },
                    used: figures.used,
                    free: figures.free,
                    latency_ms: figures.latency_ms,
                    reachable: !crate::registry::data_addr(&s.addr, l).is_empty(),
                };
                (s.id, view)
            })
            .collect()
    }

    /// A reader of the applied state as it is here (no leader check): for
    /// the background work and tests.
    pub fn reader(&self) -> Result<Reader, ClusterError> {
        Reader::new(&self.db)
    }

    /// A linearizable reader: this MDS confirms it still leads (read
    /// index) and has applied everything committed before the call.
    pub async fn read(&self) -> Result<Reader, ClusterError> {
        match tokio::time::timeout(raft::READ_TIMEOUT, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Reader::new(&self.db),
            Ok(Err(e)) => Err(ClusterError::Unavailable(format!("metadata read: {e}"))),
            Err(_) => Err(ClusterError::Unavailable(format!(
                "this MDS could not confirm it leads within {} s: is a majority of the MDS up?",
                raft::READ_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The addresses of every MDS of the group (the recorded ones before
    /// the group is known).
    pub fn mds_addrs(&self) -> Vec<String> {
        let addrs: Vec<String> = self.members.addrs().into_values().collect();
        if addrs.is_empty() {
            self.meta.mds_addrs.clone()
        } else {
            addrs
        }
    }

    pub fn started(&self) -> Instant {
        self.started
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }

    pub fn is_leader(&self) -> bool {
        self.members.check_leader().is_ok()
    }

    /// Appends a command to the raft log and answers once it is committed
    /// (persisted as the call being handled asked) and applied here.
    pub async fn submit(&self, command: Command) -> Result<CommandReply, ClusterError> {
        let deadline = tokio::time::Instant::now() + raft::WRITE_TIMEOUT;
        self.wait_for_leader(deadline).await?;
        self.batcher.submit(command, crate::persist::asked()).await
    }

    /// [`State::submit`], for a command whose reply has a known shape.
    pub async fn submit_for<T: ReplyOf>(&self, command: Command) -> Result<T, ClusterError> {
        T::take(self.submit(command).await?).map_err(|other| {
            ClusterError::Io(format!(
                "the state machine answered {other} where {} was due",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Answers once every change answered before it is on stable storage
    /// on a majority of the MDS: an entry of no command, fsynced.
    pub async fn barrier(&self) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + raft::WRITE_TIMEOUT;
        self.wait_for_leader(deadline).await?;
        let entry = raft::Request {
            commands: Vec::new(),
            persist: cairn_common::Persist::Disk,
        };
        match tokio::time::timeout(raft::WRITE_TIMEOUT, self.raft.client_write(entry)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ClusterError::Unavailable(format!("metadata barrier: {e}"))),
            Err(_) => Err(ClusterError::Unavailable(format!(
                "metadata barrier not committed within {} s: is a majority of the MDS up?",
                raft::WRITE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Waits (until `deadline`) while no leader is known; refuses at once
    /// if another MDS leads.
    async fn wait_for_leader(&self, deadline: tokio::time::Instant) -> Result<(), ClusterError> {
        let mut metrics = self.raft.metrics();
        loop {
            let leader = metrics.borrow().current_leader;
            match leader {
                Some(id) if id == self.members.node_id => return Ok(()),
                Some(_) => {
                    return Err(ClusterError::Unavailable(
                        self.members
                            .check_leader()
                            .err()
                            .map(|s| s.message().to_string())
                            .unwrap_or_else(|| "leadership changed".into()),
                    ))
                }
                None => {}
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(ClusterError::Unavailable("the raft node stopped".into()))
                }
                Err(_) => {
                    return Err(ClusterError::Unavailable(
                        "no MDS leader elected: is a majority of the MDS up?".into(),
                    ))
                }
            }
        }
    }
}
