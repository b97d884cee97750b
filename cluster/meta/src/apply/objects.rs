//! Objects: the S3 view over the flat `keys` index, kept in step with the
//! tree; placing a key's current object and removing it (PutKey itself is
//! `put`, versions are `versions`).
//!
//! A key whose segments are all valid names (`a/b/c`) is also a path: PutKey
//! makes the missing parent directories (marked implicit) and a dentry. A
//! key that cannot be a path (an empty segment as in `a//b` or `a/`, a `.` or
//! `..` segment, a segment over 255 bytes, a leading `/`), or whose path is
//! taken by a node of the other kind (`a/b` when `a` is a file), is stored
//! key-only: an inode with no dentry, fully usable through the key RPCs and
//! absent from the filesystem view.
//!
//! A key ending in `/` with no content is a directory marker: it makes the
//! directory explicit (it stays when emptied) instead of storing an object.

use cairn_common::ClusterError;

use super::nodes::{drop_link, new_inode};
use super::{chunks, Tables};
use crate::command::ObjectSpec;
use crate::error::OrIo;
use crate::names::{display, is_posix_name};
use crate::schema::{BucketInfo, Inode, NodeKind};

/// Longest key S3 allows.
pub const MAX_KEY_LEN: usize = 1024;

/// Puts `spec` at `key` as its current object: in the inode that holds the
/// key now (`existing`), or a new one. A key-only holder is always
/// replaced by a fresh inode, so that a key that can now be a path gets one.
pub(super) fn place(
    t: &mut Tables,
    bucket: &BucketInfo,
    key: &[u8],
    spec: &ObjectSpec,
    marker: bool,
    existing: Option<u64>,
    now_ns: i64,
) -> Result<Inode, ClusterError> {
    let mut existing = existing;
    if let Some(old) = existing {
        let node = t.inode(old)?;
        if node.key_only {
            t.keys.remove((bucket.name.as_str(), key)).io()?;
            t.free_inode(node)?;
            existing = None;
        }
    }
    if marker {
        put_marker(t, bucket, key, spec, existing, now_ns)
    } else {
        put_object(t, bucket, key, spec, existing, now_ns)
    }
}

pub(super) fn check_key(key: &[u8]) -> Result<(), ClusterError> {
    if key.is_empty() {
        return Err(ClusterError::Invalid("empty key".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ClusterError::NameTooLong(format!(
            "key of {} bytes ({MAX_KEY_LEN} at most)",
            key.len()
        )));
    }
    Ok(())
}

pub(super) fn bucket_info(t: &Tables, bucket: &str) -> Result<BucketInfo, ClusterError> {
    t.bucket_info(bucket)
}

/// The segments of a key that is a POSIX path, else `None`. A marker's
/// trailing `/` is not a segment.
fn path_segments(key: &[u8], marker: bool) -> Option<Vec<&[u8]>> {
    let body = if marker { &key[..key.len() - 1] } else { key };
    if body.is_empty() {
        return None;
    }
    let segments: Vec<&[u8]> = body.split(|&b| b == b'/').collect();
    segments
        .iter()
        .all(|s| is_posix_name(s))
        .then_some(segments)
}

/// Walks (and with `create`, makes as implicit directories) the parents of a
/// key. `None` when a segment is taken by a non-directory. Directories are
/// only made once a segment is missing, so everything below is free too:
/// a conflict can never follow a creation.
fn walk_parents(
    t: &mut Tables,
    bucket: &BucketInfo,
    segments: &[&[u8]],
    create: Option<(&ObjectSpec, i64)>,
) -> Result<Option<u64>, ClusterError> {
    let mut cur = bucket.ino;
    for seg in segments {
        match t.dentry(cur, seg)? {
            Some(child) => {
                if t.inode(child)?.kind != NodeKind::Dir {
                    return Ok(None);
                }
                cur = child;
            }
            None => {
                let Some((spec, now_ns)) = create else {
                    return Ok(None);
                };
                let parent = t.inode(cur)?;
                let ino = t.next_ino()?;
                let mut dir = new_inode(ino, NodeKind::Dir, &parent, now_ns);
                dir.mode = 0o755;
                dir.uid = spec.uid;
                dir.gid = spec.gid;
                dir.nlink = 2;
                dir.parent = cur;
                dir.name = seg.to_vec();
                dir.implicit = true;
                t.dentries.insert((cur, *seg), ino).io()?;
                t.put_inode(&dir)?;
                t.touch_dir(cur, 1, now_ns)?;
                cur = ino;
            }
        }
    }
    Ok(Some(cur))
}

/// Where a new object's dentry goes: `Some((parent, name))`, or `None` for a
/// key-only object.
fn place_in_tree<'k>(
    t: &mut Tables,
    bucket: &BucketInfo,
    key: &'k [u8],
    marker: bool,
    spec: &ObjectSpec,
    now_ns: i64,
) -> Result<Option<(u64, &'k [u8])>, ClusterError> {
    let Some(segments) = path_segments(key, marker) else {
        return Ok(None);
    };
    let (last, parents) = segments
        .split_last()
        .ok_or_else(|| ClusterError::Invalid("empty key".into()))?;
    Ok(walk_parents(t, bucket, parents, Some((spec, now_ns)))?.map(|p| (p, *last)))
}

fn apply_spec(node: &mut Inode, spec: &ObjectSpec, now_ns: i64) {
    node.mtime_ns = if spec.mtime_ns != 0 {
        spec.mtime_ns
    } else {
        now_ns
    };
    node.ctime_ns = now_ns;
    node.etag = spec.etag.clone();
    node.content_type = spec.content_type.clone();
    node.user_meta = spec.user_meta.clone();
    node.headers = spec.headers.clone();
    if spec.replicas != 0 {
        node.replicas = spec.replicas;
    }
}

fn default_mode(kind: NodeKind) -> u32 {
    match kind {
        NodeKind::File => 0o644,
        NodeKind::Dir => 0o755,
        NodeKind::Symlink => 0o777,
        _ => 0o644,
    }
}

/// Places a file or symlink object.
fn put_object(
    t: &mut Tables,
    bucket: &BucketInfo,
    key: &[u8],
    spec: &ObjectSpec,
    existing: Option<u64>,
    now_ns: i64,
) -> Result<Inode, ClusterError> {
    let kind = match spec.kind {
        Some(NodeKind::Symlink) => {
            if spec.symlink_target.is_empty() {
                return Err(ClusterError::Invalid("a symlink needs a target".into()));
            }
            NodeKind::Symlink
        }
        _ => NodeKind::File,
    };
    if let Some(old) = existing {
        let mut node = t.inode(old)?;
        if node.kind != NodeKind::Dir {
            // Same inode, new content: open handles and hard links see the
            // new object, as with an in-place overwrite. The attributes
            // first: the new chunks take the replica count they set.
            apply_spec(&mut node, spec, now_ns);
            chunks::set_layout(t, &mut node, spec.extents.clone())?;
            node.kind = kind;
            node.size = spec.size;
            node.symlink_target = spec.symlink_target.clone();
            if spec.mode != 0 {
                node.mode = spec.mode & 0o7777;
            }
            t.put_inode(&node)?;
            return Ok(node);
        }
        // The key names a directory marker (`a/` with content now): the
        // directory keeps its children but loses the key; the object is
        // stored key-only.
        t.keys.remove((bucket.name.as_str(), key)).io()?;
        node.implicit = true;
        t.put_inode(&node)?;
    }

    let placed = place_in_tree(t, bucket, key, false, spec, now_ns)?;
    let placed = match placed {
        Some((parent, name)) if t.dentry(parent, name)?.is_some() => None,
        other => other,
    };
    let bucket_dir = t.inode(bucket.ino)?;
    let parent_node = match placed {
        Some((parent, _)) => t.inode(parent)?,
        None => bucket_dir,
    };
    let ino = t.next_ino()?;
    let mut node = new_inode(ino, kind, &parent_node, now_ns);
    node.mode = if spec.mode != 0 {
        spec.mode & 0o7777
    } else {
        default_mode(kind)
    };
    node.uid = spec.uid;
    node.gid = spec.gid;
    node.size = spec.size;
    node.symlink_target = spec.symlink_target.clone();
    node.key_only = placed.is_none();
    apply_spec(&mut node, spec, now_ns);
    chunks::set_layout(t, &mut node, spec.extents.clone())?;
    if let Some((parent, name)) = placed {
        t.dentries.insert((parent, name), ino).io()?;
        t.touch_dir(parent, 0, now_ns)?;
        node.parent = parent;
        node.name = name.to_vec();
    }
    t.keys.insert((bucket.name.as_str(), key), ino).io()?;
    t.put_inode(&node)?;
    Ok(node)
}

/// Places a directory marker `a/b/`.
fn put_marker(
    t: &mut Tables,
    bucket: &BucketInfo,
    key: &[u8],
    spec: &ObjectSpec,
    existing: Option<u64>,
    now_ns: i64,
) -> Result<Inode, ClusterError> {
    if let Some(old) = existing {
        let mut node = t.inode(old)?;
        if node.kind != NodeKind::Dir {
            return Err(ClusterError::Io(format!(
                "key {} ends in `/` but names a file with a path: index out of step",
                display(key)
            )));
        }
        apply_spec(&mut node, spec, now_ns);
        t.put_inode(&node)?;
        return Ok(node);
    }
    let placed = place_in_tree(t, bucket, key, true, spec, now_ns)?;
    if let Some((parent, name)) = placed {
        if let Some(found) = t.dentry(parent, name)? {
            let mut node = t.inode(found)?;
            if node.kind == NodeKind::Dir {
                // An implicit directory (explicit ones have this key) becomes
                // explicit: it now stays when emptied.
                node.implicit = false;
                apply_spec(&mut node, spec, now_ns);
                t.keys.insert((bucket.name.as_str(), key), found).io()?;
                t.put_inode(&node)?;
                return Ok(node);
            }
            // `a/` while `a` is a file: the marker is key-only.
            return new_dir_node(t, bucket, key, spec, None, now_ns);
        }
    }
    new_dir_node(t, bucket, key, spec, placed, now_ns)
}

/// A new directory for a marker: in the tree at `placed`, or key-only.
fn new_dir_node(
    t: &mut Tables,
    bucket: &BucketInfo,
    key: &[u8],
    spec: &ObjectSpec,
    placed: Option<(u64, &[u8])>,
    now_ns: i64,
) -> Result<Inode, ClusterError> {
    let parent_node = match placed {
        Some((parent, _)) => t.inode(parent)?,
        None => t.inode(bucket.ino)?,
    };
    let ino = t.next_ino()?;
    let mut node = new_inode(ino, NodeKind::Dir, &parent_node, now_ns);
    node.mode = if spec.mode != 0 {
        spec.mode & 0o7777
    } else {
        0o755
    };
    node.uid = spec.uid;
    node.gid = spec.gid;
    apply_spec(&mut node, spec, now_ns);
    match placed {
        Some((parent, name)) => {
            node.nlink = 2;
            node.parent = parent;
            node.name = name.to_vec();
            t.dentries.insert((parent, name), ino).io()?;
            t.touch_dir(parent, 1, now_ns)?;
        }
        None => node.key_only = true,
    }
    t.keys.insert((bucket.name.as_str(), key), ino).io()?;
    t.put_inode(&node)?;
    Ok(node)
}

/// Removes the current object of `key`, which inode `ino` holds, from the
/// keys and the tree (its content goes, unless the caller kept it as a
/// version first).
pub(super) fn remove_current(
    t: &mut Tables,
    info: &BucketInfo,
    key: &[u8],
    ino: u64,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let bucket = info.name.as_str();
    let mut node = t.inode(ino)?;
    t.keys.remove((bucket, key)).io()?;
    if node.key_only {
        t.free_inode(node)?;
        return Ok(());
    }
    let is_dir = node.kind == NodeKind::Dir;
    let out_of_step = || {
        ClusterError::Io(format!(
            "key {bucket}/{} has no matching path: index out of step",
            display(key)
        ))
    };
    let segments = path_segments(key, is_dir).ok_or_else(out_of_step)?;
    let (name, parents) = segments.split_last().ok_or_else(out_of_step)?;
    let parent = walk_parents(t, info, parents, None)?.ok_or_else(out_of_step)?;
    if t.dentry(parent, name)? != Some(ino) {
        return Err(out_of_step());
    }
    if is_dir {
        if t.has_children(ino)? {
            // Deleting the marker of a directory that still has entries: it
            // stays, as an implicit directory.
            node.implicit = true;
            t.put_inode(&node)?;
            return Ok(());
        }
        t.dentries.remove((parent, *name)).io()?;
        t.free_inode(node)?;
        t.touch_dir(parent, -1, now_ns)?;
    } else {
        t.dentries.remove((parent, *name)).io()?;
        drop_link(t, &mut node, (parent, name), now_ns)?;
        t.touch_dir(parent, 0, now_ns)?;
    }
    remove_empty_implicit(t, info, parent, now_ns)
}

/// Removes `dir` and its ancestors while they are implicit and empty (up to,
/// not including, the bucket).
fn remove_empty_implicit(
    t: &mut Tables,
    bucket: &BucketInfo,
    dir: u64,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let mut cur = dir;
    while cur != bucket.ino {
        let node = t.inode(cur)?;
        if !node.implicit || t.has_children(cur)? {
            break;
        }
        let parent = node.parent;
        t.dentries.remove((parent, node.name.as_slice())).io()?;
        t.free_inode(node)?;
        t.touch_dir(parent, -1, now_ns)?;
        cur = parent;
    }
    Ok(())
}
