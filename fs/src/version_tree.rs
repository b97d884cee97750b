//! The hidden, read-only tree of old versions in a versioned bucket:
//! `BUCKET/.versions/KEY/VERSION_ID`, as NetApp's `.snapshot` or CephFS's
//! `.snap`. `.versions` is never listed, only looked up. Under it each key
//! `a/b/c` is a directory `a/b/c/` whose files are the key's versions
//! (delete markers left out), named by their S3 version id (20 digits, or
//! `null`); the directories on the way (`a/`, `a/b/`) list the next
//! segment of every key below them, like a listing with delimiter `/`. A
//! directory can hold both: the versions of key `a` and the segment `b` of
//! key `a/b`.
//!
//! The tree lives only in the mount: its inodes are numbered from
//! [`VIRTUAL_BASE`] up, far above any inode the MDS makes, and each one
//! keeps its number for the life of the mount.

use std::collections::HashMap;

/// The hidden name under a bucket's directory.
pub const VERSIONS_DIR: &[u8] = b".versions";

/// First inode number of the tree (the MDS counts up from 1 and never
/// gets near).
pub const VIRTUAL_BASE: u64 = 1 << 62;

/// Whether `ino` belongs to the tree.
pub fn is_virtual(ino: u64) -> bool {
    ino >= VIRTUAL_BASE
}

/// What a virtual inode stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Virtual {
    /// The directory of key path `path` (`""`: `.versions` itself).
    Dir {
        bucket: String,
        bucket_ino: u64,
        path: Vec<u8>,
    },
    /// Version `version_id` of `key`.
    Version {
        bucket: String,
        bucket_ino: u64,
        key: Vec<u8>,
        version_id: String,
    },
}

impl Virtual {
    pub fn bucket(&self) -> (&str, u64) {
        match self {
            Virtual::Dir {
                bucket, bucket_ino, ..
            }
            | Virtual::Version {
                bucket, bucket_ino, ..
            } => (bucket, *bucket_ino),
        }
    }
}

/// The numbers given so far, both ways.
#[derive(Debug, Default)]
pub struct VirtualInodes {
    by_ino: HashMap<u64, Virtual>,
    by_what: HashMap<Virtual, u64>,
}

impl VirtualInodes {
    /// The inode of `what`, numbered on first use.
    pub fn ino(&mut self, what: Virtual) -> u64 {
        if let Some(ino) = self.by_what.get(&what) {
            return *ino;
        }
        let ino = VIRTUAL_BASE + self.by_ino.len() as u64;
        self.by_ino.insert(ino, what.clone());
        self.by_what.insert(what, ino);
        ino
    }

    pub fn get(&self, ino: u64) -> Option<Virtual> {
        self.by_ino.get(&ino).cloned()
    }
}

/// The key path of entry `name` of directory `path`.
pub fn child_path(path: &[u8], name: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return name.to_vec();
    }
    let mut out = Vec::with_capacity(path.len() + 1 + name.len());
    out.extend_from_slice(path);
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

/// Prefix of the keys below directory `path`.
pub fn below(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        Vec::new()
    } else {
        child_path(path, b"")
    }
}

/// The entry that `key` gives directory `prefix` (its keys start with
/// `prefix`): the next segment, and whether more segments follow it.
/// `None` for a key that ends right there or with `/` (a directory
/// marker, which has no content to show).
pub fn segment<'a>(prefix: &[u8], key: &'a [u8]) -> Option<(&'a [u8], bool)> {
    let rest = key.strip_prefix(prefix)?;
    match rest.iter().position(|&b| b == b'/') {
        Some(0) => None,
        Some(i) => Some((&rest[..i], true)),
        None if rest.is_empty() => None,
        None => Some((rest, false)),
    }
}

/// A key marker past every key below `prefix + segment + "/"`: no UTF-8
/// key holds the byte 0xFF.
pub fn past_subtree(prefix: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut marker = prefix.to_vec();
    marker.extend_from_slice(segment);
    marker.extend_from_slice(b"/\xff");
    marker
}

/// Whether `name` can be a version id Cairn makes.
pub fn looks_like_version_id(name: &[u8]) -> bool {
    name == b"null" || (name.len() == 20 && name.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_are_stable_and_above_the_mds_range() {
        let mut t = VirtualInodes::default();
        let dir = Virtual::Dir {
            bucket: "b".into(),
            bucket_ino: 2,
            path: b"a".to_vec(),
        };
        let a = t.ino(dir.clone());
        let v = t.ino(Virtual::Version {
            bucket: "b".into(),
            bucket_ino: 2,
            key: b"a".to_vec(),
            version_id: "null".into(),
        });
        assert!(is_virtual(a) && is_virtual(v) && a != v);
        assert_eq!(t.ino(dir.clone()), a);
        assert_eq!(t.get(a), Some(dir));
        assert!(!is_virtual(12345));
    }

    #[test]
    fn segments_split_keys_like_a_delimiter() {
        assert_eq!(segment(b"", b"a/b/c"), Some((&b"a"[..], true)));
        assert_eq!(segment(b"a/", b"a/b"), Some((&b"b"[..], false)));
        assert_eq!(segment(b"a/", b"a/"), None);
        assert_eq!(segment(b"a/", b"a//x"), None);
        assert_eq!(segment(b"a/", b"b"), None);
        assert_eq!(below(b""), b"");
        assert_eq!(below(b"a/b"), b"a/b/");
        assert_eq!(child_path(b"", b"x"), b"x");
        assert_eq!(child_path(b"a", b"x"), b"a/x");
        let marker = past_subtree(b"a/", b"b");
        assert!(marker.as_slice() > &b"a/b/zzzz"[..] && marker.as_slice() < &b"a/b0"[..]);
    }

    #[test]
    fn version_ids() {
        assert!(looks_like_version_id(b"null"));
        assert!(looks_like_version_id(b"00000000000000000042"));
        assert!(!looks_like_version_id(b"0000000000000000004"));
        assert!(!looks_like_version_id(b"report.txt"));
    }
}
