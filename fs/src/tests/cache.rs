//! The read cache in the read path: blocks are served from the local disk
//! on the second read, in-place writes of this mount drop them, and the
//! bytes read are always the file's.

use std::sync::Arc;

use bytes::Bytes;

use crate::{cached::Cached, readcache::ReadCache, test_backend::TestCluster, Fs, FsOptions};

async fn read_all(fs: &Fs<Cached<TestCluster>>, ino: u64) -> Vec<u8> {
    let h = fs.open(ino, libc::O_RDONLY).await.unwrap();
    let mut out = Vec::new();
    loop {
        let piece = fs.read(h, out.len() as u64, 128 << 10).await.unwrap();
        if piece.is_empty() {
            break;
        }
        out.extend_from_slice(&piece);
    }
    fs.release(h).await.unwrap();
    out
}

/// A mount over a cluster cluster reading through a 64 MiB cache in `dir`.
fn cached_mount(dir: &std::path::Path) -> (Arc<ReadCache>, TestCluster, Fs<Cached<TestCluster>>) {
    let cache = Arc::new(ReadCache::open(dir, 64 << 20).unwrap());
    let cluster = TestCluster::with_chunks(4 << 20);
    let fs = Fs::new(
        Cached::new(cluster.clone(), cache.clone()),
        FsOptions::default(),
    );
    (cache, cluster, fs)
}

#[tokio::test]
async fn second_reads_hit_and_own_writes_invalidate() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _cluster, fs) = cached_mount(dir.path());
    let b = fs
        .mkdir(cairn_common::ROOT_INO, b"cached", 0o755, 0, 0)
        .await
        .unwrap();
    let data: Vec<u8> = (0..(3 << 20) + 100).map(|i: u32| (i % 251) as u8).collect();
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(data.clone())).await.unwrap();
    fs.release(h).await.unwrap();

    assert_eq!(read_all(&fs, f.ino).await, data);
    let first = cache.stats();
    assert!(first.misses >= 3, "{first:?}");
    assert!(
        first.used >= 3 << 20,
        "three whole blocks stored: {first:?}"
    );
    assert_eq!(read_all(&fs, f.ino).await, data);
    let second = cache.stats();
    assert!(second.hits >= first.hits + 3, "{second:?}");
    assert_eq!(second.misses, first.misses, "{second:?}");

    // An in-place write through this mount drops the chunk's blocks.
    let h = fs.open(f.ino, libc::O_WRONLY).await.unwrap();
    fs.write(h, (1 << 20) + 10, Bytes::from_static(b"NEW"))
        .await
        .unwrap();
    fs.release(h).await.unwrap();
    let mut want = data.clone();
    want[(1 << 20) + 10..(1 << 20) + 13].copy_from_slice(b"NEW");
    assert_eq!(read_all(&fs, f.ino).await, want);

    // A corrupted block on disk is detected and read again.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[100] ^= 0x55;
        std::fs::write(&p, bytes).unwrap();
    }
    assert_eq!(read_all(&fs, f.ino).await, want);
    assert!(cache.stats().corrupt >= 1);
}

#[tokio::test]
async fn another_mounts_in_place_write_is_never_served_stale() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, cluster, cached) = cached_mount(dir.path());
    let other = Fs::new(cluster.clone(), FsOptions::default());
    let b = other
        .mkdir(cairn_common::ROOT_INO, b"shared", 0o755, 0, 0)
        .await
        .unwrap();
    let data: Vec<u8> = (0..(2 << 20)).map(|i: u32| (i % 241) as u8).collect();
    let (f, h) = other.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    other.write(h, 0, Bytes::from(data.clone())).await.unwrap();
    other.release(h).await.unwrap();

    // Read twice through the caching mount: the second read is all hits.
    assert_eq!(read_all(&cached, f.ino).await, data);
    assert_eq!(read_all(&cached, f.ino).await, data);
    let warm = cache.stats();
    assert!(warm.hits >= 2, "{warm:?}");

    // The other mount overwrites bytes in place (same chunk, same
    // version): the caching mount reads the new bytes.
    let h = other.open(f.ino, libc::O_WRONLY).await.unwrap();
    other
        .write(h, 1000, Bytes::from_static(b"CHANGED"))
        .await
        .unwrap();
    other.release(h).await.unwrap();
    let mut want = data.clone();
    want[1000..1007].copy_from_slice(b"CHANGED");
    assert_eq!(read_all(&cached, f.ino).await, want);
    assert!(cache.stats().misses > warm.misses, "{:?}", cache.stats());
}
