//! The client read cache on a local fast disk, as PCS keeps one on each
//! node's SSD: recently read blocks of chunks, one file per block, keyed
//! by chunk id, chunk version, the stamp of the file read and block index.
//!
//! Invariants:
//! * a block is stored only if it lies wholly below the chunk's length when
//!   it was read, so a chunk that grows later (a writer appending into it)
//!   never leaves a cached block with zeros where data now is;
//! * each block file starts with the CRC32C of its bytes; a block whose
//!   checksum does not match when it is used is dropped and read from the
//!   cluster (a miss, counted as corrupt);
//! * a chunk whose replica set changes gets a new version, so its old
//!   blocks are never found again; blocks of chunks this mount writes are
//!   dropped at the write's commit (in-place writes keep the version);
//! * a chunk written in place by *another* client is found under a new
//!   stamp: the stamp is the change time (ctime) of the file read, which
//!   the MDS moves on at every committed write and no client can set, and
//!   a chunk is written in place only through the one file that refers to
//!   it (shared chunks take writes into new chunks). So once this mount
//!   sees the file's new attributes (within the attribute timeout) the old
//!   blocks are never found again;
//! * the files held never exceed the capacity (least recently used go
//!   first).

use std::{
    collections::{BTreeMap, HashMap},
    io,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
};

use bytes::Bytes;

/// Size of a cached block (the unit read from the cluster on a miss).
pub const CACHE_BLOCK: u64 = 1 << 20;

/// Suffix of block files; other files in the directory are left alone.
const SUFFIX: &str = ".blk";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockKey {
    pub chunk_id: u64,
    pub version: u64,
    /// Change time (ns) of the file the block was read through.
    pub stamp: i64,
    pub block: u64,
}

/// Counters of the cache, for the mount's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Blocks dropped because their checksum did not match.
    pub corrupt: u64,
    pub used: u64,
    pub capacity: u64,
}

impl CacheStats {
    /// Hits over lookups, 0 when nothing was looked up.
    pub fn hit_rate(&self) -> f64 {
        let all = self.hits + self.misses;
        if all == 0 {
            0.0
        } else {
            self.hits as f64 / all as f64
        }
    }
}

#[derive(Default)]
struct State {
    /// Block -> (bytes on disk, last use).
    blocks: HashMap<BlockKey, (u64, u64)>,
    /// Last use -> block: the eviction order.
    lru: BTreeMap<u64, BlockKey>,
    used: u64,
    tick: u64,
    /// Bumped by each invalidation of a chunk: a block read before it must
    /// not be stored after it.
    epochs: HashMap<u64, u64>,
}

impl State {
    fn touch(&mut self, key: BlockKey) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, last)) = self.blocks.get_mut(&key) {
            self.lru.remove(last);
            *last = tick;
            self.lru.insert(tick, key);
        }
    }

    /// Records a stored block and returns the blocks to evict to stay
    /// within `capacity`.
    fn admit(&mut self, key: BlockKey, len: u64, capacity: u64) -> Vec<BlockKey> {
        self.forget(&key);
        self.tick += 1;
        let tick = self.tick;
        self.blocks.insert(key, (len, tick));
        self.lru.insert(tick, key);
        self.used += len;
        let mut out = Vec::new();
        while self.used > capacity {
            let Some((_, victim)) = self.lru.pop_first() else {
                break;
            };
            if let Some((l, _)) = self.blocks.remove(&victim) {
                self.used -= l;
            }
            out.push(victim);
        }
        out
    }

    fn forget(&mut self, key: &BlockKey) -> bool {
        match self.blocks.remove(key) {
            Some((len, last)) => {
                self.lru.remove(&last);
                self.used -= len;
                true
            }
            None => false,
        }
    }
}

pub struct ReadCache {
    dir: PathBuf,
    capacity: u64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
}

fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    out.extend_from_slice(&crc32c::crc32c(data).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// The block's bytes if its checksum holds.
fn decode(file: Vec<u8>) -> Option<Bytes> {
    let (head, data) = file.split_at_checked(4)?;
    let want = u32::from_le_bytes(head.try_into().ok()?);
    (crc32c::crc32c(data) == want).then(|| Bytes::copy_from_slice(data))
}

impl ReadCache {
    /// A cache of at most `capacity` bytes in `dir` (created if missing).
    /// Blocks left by an earlier mount are removed: their index is gone.
    pub fn open(dir: &Path, capacity: u64) -> io::Result<ReadCache> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(SUFFIX) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(ReadCache {
            dir: dir.to_path_buf(),
            capacity,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, key: &BlockKey) -> PathBuf {
        self.dir.join(format!(
            "{:016x}-{:x}-{:x}-{:x}{SUFFIX}",
            key.chunk_id, key.version, key.stamp, key.block
        ))
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            used: self.lock().used,
            capacity: self.capacity,
        }
    }

    /// The block, verified, or None (a miss).
    pub async fn get(&self, key: BlockKey) -> Option<Bytes> {
        if !self.lock().blocks.contains_key(&key) {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let path = self.path(&key);
        let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
        match read.ok().and_then(Result::ok).and_then(decode) {
            Some(data) => {
                self.lock().touch(key);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(data)
            }
            None => {
                tracing::warn!(
                    chunk = key.chunk_id,
                    block = key.block,
                    "cached block failed its checksum; dropped"
                );
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                self.remove(key).await;
                None
            }
        }
    }

    /// The invalidation epoch of a chunk: take it before reading a block
    /// from the cluster, hand it to [`ReadCache::put`].
    pub fn epoch(&self, chunk_id: u64) -> u64 {
        self.lock().epochs.get(&chunk_id).copied().unwrap_or(0)
    }

    /// Stores a block read at `epoch`, unless the chunk was invalidated
    /// since; a failure to write only costs the cache.
    pub async fn put(&self, key: BlockKey, data: Bytes, epoch: u64) {
        if self.epoch(key.chunk_id) != epoch {
            return;
        }
        let len = data.len() as u64 + 4;
        if len > self.capacity {
            return;
        }
        let path = self.path(&key);
        let tmp = path.with_extension("tmp");
        let written = tokio::task::spawn_blocking(move || {
            std::fs::write(&tmp, encode(&data))?;
            std::fs::rename(&tmp, &path)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::debug!(chunk = key.chunk_id, "could not store a cached block");
            return;
        }
        let evict: Option<Vec<BlockKey>> = {
            let mut st = self.lock();
            if st.epochs.get(&key.chunk_id).copied().unwrap_or(0) != epoch {
                None
            } else {
                Some(st.admit(key, len, self.capacity))
            }
        };
        let Some(evict) = evict else {
            // Invalidated while it was written: not ours to keep.
            let _ = tokio::fs::remove_file(self.path(&key)).await;
            return;
        };
        for victim in evict {
            let _ = tokio::fs::remove_file(self.path(&victim)).await;
        }
    }

    async fn remove(&self, key: BlockKey) {
        if self.lock().forget(&key) {
            let _ = tokio::fs::remove_file(self.path(&key)).await;
        }
    }

    /// Drops every block of `chunk_id` (this mount wrote into it).
    pub async fn invalidate_chunk(&self, chunk_id: u64) {
        let keys: Vec<BlockKey> = {
            let mut st = self.lock();
            *st.epochs.entry(chunk_id).or_default() += 1;
            st.blocks
                .keys()
                .filter(|k| k.chunk_id == chunk_id)
                .copied()
                .collect()
        };
        for k in keys {
            self.remove(k).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(chunk_id: u64, block: u64) -> BlockKey {
        BlockKey {
            chunk_id,
            version: 1,
            stamp: 7,
            block,
        }
    }

    #[tokio::test]
    async fn hits_misses_eviction_and_checksums() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.blk"), b"stale").unwrap();
        std::fs::write(dir.path().join("keep.txt"), b"not ours").unwrap();
        let cache = ReadCache::open(dir.path(), 3 * 104).unwrap();
        assert!(!dir.path().join("old.blk").exists());
        assert!(dir.path().join("keep.txt").exists());

        assert_eq!(cache.get(key(1, 0)).await, None);
        cache.put(key(1, 0), Bytes::from(vec![1u8; 100]), 0).await;
        cache.put(key(2, 0), Bytes::from(vec![2u8; 100]), 0).await;
        cache.put(key(3, 0), Bytes::from(vec![3u8; 100]), 0).await;
        assert_eq!(cache.get(key(1, 0)).await.unwrap(), vec![1u8; 100]);
        // A fourth block evicts the least recently used: block 2.
        cache.put(key(4, 0), Bytes::from(vec![4u8; 100]), 0).await;
        assert_eq!(cache.get(key(2, 0)).await, None);
        assert!(cache.get(key(1, 0)).await.is_some());
        let st = cache.stats();
        assert!(st.used <= st.capacity);
        assert_eq!((st.hits, st.misses), (2, 2));
        assert!((st.hit_rate() - 0.5).abs() < 1e-9);

        // Another version of the chunk is another block.
        let newer = BlockKey {
            version: 2,
            ..key(1, 0)
        };
        assert_eq!(cache.get(newer).await, None);
        // So is the chunk read through a file changed since.
        let changed = BlockKey {
            stamp: 8,
            ..key(1, 0)
        };
        assert_eq!(cache.get(changed).await, None);

        // A corrupted block file is dropped, never served.
        let path = cache.path(&key(3, 0));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(cache.get(key(3, 0)).await, None);
        assert_eq!(cache.stats().corrupt, 1);
        assert!(!path.exists());

        // A block read before an invalidation is not stored after it.
        let epoch = cache.epoch(1);
        cache.invalidate_chunk(1).await;
        assert_eq!(cache.get(key(1, 0)).await, None);
        cache
            .put(key(1, 1), Bytes::from(vec![9u8; 10]), epoch)
            .await;
        assert_eq!(cache.get(key(1, 1)).await, None);
        cache
            .put(key(1, 1), Bytes::from(vec![9u8; 10]), cache.epoch(1))
            .await;
        assert!(cache.get(key(1, 1)).await.is_some());
    }
}
