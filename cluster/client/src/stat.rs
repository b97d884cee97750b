//! The cluster's figures as `cairn stat` and `cairn top` show them.

use std::collections::BTreeMap;

use cairn_common::summary::CsStatus;
use cairn_proto as pb;
use serde::Serialize;

use cairn_common::ClusterError;

use crate::{retry::Retry, Client, DoorTotals};

#[derive(Debug, Clone, Serialize)]
pub struct CsStat {
    pub id: u32,
    pub addr: String,
    pub host: String,
    pub tier: u32,
    /// Printed (and serialised) as one word: `active`, `offline`, `lost`
    /// or `draining`.
    #[serde(rename = "state", serialize_with = "status_word")]
    pub status: CsStatus,
    pub capacity: u64,
    pub used: u64,
    pub free: u64,
    pub replicas: u64,
    pub cost: f64,
    pub journal: bool,
    pub heartbeat_age_ms: i64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
    /// Used over capacity, 0..1 (1 when the capacity is unknown).
    pub fill: f64,
    /// Replica copies in flight towards it / read from it.
    pub copies_in: u64,
    pub copies_out: u64,
    /// Its measured sync latency (moving average), in milliseconds.
    pub latency_ms: f64,
    /// The longest sync over its last heartbeat interval, in milliseconds.
    pub latency_max_ms: f64,
    /// The most store operations at once over that interval.
    pub queue_depth: u64,
}

/// A chunk no placement can restore, with why.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedChunk {
    pub chunk_id: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterStat {
    pub cluster_name: String,
    pub cluster_id: String,
    pub chunk_servers: Vec<CsStat>,
    /// Number of chunks for each count of live replicas.
    pub chunks_by_replicas: BTreeMap<u32, u64>,
    pub chunks: u64,
    pub inodes: u64,
    pub buckets: u64,
    pub logical_bytes: u64,
    /// Chunk counts by state: healthy, degraded, urgent, blocked,
    /// replicating, overcommitted, deleting, uncommitted.
    pub chunk_states: BTreeMap<String, u64>,
    /// A sample of the blocked chunks, with reasons.
    pub blocked: Vec<BlockedChunk>,
    /// Re-replication copies and balancing (or tier) moves running.
    pub copies_in_flight: u64,
    pub moves_in_flight: u64,
    /// Replication rate over the last seconds, and bytes copied since the
    /// MDS started.
    pub copy_bytes_per_sec: f64,
    pub copied_bytes: u64,
    /// Every committed chunk has its wanted live replicas on distinct
    /// hosts, and nothing is being copied.
    pub healthy: bool,
    /// The MDS's recent events, oldest first.
    pub events: Vec<ClusterEvent>,
    /// The metadata servers, as the leader sees them.
    pub mds: Vec<MdsStat>,
    /// The front doors (gateways, mounts) that reported lately.
    pub clients: Vec<ClientStat>,
    /// Empty while new chunks get their normal replica count; else why
    /// they are placed on fewer hosts (born degraded).
    pub writing_degraded: String,
    /// New chunks placed below their normal replica count, and allocations
    /// refused for want of the minimum, since the MDS began to lead.
    pub chunks_placed_short: u64,
    pub allocations_refused: u64,
    /// What S3 lifecycle did since the MDS began to lead.
    pub lifecycle: LifecycleTotals,
    /// Each bucket with a lifecycle configuration: the runner's last pass.
    pub lifecycle_buckets: Vec<LifecycleBucket>,
    /// What can still be written (see [`crate::Space`]).
    pub space: crate::Space,
    /// The node certificates the leader knows, with their ends.
    pub certs: Vec<NodeCert>,
}

/// A node certificate and when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeCert {
    /// `mds1`, `cs3`, `gateway@host`.
    pub node: String,
    pub role: String,
    /// Hex, as `cairn cert revoke` takes it.
    pub serial: String,
    pub subject: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// Changes made by S3 lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleTotals {
    /// Current versions deleted (unversioned buckets).
    pub current_deleted: u64,
    /// Current versions expired behind a new delete marker.
    pub markers_added: u64,
    pub noncurrent_removed: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
}

/// The lifecycle runner's last pass over one bucket.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleBucket {
    pub bucket: String,
    /// Passes since the MDS began to lead.
    pub passes: u64,
    pub started_unix_ms: u64,
    /// 0 while the pass runs.
    pub finished_unix_ms: u64,
    /// The changes of that pass.
    pub done: LifecycleTotals,
    /// Changes chosen that were no longer due when applied.
    pub skipped: u64,
    /// Empty when the pass met no error.
    pub last_error: String,
}

impl From<pb::LifecycleBucketStatus> for LifecycleBucket {
    fn from(b: pb::LifecycleBucketStatus) -> Self {
        LifecycleBucket {
            bucket: b.bucket,
            passes: b.passes,
            started_unix_ms: b.started_unix_ms,
            finished_unix_ms: b.finished_unix_ms,
            done: LifecycleTotals {
                current_deleted: b.current_deleted,
                markers_added: b.markers_added,
                noncurrent_removed: b.noncurrent_removed,
                markers_removed: b.markers_removed,
                uploads_aborted: b.uploads_aborted,
            },
            skipped: b.skipped,
            last_error: b.last_error,
        }
    }
}

/// A front door as it last reported itself to the MDS.
#[derive(Debug, Clone, Serialize)]
pub struct ClientStat {
    pub id: String,
    /// `gateway` or `mount`.
    pub kind: String,
    pub host: String,
    /// Its listen address or mount point.
    pub name: String,
    #[serde(flatten)]
    pub totals: DoorTotals,
    /// Request latency over its last report interval, in milliseconds.
    pub latency_ms: f64,
    pub latency_max_ms: f64,
    pub uptime_secs: u64,
    pub report_age_ms: i64,
}

/// An entry of the MDS's event log.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterEvent {
    pub unix_ms: u64,
    /// `mds`, `cs3`, ...
    pub part: String,
    /// `info`, `warn` or `error`.
    pub severity: String,
    pub message: String,
}

/// One metadata server of the raft group. The process figures are known
/// only for the MDS that answered (the leader); zero for the others.
#[derive(Debug, Clone, Serialize)]
pub struct MdsStat {
    pub id: u64,
    pub addr: String,
    /// leader, follower, learner, candidate or offline.
    pub role: String,
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// Entries behind the leader's log.
    pub lag: u64,
    pub uptime_secs: u64,
    /// Metadata fsyncs (one per batch of commands) since it started.
    pub durable_commits: u64,
    /// Seconds spent in those commits since it started.
    pub commit_secs: f64,
    pub rss_bytes: u64,
    /// User + system CPU seconds since it started.
    pub cpu_secs: f64,
    pub host: String,
}

impl ClusterStat {
    /// `healthy`, `degraded` or `failure` (see [`cairn_common::summary`]).
    pub fn status(&self) -> &'static str {
        cairn_common::summary::cluster_status(
            |s| self.chunk_states.get(s).copied().unwrap_or(0),
            self.healthy,
        )
    }

    /// "12 healthy, 3 degraded"; empty when there are no chunks.
    pub fn chunk_summary(&self) -> String {
        cairn_common::summary::chunk_states(&self.chunk_states)
    }
}

impl MdsStat {
    pub fn is_leader(&self) -> bool {
        self.role == "leader"
    }
}

impl From<pb::MdsStat> for MdsStat {
    fn from(m: pb::MdsStat) -> Self {
        MdsStat {
            id: m.id,
            addr: m.addr,
            role: m.role,
            term: m.term,
            last_log_index: m.last_log_index,
            applied_index: m.applied_index,
            lag: m.lag,
            uptime_secs: m.uptime_secs,
            durable_commits: m.durable_commits,
            commit_secs: m.commit_secs,
            rss_bytes: m.rss_bytes,
            cpu_secs: m.cpu_secs,
            host: m.host,
        }
    }
}

impl From<pb::ClientStat> for ClientStat {
    fn from(c: pb::ClientStat) -> Self {
        ClientStat {
            id: c.id,
            kind: c.kind,
            host: c.host,
            name: c.name,
            totals: DoorTotals {
                read_bytes: c.read_bytes,
                write_bytes: c.write_bytes,
                read_ops: c.read_ops,
                write_ops: c.write_ops,
                fsyncs: c.fsyncs,
                errors: c.errors,
            },
            latency_ms: c.latency_ms,
            latency_max_ms: c.latency_max_ms,
            uptime_secs: c.uptime_secs,
            report_age_ms: c.last_report_ms_ago,
        }
    }
}

fn status_word<S: serde::Serializer>(status: &CsStatus, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(cairn_common::summary::cs_status_name(*status))
}

impl From<pb::CsStat> for CsStat {
    fn from(c: pb::CsStat) -> Self {
        let status = c.status();
        CsStat {
            id: c.cs_id,
            addr: c.addr,
            host: c.host,
            tier: c.tier,
            status,
            capacity: c.capacity,
            used: c.used,
            free: c.free,
            replicas: c.replicas,
            cost: c.cost,
            journal: c.journal,
            heartbeat_age_ms: c.last_heartbeat_ms_ago,
            read_bytes: c.read_bytes,
            write_bytes: c.write_bytes,
            read_ops: c.read_ops,
            write_ops: c.write_ops,
            fill: c.fill,
            copies_in: c.copies_in,
            copies_out: c.copies_out,
            latency_ms: c.latency_ms,
            latency_max_ms: c.latency_max_ms,
            queue_depth: c.queue_depth,
        }
    }
}

impl From<pb::ClusterStat> for ClusterStat {
    fn from(s: pb::ClusterStat) -> Self {
        let chunk_servers: Vec<CsStat> = s.chunk_servers.into_iter().map(CsStat::from).collect();
        ClusterStat {
            cluster_name: s.cluster_name,
            cluster_id: s.cluster_id,
            chunks_by_replicas: s.chunks_by_replicas.into_iter().collect(),
            chunks: s.chunks,
            inodes: s.inodes,
            buckets: s.buckets,
            logical_bytes: s.logical_bytes,
            chunk_states: s.chunk_states.into_iter().collect(),
            blocked: s
                .blocked
                .into_iter()
                .map(|b| BlockedChunk {
                    chunk_id: b.chunk_id,
                    reason: b.reason,
                })
                .collect(),
            copies_in_flight: s.copies_in_flight,
            moves_in_flight: s.moves_in_flight,
            copy_bytes_per_sec: s.copy_bytes_per_sec,
            copied_bytes: s.copied_bytes,
            healthy: s.healthy,
            events: s
                .events
                .into_iter()
                .map(|e| ClusterEvent {
                    unix_ms: e.unix_ms,
                    part: e.part,
                    severity: e.severity,
                    message: e.message,
                })
                .collect(),
            mds: s.mds.into_iter().map(MdsStat::from).collect(),
            clients: s.clients.into_iter().map(ClientStat::from).collect(),
            writing_degraded: s.writing_degraded,
            chunks_placed_short: s.chunks_placed_short,
            allocations_refused: s.allocations_refused,
            lifecycle: LifecycleTotals {
                current_deleted: s.lifecycle_current_deleted,
                markers_added: s.lifecycle_markers_added,
                noncurrent_removed: s.lifecycle_noncurrent_removed,
                markers_removed: s.lifecycle_markers_removed,
                uploads_aborted: s.lifecycle_uploads_aborted,
            },
            lifecycle_buckets: s.lifecycle.into_iter().map(LifecycleBucket::from).collect(),
            certs: s
                .certs
                .into_iter()
                .map(|c| NodeCert {
                    node: c.node,
                    role: c.role,
                    serial: c.serial,
                    subject: c.subject,
                    not_after: c.not_after,
                })
                .collect(),
            space: crate::Space::of(
                chunk_servers
                    .iter()
                    .map(|c| (c.status, c.capacity, c.used, c.free)),
                s.default_replicas,
            ),
            chunk_servers,
        }
    }
}

impl Client {
    /// The cluster's figures, as the MDS leader sees them now.
    pub async fn stat(&self) -> Result<ClusterStat, ClusterError> {
        self.inner
            .mds
            .metadata(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.stat(r).await
            })
            .await
            .map(ClusterStat::from)
    }
}
