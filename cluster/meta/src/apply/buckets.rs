//! Buckets: the directories under the root, each with its `buckets` row.
//! One creation and one deletion serve both doors (S3's CreateBucket and
//! DeleteBucket, mkdir and rmdir under the root).

use cairn_common::{ClusterError, ROOT_INO};
use redb::ReadableTable;

use super::nodes::new_inode;
use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::names::{check_name, display};
use crate::schema::{self, BucketInfo, Inode, NodeKind, Stored};

/// A bucket name: a valid directory name in UTF-8. (The S3 naming rules —
/// lowercase, 3 to 63 characters — are the gateway's to enforce.)
fn check_bucket_name(name: &str) -> Result<(), ClusterError> {
    check_name(name.as_bytes())
}

/// Makes bucket `name`: the directory under the root and its `buckets` row.
pub(super) fn make_bucket(
    t: &mut Tables,
    name: &str,
    owner: &str,
    mode: u32,
    uid: u32,
    gid: u32,
    now_ns: i64,
) -> Result<(Inode, BucketInfo), ClusterError> {
    check_bucket_name(name)?;
    if t.buckets.get(name).io()?.is_some() || t.dentry(ROOT_INO, name.as_bytes())?.is_some() {
        return Err(ClusterError::Exists(format!("bucket {name}")));
    }
    let root = t.dir(ROOT_INO)?;
    let ino = t.next_ino()?;
    let mut node = new_inode(ino, NodeKind::Dir, &root, now_ns);
    node.mode = if mode == 0 { 0o755 } else { mode & 0o7777 };
    node.uid = uid;
    node.gid = gid;
    node.nlink = 2;
    node.bucket = ino;
    node.parent = ROOT_INO;
    node.name = name.as_bytes().to_vec();
    let info = BucketInfo {
        name: name.to_string(),
        ino,
        created_ns: now_ns,
        owner: owner.to_string(),
    };
    let bytes = info.encode()?;
    t.buckets.insert(name, bytes.as_slice()).io()?;
    t.dentries.insert((ROOT_INO, name.as_bytes()), ino).io()?;
    t.put_inode(&node)?;
    t.touch_dir(ROOT_INO, 1, now_ns)?;
    Ok((node, info))
}

pub(super) fn create_bucket(
    t: &mut Tables,
    name: &str,
    owner: &str,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let (_, info) = make_bucket(t, name, owner, 0o755, 0, 0, now_ns)?;
    Ok(CommandReply::Bucket(info))
}

/// Whether bucket `name` may go, the same rules for both doors (S3's
/// DeleteBucket and rmdir of a directory under the root): no key (no
/// current object or marker), no version kept (noncurrent versions and
/// delete markers, the versions object lock protects among them), no
/// multipart upload in progress. Refusals are NotEmpty (ENOTEMPTY, S3's
/// BucketNotEmpty) saying what is left.
fn check_may_go(t: &Tables, name: &str) -> Result<(), ClusterError> {
    let left = if bucket_has_keys(t, name)? {
        "objects"
    } else if super::settings::bucket_has_versions(t, name)? {
        "versions or delete markers"
    } else if super::uploads::bucket_has_uploads(t, name)? {
        "multipart uploads in progress"
    } else {
        return Ok(());
    };
    Err(ClusterError::NotEmpty(format!(
        "bucket {name} still holds {left}"
    )))
}

fn bucket_has_keys(t: &Tables, bucket: &str) -> Result<bool, ClusterError> {
    let start: (&str, &[u8]) = (bucket, &[]);
    let mut range = t.keys.range(start..).io()?;
    match range.next() {
        Some(entry) => Ok(entry.io()?.0.value().0 == bucket),
        None => Ok(false),
    }
}

/// Deletes bucket `name` (S3's DeleteBucket): see [`check_may_go`].
/// Directories left without keys (implicit ones emptied through the
/// filesystem) go with it.
pub(super) fn delete_bucket(
    t: &mut Tables,
    name: &str,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let info = schema::get_record::<&str, _, BucketInfo>(&t.buckets, name)?
        .ok_or_else(|| ClusterError::NotFound(format!("bucket {name}")))?;
    check_may_go(t, name)?;
    // Whatever is left in the tree has no key, so it can only be implicit
    // directories; remove them depth-first.
    let mut stack = vec![info.ino];
    let mut dirs = Vec::new();
    while let Some(d) = stack.pop() {
        for (child_name, child) in t.children(d)? {
            let node = t.inode(child)?;
            if node.kind != NodeKind::Dir {
                return Err(ClusterError::NotEmpty(format!(
                    "bucket {name} still holds {}",
                    display(&child_name)
                )));
            }
            stack.push(child);
            dirs.push((d, child_name, node));
        }
    }
    for (parent, child_name, node) in dirs.into_iter().rev() {
        t.dentries.remove((parent, child_name.as_slice())).io()?;
        t.free_inode(node)?;
    }
    let node = t.inode(info.ino)?;
    remove_bucket(t, name, node, now_ns)?;
    Ok(CommandReply::Done)
}

/// rmdir of bucket `name`, whose directory is `node` (the caller found it
/// without entries, the POSIX rule): see [`check_may_go`].
pub(super) fn rmdir_bucket(
    t: &mut Tables,
    name: &str,
    node: Inode,
    now_ns: i64,
) -> Result<(), ClusterError> {
    check_may_go(t, name)?;
    remove_bucket(t, name, node, now_ns)
}

/// Removes an empty bucket: its row, its directory, and everything kept
/// about it (permissions, settings), so that a new bucket of the same name
/// inherits nothing.
fn remove_bucket(t: &mut Tables, name: &str, node: Inode, now_ns: i64) -> Result<(), ClusterError> {
    t.buckets.remove(name).io()?;
    super::access::forget_bucket_permissions(t, name)?;
    super::settings::forget_settings(t, name)?;
    t.dentries.remove((ROOT_INO, name.as_bytes())).io()?;
    t.free_inode(node)?;
    t.touch_dir(ROOT_INO, -1, now_ns)
}
