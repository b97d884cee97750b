//! Inodes and their links, the one layer under every door's namespace
//! change: a fresh inode, and the end of one of its dentries.

use std::collections::BTreeMap;

use cairn_common::ClusterError;

use super::Tables;
use crate::schema::{Inode, NodeKind};

/// A fresh inode with the attributes every kind shares; the caller fills in
/// the kind-specific fields.
pub(super) fn new_inode(ino: u64, kind: NodeKind, parent: &Inode, now_ns: i64) -> Inode {
    Inode {
        ino,
        kind,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        atime_ns: now_ns,
        mtime_ns: now_ns,
        ctime_ns: now_ns,
        nlink: 1,
        etag: String::new(),
        content_type: String::new(),
        user_meta: BTreeMap::new(),
        headers: BTreeMap::new(),
        xattrs: BTreeMap::new(),
        replicas: parent.replicas,
        min_replicas: parent.min_replicas,
        tier: parent.tier,
        layout: Vec::new(),
        symlink_target: Vec::new(),
        bucket: parent.bucket,
        parent: 0,
        name: Vec::new(),
        implicit: false,
        key_only: false,
        version: crate::schema::VersionId::UNVERSIONED,
        protection: Default::default(),
        rdev: 0,
    }
}

/// One dentry (`parent`, `name`) of a file is gone: count it, free the
/// inode at zero.
pub(super) fn drop_link(
    t: &mut Tables,
    node: &mut Inode,
    (parent, name): (u64, &[u8]),
    now_ns: i64,
) -> Result<(), ClusterError> {
    node.nlink = node.nlink.saturating_sub(1);
    node.ctime_ns = now_ns;
    forget_dentry(node, parent, name);
    if node.nlink == 0 {
        t.free_inode(node.clone())
    } else {
        t.put_inode(node)
    }
}

/// A file's recorded dentry is gone while it keeps others: which one
/// names it is no longer known (only hard links, never in a versioned
/// bucket, leave a file so).
fn forget_dentry(node: &mut Inode, parent: u64, name: &[u8]) {
    if node.kind != NodeKind::Dir && node.parent == parent && node.name == name {
        node.parent = 0;
        node.name.clear();
    }
}
