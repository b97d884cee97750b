//! The entry cache (`entry_cache`): a stat storm costs a readdir page per
//! few hundred names, the mount sees its own changes at once, and a change
//! made elsewhere shows up once the timeout has run out. Time is tokio's
//! paused clock: expiry is stepped, never slept for.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use cairn_client::Node;

use super::{bucket, made_elsewhere, small_fs_with};
use crate::{attr::TTL, entry_cache::PREFETCH, test_backend::TestCluster, Fs};

fn cached_fs() -> (Fs<TestCluster>, TestCluster) {
    small_fs_with(TTL)
}

/// (lookups, getattrs, readdirs) the mount sent to the test cluster.
fn calls(cluster: &TestCluster) -> (u64, u64, u64) {
    let f = &cluster.faults;
    (
        f.lookups.load(Ordering::SeqCst),
        f.getattrs.load(Ordering::SeqCst),
        f.readdirs.load(Ordering::SeqCst),
    )
}

async fn write_file(fs: &Fs<TestCluster>, dir: u64, name: &str, body: &[u8]) -> Node {
    let (node, fh) = fs
        .create(dir, name.as_bytes(), 0o644, 0, 0, libc::O_WRONLY)
        .await
        .unwrap();
    if !body.is_empty() {
        fs.write(fh, 0, Bytes::copy_from_slice(body)).await.unwrap();
    }
    fs.flush(fh).await.unwrap();
    fs.release(fh).await.unwrap();
    node
}

#[tokio::test(start_paused = true)]
async fn stat_storm_costs_a_page_per_prefetch() {
    let (fs, cluster) = cached_fs();
    let b = bucket(&fs, "storm").await;
    let n = 3 * PREFETCH as usize + 10;
    for i in 0..n {
        write_file(&fs, b.ino, &format!("f{i:06}"), b"0123456789").await;
    }
    tokio::time::advance(TTL).await;
    let before = calls(&cluster);
    for i in 0..n {
        let (node, ttl) = fs
            .lookup_entry(b.ino, format!("f{i:06}").as_bytes())
            .await
            .unwrap();
        assert_eq!(node.size, 10, "f{i:06}");
        assert!(ttl <= TTL);
    }
    let after = calls(&cluster);
    assert_eq!(after.0, before.0, "no lookup call: pages answered them all");
    let pages = after.2 - before.2;
    assert!(
        pages <= (n as u64).div_ceil(u64::from(PREFETCH)) + 1,
        "{pages} readdir pages for {n} lookups"
    );
    // A name the pages prove absent is answered by them too (the probe
    // of an unpacking tar, or of open(O_CREAT), before each new name).
    let e = fs.lookup(b.ino, b"f000001x").await.unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT);
    assert_eq!(
        calls(&cluster).0,
        after.0,
        "no lookup call for an absent name"
    );
}

#[tokio::test(start_paused = true)]
async fn own_changes_show_at_once() {
    let (fs, _cluster) = cached_fs();
    let b = bucket(&fs, "own").await;
    let dir = fs.mkdir(b.ino, b"d", 0o755, 0, 0).await.unwrap();
    // A miss fills a page saying the directory is empty.
    assert_eq!(
        fs.lookup(dir.ino, b"a").await.unwrap_err().errno(),
        libc::ENOENT
    );
    // Created, written and closed here: seen at once, with its size.
    let a = write_file(&fs, dir.ino, "a", b"hello").await;
    let found = fs.lookup(dir.ino, b"a").await.unwrap();
    assert_eq!((found.ino, found.size), (a.ino, 5));
    assert_eq!(fs.getattr(a.ino).await.unwrap().size, 5);
    // chmod here: the new mode at once.
    let attr = cairn_client::SetAttr {
        mode: Some(0o600),
        ..Default::default()
    };
    fs.setattr(a.ino, attr).await.unwrap();
    assert_eq!(fs.getattr(a.ino).await.unwrap().mode & 0o7777, 0o600);
    // Renamed: the old name is gone, the new one found.
    fs.rename(dir.ino, b"a", dir.ino, b"b", false)
        .await
        .unwrap();
    assert_eq!(
        fs.lookup(dir.ino, b"a").await.unwrap_err().errno(),
        libc::ENOENT
    );
    assert_eq!(fs.lookup(dir.ino, b"b").await.unwrap().ino, a.ino);
    // A hard link counts at once.
    fs.link(a.ino, dir.ino, b"c").await.unwrap();
    assert_eq!(fs.lookup(dir.ino, b"b").await.unwrap().nlink, 2);
    // Unlinked: gone at once, and the other name's link count follows.
    fs.unlink(dir.ino, b"b").await.unwrap();
    assert_eq!(
        fs.lookup(dir.ino, b"b").await.unwrap_err().errno(),
        libc::ENOENT
    );
    assert_eq!(fs.lookup(dir.ino, b"c").await.unwrap().nlink, 1);
    // A failed rmdir (not empty) does not hide the directory.
    fs.mkdir(dir.ino, b"sub", 0o755, 0, 0).await.unwrap();
    write_file(&fs, fs.lookup(dir.ino, b"sub").await.unwrap().ino, "x", b"").await;
    assert_eq!(
        fs.rmdir(dir.ino, b"sub").await.unwrap_err().errno(),
        libc::ENOTEMPTY
    );
    assert!(fs.lookup(dir.ino, b"sub").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn changes_elsewhere_show_within_the_timeout() {
    let (fs, cluster) = cached_fs();
    let b = bucket(&fs, "away").await;
    let f = write_file(&fs, b.ino, "obj", b"old").await;
    tokio::time::advance(TTL).await;
    // A page is fetched and kept.
    assert_eq!(fs.lookup(b.ino, b"obj").await.unwrap().size, 3);
    // Then, behind the mount's back (S3): the object replaced, a new key.
    cluster.put(f.ino, b"replaced");
    made_elsewhere(&cluster, b.ino, b"zz-new").await;
    // The page proves the new name absent, without a call, until it runs
    // out (as a negative entry of the kernel would).
    let lookups = calls(&cluster).0;
    assert_eq!(
        fs.lookup(b.ino, b"zz-new").await.unwrap_err().errno(),
        libc::ENOENT
    );
    assert_eq!(calls(&cluster).0, lookups, "absence answered by the page");
    // Within the timeout, the page answers for the replaced object (that
    // is the caching), and the kernel is only given what remains of it.
    tokio::time::advance(Duration::from_millis(400)).await;
    let (node, ttl) = fs.lookup_entry(b.ino, b"obj").await.unwrap();
    assert_eq!(node.size, 3);
    assert!(ttl <= TTL - Duration::from_millis(400), "{ttl:?}");
    // Once it has run out, the change shows.
    tokio::time::advance(TTL - Duration::from_millis(400)).await;
    assert_eq!(fs.lookup(b.ino, b"obj").await.unwrap().size, 8);
    assert!(fs.lookup(b.ino, b"zz-new").await.is_ok());
    assert_eq!(fs.getattr(f.ino).await.unwrap().size, 8);
}

#[tokio::test(start_paused = true)]
async fn a_name_made_elsewhere_shows_once_a_create_meets_it() {
    let (fs, cluster) = cached_fs();
    let b = bucket(&fs, "clash").await;
    // A page proves "d" absent, then it is made behind the mount's back.
    assert_eq!(
        fs.lookup(b.ino, b"d").await.unwrap_err().errno(),
        libc::ENOENT
    );
    made_elsewhere(&cluster, b.ino, b"d").await;
    // mkdir meets it: EEXIST, and the page no longer hides it (`mkdir -p`
    // stats the name next), well within the timeout.
    assert_eq!(
        fs.mkdir(b.ino, b"d", 0o755, 0, 0)
            .await
            .unwrap_err()
            .errno(),
        libc::EEXIST
    );
    assert!(fs.lookup(b.ino, b"d").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn directory_attributes_follow_changes_made_here() {
    let (fs, cluster) = cached_fs();
    let b = bucket(&fs, "dirs").await;
    let dir = fs.mkdir(b.ino, b"d", 0o755, 0, 0).await.unwrap();
    tokio::time::advance(TTL).await;
    let before = fs.getattr(dir.ino).await.unwrap();
    let calls_before = calls(&cluster);
    // The kernel asks for the directory's attributes after each create,
    // mkdir and unlink in it: answered here, with the change in them.
    write_file(&fs, dir.ino, "f", b"x").await;
    let after_create = fs.getattr(dir.ino).await.unwrap();
    assert!(after_create.mtime_ns >= before.mtime_ns);
    fs.mkdir(dir.ino, b"sub", 0o755, 0, 0).await.unwrap();
    assert_eq!(fs.getattr(dir.ino).await.unwrap().nlink, before.nlink + 1);
    fs.unlink(dir.ino, b"f").await.unwrap();
    let after_unlink = fs.getattr(dir.ino).await.unwrap();
    assert!(after_unlink.ctime_ns >= after_create.ctime_ns);
    assert_eq!(calls(&cluster).1, calls_before.1, "no getattr call");
    // rmdir: the link count goes back down (asked of the MDS).
    fs.rmdir(dir.ino, b"sub").await.unwrap();
    assert_eq!(fs.getattr(dir.ino).await.unwrap().nlink, before.nlink);
    // Past the timeout, the MDS's own answer again.
    tokio::time::advance(TTL).await;
    let fresh = fs.getattr(dir.ino).await.unwrap();
    assert_eq!(fresh, cluster.node(dir.ino).unwrap());
}
