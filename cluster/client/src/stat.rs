//! The cluster's figures as `cairn stat` and `cairn top` show them.

use std::collections::BTreeMap;

use cairn_proto as pb;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CsStat {
    pub id: u32,
    pub addr: String,
    pub host: String,
    pub tier: u32,
    pub state: String,
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
}

impl From<pb::CsStat> for CsStat {
    fn from(c: pb::CsStat) -> Self {
        CsStat {
            id: c.cs_id,
            addr: c.addr,
            host: c.host,
            tier: c.tier,
            state: c.state,
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
        }
    }
}

impl From<pb::ClusterStat> for ClusterStat {
    fn from(s: pb::ClusterStat) -> Self {
        ClusterStat {
            cluster_name: s.cluster_name,
            cluster_id: s.cluster_id,
            chunk_servers: s.chunk_servers.into_iter().map(CsStat::from).collect(),
            chunks_by_replicas: s.chunks_by_replicas.into_iter().collect(),
            chunks: s.chunks,
            inodes: s.inodes,
            buckets: s.buckets,
            logical_bytes: s.logical_bytes,
        }
    }
}
