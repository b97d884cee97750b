//! Attributes as the kernel sees them, made from the cluster's [`Node`].
//!
//! Times are nanoseconds since the epoch in the namespace; the kernel gets
//! `SystemTime`s. Attributes and entries are cached by the kernel for at
//! most [`TTL`], so that changes made through S3 show up within a second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_client::{Node, NodeKind};
use fuser::{FileAttr, FileType, INodeNo};

/// How long the kernel may trust an attribute or a directory entry.
pub const TTL: Duration = Duration::from_secs(1);

/// `st_blksize`: the size `cp`, `dd` and stdio take as the best I/O size.
pub const BLOCK_SIZE: u32 = 1 << 20;

/// Nanoseconds since the epoch as a `SystemTime` (before the epoch too).
pub fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// A `SystemTime` as nanoseconds since the epoch, saturating.
pub fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub fn file_type(kind: NodeKind) -> FileType {
    match kind {
        NodeKind::File => FileType::RegularFile,
        NodeKind::Dir => FileType::Directory,
        NodeKind::Symlink => FileType::Symlink,
        NodeKind::Fifo => FileType::NamedPipe,
        NodeKind::Socket => FileType::Socket,
        NodeKind::CharDev => FileType::CharDevice,
        NodeKind::BlockDev => FileType::BlockDevice,
    }
}

/// Permission bits as shown: a version under retention or legal hold
/// shows no write bit (its writes fail with EPERM).
fn shown_mode(node: &Node) -> u32 {
    let mode = node.mode & 0o7777;
    if node.protection.locked_at(nanos(SystemTime::now())) {
        mode & !0o222
    } else {
        mode
    }
}

/// The kernel's view of `node`.
pub fn file_attr(node: &Node) -> FileAttr {
    let size = match node.kind {
        NodeKind::File => node.size,
        NodeKind::Dir => node.size.max(4096),
        NodeKind::Symlink => node.symlink_target.len() as u64,
        _ => 0,
    };
    // Blocks of a file: the bytes its layout maps (holes cost nothing),
    // never fewer than its size holds while writes are still buffered.
    let blocks = match node.kind {
        NodeKind::File if cairn_common::extent::mapped(&node.extents) < size => {
            cairn_common::extent::mapped(&node.extents).div_ceil(512)
        }
        _ => size.div_ceil(512),
    };
    let nlink = match node.kind {
        NodeKind::Dir => node.nlink.max(2),
        _ => node.nlink,
    };
    FileAttr {
        ino: INodeNo(node.ino),
        size,
        blocks,
        atime: system_time(node.atime_ns),
        mtime: system_time(node.mtime_ns),
        ctime: system_time(node.ctime_ns),
        crtime: system_time(node.ctime_ns),
        kind: file_type(node.kind),
        perm: shown_mode(node) as u16,
        nlink,
        uid: node.uid,
        gid: node.gid,
        // The kernel's dev_t fits 32 bits in FUSE's attributes.
        rdev: u32::try_from(node.rdev).unwrap_or(0),
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn node(kind: NodeKind) -> Node {
        Node {
            ino: 42,
            kind,
            mode: 0o4755,
            uid: 1000,
            gid: 100,
            size: 1000,
            atime_ns: 1_500_000_000_123_456_789,
            mtime_ns: -5,
            ctime_ns: 0,
            nlink: 1,
            etag: String::new(),
            content_type: String::new(),
            user_meta: Default::default(),
            headers: Default::default(),
            replicas: 3,
            min_replicas: 0,
            tier: 0,
            extents: Vec::new(),
            symlink_target: b"target".to_vec(),
            xattrs: Default::default(),
            version_id: String::new(),
            protection: Default::default(),
            rdev: 0,
        }
    }

    #[test]
    fn files_dirs_and_symlinks() {
        let f = file_attr(&node(NodeKind::File));
        assert_eq!(f.kind, FileType::RegularFile);
        assert_eq!(f.size, 1000);
        assert_eq!(f.blocks, 0, "no extent: all of it is a hole");
        let mut mapped = node(NodeKind::File);
        mapped.extents = vec![cairn_client::Extent {
            file_offset: 0,
            chunk_id: 1,
            chunk_offset: 0,
            length: 1000,
        }];
        assert_eq!(file_attr(&mapped).blocks, 2);
        assert_eq!(f.perm, 0o4755);
        assert_eq!((f.uid, f.gid, f.ino), (1000, 100, INodeNo(42)));
        assert_eq!(nanos(f.atime), 1_500_000_000_123_456_789);
        assert_eq!(nanos(f.mtime), -5);
        let d = file_attr(&node(NodeKind::Dir));
        assert_eq!(d.kind, FileType::Directory);
        assert_eq!(d.nlink, 2);
        let l = file_attr(&node(NodeKind::Symlink));
        assert_eq!(l.size, 6);
        let mut dev = node(NodeKind::CharDev);
        dev.rdev = 0x0501;
        let c = file_attr(&dev);
        assert_eq!((c.kind, c.rdev, c.size), (FileType::CharDevice, 0x0501, 0));
        assert_eq!(file_attr(&node(NodeKind::Fifo)).kind, FileType::NamedPipe);
        assert_eq!(file_attr(&node(NodeKind::Socket)).kind, FileType::Socket);
    }
}
