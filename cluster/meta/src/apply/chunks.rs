//! Chunks: allocation, layouts and reference counts, replica changes, and
//! reconciliation with what chunk servers actually hold.
//!
//! Reference counting: `ChunkInfo::refs` is the number of inodes whose layout
//! names the chunk (several extents of one inode count once; hard links share
//! the inode). Every layout change goes through [`set_layout`], which adds
//! and releases references by set difference. A chunk whose count falls to 0
//! is marked released and kept, readable, so that a reader still holding the
//! old layout finishes; the background work frees it after a grace period
//! (`FreeChunks`), which removes it and queues each of its replicas in
//! `replica_deletes`, handed to its CS in the next heartbeat reply.
//!
//! Wanted replicas and tier: a chunk takes them from the inode it is
//! allocated for, then from its first holder; a later holder can only raise
//! the count (a chunk shared by CopyObject keeps the most copies anyone
//! asked for); SetAttr on a file sets them on the chunks it alone holds.

use std::collections::{BTreeMap, BTreeSet};

use cairn_common::{extent, ClusterError};

use super::Tables;
use crate::command::{CommandReply, ReplicaRef};
use crate::error::OrIo;
use crate::schema::range_cs;
use crate::schema::{self, ChunkInfo, ChunkServerInfo, CsState, Extent, Inode, NodeKind, Stored};

// ------------------------------------------------------------ chunk rows ---

pub(super) fn get_chunk(t: &Tables, chunk_id: u64) -> Result<Option<ChunkInfo>, ClusterError> {
    schema::get_record::<u64, _, ChunkInfo>(&t.chunks, chunk_id)
}

pub(super) fn put_chunk(
    t: &mut Tables,
    chunk_id: u64,
    chunk: &ChunkInfo,
) -> Result<(), ClusterError> {
    let bytes = chunk.encode()?;
    t.chunks.insert(chunk_id, bytes.as_slice()).io()?;
    Ok(())
}

/// Wanted replica count and tier of a holder.
#[derive(Clone, Copy)]
pub(super) struct Want {
    pub replicas: u32,
    pub tier: u32,
}

impl Want {
    pub(super) fn of(inode: &Inode) -> Want {
        Want {
            replicas: inode.replicas,
            tier: inode.tier,
        }
    }
}

/// Takes a reference for a holder; `want`: the holder's attributes (None:
/// a holder without its own, such as an upload part, which keeps those the
/// chunk was allocated with).
fn add_ref(t: &mut Tables, chunk_id: u64, want: Option<Want>) -> Result<(), ClusterError> {
    let mut chunk = get_chunk(t, chunk_id)?.ok_or_else(|| {
        ClusterError::Invalid(format!(
            "chunk {chunk_id} does not exist (freed or never allocated)"
        ))
    })?;
    if let Some(w) = want {
        if chunk.refs == 0 {
            chunk.want = w.replicas;
            chunk.tier = w.tier;
        } else {
            chunk.want = chunk.want.max(w.replicas);
        }
    }
    chunk.refs = chunk.refs.checked_add(1).ok_or_else(|| {
        ClusterError::TooManyLinks(format!("chunk {chunk_id} has too many references"))
    })?;
    chunk.released = false;
    put_chunk(t, chunk_id, &chunk)
}

fn drop_ref(t: &mut Tables, chunk_id: u64) -> Result<(), ClusterError> {
    let Some(mut chunk) = get_chunk(t, chunk_id)? else {
        // A layout naming a chunk that is gone: nothing left to release.
        tracing::warn!(chunk_id, "layout referenced a chunk that no longer exists");
        return Ok(());
    };
    chunk.refs = chunk.refs.saturating_sub(1);
    if chunk.refs == 0 {
        // Freed later, after the grace period (FreeChunks).
        chunk.released = true;
    }
    put_chunk(t, chunk_id, &chunk)
}

/// Removes a chunk and queues the deletion of each of its replicas.
pub(super) fn free_chunk(
    t: &mut Tables,
    chunk_id: u64,
    chunk: &ChunkInfo,
) -> Result<(), ClusterError> {
    t.chunks.remove(chunk_id).io()?;
    for &cs in &chunk.replicas {
        t.replica_index.remove((cs, chunk_id)).io()?;
        t.replica_deletes
            .insert((cs, chunk_id), chunk.version)
            .io()?;
    }
    Ok(())
}

/// Replaces `inode.layout` with `new`, moving chunk references accordingly.
/// Fails with EINVAL if `new` names a chunk that does not exist.
pub(super) fn set_layout(
    t: &mut Tables,
    inode: &mut Inode,
    new: Vec<Extent>,
) -> Result<(), ClusterError> {
    let old_set = chunk_set(&inode.layout);
    let new_set = chunk_set(&new);
    let want = Want::of(inode);
    for &c in new_set.difference(&old_set) {
        add_ref(t, c, Some(want))?;
    }
    for &c in old_set.difference(&new_set) {
        drop_ref(t, c)?;
    }
    inode.layout = new;
    Ok(())
}

/// Takes one reference on each distinct chunk of `extents` (for a holder
/// other than an inode: a multipart part). EINVAL for a missing chunk.
pub(super) fn hold_chunks(t: &mut Tables, extents: &[Extent]) -> Result<(), ClusterError> {
    for c in chunk_set(extents) {
        add_ref(t, c, None)?;
    }
    Ok(())
}

/// Releases what [`hold_chunks`] took.
pub(super) fn release_chunks(t: &mut Tables, extents: &[Extent]) -> Result<(), ClusterError> {
    for c in chunk_set(extents) {
        drop_ref(t, c)?;
    }
    Ok(())
}

/// Raises chunks' lengths to the high-water marks a write reached.
pub(super) fn raise_lengths(t: &mut Tables, lengths: &[(u64, u64)]) -> Result<(), ClusterError> {
    for &(chunk_id, length) in lengths {
        let mut chunk = get_chunk(t, chunk_id)?
            .ok_or_else(|| ClusterError::Invalid(format!("chunk {chunk_id} does not exist")))?;
        if length > chunk.length {
            chunk.length = length;
            put_chunk(t, chunk_id, &chunk)?;
        }
    }
    Ok(())
}

/// Raises chunks' lengths to the ends of the extents that name them (a
/// layout placed by PutKey or PutPart carries no lengths of its own: every
/// byte an extent names was written).
pub(super) fn raise_lengths_to_extents(
    t: &mut Tables,
    extents: &[Extent],
) -> Result<(), ClusterError> {
    let mut ends: BTreeMap<u64, u64> = BTreeMap::new();
    for e in extents {
        let end = e.chunk_offset.saturating_add(e.length);
        let slot = ends.entry(e.chunk_id).or_default();
        *slot = (*slot).max(end);
    }
    let lengths: Vec<(u64, u64)> = ends.into_iter().collect();
    raise_lengths(t, &lengths)
}

/// Sets the wanted replica count and tier of the chunks of `inode` after its
/// attributes changed: exactly on the chunks it alone holds; on shared ones
/// the count only rises (another holder may want more) and the tier follows.
pub(super) fn apply_attrs_to_chunks(t: &mut Tables, inode: &Inode) -> Result<(), ClusterError> {
    for c in chunk_set(&inode.layout) {
        let Some(mut chunk) = get_chunk(t, c)? else {
            continue;
        };
        let before = (chunk.want, chunk.tier);
        if chunk.refs <= 1 {
            chunk.want = inode.replicas;
        } else {
            chunk.want = chunk.want.max(inode.replicas);
        }
        chunk.tier = inode.tier;
        if (chunk.want, chunk.tier) != before {
            put_chunk(t, c, &chunk)?;
        }
    }
    Ok(())
}

fn chunk_set(layout: &[Extent]) -> BTreeSet<u64> {
    layout.iter().map(|e| e.chunk_id).collect()
}

// --------------------------------------------------------- layout algebra ---

/// Checks extents sent by a client: non-empty, within a chunk, sorted by
/// file offset and not overlapping each other.
pub(super) fn check_extents(extents: &[Extent], chunk_size: u64) -> Result<(), ClusterError> {
    let mut prev_end = 0u64;
    for (i, e) in extents.iter().enumerate() {
        if e.length == 0 {
            return Err(ClusterError::Invalid(format!("extent {i} is empty")));
        }
        let chunk_end = e.chunk_offset.checked_add(e.length);
        if chunk_end.is_none_or(|end| end > chunk_size) {
            return Err(ClusterError::Invalid(format!(
                "extent {i} goes past the end of chunk {} (chunk size {chunk_size})",
                e.chunk_id
            )));
        }
        if e.file_offset.checked_add(e.length).is_none() {
            return Err(ClusterError::Invalid(format!(
                "extent {i} overflows the file size"
            )));
        }
        if i > 0 && e.file_offset < prev_end {
            return Err(ClusterError::Invalid(format!(
                "extent {i} overlaps or precedes the previous one: extents must be sorted and disjoint"
            )));
        }
        prev_end = e.end();
    }
    Ok(())
}

// ------------------------------------------------------------- commands ---

pub(super) fn allocate(
    t: &mut Tables,
    owner: u64,
    chain: &[u32],
) -> Result<CommandReply, ClusterError> {
    let owner_node = t.inode(owner)?;
    if chain.is_empty() {
        return Err(ClusterError::Invalid(
            "a chunk needs at least one replica".into(),
        ));
    }
    let distinct: BTreeSet<u32> = chain.iter().copied().collect();
    if distinct.len() != chain.len() {
        return Err(ClusterError::Invalid(format!(
            "chain {chain:?} names a chunk server twice"
        )));
    }
    for &cs in chain {
        match schema::get_record::<u32, _, ChunkServerInfo>(&t.chunk_servers, cs)? {
            Some(info) if info.state != CsState::Removed => {}
            _ => {
                return Err(ClusterError::Invalid(format!(
                    "chunk server {cs} is not registered"
                )))
            }
        }
    }
    let mut counters = t.counters()?;
    let chunk_id = counters.next_chunk;
    counters.next_chunk += 1;
    t.put_counters(&counters)?;
    let chunk = ChunkInfo {
        version: 1,
        length: 0,
        replicas: chain.to_vec(),
        refs: 0,
        owner,
        want: owner_node.replicas,
        tier: owner_node.tier,
        released: false,
    };
    put_chunk(t, chunk_id, &chunk)?;
    for &cs in chain {
        t.replica_index.insert((cs, chunk_id), ()).io()?;
    }
    Ok(CommandReply::Chunk { chunk_id, chunk })
}

/// Most chunks one AllocateChunks makes: bounds the transaction.
pub const MAX_ALLOCATE: u32 = 64;

/// `count` chunks as `allocate` makes them, one after the other.
pub(super) fn allocate_many(
    t: &mut Tables,
    owner: u64,
    chain: &[u32],
    count: u32,
) -> Result<CommandReply, ClusterError> {
    if count == 0 || count > MAX_ALLOCATE {
        return Err(ClusterError::Invalid(format!(
            "{count} chunks asked for at once: 1 to {MAX_ALLOCATE}"
        )));
    }
    let mut made = Vec::with_capacity(count as usize);
    for _ in 0..count {
        match allocate(t, owner, chain)? {
            CommandReply::Chunk { chunk_id, chunk } => made.push((chunk_id, chunk)),
            other => return Err(ClusterError::Io(format!("allocation answered {other:?}"))),
        }
    }
    Ok(CommandReply::Chunks(made))
}

/// Arguments of CommitWrite.
pub(super) struct Write<'a> {
    pub ino: u64,
    pub extents: &'a [Extent],
    pub size: u64,
    pub etag: &'a str,
    pub mtime_ns: i64,
    pub chunk_lengths: &'a [(u64, u64)],
    pub replace_layout: bool,
}

pub(super) fn commit_write(
    t: &mut Tables,
    w: Write,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let mut node = t.inode(w.ino)?;
    match node.kind {
        NodeKind::File => {}
        NodeKind::Dir => return Err(ClusterError::IsDir(format!("inode {}", w.ino))),
        NodeKind::Symlink => {
            return Err(ClusterError::Invalid(format!(
                "inode {} is a symlink",
                w.ino
            )))
        }
        _ => {
            return Err(ClusterError::Invalid(format!(
                "inode {} has no content",
                w.ino
            )))
        }
    }
    check_extents(w.extents, t.chunk_size()?)?;
    let merged = if w.replace_layout {
        w.extents.to_vec()
    } else {
        extent::overlay(&node.layout, w.extents)
    };
    let layout = extent::truncate(&merged, w.size);
    raise_lengths(t, w.chunk_lengths)?;
    set_layout(t, &mut node, layout)?;
    node.size = w.size;
    node.etag = w.etag.to_string();
    schema::forget_content_checksums(&mut node);
    node.mtime_ns = if w.mtime_ns != 0 { w.mtime_ns } else { now_ns };
    node.ctime_ns = now_ns;
    t.put_inode(&node)?;
    Ok(CommandReply::Node(node))
}

/// Drops `cs_id` from the chunk's replicas, if the caller saw the current
/// version; otherwise answers the current location unchanged (someone else
/// changed the chain first). The dropped copy is queued for deletion.
///
/// A writer's drop (`bad == false`) bumps the version: the dropped copy may
/// miss the writes that follow, and must be recognisable as stale; the
/// writer then moves the survivors to the new version (`SetVersion`). A bad
/// replica reported by a reader (`bad == true`) is dropped without a bump:
/// nobody would move the healthy survivors to a new version, and they must
/// stay readable at the one they have.
pub(super) fn drop_replica(
    t: &mut Tables,
    chunk_id: u64,
    version: u64,
    cs_id: u32,
    bad: bool,
) -> Result<CommandReply, ClusterError> {
    let mut chunk = get_chunk(t, chunk_id)?
        .ok_or_else(|| ClusterError::NotFound(format!("chunk {chunk_id}")))?;
    if chunk.version != version || !chunk.replicas.contains(&cs_id) {
        return Ok(CommandReply::Chunk { chunk_id, chunk });
    }
    if chunk.replicas.len() == 1 {
        if bad {
            tracing::warn!(chunk_id, cs_id, "bad replica kept: it is the chunk's last");
            return Ok(CommandReply::Chunk { chunk_id, chunk });
        }
        return Err(ClusterError::Unavailable(format!(
            "chunk {chunk_id}: cs {cs_id} holds its last replica, which cannot be dropped"
        )));
    }
    let old_version = chunk.version;
    chunk.replicas.retain(|&c| c != cs_id);
    if !bad {
        chunk.version += 1;
    }
    put_chunk(t, chunk_id, &chunk)?;
    t.replica_index.remove((cs_id, chunk_id)).io()?;
    t.replica_deletes
        .insert((cs_id, chunk_id), old_version)
        .io()?;
    Ok(CommandReply::Chunk { chunk_id, chunk })
}

/// Reconciles the chunk map with a CS's full replica report:
/// * a reported replica of an unknown (or freed) chunk, or of a chunk the
///   map does not place on this CS, is to be deleted (a dropped, stale copy);
/// * a replica the map places on this CS but at an older version is kept and
///   stays listed: its writer died between DropReplica and SetVersion, so it
///   holds every acknowledged write; deleting it could lose the chunk. The
///   reply orders it renamed to the current version (a `SetVersion`);
/// * a replica the map places on this CS but the CS did not report is dropped
///   from the chunk's list (no version bump: no stale copy exists);
/// * queued deletions for this CS are handed out (those the CS still has) and
///   forgotten;
/// * chunks not yet committed (`refs == 0`: a write may be in flight, its
///   replica not yet created or its version mid-bump) are left alone.
pub(super) fn reconcile(
    t: &mut Tables,
    cs_id: u32,
    report: &[ReplicaRef],
) -> Result<CommandReply, ClusterError> {
    if schema::get_record::<u32, _, ChunkServerInfo>(&t.chunk_servers, cs_id)?.is_none() {
        return Err(ClusterError::NotFound(format!(
            "chunk server {cs_id} is not registered"
        )));
    }
    let reported: BTreeMap<u64, ReplicaRef> = report.iter().map(|r| (r.chunk_id, *r)).collect();
    let mut deletes: BTreeMap<u64, ReplicaRef> = BTreeMap::new();
    let mut set_versions: Vec<(u64, u64, u64)> = Vec::new();

    for r in reported.values() {
        match get_chunk(t, r.chunk_id)? {
            None => {
                deletes.insert(r.chunk_id, *r);
            }
            // Not committed yet: a write may be in flight (its version can
            // be mid-bump); leave it to the writer.
            Some(chunk) if chunk.refs == 0 => {}
            Some(chunk) if !chunk.replicas.contains(&cs_id) => {
                deletes.insert(r.chunk_id, *r);
            }
            Some(chunk) if r.version < chunk.version => {
                tracing::warn!(
                    cs_id,
                    chunk_id = r.chunk_id,
                    reported = r.version,
                    known = chunk.version,
                    "listed replica behind the chunk's version: kept, renamed to the version"
                );
                set_versions.push((r.chunk_id, r.version, chunk.version));
            }
            Some(chunk) if r.version > chunk.version => {
                tracing::warn!(
                    cs_id,
                    chunk_id = r.chunk_id,
                    reported = r.version,
                    known = chunk.version,
                    "replica newer than the chunk map: kept"
                );
            }
            Some(_) => {}
        }
    }

    let listed: Vec<u64> = range_cs(&t.replica_index, cs_id)?
        .into_iter()
        .map(|(chunk_id, ())| chunk_id)
        .collect();
    for chunk_id in listed {
        if reported.contains_key(&chunk_id) {
            continue;
        }
        let Some(mut chunk) = get_chunk(t, chunk_id)? else {
            t.replica_index.remove((cs_id, chunk_id)).io()?;
            continue;
        };
        // A chunk allocated but not yet written here is not missing.
        if chunk.refs == 0 {
            continue;
        }
        t.replica_index.remove((cs_id, chunk_id)).io()?;
        {
            chunk.replicas.retain(|&c| c != cs_id);
            put_chunk(t, chunk_id, &chunk)?;
            tracing::warn!(
                cs_id,
                chunk_id,
                "replica missing on its chunk server: dropped from the map"
            );
        }
    }

    for (chunk_id, version) in range_cs(&t.replica_deletes, cs_id)? {
        t.replica_deletes.remove((cs_id, chunk_id)).io()?;
        if let Some(r) = reported.get(&chunk_id) {
            if r.version == version {
                deletes.insert(chunk_id, *r);
            }
        }
    }
    Ok(CommandReply::Reconciled {
        deletes: deletes.into_values().collect(),
        set_versions,
    })
}

/// Hands out and forgets the deletions queued for a CS.
pub(super) fn take_deletes(t: &mut Tables, cs_id: u32) -> Result<CommandReply, ClusterError> {
    let queued = range_cs(&t.replica_deletes, cs_id)?;
    let mut out = Vec::with_capacity(queued.len());
    for (chunk_id, version) in queued {
        t.replica_deletes.remove((cs_id, chunk_id)).io()?;
        out.push(ReplicaRef {
            chunk_id,
            version,
            length: 0,
        });
    }
    Ok(CommandReply::Deletes(out))
}
