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
