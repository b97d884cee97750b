//! Background work of the MDS: re-replication, trimming, drains, balancing
//! and the collection of unreferenced chunks.
//!
//! [`BackgroundWork::tick`] is the one entry point, driven by a timer
//! ([`BackgroundWork::run`]). Each tick reads one snapshot of the state and
//! the live figures of the chunk servers, lets the pure planner
//! ([`plan::plan`], [`balance::plan_moves`]) decide, and then:
//! * changes the state only through commands (TrimReplica, RemoveCs,
//!   FreeChunks), so that with metadata HA only the raft leader runs this
//!   and every MDS applies the same commands;
//! * hands copy orders to chunk servers through [`crate::in_flight::HealShared`],
//!   which heartbeat replies read; a copy joins its chunk only through
//!   AddReplica, when its target reports it (ReportCopy).
//!
//! Nothing here holds state that must survive a restart: a new MDS (or
//! leader) starts with no copy in flight and rebuilds the rest from the
//! chunk map within a tick.

pub mod balance;
pub mod plan;

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use cairn_common::ClusterError;

use crate::command::{Command, CommandReply};
use crate::state::State;

use plan::{HealConfig, Input};

/// A chunk a writer touched (commit, dropped replica) gets no copy for this
/// long: an in-place write may still be landing on its replicas, and a copy
/// taken meanwhile could miss it. A copy ordered before a touch is refused
/// when it reports.
pub const WRITE_QUIET: Duration = Duration::from_secs(5);
/// Most chunks one FreeChunks command frees: bounds the transaction.
const FREE_BATCH: usize = 1000;

/// What one tick did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub copies_ordered: usize,
    pub trimmed: usize,
    pub freed: u64,
    pub removed: Vec<u32>,
    pub expired: usize,
    pub blocked: usize,
}

/// The MDS's background work. See the module documentation.
pub struct BackgroundWork {
    state: Arc<State>,
    /// Tiers whose balancer is running (hysteresis).
    balancing: BTreeSet<u32>,
    /// Unreferenced chunks and when this MDS first saw them so.
    unreferenced_since: HashMap<u64, Instant>,
}

impl BackgroundWork {
    pub(crate) fn new(state: Arc<State>) -> BackgroundWork {
        BackgroundWork {
            state,
            balancing: BTreeSet::new(),
            unreferenced_since: HashMap::new(),
        }
    }

    /// Runs a tick every `heal_interval` until `stop` says so.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.state.options.heal_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            // Only the leader heals and balances; a new leader starts from
            // the replicated state and its own fresh observations.
            if !self.state.is_leader() {
                self.balancing.clear();
                self.unreferenced_since.clear();
                continue;
            }
            match self.tick(Instant::now()).await {
                Ok(r) if r != TickReport::default() => tracing::debug!(report = ?r, "healer tick"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "healer tick failed; retrying next tick"),
            }
        }
    }

    /// One pass: see the module documentation.
    pub async fn tick(&mut self, now: Instant) -> Result<TickReport, ClusterError> {
        let state = Arc::clone(&self.state);
        let shared = &state.heal;
        let mut report = TickReport {
            expired: shared.expire(now).len(),
            ..TickReport::default()
        };
        let (chunks, servers, pending) = {
            let reader = state.reader()?;
            (
                reader.chunks()?,
                reader.chunk_servers()?,
                reader.pending_deletes()?,
            )
        };
        let views = state.views(&servers, now);
        let mut quiet = shared.recently_touched(now, WRITE_QUIET);
        quiet.extend(shared.backing_off(now));
        let in_flight = shared.in_flight();
        let config = HealConfig {
            default_replicas: state.meta.default_replicas,
            max_copies_per_cs: state.options.max_copies_per_cs,
            balance_threshold: state.options.balance_threshold,
            balance_rate: state.options.balance_rate,
        };
        let plan = plan::plan(&Input {
            chunks: &chunks,
            views: &views,
            in_flight: &in_flight,
            pending_deletes: &pending,
            quiet: &quiet,
            config: &config,
            balancing: &self.balancing,
        });
        report.blocked = plan.blocked.len();
        shared.set_blocked(plan.blocked.clone());
        self.balancing = plan.balancing.clone();

        for t in &plan.trims {
            let command = Command::TrimReplica {
                chunk_id: t.chunk_id,
                version: t.version,
                cs_id: t.cs_id,
            };
            match state.submit(command).await {
                Ok(_) => {
                    report.trimmed += 1;
                    tracing::info!(
                        chunk = t.chunk_id,
                        cs = t.cs_id,
                        why = t.why,
                        "replica trimmed"
                    );
                }
                Err(e) => tracing::debug!(chunk = t.chunk_id, error = %e, "trim refused"),
            }
        }
        for order in plan.copies {
            tracing::info!(
                chunk = order.chunk_id,
                target = order.target,
                sources = ?order.sources,
                replaces = ?order.replaces,
                kind = ?order.kind,
                "copy ordered"
            );
            if shared.start(order, now) {
                report.copies_ordered += 1;
            }
        }
        for cs_id in plan.drained {
            match state
                .submit(Command::RemoveCs {
                    cs_id,
                    force: false,
                })
                .await
            {
                Ok(_) => {
                    tracing::info!(cs_id, "chunk server drained and removed");
                    shared.cancel_cs(cs_id);
                    report.removed.push(cs_id);
                }
                Err(e) => tracing::debug!(cs_id, error = %e, "drained CS not removed yet"),
            }
        }
        report.freed = self.collect(&chunks, now).await;
        Ok(report)
    }

    /// Frees chunks unreferenced for long enough: released ones after the
    /// release grace, never-committed ones after the uncommitted timeout.
    async fn collect(&mut self, chunks: &[(u64, crate::schema::ChunkInfo)], now: Instant) -> u64 {
        let options = &self.state.options;
        let mut seen: HashMap<u64, Instant> = HashMap::new();
        let mut due: Vec<u64> = Vec::new();
        for (id, chunk) in chunks {
            if chunk.refs != 0 {
                continue;
            }
            let since = self.unreferenced_since.get(id).copied().unwrap_or(now);
            seen.insert(*id, since);
            let limit = if chunk.released {
                options.release_grace
            } else {
                options.uncommitted_timeout
            };
            if now.saturating_duration_since(since) >= limit {
                due.push(*id);
            }
        }
        self.unreferenced_since = seen;
        let mut freed = 0;
        for batch in due.chunks(FREE_BATCH) {
            match self
                .state
                .submit(Command::FreeChunks {
                    chunk_ids: batch.to_vec(),
                })
                .await
            {
                Ok(CommandReply::Freed(n)) => freed += n,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "freeing unreferenced chunks failed"),
            }
        }
        if freed > 0 {
            tracing::debug!(freed, "unreferenced chunks freed");
        }
        freed
    }
}
