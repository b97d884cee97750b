//! Special files: FIFOs, UNIX sockets, character and block devices, made
//! by mknod, mkfifo and bind on the mount.
//!
//! They are inodes of the namespace like any other (dentries, link counts,
//! rename, hard links) with no content, and, unlike files, no key: through
//! S3 they do not exist (left out of listings, GET/HEAD answer NoSuchKey),
//! just as implicit directories have none. `Tables::claim_key` and
//! `release_key` skip them, so every namespace path that moves keys along
//! with dentries (rename, link, unlink, a renamed directory's subtree)
//! leaves them keyless. An object PUT at the path of one is stored key-only
//! (its path is taken by a node of another kind).

use cairn_common::ClusterError;

use super::namespace::{self, NewNode};
use super::Tables;
use crate::command::CommandReply;
use crate::schema::NodeKind;

pub(super) fn create(
    t: &mut Tables,
    n: NewNode,
    rdev: u64,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if !n.kind.is_special() {
        return Err(ClusterError::Invalid(format!(
            "{:?} is not a FIFO, socket or device node",
            n.kind
        )));
    }
    let device = matches!(n.kind, NodeKind::CharDev | NodeKind::BlockDev);
    if rdev != 0 && !device {
        return Err(ClusterError::Invalid(format!(
            "a {:?} has no device number",
            n.kind
        )));
    }
    let reply = namespace::create(t, n, now_ns)?;
    let CommandReply::Node(mut node) = reply else {
        return Err(ClusterError::Io("create answered no node".into()));
    };
    if node.rdev != rdev {
        node.rdev = rdev;
        t.put_inode(&node)?;
    }
    Ok(CommandReply::Node(node))
}
