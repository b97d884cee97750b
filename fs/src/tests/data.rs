//! Reads, writes, buffering, commits and failures.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use md5::{Digest, Md5};

use super::{bucket, small_fs, truncate_to};
use cairn_client::SetAttr;

use crate::{open_file::Limits, test_backend::TestCluster, Fs, FsOptions};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn sequential_write_reads_back_and_gets_its_md5() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "seq").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    let data = pattern(5000, 1);
    for (i, piece) in data.chunks(100).enumerate() {
        let n = fs
            .write(h, (i * 100) as u64, Bytes::copy_from_slice(piece))
            .await
            .unwrap();
        assert_eq!(n, 100);
    }
    // Read-your-writes before anything is committed or flushed.
    assert_eq!(fs.read(h, 0, 6000).await.unwrap(), data);
    assert_eq!(fs.getattr(f.ino).await.unwrap().size, 5000);
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    assert_eq!(cluster.content(f.ino), data);
    let node = cluster.node(f.ino).unwrap();
    assert_eq!(node.etag, hex::encode(Md5::digest(&data)));
    // Background batches ran (256-byte batches): several commits.
    assert!(cluster.commits() > 2, "commits: {}", cluster.commits());
    // Slot chunks of 64 bytes, written in order: extents are chunk-aligned.
    assert!(node
        .extents
        .iter()
        .all(|e| e.chunk_offset == e.file_offset % 64));
}

#[tokio::test]
async fn random_writes_are_in_place_sparse_and_stale_etag() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "rand").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(pattern(200, 2))).await.unwrap();
    fs.flush(h).await.unwrap();
    let chunks_before: Vec<u64> = cluster
        .node(f.ino)
        .unwrap()
        .extents
        .iter()
        .map(|e| e.chunk_id)
        .collect();
    // Overwrite across a chunk boundary, then write far past the end.
    fs.write(h, 60, Bytes::from_static(b"XXXXXXXX"))
        .await
        .unwrap();
    fs.write(h, 1000, Bytes::from_static(b"tail"))
        .await
        .unwrap();
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    let mut want = pattern(200, 2);
    want[60..68].copy_from_slice(b"XXXXXXXX");
    want.resize(1000, 0);
    want.extend_from_slice(b"tail");
    assert_eq!(cluster.content(f.ino), want);
    let node = cluster.node(f.ino).unwrap();
    assert_eq!(node.etag, "", "random writes leave the ETag stale");
    // The overwrite went in place: the first 200 bytes are still in the
    // chunks that held them.
    for e in node.extents.iter().filter(|e| e.file_offset < 200) {
        assert!(chunks_before.contains(&e.chunk_id));
    }
    // The hole is a hole: no extent covers [200, 1000).
    assert!(node
        .extents
        .iter()
        .all(|e| e.end() <= 200 || e.file_offset >= 1000));
}

#[tokio::test]
async fn truncate_down_and_up_with_buffered_writes() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "trunc").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(pattern(150, 3))).await.unwrap();
    fs.setattr(f.ino, truncate_to(70)).await.unwrap();
    assert_eq!(fs.read(h, 0, 200).await.unwrap(), pattern(70, 3));
    fs.setattr(f.ino, truncate_to(100)).await.unwrap();
    let mut want = pattern(70, 3);
    want.resize(100, 0);
    assert_eq!(fs.read(h, 0, 200).await.unwrap(), want);
    // Writing past the new end leaves zeros between, never old bytes.
    fs.write(h, 120, Bytes::from_static(b"z")).await.unwrap();
    want.resize(120, 0);
    want.push(b'z');
    assert_eq!(fs.read(h, 0, 200).await.unwrap(), want);
    fs.release(h).await.unwrap();
    assert_eq!(cluster.content(f.ino), want);
    // O_TRUNC through create of an existing file.
    let (n, h) = fs
        .create(b.ino, b"f", 0o644, 0, 0, libc::O_TRUNC)
        .await
        .unwrap();
    assert_eq!(n.size, 0);
    fs.write(h, 0, Bytes::from_static(b"new")).await.unwrap();
    fs.release(h).await.unwrap();
    assert_eq!(cluster.content(f.ino), b"new");
    assert_eq!(
        cluster.node(f.ino).unwrap().etag,
        hex::encode(Md5::digest(b"new"))
    );
}

#[tokio::test]
async fn o_append_writes_at_the_end_for_every_handle() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "append").await;
    let (f, h1) = fs.create(b.ino, b"log", 0o644, 0, 0, 0).await.unwrap();
    let h2 = fs
        .open(f.ino, libc::O_WRONLY | libc::O_APPEND)
        .await
        .unwrap();
    fs.write(h1, 0, Bytes::from_static(b"first."))
        .await
        .unwrap();
    // The offset the kernel passes is ignored for an O_APPEND handle.
    fs.write(h2, 0, Bytes::from_static(b"second."))
        .await
        .unwrap();
    fs.write(h2, 3, Bytes::from_static(b"third."))
        .await
        .unwrap();
    fs.release(h1).await.unwrap();
    fs.release(h2).await.unwrap();
    assert_eq!(cluster.content(f.ino), b"first.second.third.");
}

#[tokio::test]
async fn unlinked_open_file_stays_readable_until_closed() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "unl").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(pattern(300, 4))).await.unwrap();
    fs.flush(h).await.unwrap();
    fs.unlink(b.ino, b"f").await.unwrap();
    assert_eq!(
        fs.lookup(b.ino, b"f").await.unwrap_err().errno(),
        libc::ENOENT
    );
    // The name is gone from listings, the data is not.
    let dh = fs.opendir(b.ino).await.unwrap();
    assert_eq!(fs.readdir(dh, 0, 100).await.unwrap().len(), 2);
    fs.releasedir(dh).unwrap();
    assert_eq!(fs.read(h, 0, 1000).await.unwrap(), pattern(300, 4));
    assert_eq!(fs.getattr(f.ino).await.unwrap().nlink, 0);
    // Still writable.
    fs.write(h, 300, Bytes::from_static(b"more")).await.unwrap();
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    assert!(cluster.node(f.ino).is_none(), "last close frees the inode");
    fs.rmdir(cairn_common::ROOT_INO, b"unl").await.unwrap();
}

#[tokio::test]
async fn rename_over_an_open_file_keeps_its_content_for_its_readers() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "over").await;
    let (old, h_old) = fs.create(b.ino, b"target", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h_old, 0, Bytes::from_static(b"old content"))
        .await
        .unwrap();
    fs.flush(h_old).await.unwrap();
    let (new, h_new) = fs.create(b.ino, b"tmp", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h_new, 0, Bytes::from_static(b"new content"))
        .await
        .unwrap();
    fs.release(h_new).await.unwrap();
    fs.rename(b.ino, b"tmp", b.ino, b"target", false)
        .await
        .unwrap();
    assert_eq!(fs.lookup(b.ino, b"target").await.unwrap().ino, new.ino);
    assert_eq!(fs.read(h_old, 0, 100).await.unwrap(), b"old content");
    fs.release(h_old).await.unwrap();
    assert!(cluster.node(old.ino).is_none());
    let dh = fs.opendir(b.ino).await.unwrap();
    assert_eq!(fs.readdir(dh, 0, 100).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_failed_batch_is_reported_and_its_bytes_sent_again() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "fail").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(pattern(100, 5))).await.unwrap();
    cluster.faults.fail_writes.store(1, Ordering::SeqCst);
    assert_eq!(fs.flush(h).await.unwrap_err().errno(), libc::EIO);
    // Still readable from the buffer, and the next flush sends it.
    assert_eq!(fs.read(h, 0, 100).await.unwrap(), pattern(100, 5));
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    assert_eq!(cluster.content(f.ino), pattern(100, 5));
}

#[tokio::test]
async fn a_failed_background_batch_is_reported_to_the_next_write() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "bgfail").await;
    let (_, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    cluster.faults.fail_writes.store(1000, Ordering::SeqCst);
    // 1024 unsent bytes make the writer wait for batches that fail: the
    // failure comes back to a write.
    let mut failed = None;
    for i in 0..64u64 {
        if let Err(e) = fs.write(h, i * 64, Bytes::from(pattern(64, 6))).await {
            failed = Some(e);
            break;
        }
    }
    assert_eq!(failed.expect("a write must fail").errno(), libc::EIO);
    cluster.faults.fail_writes.store(0, Ordering::SeqCst);
    fs.flush(h).await.unwrap();
}

#[tokio::test]
async fn fsync_forces_every_chunk_to_stable_storage() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "sync").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from(pattern(100, 7))).await.unwrap();
    let barriers = cluster.metadata_syncs();
    fs.fsync(h).await.unwrap();
    assert_eq!(cluster.faults.sync_writes.load(Ordering::SeqCst), 1);
    assert!(cluster.faults.syncs.load(Ordering::SeqCst) >= 1);
    assert_eq!(cluster.content(f.ino), pattern(100, 7));
    // The commit is made durable too, with the mount's earlier changes.
    assert_eq!(cluster.metadata_syncs(), barriers + 1);
    // fsync with nothing buffered still forces what earlier batches sent.
    let before = cluster.faults.syncs.load(Ordering::SeqCst);
    fs.fsync(h).await.unwrap();
    assert!(cluster.faults.syncs.load(Ordering::SeqCst) > before);
    fs.release(h).await.unwrap();
}

#[tokio::test]
async fn fdatasync_of_bytes_in_place_costs_no_commit() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "datasync").await;
    let (f, h) = fs.create(b.ino, b"img", 0o644, 0, 0, 0).await.unwrap();
    // Writes below the batch size, so that fdatasync sends them.
    let mut model = pattern(3000, 3);
    fs.write(h, 0, Bytes::from(model.clone())).await.unwrap();
    // New extents: committed, and made durable.
    fs.fdatasync(h).await.unwrap();
    // A write in place makes the committed ETag stale: one commit more.
    let block = pattern(100, 9);
    fs.write(h, 1000, Bytes::from(block.clone())).await.unwrap();
    model[1000..1100].copy_from_slice(&block);
    fs.fdatasync(h).await.unwrap();
    assert_eq!(cluster.node(f.ino).unwrap().etag, "");
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    let (commits, barriers) = (count(&cluster.faults.commits), cluster.metadata_syncs());
    let (synced, notes) = (
        count(&cluster.faults.sync_writes),
        count(&cluster.faults.in_place_notes),
    );
    let committed_mtime = cluster.node(f.ino).unwrap().mtime_ns;
    // From then on, each fdatasync of bytes in place: one synced round to
    // the replicas, the MDS told, no commit and no barrier.
    for i in 1..4u8 {
        let at = 700 * usize::from(i) + 7;
        let block = pattern(100, i);
        fs.write(h, at as u64, Bytes::from(block.clone()))
            .await
            .unwrap();
        model[at..at + 100].copy_from_slice(&block);
        fs.fdatasync(h).await.unwrap();
        assert_eq!(cluster.content(f.ino), model, "after fdatasync {i}");
    }
    assert_eq!(count(&cluster.faults.commits), commits);
    assert_eq!(cluster.metadata_syncs(), barriers);
    assert_eq!(count(&cluster.faults.in_place_notes), notes + 3);
    assert_eq!(count(&cluster.faults.sync_writes), synced + 3);
    // The mount shows the mtime of its last write; the close commits it.
    let seen = fs.getattr(f.ino).await.unwrap();
    assert!(seen.mtime_ns > committed_mtime);
    assert_eq!(cluster.node(f.ino).unwrap().mtime_ns, committed_mtime);
    fs.flush(h).await.unwrap();
    assert_eq!(count(&cluster.faults.commits), commits + 1);
    let committed = cluster.node(f.ino).unwrap();
    assert_eq!(committed.mtime_ns, seen.mtime_ns);
    assert_eq!((committed.size, committed.etag.as_str()), (3000, ""));
    // A full fsync always commits what is owed and makes it durable.
    fs.write(h, 5, Bytes::from_static(b"xyz")).await.unwrap();
    fs.fsync(h).await.unwrap();
    assert_eq!(count(&cluster.faults.commits), commits + 2);
    assert_eq!(cluster.metadata_syncs(), barriers + 1);
    fs.release(h).await.unwrap();
}

/// tar -x: write, utimens, chown, chmod, close. The attributes ride on
/// the close's commit: one commit, no setattr of their own; the mount
/// shows them at once.
#[tokio::test]
async fn attributes_set_while_writing_ride_on_the_commit() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "untar").await;
    let (f, h) = fs.create(b.ino, b"README", 0o600, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from_static(b"unpacked"))
        .await
        .unwrap();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    let (commits, setattrs) = (
        count(&cluster.faults.commits),
        count(&cluster.faults.setattrs),
    );
    let mtime = 1_153_704_088_000_000_000;
    for attr in [
        SetAttr {
            mtime_ns: Some(mtime),
            ..SetAttr::default()
        },
        SetAttr {
            uid: Some(1000),
            gid: Some(100),
            ..SetAttr::default()
        },
        SetAttr {
            mode: Some(0o644),
            ..SetAttr::default()
        },
    ] {
        fs.setattr(f.ino, attr).await.unwrap();
    }
    let seen = fs.getattr(f.ino).await.unwrap();
    assert_eq!((seen.mode, seen.uid, seen.gid), (0o644, 1000, 100));
    assert_eq!((seen.mtime_ns, seen.size), (mtime, 8));
    assert_eq!(count(&cluster.faults.commits), commits);
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    assert_eq!(count(&cluster.faults.commits), commits + 1);
    assert_eq!(count(&cluster.faults.setattrs), setattrs);
    let committed = cluster.node(f.ino).unwrap();
    assert_eq!(
        (committed.mode, committed.uid, committed.gid),
        (0o644, 1000, 100)
    );
    assert_eq!((committed.mtime_ns, committed.size), (mtime, 8));
    assert_eq!(cluster.content(f.ino), b"unpacked");
    // A write after the utimens takes the mtime again; a truncate is
    // never folded (it goes to the MDS with what is buffered).
    let h = fs.open(f.ino, libc::O_RDWR).await.unwrap();
    fs.write(h, 8, Bytes::from_static(b"!")).await.unwrap();
    fs.setattr(f.ino, truncate_to(4)).await.unwrap();
    assert_eq!(count(&cluster.faults.setattrs), setattrs + 1);
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    let committed = cluster.node(f.ino).unwrap();
    assert!(committed.mtime_ns > mtime);
    assert_eq!(cluster.content(f.ino), b"unpa");
    // With nothing buffered, a chmod is a call of its own.
    fs.setattr(
        f.ino,
        SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(count(&cluster.faults.setattrs), setattrs + 2);
    assert_eq!(cluster.node(f.ino).unwrap().mode, 0o600);
}

#[tokio::test]
async fn a_dead_mds_gives_eio() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "dead").await;
    cluster.faults.down.store(true, Ordering::SeqCst);
    assert_eq!(fs.lookup(b.ino, b"x").await.unwrap_err().errno(), libc::EIO);
    assert_eq!(fs.statfs().await.unwrap_err().errno(), libc::EIO);
}

#[tokio::test(start_paused = true)]
async fn a_hung_mds_gives_eio_after_the_timeout() {
    let cluster = TestCluster::with_chunks(64);
    let fs = Fs::new(
        cluster.clone(),
        FsOptions {
            owner: String::new(),
            limits: Limits {
                timeout: Duration::from_secs(3),
                ..Limits::default()
            },
            ..FsOptions::default()
        },
    );
    let b = bucket(&fs, "hung").await;
    let (_, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from_static(b"abc")).await.unwrap();
    cluster.faults.hang.store(true, Ordering::SeqCst);
    let start = tokio::time::Instant::now();
    assert_eq!(fs.getattr(b.ino).await.unwrap_err().errno(), libc::EIO);
    assert_eq!(fs.flush(h).await.unwrap_err().errno(), libc::EIO);
    assert!(start.elapsed() >= Duration::from_secs(6));
}

#[tokio::test]
async fn sequential_reads_are_served_from_read_ahead() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "readahead").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    let data = pattern(3 << 20, 8);
    fs.write(h, 0, Bytes::from(data.clone())).await.unwrap();
    fs.release(h).await.unwrap();
    assert_eq!(cluster.content(f.ino).len(), data.len());
    let h = fs.open(f.ino, libc::O_RDONLY).await.unwrap();
    let mut got = Vec::new();
    let mut off = 0u64;
    loop {
        let piece = fs.read(h, off, 128 << 10).await.unwrap();
        if piece.is_empty() {
            break;
        }
        off += piece.len() as u64;
        got.extend_from_slice(&piece);
    }
    assert_eq!(got, data);
    let hits = {
        let handle = fs.handle(h).unwrap();
        let p = handle.prefetch.lock().await;
        (p.hits, p.reads)
    };
    assert!(
        hits.0 * 10 >= hits.1 * 9,
        "hits {} of {} reads",
        hits.0,
        hits.1
    );
    fs.release(h).await.unwrap();
}

#[tokio::test]
async fn unlink_waits_for_the_release_of_closed_handles() {
    use crate::backend::Backend;
    let (fs, cluster) = small_fs();
    let fs = std::sync::Arc::new(fs);
    let b = bucket(&fs, "closing").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, Bytes::from_static(b"data")).await.unwrap();
    // close() has happened (flush), the kernel's release comes later.
    fs.flush(h).await.unwrap();
    let late = {
        let fs = fs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            fs.release(h).await.unwrap();
        })
    };
    fs.unlink(b.ino, b"f").await.unwrap();
    // The unlink waited for the release and removed the file itself: had
    // it not waited, the file would still be there under a hidden name
    // until the release that comes after.
    assert!(cluster.node(f.ino).is_none(), "removed by the unlink");
    let (left, _) = cluster.readdir(b.ino, b"", 0).await.unwrap();
    assert!(left.is_empty(), "no hidden name: {left:?}");
    late.await.unwrap();
    fs.rmdir(cairn_common::ROOT_INO, b"closing").await.unwrap();
}
