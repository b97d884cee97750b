//! Cluster-level commands: creation, chunk server registration.

use std::collections::BTreeMap;

use cairn_common::{ClusterError, ROOT_INO};
use redb::ReadableTable;

use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::{
    self, ChunkServerInfo, ClusterMeta, Counters, CsState, Inode, NodeKind, Stored,
};

/// Writes the cluster record, the counters and the root directory. Refuses a
/// store that already has a cluster.
pub(super) fn init(
    t: &mut Tables,
    meta: &ClusterMeta,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if t.meta.get(schema::META_CLUSTER).io()?.is_some() {
        return Err(ClusterError::Exists(
            "this metadata store already holds a cluster".into(),
        ));
    }
    if meta.default_replicas == 0 {
        return Err(ClusterError::Invalid(
            "default replica count must be at least 1".into(),
        ));
    }
    let bytes = meta.encode()?;
    t.meta.insert(schema::META_CLUSTER, bytes.as_slice()).io()?;
    t.put_counters(&Counters {
        next_ino: ROOT_INO + 1,
        next_chunk: 1,
        next_cs: 1,
        next_request_seq: 1,
    })?;
    let root = Inode {
        ino: ROOT_INO,
        kind: NodeKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        atime_ns: now_ns,
        mtime_ns: now_ns,
        ctime_ns: now_ns,
        nlink: 2,
        etag: String::new(),
        content_type: String::new(),
        user_meta: BTreeMap::new(),
        headers: BTreeMap::new(),
        xattrs: BTreeMap::new(),
        replicas: meta.default_replicas,
        // The default for the replica count: 3:2.
        min_replicas: 0,
        tier: 0,
        layout: Vec::new(),
        symlink_target: Vec::new(),
        bucket: 0,
        parent: 0,
        name: Vec::new(),
        implicit: false,
        key_only: false,
        version: crate::schema::VersionId::UNVERSIONED,
        protection: Default::default(),
        rdev: 0,
    };
    t.put_inode(&root)?;
    Ok(CommandReply::Node(root))
}

pub(super) fn register_cs(
    t: &mut Tables,
    host: &str,
    tier: u32,
    capacity: u64,
    journal: bool,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if host.is_empty() {
        return Err(ClusterError::Invalid(
            "a chunk server needs a host label (its failure domain)".into(),
        ));
    }
    let mut counters = t.counters()?;
    let id = counters.next_cs;
    counters.next_cs = id
        .checked_add(1)
        .ok_or_else(|| ClusterError::NoSpace("chunk server ids exhausted".into()))?;
    t.put_counters(&counters)?;
    let info = ChunkServerInfo {
        id,
        host: host.to_string(),
        tier,
        capacity,
        journal,
        addr: String::new(),
        state: CsState::Active,
        registered_ns: now_ns,
    };
    let bytes = info.encode()?;
    t.chunk_servers.insert(id, bytes.as_slice()).io()?;
    Ok(CommandReply::CsRegistered { cs_id: id })
}

pub(super) fn set_cs_addr(
    t: &mut Tables,
    cs_id: u32,
    addr: &str,
) -> Result<CommandReply, ClusterError> {
    let mut info = schema::get_record::<u32, _, ChunkServerInfo>(&t.chunk_servers, cs_id)?
        .ok_or_else(|| ClusterError::NotFound(format!("chunk server {cs_id} is not registered")))?;
    info.addr = addr.to_string();
    let bytes = info.encode()?;
    t.chunk_servers.insert(cs_id, bytes.as_slice()).io()?;
    Ok(CommandReply::Done)
}
