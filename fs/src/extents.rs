//! Extent algebra of the mount: layouts as the in-memory model changes
//! them (a commit, a truncate, a hole) and as `lseek` reads them
//! (SEEK_DATA, SEEK_HOLE). Pure functions over sorted, disjoint extents.

use cairn_client::Extent;

/// `old` with the bytes of `new` replaced by it (CommitWrite).
pub fn replace_range(old: &[Extent], new: Extent) -> Vec<Extent> {
    let mut out = punch(old, new.file_offset, new.file_end());
    out.push(new);
    out.sort_by_key(|e| e.file_offset);
    out
}

/// `extents` without anything at or past `size` (a truncate).
pub fn cut_at(extents: &[Extent], size: u64) -> Vec<Extent> {
    extents
        .iter()
        .filter(|e| e.file_offset < size)
        .map(|e| Extent {
            length: e.length.min(size - e.file_offset),
            ..*e
        })
        .collect()
}

/// `extents` with bytes `[start, end)` unmapped (PunchHole), extents split
/// around the range as needed.
pub fn punch(extents: &[Extent], start: u64, end: u64) -> Vec<Extent> {
    let mut out = Vec::with_capacity(extents.len() + 1);
    for e in extents {
        if e.file_end() <= start || e.file_offset >= end {
            out.push(*e);
            continue;
        }
        if e.file_offset < start {
            out.push(Extent {
                length: start - e.file_offset,
                ..*e
            });
        }
        if e.file_end() > end {
            let cut = end - e.file_offset;
            out.push(Extent {
                file_offset: end,
                chunk_offset: e.chunk_offset + cut,
                length: e.length - cut,
                ..*e
            });
        }
    }
    out
}

/// SEEK_DATA: the first mapped byte at or after `offset` in a file of
/// `size` bytes; `None` (ENXIO) when only a hole follows.
pub fn seek_data(extents: &[Extent], size: u64, offset: u64) -> Option<u64> {
    if offset >= size {
        return None;
    }
    extents
        .iter()
        .find(|e| e.file_end() > offset)
        .map(|e| e.file_offset.max(offset))
        .filter(|at| *at < size)
}

/// SEEK_HOLE: the first unmapped byte at or after `offset` (the end of the
/// file counts as a hole); `None` (ENXIO) at or past the end.
pub fn seek_hole(extents: &[Extent], size: u64, offset: u64) -> Option<u64> {
    if offset >= size {
        return None;
    }
    let mut pos = offset;
    for e in extents.iter().filter(|e| e.file_end() > offset) {
        if e.file_offset > pos {
            break;
        }
        pos = e.file_end();
    }
    Some(pos.min(size))
}

/// Bytes the layout maps (what `st_blocks` counts).
pub fn mapped(extents: &[Extent]) -> u64 {
    extents.iter().map(|e| e.length).sum()
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
    fn replacing_a_range_splits_what_it_covers() {
        let old = [ext(0, 1, 0, 100)];
        let out = replace_range(&old, ext(10, 2, 0, 20));
        assert_eq!(
            out,
            vec![ext(0, 1, 0, 10), ext(10, 2, 0, 20), ext(30, 1, 30, 70)]
        );
        assert_eq!(cut_at(&out, 15), vec![ext(0, 1, 0, 10), ext(10, 2, 0, 5)]);
    }

    #[test]
    fn a_hole_splits_and_drops_extents() {
        let old = [ext(0, 1, 0, 100), ext(100, 2, 0, 50)];
        assert_eq!(
            punch(&old, 10, 120),
            vec![ext(0, 1, 0, 10), ext(120, 2, 20, 30)]
        );
        assert_eq!(punch(&old, 0, 200), vec![]);
        assert_eq!(punch(&old, 150, 300), old.to_vec());
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
}
