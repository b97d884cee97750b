//! Holes: PunchHole cuts a byte range out of a file's layout, which is what
//! fallocate's PUNCH_HOLE and ZERO_RANGE do on the mount (a VM's `discard`,
//! `fstrim`, `fallocate --dig-holes`).
//!
//! A byte no extent maps reads as zeros, so a hole needs no data. The new
//! layout goes through `chunks::set_layout`, which releases every chunk no
//! extent names any more: a whole chunk inside the range goes back to the
//! cluster (freed after the grace period, like a truncated one). A chunk
//! the range covers only partly stays, with its bytes, named by the
//! extents around the hole; the bytes under the hole are not reclaimed on
//! the chunk servers (the replica file is not punched).
//!
//! Invariants: the size does not change; the layout stays sorted and
//! disjoint and maps, outside the range, exactly the bytes it mapped before.

use cairn_common::FsError;

use super::{chunks, Tables};
use crate::command::CommandReply;
use crate::schema::{Extent, NodeKind};

/// The layout with bytes `[start, end)` unmapped.
pub(crate) fn punch_extents(layout: &[Extent], start: u64, end: u64) -> Vec<Extent> {
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
                chunk_id: e.chunk_id,
                chunk_offset: e.chunk_offset + skip,
                length: e.end() - end,
            });
        }
    }
    out
}

pub(super) fn punch(
    t: &mut Tables,
    ino: u64,
    offset: u64,
    length: u64,
    now_ns: i64,
) -> Result<CommandReply, FsError> {
    let mut node = t.inode(ino)?;
    match node.kind {
        NodeKind::File => {}
        NodeKind::Dir => return Err(FsError::IsDir(format!("inode {ino}"))),
        _ => {
            return Err(FsError::Invalid(format!(
                "inode {ino} is not a regular file"
            )))
        }
    }
    if length == 0 {
        return Err(FsError::Invalid("a hole of 0 bytes".into()));
    }
    let end = offset.saturating_add(length);
    let layout = punch_extents(&node.layout, offset, end);
    if layout == node.layout {
        // Already a hole: nothing changes, not even the times.
        return Ok(CommandReply::Node(node));
    }
    chunks::set_layout(t, &mut node, layout)?;
    // The bytes changed (to zeros): the ETag is stale until recomputed.
    node.etag = String::new();
    node.mtime_ns = now_ns;
    node.ctime_ns = now_ns;
    t.put_inode(&node)?;
    Ok(CommandReply::Node(node))
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
    fn a_hole_splits_trims_and_drops_extents() {
        let layout = vec![ext(0, 1, 0, 100), ext(100, 2, 0, 100), ext(300, 3, 50, 50)];
        // Inside one extent: split in two around the hole.
        assert_eq!(
            punch_extents(&layout, 10, 20),
            vec![
                ext(0, 1, 0, 10),
                ext(20, 1, 20, 80),
                ext(100, 2, 0, 100),
                ext(300, 3, 50, 50)
            ]
        );
        // Across two extents and a gap: the tail of one, the head of the next.
        assert_eq!(
            punch_extents(&layout, 150, 320),
            vec![ext(0, 1, 0, 100), ext(100, 2, 0, 50), ext(320, 3, 70, 30)]
        );
        // Covering an extent whole: it goes.
        assert_eq!(
            punch_extents(&layout, 100, 200),
            vec![ext(0, 1, 0, 100), ext(300, 3, 50, 50)]
        );
        // In a gap or past the end: nothing changes.
        assert_eq!(punch_extents(&layout, 200, 300), layout);
        assert_eq!(punch_extents(&layout, 350, u64::MAX), layout);
    }
}
