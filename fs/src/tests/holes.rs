//! fallocate's modes and lseek's SEEK_DATA/SEEK_HOLE over the test
//! cluster (64-byte chunks): holes cut from the layout, whole chunks
//! released, the size kept or extended as each mode says.

use bytes::Bytes;

use super::{bucket, small_fs};
use crate::fs::{
    FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE,
};

const PUNCH: i32 = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

#[tokio::test]
async fn punch_zero_and_extend() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "bkt").await;
    let (n, fh) = fs.create(b.ino, b"img", 0o644, 0, 0, 0).await.unwrap();
    // Four 64-byte chunks of 0xAA, written and committed.
    fs.write(fh, 0, Bytes::from(vec![0xAA; 256])).await.unwrap();
    fs.flush(fh).await.unwrap();
    let chunks: Vec<u64> = cluster
        .node(n.ino)
        .unwrap()
        .extents
        .iter()
        .map(|e| e.chunk_id)
        .collect();
    assert_eq!(chunks.len(), 4);

    // A hole over chunk 1 whole and half of chunk 2: chunk 1 goes.
    fs.fallocate(fh, 64, 96, PUNCH).await.unwrap();
    let after = cluster.node(n.ino).unwrap();
    assert_eq!(after.size, 256, "KEEP_SIZE");
    assert!(!after.extents.iter().any(|e| e.chunk_id == chunks[1]));
    // The MDS released it; the half-covered one stays.
    assert!(!cluster.chunk_referenced(chunks[1]), "chunk 1 released");
    assert!(cluster.chunk_referenced(chunks[2]), "chunk 2 kept");
    assert!(after.etag.is_empty(), "the ETag is stale");
    let got = fs.read(fh, 0, 256).await.unwrap();
    let mut want = vec![0xAA; 256];
    want[64..160].fill(0);
    assert_eq!(got, want);
    assert_eq!(fs.lseek(fh, 0, SEEK_HOLE).await.unwrap(), 64);
    assert_eq!(fs.lseek(fh, 64, SEEK_DATA).await.unwrap(), 160);
    assert_eq!(fs.lseek(fh, 200, SEEK_HOLE).await.unwrap(), 256);
    assert_eq!(
        fs.lseek(fh, 256, SEEK_DATA).await.unwrap_err().errno(),
        libc::ENXIO
    );

    // Writing into the hole again fills it.
    fs.write(fh, 100, Bytes::from_static(b"back"))
        .await
        .unwrap();
    assert_eq!(fs.lseek(fh, 64, SEEK_DATA).await.unwrap(), 100);
    want[100..104].copy_from_slice(b"back");
    assert_eq!(fs.read(fh, 0, 256).await.unwrap(), want);

    // ZERO_RANGE without KEEP_SIZE zeroes and extends.
    fs.fallocate(fh, 200, 100, FALLOC_FL_ZERO_RANGE)
        .await
        .unwrap();
    want[200..].fill(0);
    want.resize(300, 0);
    assert_eq!(fs.getattr(n.ino).await.unwrap().size, 300);
    assert_eq!(fs.read(fh, 0, 400).await.unwrap(), want);

    // Mode 0 extends with a hole; KEEP_SIZE alone changes nothing.
    fs.fallocate(fh, 0, 1000, 0).await.unwrap();
    assert_eq!(fs.getattr(n.ino).await.unwrap().size, 1000);
    fs.fallocate(fh, 0, 2000, FALLOC_FL_KEEP_SIZE)
        .await
        .unwrap();
    assert_eq!(fs.getattr(n.ino).await.unwrap().size, 1000);
    assert_eq!(
        fs.lseek(fh, 300, SEEK_DATA).await.unwrap_err().errno(),
        libc::ENXIO
    );
    // More than the cluster can take (2 GiB allocatable in the test cluster).
    let big = fs.fallocate(fh, 0, 3 << 30, 0).await.unwrap_err();
    assert_eq!(big.errno(), libc::ENOSPC);
    assert_eq!(fs.getattr(n.ino).await.unwrap().size, 1000);

    // Everything else is refused, as Linux does for a filesystem without it.
    for mode in [FALLOC_FL_PUNCH_HOLE, 0x08, 0x20, 0x40] {
        let e = fs.fallocate(fh, 0, 10, mode).await.unwrap_err();
        assert_eq!(e.errno(), libc::EOPNOTSUPP, "mode {mode:#x}");
    }
    assert_eq!(
        fs.fallocate(fh, 0, 0, PUNCH).await.unwrap_err().errno(),
        libc::EINVAL
    );
    fs.release(fh).await.unwrap();
    assert_eq!(
        cluster.content(n.ino),
        want.iter()
            .copied()
            .chain(std::iter::repeat_n(0, 700))
            .collect::<Vec<u8>>()
    );
}

#[tokio::test]
async fn a_hole_punched_under_buffered_writes_cuts_them_too() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "bkt").await;
    let (n, fh) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    // Buffered, not yet sent: the punch commits them first.
    fs.write(fh, 0, Bytes::from(vec![7; 100])).await.unwrap();
    fs.fallocate(fh, 10, 20, PUNCH).await.unwrap();
    let mut want = vec![7; 100];
    want[10..30].fill(0);
    assert_eq!(fs.read(fh, 0, 100).await.unwrap(), want);
    fs.release(fh).await.unwrap();
    assert_eq!(cluster.content(n.ino), want);
}
