//! One file, two hosts: two mounts of one cluster, each its own process as
//! if on its own host, write and read the same files.
//!
//! * A file written and closed on one mount reads back byte for byte on the
//!   other at once (a VM moved from host A to host B).
//! * A reader that keeps the file open sees the other host's writes once
//!   that host's fsync returns: its page cache is dropped by the watch
//!   (FUSE notify), not served stale until it reopens.
//! * Writes one mount buffered reach the chunks before a later write of
//!   another mount to the same bytes (the write lease goes back only after
//!   the buffer is sent), and two mounts writing the same blocks never
//!   leave a torn 4 KiB block.

mod common;
mod ops_support;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    path::Path,
    time::Duration,
};

use common::pattern;
use ops_support::{eventually, two_mounts::two_mounts};

const BLOCK: usize = 4096;

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn read_at(f: &File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset).expect("read");
    buf
}

#[test]
fn a_file_written_on_one_host_reads_back_on_the_other() {
    let m = two_mounts("coherent");
    let on_a = m.a.join(&m.bucket);
    let on_b = m.b.join(&m.bucket);

    // Host A writes an image and closes it; host B opens it and reads
    // every byte (a live migration's hand-over).
    let image = pattern(1, 24 << 20);
    std::fs::write(on_a.join("image"), &image).expect("write through a");
    let read = eventually(Duration::from_secs(10), "the image on b", || {
        std::fs::read(on_b.join("image")).ok()
    });
    assert!(read == image, "b read other bytes than a wrote");

    // B keeps the file open and has read it (its pages are cached); A
    // rewrites the middle and fsyncs: B's next read through the same
    // descriptor sees the new bytes.
    let reader = File::open(on_b.join("image")).expect("open on b");
    assert_eq!(read_at(&reader, 8 << 20, 1 << 20), image[8 << 20..9 << 20]);
    let new = pattern(2, 1 << 20);
    let writer = open_rw(&on_a.join("image"));
    writer
        .write_all_at(&new, 8 << 20)
        .expect("rewrite through a");
    writer.sync_all().expect("fsync through a");
    eventually(
        Duration::from_secs(5),
        "a's rewrite through b's open file",
        || (read_at(&reader, 8 << 20, 1 << 20) == new).then_some(()),
    );
    // The bytes around it are unchanged, also for a file opened afresh.
    assert_eq!(read_at(&reader, 0, 1 << 20), image[..1 << 20]);
    let fresh = std::fs::read(on_b.join("image")).expect("read on b");
    assert!(fresh[8 << 20..9 << 20] == new[..] && fresh[..8 << 20] == image[..8 << 20]);
}

#[test]
fn buffered_writes_of_one_mount_land_before_a_later_write_of_another() {
    let m = two_mounts("lease");
    let path_a = m.a.join(&m.bucket).join("disk");
    let path_b = m.b.join(&m.bucket).join("disk");
    std::fs::write(&path_a, vec![0u8; 1 << 20]).expect("make the file");

    // A writes the whole file and keeps it open without fsync: its bytes
    // wait in its buffer.
    let a = open_rw(&path_a);
    let a_bytes = pattern(3, 1 << 20);
    a.write_all_at(&a_bytes, 0).expect("write through a");
    // Then B writes the first block and fsyncs: A is made to send its
    // buffer first, so B's block is the one that stays.
    let b = eventually(Duration::from_secs(10), "the file on b", || {
        OpenOptions::new().write(true).open(&path_b).ok()
    });
    let b_block = pattern(4, BLOCK);
    b.write_all_at(&b_block, 0).expect("write through b");
    b.sync_all().expect("fsync through b");
    drop(b);
    drop(a);

    let mut expected = a_bytes.clone();
    expected[..BLOCK].copy_from_slice(&b_block);
    for (name, path) in [("a", &path_a), ("b", &path_b)] {
        let got = eventually(Duration::from_secs(5), "the file settled", || {
            let got = std::fs::read(path).ok()?;
            (got == expected).then_some(got)
        });
        assert_eq!(got.len(), expected.len(), "read through {name}");
    }
}

#[test]
fn two_mounts_writing_the_same_blocks_never_tear_one() {
    let m = two_mounts("torn");
    let path_a = m.a.join(&m.bucket).join("shared");
    let path_b = m.b.join(&m.bucket).join("shared");
    const BLOCKS: usize = 64;
    std::fs::write(&path_a, vec![0u8; BLOCKS * BLOCK]).expect("make the file");
    let b_file = eventually(Duration::from_secs(10), "the file on b", || {
        OpenOptions::new().write(true).open(&path_b).ok()
    });
    let a_file = open_rw(&path_a);

    // Each writer fills whole blocks with one byte value of its own (odd
    // for a, even for b), fsyncing now and then; 300 writes each.
    let writer = |f: File, odd: u8| {
        std::thread::spawn(move || {
            for i in 0..300u64 {
                let block = (i * 7 + u64::from(odd) * 13) % BLOCKS as u64;
                let value = ((i % 100) as u8) * 2 + odd + 2;
                f.write_all_at(&vec![value; BLOCK], block * BLOCK as u64)
                    .expect("write");
                if i % 25 == 0 {
                    f.sync_data().expect("fdatasync");
                }
            }
            f.sync_all().expect("fsync");
        })
    };
    let (ta, tb) = (writer(a_file, 1), writer(b_file, 0));
    ta.join().expect("writer a");
    tb.join().expect("writer b");

    let through_a = std::fs::read(&path_a).expect("read through a");
    let through_b = eventually(Duration::from_secs(5), "b sees what a sees", || {
        let b = std::fs::read(&path_b).ok()?;
        (b == through_a).then_some(b)
    });
    assert_eq!(through_b.len(), BLOCKS * BLOCK);
    for (i, block) in through_a.chunks(BLOCK).enumerate() {
        assert!(
            block.iter().all(|b| *b == block[0]),
            "block {i} is torn: it mixes bytes of two writes"
        );
    }
}
