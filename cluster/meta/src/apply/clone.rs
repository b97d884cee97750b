//! CloneRange: `copy_file_range` on the mount without moving a byte. The
//! destination's layout takes the source's extents of the range, moved
//! (`extent::moved_range`), over a hole punched for the range, so the
//! source's holes stay holes; each chunk newly named gains a reference
//! (`chunks::set_layout`), which makes it shared: every writer then writes
//! around it (copy on write), as for CopyObject and kept versions.
//!
//! A clone that would make one file map a chunk twice (within one file, or
//! back into a file that maps the chunk elsewhere) is refused with
//! `EOPNOTSUPP`: references count holders, so such a chunk would look
//! unshared to its own file's writer. The kernel then copies the bytes.
//!
//! Invariants: no inode maps one chunk from two of its extents through a
//! clone; the source does not change; the destination maps, outside
//! the range, exactly what it mapped before, and inside it what the source
//! mapped; its size covers the range; its ETag is stale (empty).

use cairn_common::{extent, ClusterError};

use super::{chunks, Tables};
use crate::command::CommandReply;
use crate::schema::NodeKind;

/// What is copied where.
pub(super) struct Range {
    pub src: u64,
    pub src_offset: u64,
    pub dst: u64,
    pub dst_offset: u64,
    pub length: u64,
}

pub(super) fn clone_range(
    t: &mut Tables,
    r: Range,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let src = t.inode(r.src)?;
    let mut dst = t.inode(r.dst)?;
    for node in [&src, &dst] {
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(ClusterError::IsDir(format!("inode {}", node.ino))),
            _ => {
                return Err(ClusterError::Invalid(format!(
                    "inode {} is not a regular file",
                    node.ino
                )))
            }
        }
    }
    // Past the source's end nothing is copied (copy_file_range answers 0).
    let length = r.length.min(src.size.saturating_sub(r.src_offset));
    if length == 0 {
        return Ok(CommandReply::Node(dst));
    }
    let dst_end = r
        .dst_offset
        .checked_add(length)
        .filter(|end| *end <= i64::MAX as u64)
        .ok_or_else(|| {
            ClusterError::Invalid("the copy would end past the largest offset".into())
        })?;
    // A chunk's references count its holders, not its extents: a chunk
    // mapped twice by one file would look unshared, and a write in place
    // through one mapping would change the other. Such copies are left to
    // the caller to make byte by byte (the kernel does, on EOPNOTSUPP).
    if r.src == r.dst {
        return Err(ClusterError::NotSupported(
            "a range cloned within one file would map its chunks twice".into(),
        ));
    }
    let piece = extent::moved_range(&src.layout, r.src_offset, length, r.dst_offset);
    let kept = extent::punch(&dst.layout, r.dst_offset, dst_end);
    if piece
        .iter()
        .any(|p| kept.iter().any(|k| k.chunk_id == p.chunk_id))
    {
        return Err(ClusterError::NotSupported(
            "the destination already maps a chunk of the range elsewhere".into(),
        ));
    }
    let layout = extent::overlay(&kept, &piece);
    chunks::set_layout(t, &mut dst, layout)?;
    dst.size = dst.size.max(dst_end);
    dst.etag = String::new();
    dst.mtime_ns = now_ns;
    dst.ctime_ns = now_ns;
    t.put_inode(&dst)?;
    Ok(CommandReply::Node(dst))
}
