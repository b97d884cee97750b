//! Objects made of other objects' chunks: CopyObject and UploadPartCopy
//! name the source's chunks in the new layout instead of copying bytes. An
//! extent may start at any offset of its chunk, so any byte range of a
//! source can be shared, whatever its alignment.

use cairn_client::{Extent, Node, NodeKind, ObjectMeta};

/// The extents covering bytes `[start, end)` of a layout, shifted so that
/// `start` becomes offset 0. Holes stay holes (they read as zeros).
///
/// `extents` must be sorted by file offset and disjoint (as every layout
/// is); so is the result, and every extent of it lies within `[0, end -
/// start)`.
pub fn slice_extents(extents: &[Extent], start: u64, end: u64) -> Vec<Extent> {
    if start >= end {
        return Vec::new();
    }
    extents
        .iter()
        .filter(|e| e.file_offset < end && e.end() > start)
        .map(|e| {
            let from = e.file_offset.max(start);
            let to = e.end().min(end);
            Extent {
                file_offset: from - start,
                chunk_id: e.chunk_id,
                chunk_offset: e.chunk_offset + (from - e.file_offset),
                length: to - from,
            }
        })
        .collect()
}

/// An object node of `size` bytes whose layout is `extents` (chunks of
/// other objects), with `meta` and `etag`, modified at `now_ns`.
pub fn shared_node(
    extents: &[Extent],
    size: u64,
    etag: String,
    meta: ObjectMeta,
    now_ns: i64,
) -> Node {
    Node {
        ino: 0,
        kind: NodeKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        atime_ns: now_ns,
        mtime_ns: now_ns,
        ctime_ns: now_ns,
        nlink: 1,
        etag,
        content_type: meta.content_type,
        user_meta: meta.user_meta,
        headers: meta.headers,
        replicas: 0,
        min_replicas: 0,
        tier: 0,
        extents: slice_extents(extents, 0, size),
        symlink_target: Vec::new(),
        xattrs: Default::default(),
        version_id: String::new(),
        protection: Default::default(),
        rdev: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(file_offset: u64, chunk_id: u64, chunk_offset: u64, length: u64) -> Extent {
        Extent {
            file_offset,
            chunk_id,
            chunk_offset,
            length,
        }
    }

    #[test]
    fn slices_cut_extents_at_any_offset() {
        // Two chunks of 10 bytes, then a hole, then a third chunk.
        let layout = [ext(0, 1, 0, 10), ext(10, 2, 0, 10), ext(25, 3, 5, 5)];
        assert_eq!(slice_extents(&layout, 0, 30), layout.to_vec());
        assert_eq!(
            slice_extents(&layout, 3, 13),
            vec![ext(0, 1, 3, 7), ext(7, 2, 0, 3)]
        );
        assert_eq!(slice_extents(&layout, 12, 27), {
            vec![ext(0, 2, 2, 8), ext(13, 3, 5, 2)]
        });
        assert!(slice_extents(&layout, 20, 25).is_empty());
        assert!(slice_extents(&layout, 5, 5).is_empty());
    }

    #[test]
    fn random_slices_map_every_byte_to_the_same_chunk_byte() {
        use rand::{Rng, SeedableRng};
        let seed = rand::random::<u64>();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..300 {
            let mut layout = Vec::new();
            let mut pos = 0;
            for id in 0..rng.random_range(0..6u64) {
                pos += rng.random_range(0..5);
                let len = rng.random_range(1..20);
                layout.push(ext(pos, id, rng.random_range(0..50), len));
                pos += len;
            }
            let size = pos + rng.random_range(0..5);
            let start = rng.random_range(0..=size);
            let end = rng.random_range(start..=size);
            let slice = slice_extents(&layout, start, end);
            // Where byte `b` of a layout lives, if anywhere.
            let locate = |l: &[Extent], b: u64| {
                l.iter()
                    .find(|e| e.file_offset <= b && b < e.end())
                    .map(|e| (e.chunk_id, e.chunk_offset + b - e.file_offset))
            };
            for b in start..end {
                assert_eq!(
                    locate(&slice, b - start),
                    locate(&layout, b),
                    "seed {seed}: byte {b}"
                );
            }
            for w in slice.windows(2) {
                assert!(w[0].end() <= w[1].file_offset, "seed {seed}");
            }
            assert!(slice.iter().all(|e| e.length > 0 && e.end() <= end - start));
        }
    }
}
