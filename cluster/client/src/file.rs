//! Writes at any offset of an existing file: the data path of the FUSE door.
//!
//! A [`FileWriter`] belongs to one inode while it is open for writing. Each
//! call to [`FileWriter::write`] sends a batch of byte ranges: bytes that the
//! file's layout already maps are overwritten in place in their chunk (on
//! every live replica, through the chain), unless a copy shares that chunk;
//! other bytes go to the file's slot chunks (see [`crate::layout`]). The batch returns the new extents, which
//! the caller commits with [`crate::Client::commit_write`]; until then the
//! bytes written into slot chunks are invisible to other readers.
//!
//! Invariants:
//! * when `write` returns Ok, every live replica of every chunk it touched
//!   holds the batch's bytes (in the CS's memory or on disk; on stable
//!   storage only if `sync` was asked or [`FileWriter::sync`] later returns
//!   Ok);
//! * `sync` returns Ok only when every chunk written since the last
//!   successful sync is on stable storage on each of its live replicas;
//! * a chunk that another file or upload part names (`shared`) is never
//!   written: a copy made by CopyObject keeps its bytes. In a versioned
//!   bucket the MDS answers every committed chunk of the file `shared` to
//!   its writer (`locate_for_write`): a commit may keep the content before
//!   as a version, whose bytes must not change under it;
//! * a slot chunk, once allocated, keeps serving its slot for the life of
//!   the writer (so repeated writes to a slot never allocate twice), unless
//!   a copy comes to share it.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use cairn_common::ClusterError;

use crate::{
    chain::ChunkWrite,
    chunk_pool::PoolKey,
    layout::{plan_write, ChunkTarget},
    node::{ChunkLocation, Extent},
    writer::WrittenData,
    Client,
};

/// One contiguous run of bytes bound for one chunk.
struct Run {
    chunk_offset: u64,
    len: u64,
    data: Vec<Bytes>,
}

/// What a write commit sets besides the extents (`Client::commit_write`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Commit<'a> {
    pub size: u64,
    /// Empty: the ETag is stale.
    pub etag: &'a str,
    pub mtime_ns: i64,
    /// `true`: the extents are the whole new layout.
    pub replace_layout: bool,
    /// In a versioned bucket, the version this writer's window made (empty:
    /// none): still current, the write changes it; else a new version is
    /// made and the content before is kept.
    pub continues_version: &'a str,
    /// Attributes set on the open file since its last commit.
    pub attrs: FoldedAttrs,
}

/// Attributes set on an open file being written (chmod, chown, utimens),
/// carried by its next commit instead of calls of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldedAttrs {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime_ns: Option<i64>,
}

impl FoldedAttrs {
    pub fn is_empty(&self) -> bool {
        *self == FoldedAttrs::default()
    }
}

/// Writes at any offset into one file's chunks.
pub struct FileWriter {
    client: Client,
    ino: u64,
    /// Slot chunks allocated by this writer: slot -> current location.
    slots: HashMap<u64, ChunkLocation>,
    /// Chunks written since the last sync, with the location the write
    /// left them at (a replica dropped during the write bumps the version).
    unsynced: HashMap<u64, ChunkLocation>,
    /// The file's (replicas, tier): which chunks of the pool fit it.
    pool_key: PoolKey,
}

impl Client {
    /// Locations (version, length, replicas) of chunks, from the client's
    /// location cache where fresh: what a read cache keys its blocks by.
    pub async fn cached_locations(&self, ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.inner.prefetch_locations(ids).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.inner.locate(*id).await?);
        }
        Ok(out)
    }

    /// A writer for file `ino` (whose replicas/tier attributes new chunks
    /// take).
    /// A writer of file `ino`, whose replicas and tier are `replicas` and
    /// `tier`: its new chunks come from the client's pool of chunks
    /// allocated ahead (see `chunk_pool`).
    pub fn file_writer(&self, ino: u64, replicas: u32, tier: u32) -> FileWriter {
        FileWriter {
            client: self.clone(),
            ino,
            slots: HashMap::new(),
            unsynced: HashMap::new(),
            pool_key: (replicas, tier),
        }
    }
}

/// Appends `data` to the runs of a chunk, continuing the last run when the
/// bytes follow it and it has room.
fn push_run(runs: &mut Vec<Run>, chunk_offset: u64, data: Bytes) {
    let len = data.len() as u64;
    if let Some(last) = runs.last_mut() {
        if last.chunk_offset + last.len == chunk_offset
            && last.len + len <= crate::chain::PIECE_BYTES as u64
        {
            last.len += len;
            last.data.push(data);
            return;
        }
    }
    runs.push(Run {
        chunk_offset,
        len,
        data: vec![data],
    });
}

impl FileWriter {
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Whether chunks were written since the last successful sync.
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// Writes `segments` (file offset, bytes; non-overlapping) against
    /// `layout`, the file's committed extents. With `sync`, the touched
    /// chunks are on stable storage on every live replica when this returns.
    /// Returns the extents to commit (slot chunks only: in-place bytes are
    /// already mapped) and the chunk lengths reached; `size` and `md5_hex`
    /// of the result are left for the caller.
    pub async fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        sync: bool,
    ) -> Result<WrittenData, ClusterError> {
        let chunk_size = self.client.chunk_size();
        let mut sorted = segments;
        sorted.sort_by_key(|(off, _)| *off);

        // Fresh locations of the chunks this batch may write into: those
        // it overwrites in place (a cached, stale version would make healthy
        // replicas look failed) and our slot chunks. They also tell which
        // chunks a copy shares: those are written as holes instead (copy on
        // write), and a shared slot chunk is no longer ours to fill.
        let mut candidates: Vec<u64> = self.slots.values().map(|l| l.chunk_id).collect();
        for (offset, data) in &sorted {
            for p in plan_write(layout, chunk_size, *offset, data.len() as u64, |_| false) {
                if let ChunkTarget::Existing(id) = p.target {
                    candidates.push(id);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut located: HashMap<u64, ChunkLocation> = HashMap::new();
        if !candidates.is_empty() {
            for loc in self.client.locate_for_write(self.ino, &candidates).await? {
                located.insert(loc.chunk_id, loc);
            }
        }
        let shared: HashSet<u64> = located
            .values()
            .filter(|l| l.shared)
            .map(|l| l.chunk_id)
            .collect();
        self.slots.retain(|_, loc| !shared.contains(&loc.chunk_id));

        let mut per_chunk: BTreeMap<ChunkTarget, Vec<Run>> = BTreeMap::new();
        let mut new_extents: Vec<(ChunkTarget, Extent)> = Vec::new();
        for (offset, data) in sorted {
            let plan = plan_write(layout, chunk_size, offset, data.len() as u64, |id| {
                shared.contains(&id)
            });
            for p in plan {
                let from = (p.file_offset - offset) as usize;
                let piece = data.slice(from..from + p.len as usize);
                push_run(
                    per_chunk.entry(p.target).or_default(),
                    p.chunk_offset,
                    piece,
                );
                if let ChunkTarget::Slot(_) = p.target {
                    new_extents.push((
                        p.target,
                        Extent {
                            file_offset: p.file_offset,
                            chunk_id: 0,
                            chunk_offset: p.chunk_offset,
                            length: p.len,
                        },
                    ));
                }
            }
        }
        if per_chunk.is_empty() {
            return Ok(WrittenData::default());
        }

        let mut locations: HashMap<ChunkTarget, (ChunkLocation, bool)> = HashMap::new();
        for target in per_chunk.keys() {
            if let ChunkTarget::Existing(id) = target {
                let loc = located
                    .get(id)
                    .cloned()
                    .ok_or_else(|| ClusterError::Io(format!("the MDS does not know chunk {id}")))?;
                if loc.replicas.is_empty() {
                    return Err(ClusterError::Io(format!("chunk {id} has no live replica")));
                }
                locations.insert(*target, (loc, false));
            }
        }
        for target in per_chunk.keys() {
            if let ChunkTarget::Slot(slot) = target {
                let loc = match self.slots.get(slot) {
                    Some(loc) => loc.clone(),
                    None => {
                        let loc = self
                            .client
                            .inner
                            .pooled_chunk(self.ino, self.pool_key)
                            .await?;
                        self.slots.insert(*slot, loc.clone());
                        loc
                    }
                };
                // A slot chunk is ours: its replicas may not exist yet.
                locations.insert(*target, (loc, true));
            }
        }

        // Every chunk at once; each chain keeps a few pieces in flight.
        let mut lengths: HashMap<u64, u64> = HashMap::new();
        let mut jobs = Vec::with_capacity(per_chunk.len());
        for (target, runs) in per_chunk {
            let Some((loc, create)) = locations.remove(&target) else {
                return Err(ClusterError::Io(format!("no location for {target:?}")));
            };
            let high = runs
                .iter()
                .map(|r| r.chunk_offset + r.len)
                .max()
                .unwrap_or(0);
            lengths.insert(loc.chunk_id, high);
            let inner = self.client.inner.clone();
            jobs.push(async move {
                let mut write = ChunkWrite::new(inner, loc, create);
                for run in runs {
                    write.write_at(run.chunk_offset, run.data, false).await?;
                }
                let loc = write.finish(sync).await?;
                Ok::<_, ClusterError>((target, loc))
            });
        }
        let mut first_error = None;
        for result in futures::future::join_all(jobs).await {
            match result {
                Ok((target, loc)) => {
                    if let ChunkTarget::Slot(slot) = target {
                        self.slots.insert(slot, loc.clone());
                    }
                    if sync {
                        self.unsynced.remove(&loc.chunk_id);
                    } else {
                        self.unsynced.insert(loc.chunk_id, loc);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }

        let extents = cairn_common::extent::merge(
            new_extents
                .into_iter()
                .filter_map(|(target, mut e)| match target {
                    ChunkTarget::Slot(slot) => self.slots.get(&slot).map(|loc| {
                        e.chunk_id = loc.chunk_id;
                        e
                    }),
                    ChunkTarget::Existing(_) => None,
                })
                .collect(),
        );
        let mut chunk_lengths: Vec<(u64, u64)> = lengths.into_iter().collect();
        chunk_lengths.sort_unstable();
        Ok(WrittenData {
            size: 0,
            md5_hex: String::new(),
            extents,
            chunk_lengths,
        })
    }

    /// Forgets the chunks that `layout` no longer holds: the MDS frees a
    /// chunk when the last extent on it goes (a truncate), so a slot chunk
    /// cut away must be allocated anew, and has nothing left to sync.
    pub fn retain_chunks(&mut self, layout: &[Extent]) {
        let live: std::collections::HashSet<u64> = layout.iter().map(|e| e.chunk_id).collect();
        self.slots.retain(|_, loc| live.contains(&loc.chunk_id));
        self.unsynced.retain(|id, _| live.contains(id));
    }

    /// Forces every chunk written since the last sync to stable storage on
    /// each of its live replicas.
    pub async fn sync(&mut self) -> Result<(), ClusterError> {
        let pending: Vec<ChunkLocation> = self.unsynced.values().cloned().collect();
        let jobs = pending.into_iter().map(|loc| {
            let inner = self.client.inner.clone();
            async move { ChunkWrite::new(inner, loc, false).finish(true).await }
        });
        let mut first_error = None;
        for result in futures::future::join_all(jobs).await {
            match result {
                Ok(loc) => {
                    self.unsynced.remove(&loc.chunk_id);
                    for slot_loc in self.slots.values_mut() {
                        if slot_loc.chunk_id == loc.chunk_id {
                            *slot_loc = loc.clone();
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
