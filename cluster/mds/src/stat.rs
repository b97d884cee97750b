//! The cluster's figures as `cairn stat`, `cairn top`, the status page and
//! the metrics show them: one function over the state (chunk servers,
//! chunk map, inodes), the registry's live figures and the healer's work
//! in flight. The gRPC `Stat`, the status page and the metrics sampler all
//! call [`cluster_stat`]; none goes through another's handler.

use std::{collections::BTreeMap, time::Instant};

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::health::{self, ChunkState, Liveness};
use crate::placement;
use crate::process::{cpu_secs, rss_bytes};
use crate::query::Reader;
use crate::schema::CsState;
use crate::state::State;

/// Blocked chunks listed by Stat, at most: the counts say how many there
/// are; a sample of reasons is what an operator needs.
const MAX_BLOCKED_SHOWN: usize = 20;

/// A chunk server's state as Stat reports it: a draining one is draining
/// whether or not it is heard from.
fn status(recorded: CsState, liveness: Liveness) -> pb::CsStatus {
    match (recorded, liveness) {
        (CsState::Draining, _) => pb::CsStatus::Draining,
        (_, Liveness::Online) => pb::CsStatus::Active,
        (_, Liveness::Offline) => pb::CsStatus::Offline,
        (_, Liveness::Lost) => pb::CsStatus::Lost,
    }
}

/// The root's replica count (the cluster's default for new buckets).
fn default_replicas(state: &State, reader: &Reader) -> Result<u32, ClusterError> {
    Ok(match reader.inode(cairn_common::ROOT_INO)?.replicas {
        0 => state.meta.default_replicas,
        n => n,
    })
}

/// What can still be written: every chunk server's space and state, the
/// default replica count and the inode count. Scans no chunk and no inode:
/// statfs and scrapes can call it as often as they like.
pub(crate) async fn space(state: &State) -> Result<pb::ClusterSpace, ClusterError> {
    let reader = state.read().await?;
    let servers = reader.chunk_servers()?;
    let default_replicas = default_replicas(state, &reader)?;
    let inodes = reader.inode_count()?;
    drop(reader);
    let views = state.views(&servers, Instant::now());
    let chunk_servers = servers
        .iter()
        .filter_map(|s| {
            let view = views.get(&s.id)?;
            Some(pb::CsSpace {
                status: status(s.state, view.liveness).into(),
                capacity: view.capacity,
                used: view.used,
                free: view.free,
            })
        })
        .collect();
    Ok(pb::ClusterSpace {
        chunk_servers,
        default_replicas,
        inodes,
    })
}

pub(crate) async fn cluster_stat(state: &State) -> Result<pb::ClusterStat, ClusterError> {
    let reader = state.read().await?;
    let servers = reader.chunk_servers()?;
    let chunks = reader.chunks()?;
    let (inodes, logical_bytes) = reader.inode_totals()?;
    let default_replicas = default_replicas(state, &reader)?;
    let buckets = reader.buckets()?.len() as u64;
    let mut replica_counts: BTreeMap<u32, u64> = BTreeMap::new();
    for s in servers.iter().filter(|s| s.state != CsState::Removed) {
        replica_counts.insert(s.id, reader.replica_count(s.id)?);
    }
    drop(reader);
    let now = Instant::now();
    let live = state.registry.snapshot();
    let views = state.views(&servers, now);
    let flight = state.heal.figures(now);
    let mut cs_stats = Vec::with_capacity(views.len());
    for s in servers.iter().filter(|s| s.state != CsState::Removed) {
        let Some(view) = views.get(&s.id) else {
            continue;
        };
        let l = live.get(&s.id);
        let figures = l.map(|l| l.figures.clone()).unwrap_or_default();
        let c = view.candidate();
        cs_stats.push(pb::CsStat {
            cs_id: s.id,
            addr: crate::registry::data_addr(&s.addr, l),
            host: s.host.clone(),
            tier: s.tier,
            status: status(s.state, view.liveness).into(),
            capacity: c.capacity,
            used: figures.used,
            free: figures.free,
            replicas: replica_counts.get(&s.id).copied().unwrap_or(0),
            cost: placement::cost(&c),
            journal: s.journal,
            last_heartbeat_ms_ago: l
                .map(|l| {
                    i64::try_from(now.saturating_duration_since(l.last_seen).as_millis())
                        .unwrap_or(i64::MAX)
                })
                .unwrap_or(-1),
            read_bytes: figures.read_bytes,
            write_bytes: figures.write_bytes,
            read_ops: figures.read_ops,
            write_ops: figures.write_ops,
            fill: placement::fill(&c),
            copies_in: flight.copies_in.get(&s.id).copied().unwrap_or(0),
            copies_out: flight.copies_out.get(&s.id).copied().unwrap_or(0),
            latency_ms: figures.latency_ms,
            latency_max_ms: figures.latency_max_ms,
            queue_depth: figures.queue_depth,
        });
    }
    let mut by_replicas: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    let mut states: BTreeMap<&'static str, u64> =
        ChunkState::ALL.iter().map(|s| (s.name(), 0)).collect();
    let mut healthy = true;
    for (id, chunk) in &chunks {
        let c = health::census(chunk, &views);
        *by_replicas.entry(c.live as u32).or_default() += 1;
        let want = health::wanted(chunk, state.meta.default_replicas);
        let st = health::state(
            chunk,
            want,
            &c,
            flight.chunks.contains(id),
            flight.blocked.contains_key(id),
        );
        healthy &= !st.is_unhealthy();
        *states.entry(st.name()).or_default() += 1;
    }
    let allocations = state.allocations.figures(Instant::now());
    let lifecycle = state.lifecycle.totals();
    Ok(pb::ClusterStat {
        cluster_name: state.meta.name.clone(),
        cluster_id: state.meta.cluster_id.clone(),
        chunk_servers: cs_stats,
        chunks_by_replicas: by_replicas,
        chunks: chunks.len() as u64,
        inodes,
        buckets,
        logical_bytes,
        chunk_states: states
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        blocked: flight
            .blocked
            .iter()
            .take(MAX_BLOCKED_SHOWN)
            .map(|(chunk_id, reason)| pb::BlockedChunk {
                chunk_id: *chunk_id,
                reason: reason.clone(),
            })
            .collect(),
        copies_in_flight: flight.copies,
        moves_in_flight: flight.moves,
        copy_bytes_per_sec: flight.bytes_per_sec,
        copied_bytes: flight.copied_bytes,
        healthy: healthy && flight.chunks.is_empty(),
        events: state.events.to_proto(),
        mds: mds_stats(state),
        clients: state.doors.snapshot(now),
        writing_degraded: allocations.writing_degraded,
        chunks_placed_short: allocations.chunks_placed_short,
        allocations_refused: allocations.allocations_refused,
        lifecycle_current_deleted: lifecycle.current_deleted,
        lifecycle_markers_added: lifecycle.markers_added,
        lifecycle_noncurrent_removed: lifecycle.noncurrent_removed,
        lifecycle_markers_removed: lifecycle.markers_removed,
        lifecycle_uploads_aborted: lifecycle.uploads_aborted,
        lifecycle: state.lifecycle.to_proto(),
        default_replicas,
        certs: crate::cert_expiry::node_certs(state, now),
    })
}

/// Every MDS of the group as this one sees it, with this process's own
/// figures on its entry.
pub(crate) fn mds_stats(state: &State) -> Vec<pb::MdsStat> {
    let mut all = state.members.stat();
    if let Some(me) = all.iter_mut().find(|m| m.id == state.members.node_id) {
        me.uptime_secs = state.opened.elapsed().as_secs().max(1);
        me.durable_commits = state.log.durable_commits();
        me.commit_secs = state.log.commit_secs();
        me.rss_bytes = rss_bytes();
        me.cpu_secs = cpu_secs();
        me.host = cairn_common::host::hostname();
    }
    all
}
