//! Queued unlinks (`unlinks`): answered from the entry cache, sent in
//! batches, never removing a file made since under the same name, and
//! settled before any other namespace call of the mount.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{bucket, made_elsewhere, small_fs_with};
use crate::{attr::TTL, backend::Backend, test_backend::TestCluster, Fs};

fn cached_fs() -> (Fs<TestCluster>, TestCluster) {
    small_fs_with(TTL)
}

/// (one-by-one unlink calls, batch calls) the mount sent.
fn unlink_calls(cluster: &TestCluster) -> (u64, u64) {
    let f = &cluster.faults;
    (
        f.unlinks.load(Ordering::SeqCst),
        f.unlink_batches.load(Ordering::SeqCst),
    )
}

/// Files `f0..fN` of 4 bytes in a new directory `d` of a new bucket,
/// looked up (as the kernel does before each unlink) so that a page holds
/// them. Returns the inodes of the bucket and of `d`.
async fn files(fs: &Fs<TestCluster>, n: usize) -> (u64, u64) {
    let b = bucket(fs, "unlinks").await;
    let dir = fs.mkdir(b.ino, b"d", 0o755, 0, 0).await.unwrap();
    for i in 0..n {
        let (_, fh) = fs
            .create(
                dir.ino,
                format!("f{i}").as_bytes(),
                0o644,
                0,
                0,
                libc::O_WRONLY,
            )
            .await
            .unwrap();
        fs.write(fh, 0, Bytes::from_static(b"body")).await.unwrap();
        fs.flush(fh).await.unwrap();
        fs.release(fh).await.unwrap();
    }
    tokio::time::advance(TTL).await;
    for i in 0..n {
        fs.lookup(dir.ino, format!("f{i}").as_bytes())
            .await
            .unwrap();
    }
    (b.ino, dir.ino)
}

#[tokio::test(start_paused = true)]
async fn unlinks_known_here_are_answered_at_once_and_sent_in_batches() {
    let (fs, cluster) = cached_fs();
    let n = 300;
    let (b, dir) = files(&fs, n).await;
    for i in 0..n {
        fs.unlink(dir, format!("f{i}").as_bytes()).await.unwrap();
    }
    // Gone for the mount at once, before the MDS has them all.
    assert_eq!(
        fs.lookup(dir, b"f7").await.unwrap_err().errno(),
        libc::ENOENT
    );
    // Any other namespace call waits for the queue: the directory lists
    // empty and can be removed at once (no ENOTEMPTY).
    let fh = fs.opendir(dir).await.unwrap();
    let names: Vec<_> = fs
        .readdir(fh, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != b"." && n != b"..")
        .collect();
    assert!(names.is_empty(), "left after unlinks: {names:?}");
    fs.releasedir(fh).unwrap();
    fs.rmdir(b, b"d").await.unwrap();
    let (one_by_one, batches) = unlink_calls(&cluster);
    assert_eq!(one_by_one, 0, "every unlink was queued");
    assert!(
        (1..=n as u64 / 2).contains(&batches),
        "{batches} batch calls for {n} unlinks"
    );
    assert_eq!(fs.stats().queued_unlinks, n as u64);
    assert_eq!(fs.stats().refused_unlinks, 0);
}

#[tokio::test(start_paused = true)]
async fn a_queued_unlink_never_removes_a_file_made_since() {
    let (fs, cluster) = cached_fs();
    let (_, dir) = files(&fs, 1).await;
    let old = cluster.lookup(dir, b"f0").await.unwrap();
    fs.unlink(dir, b"f0").await.unwrap();
    // Before the queue is sent, S3 deletes the object and PUTs a new one
    // under the same key.
    cluster.unlink(dir, b"f0").await.unwrap();
    let new = made_elsewhere(&cluster, dir, b"f0").await;
    assert_ne!(new.ino, old.ino);
    fs.sync_metadata().await.unwrap();
    let (_, batches) = unlink_calls(&cluster);
    assert_eq!(batches, 1, "the queued unlink was sent");
    // The unlink meant the old file: the new one stays, and that is no
    // failure.
    assert_eq!(cluster.lookup(dir, b"f0").await.unwrap().ino, new.ino);
    assert_eq!(fs.stats().refused_unlinks, 0);
}

#[tokio::test(start_paused = true)]
async fn a_queued_unlink_the_mds_cannot_make_shows_the_file_again() {
    let (fs, cluster) = cached_fs();
    let (_, dir) = files(&fs, 2).await;
    fs.unlink(dir, b"f0").await.unwrap();
    cluster.faults.down.store(true, Ordering::SeqCst);
    // The next call to the MDS sends the queue first; the MDS is gone.
    assert_eq!(fs.sync_metadata().await.unwrap_err().errno(), libc::EIO);
    assert_eq!(fs.stats().refused_unlinks, 1);
    cluster.faults.down.store(false, Ordering::SeqCst);
    // The file stays, and the mount shows it again.
    assert!(fs.lookup(dir, b"f0").await.is_ok());
    // For a while, unlinks wait for the MDS again: they answer its error.
    fs.lookup(dir, b"f1").await.unwrap();
    cluster.faults.down.store(true, Ordering::SeqCst);
    assert_eq!(fs.unlink(dir, b"f1").await.unwrap_err().errno(), libc::EIO);
    cluster.faults.down.store(false, Ordering::SeqCst);
    fs.unlink(dir, b"f1").await.unwrap();
    assert_eq!(
        unlink_calls(&cluster).0,
        1,
        "the unlink that succeeded was not queued"
    );
    assert_eq!(
        cluster.lookup(dir, b"f1").await.unwrap_err().errno(),
        libc::ENOENT
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_file_is_not_queued() {
    let (fs, cluster) = cached_fs();
    let (_, dir) = files(&fs, 1).await;
    let node = fs.lookup(dir, b"f0").await.unwrap();
    let fh = fs.open(node.ino, libc::O_RDONLY).await.unwrap();
    fs.unlink(dir, b"f0").await.unwrap();
    assert_eq!(
        unlink_calls(&cluster),
        (0, 0),
        "moved to a hidden name instead"
    );
    // Still readable through its handle until closed.
    assert_eq!(fs.read(fh, 0, 4).await.unwrap(), b"body");
    fs.release(fh).await.unwrap();
}
