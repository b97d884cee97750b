//! PunchHole: byte ranges cut out of a layout, whole chunks released.

use super::*;

impl Fixture {
    fn punch(&mut self, ino: u64, offset: u64, length: u64) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::PunchHole {
            ino,
            offset,
            length,
            now_ns: now,
        })
        .map(node)
    }

    fn commit(&mut self, ino: u64, extents: Vec<Extent>, size: u64) -> Inode {
        let now = self.tick();
        let lengths = extents
            .iter()
            .map(|e| (e.chunk_id, e.chunk_offset + e.length))
            .collect();
        node(
            self.run(Command::CommitWrite {
                ino,
                extents,
                size,
                etag: "e".into(),
                mtime_ns: 0,
                chunk_lengths: lengths,
                replace_layout: false,
                now_ns: now,
            })
            .unwrap(),
        )
    }
}

#[test]
fn a_hole_releases_the_chunks_it_covers_whole() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let ino = f.file(b, "img");
    let (c1, c2, c3) = (
        f.allocate(ino, &[cs]),
        f.allocate(ino, &[cs]),
        f.allocate(ino, &[cs]),
    );
    let size = 3 * CHUNK;
    f.commit(
        ino,
        vec![
            ext(0, c1, 0, CHUNK),
            ext(CHUNK, c2, 0, CHUNK),
            ext(2 * CHUNK, c3, 0, CHUNK),
        ],
        size,
    );
    // From the middle of c1 to the middle of c3: c2 goes whole.
    let n = f.punch(ino, CHUNK / 2, 2 * CHUNK).unwrap();
    assert_eq!(
        n.layout,
        vec![
            ext(0, c1, 0, CHUNK / 2),
            ext(2 * CHUNK + CHUNK / 2, c3, CHUNK / 2, CHUNK / 2)
        ]
    );
    assert_eq!(n.size, size, "the size stays");
    assert!(n.etag.is_empty(), "the ETag is stale");
    assert_eq!((f.refs(c1), f.refs(c2), f.refs(c3)), (1, 0, 1));
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(f.queued_deletes().contains(&(cs, c2, 1)));
    assert!(f.chunk_exists(c1) && f.chunk_exists(c3));

    // A hole over a hole changes nothing, not even the times.
    let again = f.punch(ino, CHUNK, CHUNK).unwrap();
    assert_eq!(again, n);
    // The rest, and past the end: an empty layout, every chunk released.
    let n = f.punch(ino, 0, u64::MAX).unwrap();
    assert!(n.layout.is_empty());
    assert_eq!(n.size, size);
    f.collect();
    assert!(!f.chunk_exists(c1) && !f.chunk_exists(c3));
}

#[test]
fn a_chunk_shared_by_a_copy_stays_for_the_copy() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let c = f.allocate(b, &[cs]);
    let orig = f.put("b", b"orig", obj_with(c, 100, "e")).unwrap();
    f.put("b", b"copy", obj_with(c, 100, "e")).unwrap();
    assert_eq!(f.refs(c), 2);
    f.punch(orig.ino, 0, 100).unwrap();
    assert_eq!(f.refs(c), 1);
    assert_eq!(
        f.reader().get_key("b", b"copy").unwrap().layout,
        vec![ext(0, c, 0, 100)]
    );
}

#[test]
fn only_regular_files_have_holes() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let d = f.mkdir(b, "d");
    let file = f.file(b, "f");
    assert!(is_errno(&f.punch(d, 0, 10), libc::EISDIR));
    assert!(is_errno(&f.punch(file, 0, 0), libc::EINVAL));
    assert!(is_errno(&f.punch(9999, 0, 10), libc::ENOENT));
}

#[test]
fn a_stale_etag_is_stored_only_for_the_content_it_was_hashed_from() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let ino = f.file(b, "img");
    let c1 = f.allocate(ino, &[cs]);
    f.commit(ino, vec![ext(0, c1, 0, CHUNK)], CHUNK);
    let punched = f.punch(ino, 0, 4096).unwrap();
    assert_eq!(punched.etag, "", "a hole leaves the ETag stale");
    let md5 = "0123456789abcdef0123456789ABCDEF".to_string();
    let set = |f: &mut Fixture, size: u64, mtime_ns: i64, etag: &str| {
        f.run(Command::SetEtag {
            ino,
            etag: etag.into(),
            size,
            mtime_ns,
        })
    };
    // Hashed from an older state (another mtime): refused.
    let old = set(&mut f, punched.size, punched.mtime_ns - 1, &md5);
    assert!(
        matches!(old, Err(ClusterError::PreconditionFailed(_))),
        "{old:?}"
    );
    // Not an MD5: refused.
    let bad = set(&mut f, punched.size, punched.mtime_ns, "\"quoted\"");
    assert!(matches!(bad, Err(ClusterError::Invalid(_))), "{bad:?}");
    // The state it was read in: stored (lower case), the times untouched.
    let stored = set(&mut f, punched.size, punched.mtime_ns, &md5)
        .map(node)
        .unwrap();
    assert_eq!(stored.etag, md5.to_ascii_lowercase());
    assert_eq!(stored.mtime_ns, punched.mtime_ns);
    // A second hash does not replace it.
    let again = set(&mut f, punched.size, punched.mtime_ns, &"f".repeat(32))
        .map(node)
        .unwrap();
    assert_eq!(again.etag, md5.to_ascii_lowercase());
}

impl Fixture {
    fn clone_range(
        &mut self,
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        length: u64,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::CloneRange {
            src,
            src_offset,
            dst,
            dst_offset,
            length,
            now_ns: now,
        })
        .map(node)
    }
}

#[test]
fn a_cloned_range_shares_the_source_chunks_and_keeps_its_holes() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let src = f.file(b, "src");
    let (c1, c2) = (f.allocate(src, &[cs]), f.allocate(src, &[cs]));
    // c1 at 0, a hole of a chunk, c2 after it.
    f.commit(
        src,
        vec![ext(0, c1, 0, CHUNK), ext(2 * CHUNK, c2, 0, CHUNK)],
        3 * CHUNK,
    );
    let dst = f.file(b, "dst");
    let c3 = f.allocate(dst, &[cs]);
    f.commit(dst, vec![ext(0, c3, 0, CHUNK)], CHUNK);
    // The second half of c1, the hole, and the first half of c2, to 100.
    let half = CHUNK / 2;
    let got = f.clone_range(src, half, dst, 100, 2 * CHUNK).unwrap();
    assert_eq!(
        got.layout,
        vec![
            ext(0, c3, 0, 100),
            ext(100, c1, half, half),
            ext(100 + 3 * half, c2, 0, half),
        ]
    );
    assert_eq!(
        got.size,
        100 + 2 * CHUNK,
        "the file grows to cover the range"
    );
    assert_eq!(got.etag, "");
    assert_eq!((f.refs(c1), f.refs(c2), f.refs(c3)), (2, 2, 1));
    // Past the source's end, nothing is copied.
    let nothing = f.clone_range(src, 3 * CHUNK, dst, 0, CHUNK).unwrap();
    assert_eq!(nothing.layout, got.layout);
    assert_eq!(nothing.size, got.size);
    // Dropping the source leaves the copy's chunks alive.
    f.punch(src, 0, 3 * CHUNK).unwrap();
    assert_eq!((f.refs(c1), f.refs(c2)), (1, 1));
}
#[test]
fn clones_refuse_to_map_a_chunk_twice_in_one_file_and_non_files() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let file = f.file(b, "f");
    let c = f.allocate(file, &[cs]);
    f.commit(file, vec![ext(0, c, 0, CHUNK)], CHUNK);
    let d = f.mkdir(b, "d");
    // Within one file, or back into a file that maps the chunk elsewhere,
    // a chunk would be mapped twice by one holder: refused.
    assert!(is_errno(
        &f.clone_range(file, 0, file, 100, 100),
        libc::EOPNOTSUPP
    ));
    let other = f.file(b, "other");
    f.clone_range(file, 0, other, 0, 100).unwrap();
    assert!(is_errno(
        &f.clone_range(other, 0, file, 500, 100),
        libc::EOPNOTSUPP
    ));
    assert_eq!(f.refs(c), 2);
    assert!(is_errno(&f.clone_range(file, 0, d, 0, 10), libc::EISDIR));
    assert!(is_errno(&f.clone_range(9999, 0, file, 0, 10), libc::ENOENT));
}
