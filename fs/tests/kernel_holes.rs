//! Holes through the kernel, over a real cluster on loopback (1 MiB
//! chunks): `fallocate --punch-hole`, `--zero-range` and `--dig-holes`
//! (util-linux) on a file of the mount, SEEK_DATA/SEEK_HOLE finding the
//! holes, `cp --sparse=always` keeping them, every byte compared with a
//! local file, and the chunks under the holes going back to the cluster.

mod common;

use std::{os::unix::fs::MetadataExt, path::Path, process::Command};

use common::{blocking, can_mount, cluster::Cluster, cluster::CHUNK_SIZE, scenarios, Mounted};

const MIB: u64 = CHUNK_SIZE;

fn fallocate(args: &[&str], file: &Path) {
    let out = Command::new("fallocate")
        .args(args)
        .arg(file)
        .output()
        .expect("util-linux fallocate");
    assert!(
        out.status.success(),
        "fallocate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// lseek(fd, offset, whence) on `file`, or the errno.
fn seek(file: &Path, offset: u64, whence: i32) -> Result<u64, i32> {
    let f = std::fs::File::open(file).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: a valid descriptor, open for the call's length.
    let at = unsafe { libc::lseek(fd, offset as libc::off_t, whence) };
    if at < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(at as u64)
    }
}

fn same_bytes(mount: &Path, local: &Path) {
    let (a, b) = (std::fs::read(mount).unwrap(), std::fs::read(local).unwrap());
    assert_eq!(a.len(), b.len(), "{mount:?} size");
    assert!(a == b, "{mount:?} differs from the local file");
}

/// Blocks (512 bytes) the file holds, as `du` shows them.
fn blocks(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks()
}

fn holes(root: &Path, local: &Path) {
    let b = scenarios::bucket(root, "holes");
    let data = scenarios::pattern(19, (5 * MIB) as usize);
    let img = b.join("img");
    let reference = local.join("img");
    std::fs::write(&img, &data).unwrap();
    std::fs::write(&reference, &data).unwrap();
    assert_eq!(blocks(&img), 5 * MIB / 512);

    // A hole over chunks 1 and 2 whole, and half of chunk 3.
    fallocate(
        &["--punch-hole", "--offset", "1MiB", "--length", "2560KiB"],
        &img,
    );
    let mut want = data.clone();
    want[MIB as usize..(3 * MIB + MIB / 2) as usize].fill(0);
    std::fs::write(&reference, &want).unwrap();
    same_bytes(&img, &reference);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 5 * MIB, "size kept");
    assert_eq!(seek(&img, 0, libc::SEEK_HOLE), Ok(MIB));
    assert_eq!(seek(&img, MIB, libc::SEEK_DATA), Ok(3 * MIB + MIB / 2));
    assert_eq!(seek(&img, 4 * MIB, libc::SEEK_HOLE), Ok(5 * MIB));
    assert_eq!(seek(&img, 5 * MIB, libc::SEEK_DATA), Err(libc::ENXIO));
    assert_eq!(
        blocks(&img),
        (5 * MIB - 2 * MIB - MIB / 2) / 512,
        "du shrank"
    );

    // ZERO_RANGE past the end grows the file with zeros.
    fallocate(
        &["--zero-range", "--offset", "4MiB", "--length", "2MiB"],
        &img,
    );
    want[(4 * MIB) as usize..].fill(0);
    want.resize((6 * MIB) as usize, 0);
    std::fs::write(&reference, &want).unwrap();
    same_bytes(&img, &reference);

    // Zeros written as data, then dug out by --dig-holes.
    let zeros = b.join("zeros");
    let mut z = scenarios::pattern(7, (4 * MIB) as usize);
    z[MIB as usize..(3 * MIB) as usize].fill(0);
    std::fs::write(&zeros, &z).unwrap();
    assert_eq!(seek(&zeros, 0, libc::SEEK_HOLE), Ok(4 * MIB), "no hole yet");
    fallocate(&["--dig-holes"], &zeros);
    assert_eq!(seek(&zeros, MIB, libc::SEEK_DATA), Ok(3 * MIB));
    assert_eq!(std::fs::read(&zeros).unwrap(), z);

    // cp --sparse=always keeps the holes, on the mount and off it.
    let copy = b.join("copy");
    let out = Command::new("cp")
        .arg("--sparse=always")
        .arg(&img)
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_bytes(&copy, &reference);
    assert_eq!(
        seek(&copy, 0, libc::SEEK_HOLE),
        Ok(MIB),
        "the copy is sparse"
    );
    assert!(blocks(&copy) < 6 * MIB / 512);
    let out_copy = local.join("copy");
    let out = Command::new("cp")
        .arg("--sparse=always")
        .arg(&img)
        .arg(&out_copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    same_bytes(&img, &out_copy);

    // Modes the mount does not do.
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: a valid descriptor.
    let rc = unsafe { libc::fallocate(fd, libc::FALLOC_FL_COLLAPSE_RANGE, 0, MIB as i64) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EOPNOTSUPP)
    );
    // Mode 0 extends (a hole) within what the cluster can take, ENOSPC past it.
    // SAFETY: a valid descriptor.
    let rc = unsafe { libc::fallocate(fd, 0, 0, (8 * MIB) as i64) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    assert_eq!(f.metadata().unwrap().len(), 8 * MIB);
    // SAFETY: a valid descriptor.
    let rc = unsafe { libc::fallocate(fd, 0, 0, 1 << 40) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOSPC)
    );
    assert_eq!(f.metadata().unwrap().len(), 8 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holes_through_the_kernel() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let cluster = Cluster::start().await;
    let client = cluster.client();
    let m = Mounted::start(cluster.client()).await;
    let (root, local) = (m.path(), tempfile::tempdir().unwrap());
    let l = local.path().to_path_buf();
    blocking(move || holes(&root, &l)).await;

    // The chunks under the holes went back to the cluster: released,
    // freed after the grace period.
    let node = client.head_object("holes", b"img").await.unwrap();
    assert_eq!(node.size, 8 * MIB, "S3 sees the size fallocate gave");
    let stat = client.stat().await.unwrap();
    let gone = stat.chunk_states.get("deleting").copied().unwrap_or(0);
    assert!(
        gone >= 3,
        "chunks released by the holes: {:?}",
        stat.chunk_states
    );
    m.unmount().await;
    cluster.stop().await;
}

/// copy_file_range(2) of `len` bytes between two files of the mount; the
/// count or the errno.
fn copy_range(src: &Path, off_in: u64, dst: &Path, off_out: u64, len: u64) -> Result<u64, i32> {
    let i = std::fs::File::open(src).unwrap();
    let o = std::fs::OpenOptions::new().write(true).open(dst).unwrap();
    common::fsx::copy_range(&i, off_in, &o, off_out, len).map_err(|e| e.raw_os_error().unwrap_or(0))
}

fn copies(root: &Path) {
    let b = scenarios::bucket(root, "copies");
    let data = scenarios::pattern(23, (3 * MIB) as usize);
    let (src, whole, part) = (b.join("src"), b.join("whole"), b.join("part"));
    std::fs::write(&src, &data).unwrap();
    std::fs::write(&whole, b"").unwrap();
    let old = scenarios::pattern(29, (4 * MIB) as usize);
    std::fs::write(&part, &old).unwrap();

    // The whole file, then an unaligned range into the middle of another.
    assert_eq!(copy_range(&src, 0, &whole, 0, 3 * MIB), Ok(3 * MIB));
    assert_eq!(std::fs::read(&whole).unwrap(), data);
    assert_eq!(copy_range(&src, 100, &part, 5000, 2 * MIB), Ok(2 * MIB));
    let mut want = old.clone();
    want[5000..5000 + (2 * MIB) as usize].copy_from_slice(&data[100..100 + (2 * MIB) as usize]);
    assert_eq!(std::fs::read(&part).unwrap(), want);
    // Past the source's end there is nothing to copy; overlapping ranges
    // of one file are EINVAL.
    assert_eq!(copy_range(&src, 3 * MIB, &part, 0, MIB), Ok(0));
    assert_eq!(copy_range(&src, 0, &src, 10, MIB), Err(libc::EINVAL));

    // Copy on write: writing the copy leaves the source alone.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&whole)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xAB; 4096], MIB).unwrap();
    drop(f);
    let mut changed = data.clone();
    changed[MIB as usize..(MIB + 4096) as usize].fill(0xAB);
    assert_eq!(std::fs::read(&whole).unwrap(), changed);
    assert_eq!(
        std::fs::read(&src).unwrap(),
        data,
        "the source is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_file_range_shares_the_source_chunks() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let cluster = Cluster::start().await;
    let client = cluster.client();
    let m = Mounted::start(cluster.client()).await;
    let root = m.path();
    blocking(move || copies(&root)).await;

    // The copies name the source's chunks: no byte went through the
    // mount. (`whole` was written once since, at 1 MiB: that piece is new.)
    let src = client.head_object("copies", b"src").await.unwrap();
    let ids = |n: &cairn_client::Node| -> std::collections::BTreeSet<u64> {
        n.extents.iter().map(|e| e.chunk_id).collect()
    };
    let part = client.head_object("copies", b"part").await.unwrap();
    let whole = client.head_object("copies", b"whole").await.unwrap();
    let shared_part = ids(&part).intersection(&ids(&src)).count();
    assert!(
        shared_part >= 2,
        "part shares {shared_part} chunks with src"
    );
    let shared_whole = ids(&whole).intersection(&ids(&src)).count();
    assert!(
        shared_whole >= 2,
        "whole shares {shared_whole} chunks with src"
    );
    m.unmount().await;
    cluster.stop().await;
}
