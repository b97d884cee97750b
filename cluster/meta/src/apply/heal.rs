//! Commands of healing and balancing: a copied replica joins its chunk, a
//! chunk server drains or leaves, unreferenced chunks are freed.
//!
//! The background work decides what to do from liveness and figures that
//! are not part of the state (heartbeats, clocks); these commands only
//! check that the decision still fits the state they are applied to, so
//! that a stale decision changes nothing rather than something wrong:
//! * a copy joins only a chunk still at the copied version, on a CS that is
//!   active and on a host no other replica of the chunk uses;
//! * a drained CS leaves only once no committed chunk lists it.

use std::collections::BTreeSet;

use cairn_common::ClusterError;

use super::chunks::{free_chunk, get_chunk, put_chunk};
use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::range_cs;
use crate::schema::{self, ChunkServerInfo, CsState, Stored};

fn chunk_server(t: &Tables, cs_id: u32) -> Result<ChunkServerInfo, ClusterError> {
    schema::get_record::<u32, _, ChunkServerInfo>(&t.chunk_servers, cs_id)?
        .ok_or_else(|| ClusterError::NotFound(format!("chunk server {cs_id} is not registered")))
}

fn put_chunk_server(t: &mut Tables, info: &ChunkServerInfo) -> Result<(), ClusterError> {
    let bytes = info.encode()?;
    t.chunk_servers.insert(info.id, bytes.as_slice()).io()?;
    Ok(())
}

/// See [`crate::command::Command::AddReplica`]. A copy that no longer fits
/// is refused with `PreconditionFailed` (nothing changes; the CS deletes its copy).
pub(super) fn add_replica(
    t: &mut Tables,
    chunk_id: u64,
    version: u64,
    cs_id: u32,
    replaces: Option<u32>,
) -> Result<CommandReply, ClusterError> {
    let stale = |why: String| {
        Err(ClusterError::PreconditionFailed(format!(
            "copy of chunk {chunk_id}: {why}"
        )))
    };
    let Some(mut chunk) = get_chunk(t, chunk_id)? else {
        return stale("the chunk was freed".into());
    };
    if chunk.version != version {
        return stale(format!(
            "copied at version {version}, the chunk is at {}",
            chunk.version
        ));
    }
    if chunk.refs == 0 {
        return stale("the chunk is not referenced (released or uncommitted)".into());
    }
    if chunk.replicas.contains(&cs_id) {
        return stale(format!("cs {cs_id} already holds a replica"));
    }
    let target = chunk_server(t, cs_id)?;
    if target.state != CsState::Active {
        return stale(format!("cs {cs_id} is {:?}", target.state));
    }
    let replaces = replaces.filter(|r| chunk.replicas.contains(r));
    for &other in &chunk.replicas {
        if Some(other) == replaces {
            continue;
        }
        if let Ok(info) = chunk_server(t, other) {
            if info.host == target.host {
                return stale(format!(
                    "cs {other} on the same host {} already holds a replica",
                    target.host
                ));
            }
        }
    }
    if let Some(old) = replaces {
        chunk.replicas.retain(|&c| c != old);
        t.replica_index.remove((old, chunk_id)).io()?;
        let removed = chunk_server(t, old).map(|i| i.state == CsState::Removed);
        if !matches!(removed, Ok(true)) {
            t.replica_deletes.insert((old, chunk_id), version).io()?;
        }
    }
    chunk.replicas.push(cs_id);
    // A deletion still queued for this CS must not reach the new copy.
    t.replica_deletes.remove((cs_id, chunk_id)).io()?;
    t.replica_index.insert((cs_id, chunk_id), ()).io()?;
    put_chunk(t, chunk_id, &chunk)?;
    Ok(CommandReply::Chunk { chunk_id, chunk })
}

pub(super) fn set_cs_draining(
    t: &mut Tables,
    cs_id: u32,
    draining: bool,
) -> Result<CommandReply, ClusterError> {
    let mut info = chunk_server(t, cs_id)?;
    let next = match (info.state, draining) {
        (CsState::Removed, _) => {
            return Err(ClusterError::NotFound(format!(
                "chunk server {cs_id} was removed from the cluster"
            )))
        }
        (_, true) => CsState::Draining,
        (_, false) => CsState::Active,
    };
    if info.state != next {
        info.state = next;
        put_chunk_server(t, &info)?;
    }
    Ok(CommandReply::Done)
}

/// See [`crate::command::Command::RemoveCs`].
pub(super) fn remove_cs(
    t: &mut Tables,
    cs_id: u32,
    force: bool,
) -> Result<CommandReply, ClusterError> {
    let mut info = chunk_server(t, cs_id)?;
    if info.state == CsState::Removed {
        return Ok(CommandReply::CsRemoved { chunks_lost: 0 });
    }
    let listed: Vec<u64> = range_cs(&t.replica_index, cs_id)?
        .into_iter()
        .map(|(c, ())| c)
        .collect();
    if !force {
        for &chunk_id in &listed {
            if get_chunk(t, chunk_id)?.is_some_and(|c| c.refs > 0) {
                return Err(ClusterError::PreconditionFailed(format!(
                    "chunk server {cs_id} still holds chunk {chunk_id}: it is drained first"
                )));
            }
        }
    }
    let mut lost = 0u64;
    for chunk_id in listed {
        t.replica_index.remove((cs_id, chunk_id)).io()?;
        let Some(mut chunk) = get_chunk(t, chunk_id)? else {
            continue;
        };
        chunk.replicas.retain(|&c| c != cs_id);
        if chunk.replicas.is_empty() && chunk.refs > 0 {
            lost += 1;
            tracing::error!(
                cs_id,
                chunk_id,
                "chunk server removed by force held the last replica of a chunk"
            );
        }
        put_chunk(t, chunk_id, &chunk)?;
    }
    for (chunk_id, _) in range_cs(&t.replica_deletes, cs_id)? {
        t.replica_deletes.remove((cs_id, chunk_id)).io()?;
    }
    info.state = CsState::Removed;
    put_chunk_server(t, &info)?;
    Ok(CommandReply::CsRemoved { chunks_lost: lost })
}

/// See [`crate::command::Command::FreeChunks`].
pub(super) fn free_chunks(t: &mut Tables, chunk_ids: &[u64]) -> Result<CommandReply, ClusterError> {
    let mut freed = 0u64;
    let distinct: BTreeSet<u64> = chunk_ids.iter().copied().collect();
    for chunk_id in distinct {
        let Some(chunk) = get_chunk(t, chunk_id)? else {
            continue;
        };
        if chunk.refs != 0 {
            continue;
        }
        free_chunk(t, chunk_id, &chunk)?;
        freed += 1;
    }
    Ok(CommandReply::Freed(freed))
}
