//! Chunks: allocation (one chunk, or a batch for the pool), the cache of
//! chunk locations, the order a reader tries replicas in, and reports of
//! bad replicas.

use std::{sync::Arc, time::Instant};

use cairn_common::ClusterError;
use cairn_proto as pb;
use tracing::warn;

use crate::{chunk_pool, reader, retry::Retry, ChunkLocation, Client, CsAddr, Inner, LOCATION_TTL};

impl Client {
    /// Current locations of chunks (bypassing the cache).
    pub async fn locate(&self, chunk_ids: &[u64]) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.inner.locate_many(chunk_ids, 0).await
    }

    /// [`Client::locate`] for a writer of file `ino`: chunks a kept
    /// version may hold are answered `shared` (see `file`).
    pub async fn locate_for_write(
        &self,
        ino: u64,
        chunk_ids: &[u64],
    ) -> Result<Vec<ChunkLocation>, ClusterError> {
        self.inner.locate_many(chunk_ids, ino).await
    }
}

/// A chunk the MDS allocated, refused when it came without a replica (no
/// chunk server had room).
fn placed(loc: ChunkLocation) -> Result<ChunkLocation, ClusterError> {
    if loc.replicas.is_empty() {
        return Err(ClusterError::NoSpace(format!(
            "the MDS allocated chunk {} with no replica",
            loc.chunk_id
        )));
    }
    Ok(loc)
}

impl Inner {
    /// A new chunk for a file of `key` (its replicas and tier) from the
    /// pool, which is refilled with one MDS call (see `chunk_pool`) on
    /// behalf of `attr_ino` when empty.
    pub(crate) async fn pooled_chunk(
        &self,
        attr_ino: u64,
        key: chunk_pool::PoolKey,
    ) -> Result<ChunkLocation, ClusterError> {
        if let Some(loc) = self.pool.take(key, Instant::now()) {
            return Ok(loc);
        }
        let at = Instant::now();
        let req = pb::AllocateChunksRequest {
            ino: attr_ino,
            client_host: self.host.clone(),
            count: chunk_pool::BATCH,
            avoid: self.suspects.list(Instant::now()),
        };
        // Not retried, as allocate_chunk.
        let reply = self
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move {
                m.allocate_chunks(r).await
            })
            .await?;
        let mut chunks = reply
            .chunks
            .into_iter()
            .map(|c| placed(c.into()))
            .collect::<Result<Vec<_>, _>>()?;
        if chunks.is_empty() {
            return Err(ClusterError::Io("the MDS allocated no chunk".into()));
        }
        let first = chunks.remove(0);
        self.pool.put(key, at, chunks);
        Ok(first)
    }

    /// A new chunk placed for `attr_ino` (its replicas and tier), with one
    /// MDS call of its own.
    pub(crate) async fn allocate_chunk(
        &self,
        attr_ino: u64,
    ) -> Result<ChunkLocation, ClusterError> {
        let req = pb::AllocateChunkRequest {
            ino: attr_ino,
            client_host: self.host.clone(),
            avoid: self.suspects.list(Instant::now()),
        };
        // Not retried: a lost answer leaves an unused chunk, which the MDS
        // collects; a retry would only allocate another.
        let loc = self
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move {
                m.allocate_chunk(r).await
            })
            .await?;
        placed(loc.into())
    }

    async fn locate_many(
        &self,
        ids: &[u64],
        writer_ino: u64,
    ) -> Result<Vec<ChunkLocation>, ClusterError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let req = pb::LocateChunksRequest {
            chunk_ids: ids.to_vec(),
            writer_ino,
        };
        let reply = self
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.locate_chunks(r).await
            })
            .await?;
        let locs: Vec<ChunkLocation> = reply.chunks.into_iter().map(ChunkLocation::from).collect();
        if let Ok(mut cache) = self.locations.lock() {
            let now = Instant::now();
            for l in &locs {
                cache.insert(l.chunk_id, (now, l.clone()));
            }
            if cache.len() > 100_000 {
                cache.retain(|_, (t, _)| now.duration_since(*t) < LOCATION_TTL);
            }
        }
        Ok(locs)
    }

    /// Fills the location cache for chunks not cached yet, in one call.
    pub(crate) async fn prefetch_locations(&self, ids: &[u64]) -> Result<(), ClusterError> {
        let missing: Vec<u64> = match self.locations.lock() {
            Ok(cache) => ids
                .iter()
                .copied()
                .filter(|id| {
                    cache
                        .get(id)
                        .is_none_or(|(t, _)| t.elapsed() >= LOCATION_TTL)
                })
                .collect(),
            Err(_) => ids.to_vec(),
        };
        for batch in missing.chunks(1000) {
            self.locate_many(batch, 0).await?;
        }
        Ok(())
    }

    pub(crate) async fn locate(&self, id: u64) -> Result<ChunkLocation, ClusterError> {
        if let Ok(cache) = self.locations.lock() {
            if let Some((t, loc)) = cache.get(&id) {
                if t.elapsed() < LOCATION_TTL {
                    return Ok(loc.clone());
                }
            }
        }
        self.locate_many(&[id], 0)
            .await?
            .into_iter()
            .find(|l| l.chunk_id == id)
            .ok_or_else(|| ClusterError::Io(format!("the MDS does not know chunk {id}")))
    }

    pub(crate) fn forget_location(&self, id: u64) {
        if let Ok(mut cache) = self.locations.lock() {
            cache.remove(&id);
        }
    }

    /// Puts a location a write just learnt from the MDS in the cache, as
    /// if just located.
    pub(crate) fn remember_location(&self, loc: &ChunkLocation) {
        if let Ok(mut cache) = self.locations.lock() {
            cache.insert(loc.chunk_id, (Instant::now(), loc.clone()));
        }
    }

    /// A replica of chunk `id` could not be reached: it becomes a suspect,
    /// and the cached location lists it last, so that the next readers of
    /// the chunk go elsewhere first.
    pub(crate) fn cs_unreachable(&self, id: u64, cs_id: u32) {
        self.suspects.mark(cs_id, Instant::now());
        if let Ok(mut cache) = self.locations.lock() {
            if let Some((_, loc)) = cache.get_mut(&id) {
                if let Some(pos) = loc.replicas.iter().position(|c| c.cs_id == cs_id) {
                    let cs = loc.replicas.remove(pos);
                    loc.replicas.push(cs);
                }
            }
        }
    }

    /// Replicas in the order a reader should try them: the caller's host
    /// first, then the MDS's order (lowest cost first), and suspects (not
    /// reached lately) last of all. When no replica is on the caller's
    /// host the `index`-th segment of a read starts on a different replica
    /// than its neighbours, so that a large read spreads over every
    /// replica.
    pub(crate) fn replica_order_for(&self, loc: &ChunkLocation, index: usize) -> Vec<CsAddr> {
        let mut order = loc.replicas.clone();
        if !order.is_empty() && order.iter().all(|c| c.host != self.host) {
            let n = order.len();
            order.rotate_left(index % n);
        }
        let now = Instant::now();
        order.sort_by_key(|c| (self.suspects.is_suspect(c.cs_id, now), c.host != self.host));
        order
    }

    /// Tells the MDS, in the background, that a replica returned bad data.
    /// The report must not hold up the read; its outcome only matters to
    /// healing, which also finds bad replicas by scrubbing.
    pub(crate) fn report_bad_replica(
        self: &Arc<Self>,
        loc: &ChunkLocation,
        cs_id: u32,
        status: &tonic::Status,
    ) {
        if !reader::is_bad_replica(status) {
            return;
        }
        warn!(chunk = loc.chunk_id, cs = cs_id, error = %status.message(), "reporting bad replica");
        let req = pb::ReportBadReplicaRequest {
            chunk_id: loc.chunk_id,
            version: loc.version,
            cs_id,
            reason: status.message().to_string(),
        };
        let inner = self.clone();
        tokio::spawn(async move {
            let res = inner
                .mds
                .metadata(Retry::Once, req, |mut m, r| async move {
                    m.report_bad_replica(r).await
                })
                .await;
            if let Err(e) = res {
                warn!(error = %e, "could not report a bad replica");
            }
        });
    }
}
