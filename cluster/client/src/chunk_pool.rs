//! Chunks allocated ahead, a batch per MDS call, for the FUSE door's new
//! slot chunks: a small file written and closed then costs one MDS commit
//! for its data (CommitWrite) instead of two (AllocateChunk, CommitWrite).
//!
//! A chunk allocated here is an ordinary uncommitted chunk of the MDS: it
//! has a chain and no replica file until it is first written; the first
//! CommitWrite that names it takes the replicas and tier of its file. One
//! never committed is collected by the MDS after its uncommitted timeout
//! (an hour by default).
//!
//! Invariants:
//! * a chunk is handed out at most once (taken out of the pool under the
//!   lock);
//! * chunks are kept per (replicas, tier) of the file they were placed for,
//!   so a chunk's chain is as long as its file wants;
//! * a chunk older than [`MAX_AGE`] is never handed out: it would be
//!   placed on figures that old, and the MDS's uncommitted timeout must
//!   stay far away (`cairn mds --uncommitted-timeout` is at least a minute
//!   in practice; keep it above `MAX_AGE`).

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::node::ChunkLocation;

/// Chunks asked for per MDS call.
pub const BATCH: u32 = 32;

/// How long an allocated chunk waits in the pool at most.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Replicas and tier of the files a chunk may serve.
pub type PoolKey = (u32, u32);

#[derive(Debug, Default)]
pub(crate) struct ChunkPool {
    spare: Mutex<HashMap<PoolKey, VecDeque<(Instant, ChunkLocation)>>>,
}

impl ChunkPool {
    /// A fresh chunk for files of `key`, if one waits.
    pub(crate) fn take(&self, key: PoolKey, now: Instant) -> Option<ChunkLocation> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let queue = spare.get_mut(&key)?;
        while let Some((at, loc)) = queue.pop_front() {
            if now.saturating_duration_since(at) < MAX_AGE {
                return Some(loc);
            }
        }
        None
    }

    /// Keeps chunks allocated at `at` for files of `key`.
    pub(crate) fn put(&self, key: PoolKey, at: Instant, chunks: Vec<ChunkLocation>) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        spare
            .entry(key)
            .or_default()
            .extend(chunks.into_iter().map(|loc| (at, loc)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(id: u64) -> ChunkLocation {
        ChunkLocation {
            chunk_id: id,
            version: 1,
            length: 0,
            replicas: Vec::new(),
            shared: false,
            min_replicas: 0,
        }
    }

    #[test]
    fn hands_each_chunk_once_per_key_and_drops_old_ones() {
        let pool = ChunkPool::default();
        let t0 = Instant::now();
        pool.put((3, 0), t0, vec![loc(1), loc(2)]);
        pool.put((2, 0), t0, vec![loc(9)]);
        assert_eq!(pool.take((3, 0), t0).map(|l| l.chunk_id), Some(1));
        assert_eq!(pool.take((2, 0), t0).map(|l| l.chunk_id), Some(9));
        assert_eq!(pool.take((2, 0), t0), None);
        assert_eq!(pool.take((3, 1), t0), None);
        // Past MAX_AGE, what is left is not handed out.
        assert_eq!(pool.take((3, 0), t0 + MAX_AGE), None);
        pool.put((3, 0), t0 + MAX_AGE, vec![loc(3)]);
        assert_eq!(pool.take((3, 0), t0 + MAX_AGE).map(|l| l.chunk_id), Some(3));
    }
}
