//! A file's layout and its algebra: the one place where extents are cut,
//! overlaid, truncated, merged and searched. The MDS's `apply` changes
//! layouts with it, the client plans and merges writes with it, the mount
//! answers `lseek` and `st_blocks` with it.
//!
//! Invariants: every function takes a layout sorted by file offset whose
//! extents do not overlap, and returns one; an extent of the result maps
//! the same chunk bytes at the same file bytes as the extent it came from.

use serde::{Deserialize, Serialize};

/// Bytes `[file_offset, file_offset + length)` of a file are bytes
/// `[chunk_offset, chunk_offset + length)` of chunk `chunk_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extent {
    pub file_offset: u64,
    pub chunk_id: u64,
    pub chunk_offset: u64,
    pub length: u64,
}

impl Extent {
    /// The first file byte past the extent.
    pub fn end(&self) -> u64 {
        self.file_offset.saturating_add(self.length)
    }
}

/// `layout` with bytes `[start, end)` unmapped, extents split around the
/// range as needed (a hole, and the first step of an overlay).
pub fn punch(layout: &[Extent], start: u64, end: u64) -> Vec<Extent> {
    let mut out = Vec::with_capacity(layout.len() + 1);
    for e in layout {
        if e.end() <= start || e.file_offset >= end {
            out.push(*e);
            continue;
        }
        if e.file_offset < start {
            out.push(Extent {
                length: start - e.file_offset,
                ..*e
            });
        }
        if e.end() > end {
            let skip = end - e.file_offset;
            out.push(Extent {
                file_offset: end,
                chunk_offset: e.chunk_offset + skip,
                length: e.end() - end,
                ..*e
            });
        }
    }
    out
}

/// The layout after writing `new` over `old`: whatever `old` mapped in the
/// byte ranges of `new` is cut out, and `new` takes its place.
pub fn overlay(old: &[Extent], new: &[Extent]) -> Vec<Extent> {
    let mut out = old.to_vec();
    for n in new {
        out = punch(&out, n.file_offset, n.end());
    }
    out.extend_from_slice(new);
    out.sort_by_key(|e| e.file_offset);
    out
}

/// What `layout` maps of bytes `[start, start + len)`, moved to begin at
/// `to` (a range copied by sharing its chunks: `copy_file_range`). Holes
/// stay holes.
pub fn moved_range(layout: &[Extent], start: u64, len: u64, to: u64) -> Vec<Extent> {
    let end = start.saturating_add(len);
    layout
        .iter()
        .filter(|e| e.file_offset < end && e.end() > start)
        .map(|e| {
            let from = e.file_offset.max(start);
            let until = e.end().min(end);
            Extent {
                file_offset: from - start + to,
                chunk_id: e.chunk_id,
                chunk_offset: e.chunk_offset + (from - e.file_offset),
                length: until - from,
            }
        })
        .collect()
}

/// The layout of the file truncated to `size` bytes.
pub fn truncate(layout: &[Extent], size: u64) -> Vec<Extent> {
    layout
        .iter()
        .filter(|e| e.file_offset < size)
        .map(|e| Extent {
            length: e.length.min(size - e.file_offset),
            ..*e
        })
        .collect()
}

/// `extents` sorted, with extents that continue each other (same chunk,
/// contiguous in the file and in the chunk) made one, so that a commit
/// carries as few as possible.
pub fn merge(mut extents: Vec<Extent>) -> Vec<Extent> {
    extents.sort_by_key(|e| e.file_offset);
    let mut out: Vec<Extent> = Vec::with_capacity(extents.len());
    for e in extents {
        if let Some(last) = out.last_mut() {
            if last.chunk_id == e.chunk_id
                && last.end() == e.file_offset
                && last.chunk_offset + last.length == e.chunk_offset
            {
                last.length += e.length;
                continue;
            }
        }
        out.push(e);
    }
    out
}

/// SEEK_DATA: the first mapped byte at or after `offset` in a file of
/// `size` bytes; `None` (ENXIO) when only a hole follows.
pub fn seek_data(layout: &[Extent], size: u64, offset: u64) -> Option<u64> {
    if offset >= size {
        return None;
    }
    layout
        .iter()
        .find(|e| e.end() > offset)
        .map(|e| e.file_offset.max(offset))
        .filter(|at| *at < size)
}

/// SEEK_HOLE: the first unmapped byte at or after `offset` (the end of the
/// file counts as a hole); `None` (ENXIO) at or past the end.
pub fn seek_hole(layout: &[Extent], size: u64, offset: u64) -> Option<u64> {
    if offset >= size {
        return None;
    }
    let mut pos = offset;
    for e in layout.iter().filter(|e| e.end() > offset) {
        if e.file_offset > pos {
            break;
        }
        pos = e.end();
    }
    Some(pos.min(size))
}

/// Bytes the layout maps (what `st_blocks` counts).
pub fn mapped(layout: &[Extent]) -> u64 {
    layout.iter().map(|e| e.length).sum()
}

#[cfg(feature = "rpc")]
impl From<cairn_proto::Extent> for Extent {
    fn from(e: cairn_proto::Extent) -> Self {
        Extent {
            file_offset: e.file_offset,
            chunk_id: e.chunk_id,
            chunk_offset: e.chunk_offset,
            length: e.length,
        }
    }
}

#[cfg(feature = "rpc")]
impl From<Extent> for cairn_proto::Extent {
    fn from(e: Extent) -> Self {
        cairn_proto::Extent {
            file_offset: e.file_offset,
            chunk_id: e.chunk_id,
            chunk_offset: e.chunk_offset,
            length: e.length,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_moved_range_keeps_its_holes_and_chunk_bytes() {
        let e = |file_offset, chunk_id, chunk_offset, length| Extent {
            file_offset,
            chunk_id,
            chunk_offset,
            length,
        };
        // Bytes 0..100 of chunk 1, a hole, then 200..300 from chunk 2.
        let layout = [e(0, 1, 0, 100), e(200, 2, 50, 100)];
        assert_eq!(
            moved_range(&layout, 50, 200, 1000),
            vec![e(1000, 1, 50, 50), e(1150, 2, 50, 50)]
        );
        assert!(moved_range(&layout, 100, 100, 0).is_empty());
        assert_eq!(moved_range(&layout, 0, u64::MAX, 0), layout.to_vec());
    }

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
    fn a_hole_splits_trims_and_drops_extents() {
        let layout = vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100), ext(300, 3, 50, 50)];
        // Inside one extent: split in two around the hole.
        assert_eq!(
            punch(&layout, 10, 20),
            vec![
                ext(0, 1, 0, 10),
                ext(20, 1, 20, 80),
                ext(100, 2, 0, 100),
                ext(300, 3, 50, 50)
            ]
        );
        // Across two extents and a gap: the tail of one, the head of the next.
        assert_eq!(
            punch(&layout, 150, 320),
            vec![ext(0, 1, 0, 100), ext(100, 2, 0, 50), ext(320, 3, 70, 30)]
        );
        // Covering an extent whole: it goes.
        assert_eq!(
            punch(&layout, 100, 200),
            vec![ext(0, 1, 0, 100), ext(300, 3, 50, 50)]
        );
        // In a gap or past the end: nothing changes.
        assert_eq!(punch(&layout, 200, 300), layout);
        assert_eq!(punch(&layout, 350, u64::MAX), layout);
        assert_eq!(punch(&layout, 0, u64::MAX), vec![]);
    }

    #[test]
    fn an_overlay_replaces_what_it_covers() {
        let old = vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100)];
        // Spanning the boundary.
        assert_eq!(
            overlay(&old, &[ext(50, 3, 0, 100)]),
            vec![ext(0, 1, 0, 50), ext(50, 3, 0, 100), ext(150, 2, 50, 50)]
        );
        // Inside one extent: it is split around the new one.
        assert_eq!(
            overlay(&old[..1], &[ext(10, 3, 0, 20)]),
            vec![ext(0, 1, 0, 10), ext(10, 3, 0, 20), ext(30, 1, 30, 70)]
        );
        // Past the end (append) and covering all.
        assert_eq!(
            overlay(&old, &[ext(300, 3, 0, 10)]),
            vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100), ext(300, 3, 0, 10)]
        );
        assert_eq!(overlay(&old, &[ext(0, 3, 0, 200)]), vec![ext(0, 3, 0, 200)]);
    }

    #[test]
    fn a_truncate_cuts_at_the_size() {
        let old = vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100)];
        assert_eq!(
            truncate(&old, 150),
            vec![ext(0, 1, 0, 100), ext(100, 2, 0, 50)]
        );
        assert_eq!(truncate(&old, 100), vec![ext(0, 1, 0, 100)]);
        assert_eq!(truncate(&old, 0), vec![]);
    }

    #[test]
    fn merges_continuing_extents_only() {
        let merged = merge(vec![
            ext(10, 1, 10, 5),
            ext(0, 1, 0, 10),
            ext(15, 2, 15, 5),
            ext(20, 2, 20, 5),
            ext(30, 2, 30, 5),
        ]);
        assert_eq!(
            merged,
            vec![ext(0, 1, 0, 15), ext(15, 2, 15, 10), ext(30, 2, 30, 5)]
        );
    }

    #[test]
    fn seek_finds_data_and_holes() {
        // Data [10, 30) in two adjacent extents, [50, 60); size 80.
        let l = [ext(10, 1, 10, 10), ext(20, 2, 0, 10), ext(50, 1, 50, 10)];
        assert_eq!(seek_data(&l, 80, 0), Some(10));
        assert_eq!(seek_data(&l, 80, 15), Some(15));
        assert_eq!(seek_data(&l, 80, 30), Some(50));
        assert_eq!(seek_data(&l, 80, 60), None, "only the tail hole is left");
        assert_eq!(seek_data(&l, 80, 80), None);
        assert_eq!(seek_hole(&l, 80, 0), Some(0));
        assert_eq!(
            seek_hole(&l, 80, 10),
            Some(30),
            "adjacent extents are one run"
        );
        assert_eq!(seek_hole(&l, 80, 55), Some(60));
        assert_eq!(seek_hole(&l, 80, 79), Some(79));
        assert_eq!(seek_hole(&l, 80, 80), None);
        // A file without holes: the only hole is its end.
        let full = [ext(0, 1, 0, 100)];
        assert_eq!(seek_hole(&full, 100, 3), Some(100));
        assert_eq!(mapped(&l), 30);
    }

    #[cfg(feature = "rpc")]
    #[test]
    fn the_wire_form_keeps_every_field() {
        let e = ext(1, 2, 3, 4);
        assert_eq!(Extent::from(cairn_proto::Extent::from(e)), e);
    }
}
