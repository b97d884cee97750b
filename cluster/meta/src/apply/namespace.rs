//! The POSIX namespace (buckets, the directories under the root, are
//! `buckets`').
//!
//! Every change here that adds, removes or moves a path inside a bucket
//! updates `keys` in the same transaction: a file or symlink at
//! `bucket/a/b/c` has key `a/b/c`, an explicit directory (made by mkdir or a
//! `a/` marker) has key `a/b/`, an implicit directory has none. Hard links
//! have one key per dentry. The root holds only buckets (directories).

use cairn_common::{ClusterError, ROOT_INO};

use super::buckets::{self, make_bucket};
use super::nodes::{drop_link, new_inode};
use super::{chunks, is_ancestor, versions, Tables};
use crate::command::{AttrChange, CommandReply};
use crate::error::OrIo;
use crate::names::{check_name, display};
use crate::schema::{self, NodeKind, EMPTY_ETAG};

/// Most hard links a file may have.
const MAX_LINKS: u32 = 65_000;
/// Most replicas a file may ask for: more copies than any cluster has
/// failure domains for is a typo, not a wish.
const MAX_REPLICAS: u32 = 16;
/// Highest storage tier (PCS has tiers 0..3).
const MAX_TIER: u32 = 3;
/// Largest xattr value (Linux's XATTR_SIZE_MAX).
const MAX_XATTR_VALUE: usize = 64 << 10;
/// Longest xattr name (Linux's XATTR_NAME_MAX).
const MAX_XATTR_NAME: usize = 255;

/// Arguments of Create.
pub(super) struct NewNode<'a> {
    pub parent: u64,
    pub name: &'a [u8],
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub symlink_target: &'a [u8],
    pub exclusive: bool,
}

pub(super) fn create(
    t: &mut Tables,
    n: NewNode,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_name(n.name)?;
    let dir = t.dir(n.parent)?;
    if let Some(existing) = t.dentry(n.parent, n.name)? {
        let node = t.inode(existing)?;
        if n.exclusive || node.kind != n.kind {
            return Err(ClusterError::Exists(display(n.name)));
        }
        return Ok(CommandReply::Node(node));
    }
    if n.parent == ROOT_INO {
        if n.kind != NodeKind::Dir {
            return Err(ClusterError::PermissionDenied(
                "only buckets (directories) can be made at the top".into(),
            ));
        }
        let name = std::str::from_utf8(n.name)
            .map_err(|_| ClusterError::Invalid("a bucket name must be UTF-8".into()))?;
        let (node, _) = make_bucket(t, name, "", n.mode, n.uid, n.gid, now_ns)?;
        return Ok(CommandReply::Node(node));
    }
    let ino = t.next_ino()?;
    let mut node = new_inode(ino, n.kind, &dir, now_ns);
    node.uid = n.uid;
    node.gid = n.gid;
    node.mode = n.mode & 0o7777;
    node.parent = n.parent;
    node.name = n.name.to_vec();
    match n.kind {
        NodeKind::File => node.etag = EMPTY_ETAG.to_string(),
        NodeKind::Dir => node.nlink = 2,
        NodeKind::Symlink => {
            if n.symlink_target.is_empty() {
                return Err(ClusterError::Invalid("a symlink needs a target".into()));
            }
            node.symlink_target = n.symlink_target.to_vec();
            node.size = n.symlink_target.len() as u64;
        }
        // No content; the caller (`special`) sets the device number.
        NodeKind::Fifo | NodeKind::Socket | NodeKind::CharDev | NodeKind::BlockDev => {}
    }
    t.dentries.insert((n.parent, n.name), ino).io()?;
    let (bucket, key) = t.entry_key(&dir, n.name, n.kind == NodeKind::Dir)?;
    t.claim_key(&bucket, &key, &mut node, now_ns)?;
    t.put_inode(&node)?;
    t.touch_dir(n.parent, i32::from(n.kind == NodeKind::Dir), now_ns)?;
    Ok(CommandReply::Node(node))
}

/// `min_replicas`: the new minimum replica count (0: the default for the
/// replica count); `None` leaves it.
pub(super) fn set_attr(
    t: &mut Tables,
    ino: u64,
    c: &AttrChange,
    min_replicas: Option<u32>,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let mut node = t.inode(ino)?;
    if let Some(mode) = c.mode {
        node.mode = mode & 0o7777;
    }
    if let Some(uid) = c.uid {
        node.uid = uid;
    }
    if let Some(gid) = c.gid {
        node.gid = gid;
    }
    if let Some(atime) = c.atime_ns {
        node.atime_ns = atime;
    }
    if let Some(mtime) = c.mtime_ns {
        node.mtime_ns = mtime;
    }
    if let Some(size) = c.size {
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(ClusterError::IsDir(format!("inode {ino}"))),
            NodeKind::Symlink => {
                return Err(ClusterError::Invalid(format!("inode {ino} is a symlink")))
            }
            _ => return Err(ClusterError::Invalid(format!("inode {ino} has no content"))),
        }
        if size != node.size {
            versions::on_rewrite(t, &mut node, now_ns)?;
            let layout = cairn_common::extent::truncate(&node.layout, size);
            chunks::set_layout(t, &mut node, layout)?;
            node.size = size;
            schema::forget_content_checksums(&mut node);
            node.etag = if size == 0 {
                EMPTY_ETAG.to_string()
            } else {
                String::new()
            };
            if c.mtime_ns.is_none() {
                node.mtime_ns = now_ns;
            }
        }
    }
    let attrs_before = (node.replicas, node.tier);
    if let Some(replicas) = c.replicas {
        if replicas == 0 {
            return Err(ClusterError::Invalid(
                "replica count must be at least 1".into(),
            ));
        }
        if replicas > MAX_REPLICAS {
            return Err(ClusterError::Invalid(format!(
                "replica count {replicas}: {MAX_REPLICAS} at most"
            )));
        }
        node.replicas = replicas;
        // A minimum never stands above the count it is the minimum of.
        node.min_replicas = node.min_replicas.min(replicas);
    }
    if let Some(min) = min_replicas {
        if min > node.replicas {
            return Err(ClusterError::Invalid(format!(
                "minimum replica count {min} is above the replica count {}",
                node.replicas
            )));
        }
        node.min_replicas = min;
    }
    if let Some(tier) = c.tier {
        if tier > MAX_TIER {
            return Err(ClusterError::Invalid(format!(
                "tier {tier}: 0 to {MAX_TIER}"
            )));
        }
        node.tier = tier;
    }
    if (node.replicas, node.tier) != attrs_before && node.kind == NodeKind::File {
        // The healer brings existing chunks to the new count and tier.
        chunks::apply_attrs_to_chunks(t, &node)?;
    }
    for (name, value) in &c.set_xattrs {
        if name.is_empty() || name.len() > MAX_XATTR_NAME {
            return Err(ClusterError::Invalid(format!(
                "xattr name `{name}`: 1 to 255 bytes"
            )));
        }
        if value.len() > MAX_XATTR_VALUE {
            return Err(ClusterError::NoSpace(format!(
                "xattr `{name}`: value of {} bytes, 64 KiB at most",
                value.len()
            )));
        }
        node.xattrs.insert(name.clone(), value.clone());
    }
    for name in &c.remove_xattrs {
        // Removing an absent xattr is not an error here: `ClusterError` has no
        // ENODATA (yet); the door checks existence with GetAttr if it must.
        node.xattrs.remove(name);
    }
    node.ctime_ns = now_ns;
    t.put_inode(&node)?;
    Ok(CommandReply::Node(node))
}

/// Removes `name` from `parent`; with `expect`, only while the name still
/// names that inode (ENOENT otherwise: the file meant is already gone).
pub(super) fn unlink(
    t: &mut Tables,
    parent: u64,
    name: &[u8],
    expect: Option<u64>,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_name(name)?;
    let dir = t.dir(parent)?;
    let ino = t
        .dentry(parent, name)?
        .filter(|ino| expect.is_none_or(|e| e == *ino))
        .ok_or_else(|| ClusterError::NotFound(display(name)))?;
    let mut node = t.inode(ino)?;
    if node.kind == NodeKind::Dir {
        return Err(ClusterError::IsDir(display(name)));
    }
    versions::refuse_locked_change(&node, now_ns, &display(name))?;
    t.dentries.remove((parent, name)).io()?;
    let (bucket, key) = t.entry_key(&dir, name, false)?;
    t.release_key(&bucket, &key, ino, now_ns)?;
    drop_link(t, &mut node, (parent, name), now_ns)?;
    t.touch_dir(parent, 0, now_ns)?;
    Ok(CommandReply::Done)
}

pub(super) fn rmdir(
    t: &mut Tables,
    parent: u64,
    name: &[u8],
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_name(name)?;
    let dir = t.dir(parent)?;
    let ino = t
        .dentry(parent, name)?
        .ok_or_else(|| ClusterError::NotFound(display(name)))?;
    let node = t.inode(ino)?;
    if node.kind != NodeKind::Dir {
        return Err(ClusterError::NotDir(display(name)));
    }
    if t.has_children(ino)? {
        return Err(ClusterError::NotEmpty(display(name)));
    }
    if parent == ROOT_INO {
        // A bucket: the one bucket deletion, with S3's rules on top.
        buckets::rmdir_bucket(t, &display(name), node, now_ns)?;
        return Ok(CommandReply::Done);
    }
    if !node.implicit {
        let (bucket, key) = t.entry_key(&dir, name, true)?;
        t.release_key(&bucket, &key, ino, now_ns)?;
    }
    t.dentries.remove((parent, name)).io()?;
    t.free_inode(node)?;
    t.touch_dir(parent, -1, now_ns)?;
    Ok(CommandReply::Done)
}

pub(super) fn rename(
    t: &mut Tables,
    parent: u64,
    name: &[u8],
    new_parent: u64,
    new_name: &[u8],
    no_replace: bool,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_name(name)?;
    check_name(new_name)?;
    let src_dir = t.dir(parent)?;
    let dst_dir = t.dir(new_parent)?;
    let ino = t
        .dentry(parent, name)?
        .ok_or_else(|| ClusterError::NotFound(display(name)))?;
    let mut node = t.inode(ino)?;
    versions::refuse_locked_change(&node, now_ns, &display(name))?;
    if parent == ROOT_INO && new_parent == ROOT_INO {
        return Err(ClusterError::PermissionDenied(
            "buckets cannot be renamed".into(),
        ));
    }
    if parent == ROOT_INO || new_parent == ROOT_INO || src_dir.bucket != dst_dir.bucket {
        return Err(ClusterError::CrossDevice(format!(
            "{} -> {}: a rename stays inside one bucket",
            display(name),
            display(new_name)
        )));
    }
    let is_dir = node.kind == NodeKind::Dir;
    if is_dir && is_ancestor(t, ino, new_parent)? {
        return Err(ClusterError::Invalid(format!(
            "cannot move directory {} into itself",
            display(name)
        )));
    }

    let mut dst_nlink_delta = 0i32;
    let mut src_nlink_delta = 0i32;
    if let Some(existing) = t.dentry(new_parent, new_name)? {
        if no_replace {
            return Err(ClusterError::Exists(display(new_name)));
        }
        if existing == ino {
            // Two names of one file (or the same name): POSIX does nothing.
            return Ok(CommandReply::Done);
        }
        let mut target = t.inode(existing)?;
        versions::refuse_locked_change(&target, now_ns, &display(new_name))?;
        let target_is_dir = target.kind == NodeKind::Dir;
        match (is_dir, target_is_dir) {
            (true, false) => return Err(ClusterError::NotDir(display(new_name))),
            (false, true) => return Err(ClusterError::IsDir(display(new_name))),
            (true, true) if t.has_children(existing)? => {
                return Err(ClusterError::NotEmpty(display(new_name)))
            }
            _ => {}
        }
        t.dentries.remove((new_parent, new_name)).io()?;
        if target_is_dir {
            if !target.implicit {
                let (bucket, key) = t.entry_key(&dst_dir, new_name, true)?;
                t.release_key(&bucket, &key, existing, now_ns)?;
            }
            t.free_inode(target)?;
            dst_nlink_delta -= 1;
        } else {
            let (bucket, key) = t.entry_key(&dst_dir, new_name, false)?;
            t.release_key(&bucket, &key, existing, now_ns)?;
            drop_link(t, &mut target, (new_parent, new_name), now_ns)?;
        }
    }

    t.dentries.remove((parent, name)).io()?;
    t.dentries.insert((new_parent, new_name), ino).io()?;
    let (bucket, old_key) = t.entry_key(&src_dir, name, is_dir)?;
    let (_, new_key) = t.entry_key(&dst_dir, new_name, is_dir)?;
    if is_dir {
        if !node.implicit {
            t.release_key(&bucket, &old_key, ino, now_ns)?;
            t.claim_key(&bucket, &new_key, &mut node, now_ns)?;
        }
        // Keys without the trailing '/': the directory's path.
        let old_rel = old_key[..old_key.len() - 1].to_vec();
        let new_rel = new_key[..new_key.len() - 1].to_vec();
        rekey_subtree(t, &bucket, ino, old_rel, new_rel, now_ns)?;
        node.parent = new_parent;
        node.name = new_name.to_vec();
        if parent != new_parent {
            src_nlink_delta -= 1;
            dst_nlink_delta += 1;
        }
    } else {
        t.release_key(&bucket, &old_key, ino, now_ns)?;
        t.claim_key(&bucket, &new_key, &mut node, now_ns)?;
        if node.nlink <= 1 || (node.parent == parent && node.name == name) {
            node.parent = new_parent;
            node.name = new_name.to_vec();
        }
    }
    node.ctime_ns = now_ns;
    t.put_inode(&node)?;
    if parent == new_parent {
        t.touch_dir(parent, src_nlink_delta + dst_nlink_delta, now_ns)?;
    } else {
        t.touch_dir(parent, src_nlink_delta, now_ns)?;
        t.touch_dir(new_parent, dst_nlink_delta, now_ns)?;
    }
    Ok(CommandReply::Done)
}

/// Moves the keys of everything below directory `dir` from path `old_rel`
/// to `new_rel` (the directory itself is done by the caller). Walks the
/// subtree through `dentries`, so keys that merely share the prefix but are
/// not in the tree (key-only objects such as `old//x`) stay where they are.
fn rekey_subtree(
    t: &mut Tables,
    bucket: &str,
    dir: u64,
    old_rel: Vec<u8>,
    new_rel: Vec<u8>,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let mut stack = vec![(dir, old_rel, new_rel)];
    while let Some((d, old_rel, new_rel)) = stack.pop() {
        for (name, child) in t.children(d)? {
            let mut node = t.inode(child)?;
            let version = node.version;
            let old_path = schema::join_key(&old_rel, &name);
            let new_path = schema::join_key(&new_rel, &name);
            if node.kind == NodeKind::Dir {
                if !node.implicit {
                    let mut old_key = old_path.clone();
                    old_key.push(b'/');
                    let mut new_key = new_path.clone();
                    new_key.push(b'/');
                    t.release_key(bucket, &old_key, child, now_ns)?;
                    t.claim_key(bucket, &new_key, &mut node, now_ns)?;
                }
                stack.push((child, old_path.clone(), new_path.clone()));
            } else {
                t.release_key(bucket, &old_path, child, now_ns)?;
                t.claim_key(bucket, &new_path, &mut node, now_ns)?;
            }
            if node.version != version {
                t.put_inode(&node)?;
            }
        }
    }
    Ok(())
}

pub(super) fn link(
    t: &mut Tables,
    ino: u64,
    new_parent: u64,
    new_name: &[u8],
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_name(new_name)?;
    let mut node = t.inode(ino)?;
    if node.kind == NodeKind::Dir {
        return Err(ClusterError::PermissionDenied(
            "hard links to directories are not allowed".into(),
        ));
    }
    if node.key_only {
        return Err(ClusterError::Invalid(format!(
            "inode {ino} is an object without a path: it cannot be linked"
        )));
    }
    let dir = t.dir(new_parent)?;
    if new_parent == ROOT_INO || dir.bucket != node.bucket {
        return Err(ClusterError::CrossDevice(format!(
            "{}: a hard link stays inside its bucket",
            display(new_name)
        )));
    }
    if t.dentry(new_parent, new_name)?.is_some() {
        return Err(ClusterError::Exists(display(new_name)));
    }
    if node.nlink >= MAX_LINKS {
        return Err(ClusterError::TooManyLinks(format!("inode {ino}")));
    }
    let (bucket, key) = t.entry_key(&dir, new_name, false)?;
    if super::versions::is_versioned(t, &bucket)? {
        return Err(super::versions::hard_links_refused(&bucket));
    }
    t.dentries.insert((new_parent, new_name), ino).io()?;
    t.claim_key(&bucket, &key, &mut node, now_ns)?;
    node.nlink += 1;
    node.ctime_ns = now_ns;
    t.put_inode(&node)?;
    t.touch_dir(new_parent, 0, now_ns)?;
    Ok(CommandReply::Node(node))
}
