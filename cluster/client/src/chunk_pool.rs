//! Chunks allocated ahead, a batch per MDS call, for new chunks of both
//! doors: a small file written and closed then costs one MDS commit for its
//! data (CommitWrite) instead of two (AllocateChunk, CommitWrite), and an
//! S3 PUT one (PutKey) instead of two (AllocateChunk, PutKey).
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
//! * chunks are kept per [`PoolKey`]: the (replicas, tier) of the file
//!   they were placed for, or the inode (a bucket) whose new objects take them, so
//!   a chunk's chain is as long as its file wants;
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

/// Which new chunks a pooled chunk may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKey {
    /// Chunks of files with these replicas and tier (the FUSE door).
    Attrs { replicas: u32, tier: u32 },
    /// Chunks placed for this inode (the bucket of new objects, or the file
    /// of a stream), which decides their replicas and tier (the S3 door).
    Inode(u64),
}

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
        }
    }

    #[test]
    fn hands_each_chunk_once_per_key_and_drops_old_ones() {
        let pool = ChunkPool::default();
        let t0 = Instant::now();
        let attrs = |replicas, tier| PoolKey::Attrs { replicas, tier };
        pool.put(attrs(3, 0), t0, vec![loc(1), loc(2)]);
        pool.put(attrs(2, 0), t0, vec![loc(9)]);
        pool.put(PoolKey::Inode(7), t0, vec![loc(5)]);
        assert_eq!(pool.take(attrs(3, 0), t0).map(|l| l.chunk_id), Some(1));
        assert_eq!(pool.take(attrs(2, 0), t0).map(|l| l.chunk_id), Some(9));
        assert_eq!(pool.take(attrs(2, 0), t0), None);
        assert_eq!(pool.take(attrs(3, 1), t0), None);
        assert_eq!(pool.take(PoolKey::Inode(8), t0), None);
        assert_eq!(
            pool.take(PoolKey::Inode(7), t0).map(|l| l.chunk_id),
            Some(5)
        );
        // Past MAX_AGE, what is left is not handed out.
        assert_eq!(pool.take(attrs(3, 0), t0 + MAX_AGE), None);
        pool.put(attrs(3, 0), t0 + MAX_AGE, vec![loc(3)]);
        assert_eq!(
            pool.take(attrs(3, 0), t0 + MAX_AGE).map(|l| l.chunk_id),
            Some(3)
        );
    }
}
