//! Where the bytes of a write go, given a file's layout: a pure function.
//!
//! A byte that an extent of the layout already maps is overwritten in place,
//! in that extent's chunk, unless that chunk is shared (another file or an
//! upload part names it too, after a CopyObject or UploadPartCopy): writing
//! in place would change the other file, so such a byte is treated like a
//! hole and the new extent shadows the shared one. Any other byte (a hole,
//! or past the end of the file) goes to the file's "slot chunk": slot `i` covers file bytes
//! `[i * chunk_size, (i + 1) * chunk_size)` and maps them linearly, file
//! offset `i * chunk_size + k` to chunk offset `k`. Because that mapping is
//! fixed, a byte of a slot always lands at the same place of its slot chunk,
//! whichever write puts it there; the slot chunk is allocated on first use.
//!
//! Invariants of the returned plan: placements are in file order, cover
//! exactly the bytes asked for, never cross an extent or slot boundary, and
//! have a non-zero length.

use crate::node::Extent;

/// The chunk a placement writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChunkTarget {
    /// A chunk the layout already maps at this place.
    Existing(u64),
    /// The file's slot chunk number `slot` (allocated on demand).
    Slot(u64),
}

/// One piece of a write: file bytes `[file_offset, file_offset + len)` go
/// to `target` at `chunk_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub file_offset: u64,
    pub len: u64,
    pub target: ChunkTarget,
    pub chunk_offset: u64,
}

/// Index of the first extent that ends after `offset` (extents are sorted
/// and do not overlap).
fn first_extent_ending_after(extents: &[Extent], offset: u64) -> usize {
    extents.partition_point(|e| e.end() <= offset)
}

/// Plans a write of `len` bytes at `offset` against `extents` (sorted by
/// file offset, non-overlapping) for a cluster whose chunks hold
/// `chunk_size` bytes; `shared` tells the chunks that must not be written
/// in place.
pub fn plan_write(
    extents: &[Extent],
    chunk_size: u64,
    offset: u64,
    len: u64,
    shared: impl Fn(u64) -> bool,
) -> Vec<Placement> {
    let chunk_size = chunk_size.max(1);
    let mut out = Vec::new();
    let end = offset.saturating_add(len);
    let mut pos = offset;
    let mut idx = first_extent_ending_after(extents, offset);
    while pos < end {
        // Shared extents are holes to this write.
        while extents
            .get(idx)
            .is_some_and(|e| e.file_offset <= pos && shared(e.chunk_id))
        {
            idx += 1;
        }
        match extents.get(idx) {
            Some(e) if e.file_offset <= pos => {
                // Inside an extent: overwrite in place, up to its end.
                let stop = e.end().min(end);
                out.push(Placement {
                    file_offset: pos,
                    len: stop - pos,
                    target: ChunkTarget::Existing(e.chunk_id),
                    chunk_offset: e.chunk_offset + (pos - e.file_offset),
                });
                pos = stop;
                idx += 1;
            }
            next => {
                // In a hole: up to the next extent, cut at slot boundaries.
                let hole_end = next.map_or(end, |e| e.file_offset.min(end));
                while pos < hole_end {
                    let slot = pos / chunk_size;
                    let slot_end = (slot + 1).saturating_mul(chunk_size);
                    let stop = slot_end.min(hole_end);
                    out.push(Placement {
                        file_offset: pos,
                        len: stop - pos,
                        target: ChunkTarget::Slot(slot),
                        chunk_offset: pos - slot * chunk_size,
                    });
                    pos = stop;
                }
            }
        }
    }
    out
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

    fn covers_exactly(plan: &[Placement], offset: u64, len: u64) {
        let mut pos = offset;
        for p in plan {
            assert_eq!(p.file_offset, pos, "placements must be contiguous");
            assert!(p.len > 0);
            pos += p.len;
        }
        assert_eq!(pos, offset + len);
    }

    #[test]
    fn empty_file_goes_to_slots_cut_at_chunk_boundaries() {
        let plan = plan_write(&[], 100, 50, 200, |_| false);
        covers_exactly(&plan, 50, 200);
        assert_eq!(
            plan,
            vec![
                Placement {
                    file_offset: 50,
                    len: 50,
                    target: ChunkTarget::Slot(0),
                    chunk_offset: 50
                },
                Placement {
                    file_offset: 100,
                    len: 100,
                    target: ChunkTarget::Slot(1),
                    chunk_offset: 0
                },
                Placement {
                    file_offset: 200,
                    len: 50,
                    target: ChunkTarget::Slot(2),
                    chunk_offset: 0
                },
            ]
        );
    }

    #[test]
    fn overwrite_inside_extents_is_in_place_and_holes_go_to_slots() {
        // A multipart-like layout: two parts in chunks 7 and 9, a hole
        // between them.
        let layout = [ext(0, 7, 0, 30), ext(40, 9, 5, 30)];
        let plan = plan_write(&layout, 100, 20, 60, |_| false);
        covers_exactly(&plan, 20, 60);
        assert_eq!(plan[0].target, ChunkTarget::Existing(7));
        assert_eq!(plan[0].chunk_offset, 20);
        assert_eq!(plan[0].len, 10);
        assert_eq!(plan[1].target, ChunkTarget::Slot(0));
        assert_eq!((plan[1].file_offset, plan[1].len), (30, 10));
        assert_eq!(plan[1].chunk_offset, 30);
        assert_eq!(plan[2].target, ChunkTarget::Existing(9));
        assert_eq!(plan[2].chunk_offset, 5);
        assert_eq!(plan[2].len, 30);
        assert_eq!(plan[3].target, ChunkTarget::Slot(0));
        assert_eq!((plan[3].file_offset, plan[3].len), (70, 10));
    }

    #[test]
    fn write_past_all_extents_and_across_a_slot_boundary() {
        let layout = [ext(0, 1, 0, 100)];
        let plan = plan_write(&layout, 100, 90, 30, |_| false);
        covers_exactly(&plan, 90, 30);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].target, ChunkTarget::Existing(1));
        assert_eq!(plan[1].target, ChunkTarget::Slot(1));
        assert_eq!(plan[1].chunk_offset, 0);
    }

    #[test]
    fn shared_extents_are_written_as_holes() {
        // A copied object shares chunk 7; chunk 9 is the file's own.
        let layout = [ext(0, 7, 0, 100), ext(100, 9, 0, 50)];
        let plan = plan_write(&layout, 100, 90, 20, |c| c == 7);
        covers_exactly(&plan, 90, 20);
        assert_eq!(plan[0].target, ChunkTarget::Slot(0));
        assert_eq!((plan[0].file_offset, plan[0].chunk_offset), (90, 90));
        assert_eq!(plan[1].target, ChunkTarget::Existing(9));
        assert_eq!((plan[1].file_offset, plan[1].chunk_offset), (100, 0));
        assert!(plan.iter().all(|p| p.target != ChunkTarget::Existing(7)));
    }

    #[test]
    fn zero_length_plans_nothing() {
        assert!(plan_write(&[ext(0, 1, 0, 10)], 100, 5, 0, |_| false).is_empty());
    }

    #[test]
    fn random_plans_cover_their_range_and_respect_boundaries() {
        use rand::{Rng, SeedableRng};
        let seed = rand::random::<u64>();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..500 {
            let cs = rng.random_range(1..64u64);
            // Build a random sorted layout with holes.
            let mut layout = Vec::new();
            let mut pos = 0;
            for id in 0..rng.random_range(0..6u64) {
                pos += rng.random_range(0..40);
                let len = rng.random_range(1..40);
                layout.push(ext(pos, id, rng.random_range(0..10), len));
                pos += len;
            }
            let off = rng.random_range(0..300);
            let len = rng.random_range(0..300);
            // Some runs share the odd chunks (copies of another file).
            let share_odd = rng.random_bool(0.5);
            let shared = |id: u64| share_odd && id % 2 == 1;
            let plan = plan_write(&layout, cs, off, len, shared);
            covers_exactly(&plan, off, len);
            for p in &plan {
                match p.target {
                    ChunkTarget::Slot(s) => {
                        assert_eq!(p.file_offset / cs, s, "seed {seed}");
                        assert_eq!(p.chunk_offset, p.file_offset - s * cs);
                        assert!(p.chunk_offset + p.len <= cs, "seed {seed}");
                        assert!(
                            layout.iter().all(|e| shared(e.chunk_id)
                                || e.end() <= p.file_offset
                                || e.file_offset >= p.file_offset + p.len),
                            "a slot placement overlaps an extent (seed {seed})"
                        );
                    }
                    ChunkTarget::Existing(id) => {
                        assert!(!shared(id), "a shared chunk written in place (seed {seed})");
                        let e = layout.iter().find(|e| e.chunk_id == id).unwrap();
                        assert!(e.file_offset <= p.file_offset);
                        assert!(p.file_offset + p.len <= e.end());
                        assert_eq!(
                            p.chunk_offset,
                            e.chunk_offset + p.file_offset - e.file_offset
                        );
                    }
                }
            }
        }
    }
}
