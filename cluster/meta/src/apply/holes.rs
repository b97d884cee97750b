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
//! A hole (like any write other than from start to end) leaves the ETag
//! stale (empty); `set_etag` stores the one a door hashed from the bytes,
//! if the file did not change while it read them.
//!
//! Invariants: the size does not change; the layout stays sorted and
//! disjoint and maps, outside the range, exactly the bytes it mapped before.

use cairn_common::ClusterError;

use super::{chunks, Tables};
use crate::command::CommandReply;
use crate::schema::NodeKind;

pub(super) fn punch(
    t: &mut Tables,
    ino: u64,
    offset: u64,
    length: u64,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let mut node = t.inode(ino)?;
    match node.kind {
        NodeKind::File => {}
        NodeKind::Dir => return Err(ClusterError::IsDir(format!("inode {ino}"))),
        _ => {
            return Err(ClusterError::Invalid(format!(
                "inode {ino} is not a regular file"
            )))
        }
    }
    if length == 0 {
        return Err(ClusterError::Invalid("a hole of 0 bytes".into()));
    }
    let end = offset.saturating_add(length);
    let layout = cairn_common::extent::punch(&node.layout, offset, end);
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

pub(super) fn set_etag(
    t: &mut Tables,
    ino: u64,
    etag: &str,
    size: u64,
    mtime_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let mut node = t.inode(ino)?;
    if node.kind != NodeKind::File {
        return Err(ClusterError::Invalid(format!(
            "inode {ino} is not a regular file"
        )));
    }
    let hex = etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Err(ClusterError::Invalid(format!(
            "{etag:?} is not an MD5 in hex"
        )));
    }
    if !node.etag.is_empty() {
        return Ok(CommandReply::Node(node));
    }
    if node.size != size || node.mtime_ns != mtime_ns {
        return Err(ClusterError::PreconditionFailed(format!(
            "inode {ino} changed while its ETag was computed"
        )));
    }
    node.etag = etag.to_ascii_lowercase();
    t.put_inode(&node)?;
    Ok(CommandReply::Node(node))
}
