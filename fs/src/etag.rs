//! The MD5 of a file written from start to end, computed as it is written,
//! so that a file closed through the mount is at once an S3 object with
//! the right ETag. Any other pattern of writes (a rewrite, a hole, a write
//! into existing content) makes the hash unknown, and the file is
//! committed with a stale ETag that the MDS/gateway recomputes.
//!
//! Invariant: when the tracker is `Known { pos, .. }`, its hash state has
//! seen exactly the file bytes `[0, pos)`, in order.

use md5::{Digest, Md5};

#[derive(Clone, Default)]
pub enum SeqMd5 {
    /// The hash of bytes `[0, pos)`.
    Known { hash: Md5, pos: u64 },
    /// Writes happened out of order or into existing content.
    #[default]
    Unknown,
}

impl std::fmt::Debug for SeqMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeqMd5::Known { pos, .. } => write!(f, "Known(pos {pos})"),
            SeqMd5::Unknown => write!(f, "Unknown"),
        }
    }
}

impl SeqMd5 {
    /// The tracker of an empty file.
    pub fn empty() -> SeqMd5 {
        SeqMd5::Known {
            hash: Md5::new(),
            pos: 0,
        }
    }

    /// The tracker of a file opened with `size` bytes already in it.
    pub fn for_size(size: u64) -> SeqMd5 {
        if size == 0 {
            SeqMd5::empty()
        } else {
            SeqMd5::Unknown
        }
    }

    /// Takes a write of `data` at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let SeqMd5::Known { hash, pos } = self {
            if offset == *pos {
                hash.update(data);
                *pos += data.len() as u64;
                return;
            }
        }
        *self = SeqMd5::Unknown;
    }

    /// Takes a change of the file size.
    pub fn truncate(&mut self, size: u64) {
        match self {
            _ if size == 0 => *self = SeqMd5::empty(),
            SeqMd5::Known { pos, .. } if *pos == size => {}
            _ => *self = SeqMd5::Unknown,
        }
    }

    /// The hex MD5 of a file of `size` bytes, if known.
    pub fn etag(&self, size: u64) -> Option<String> {
        match self {
            SeqMd5::Known { hash, pos } if *pos == size => {
                Some(hex::encode(hash.clone().finalize()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(data: &[u8]) -> String {
        hex::encode(Md5::digest(data))
    }

    #[test]
    fn sequential_writes_give_the_md5() {
        let mut t = SeqMd5::empty();
        t.write(0, b"hello ");
        t.write(6, b"world");
        assert_eq!(t.etag(11), Some(md5_hex(b"hello world")));
        // A size that the hash did not see is not vouched for.
        assert_eq!(t.etag(12), None);
    }

    #[test]
    fn rewrites_and_holes_make_it_unknown_and_truncate_to_zero_restarts() {
        let mut t = SeqMd5::empty();
        t.write(0, b"abc");
        t.write(1, b"x");
        assert_eq!(t.etag(3), None);
        t.truncate(0);
        t.write(0, b"abc");
        assert_eq!(t.etag(3), Some(md5_hex(b"abc")));
        t.write(10, b"z");
        assert_eq!(t.etag(11), None);
        assert_eq!(SeqMd5::for_size(0).etag(0), Some(md5_hex(b"")));
        assert_eq!(SeqMd5::for_size(5).etag(5), None);
    }
}
