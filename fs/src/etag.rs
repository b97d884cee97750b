//! The MD5 of a file written from start to end, computed as it is written,
//! so that a file closed through the mount is at once an S3 object with
//! the right ETag. Any other pattern of writes (a rewrite, a hole, a write
//! into existing content) makes the hash unknown, and the file is
//! committed with a stale ETag that the MDS/gateway recomputes.
//!
//! The hash runs beside the writes, not in them: the first
//! [`INLINE_BYTES`] of a file are hashed at once (a small file never waits
//! for a thread), and past them the bytes go, in order, to a thread of the
//! blocking pool. A write is then answered without hashing its megabyte
//! first, and the hash uses another core while the bytes travel to the
//! chunk servers; a commit waits for the hash of what it commits.
//!
//! Invariant: when the tracker is `Known { pos, .. }`, its hash has seen,
//! or has queued in order, exactly the file bytes `[0, pos)`.

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::{mpsc, oneshot};

/// Bytes of a file hashed in the write itself; past them, beside it.
pub const INLINE_BYTES: u64 = 256 << 10;

pub(crate) enum Hash {
    Inline(Md5),
    /// Fed in order to a hashing thread.
    Beside(mpsc::UnboundedSender<Feed>),
}

pub(crate) enum Feed {
    Bytes(Bytes),
    /// The hex digest of everything fed so far.
    Digest(oneshot::Sender<String>),
}

impl Hash {
    /// Moves the hash to a thread of the blocking pool; stays inline when
    /// there is no runtime to run it.
    fn move_beside(&mut self) {
        let Hash::Inline(md5) = self else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut md5 = md5.clone();
        let (tx, mut rx) = mpsc::unbounded_channel();
        rt.spawn_blocking(move || {
            while let Some(feed) = rx.blocking_recv() {
                match feed {
                    Feed::Bytes(b) => md5.update(&b),
                    Feed::Digest(reply) => {
                        let _ = reply.send(hex::encode(md5.clone().finalize()));
                    }
                }
            }
        });
        *self = Hash::Beside(tx);
    }

    /// Hashes `data` next; false if the hashing thread is gone.
    fn update(&mut self, data: &Bytes) -> bool {
        match self {
            Hash::Inline(md5) => {
                md5.update(data);
                true
            }
            Hash::Beside(tx) => tx.send(Feed::Bytes(data.clone())).is_ok(),
        }
    }
}

#[derive(Default)]
pub(crate) enum SeqMd5 {
    /// The hash of bytes `[0, pos)`.
    Known { hash: Hash, pos: u64 },
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

/// An ETag as a commit gets it: known now, or once the hashing thread has
/// caught up.
pub(crate) enum Etag {
    Ready(Option<String>),
    Pending(oneshot::Receiver<String>),
}

impl Etag {
    /// The hex MD5, or None when it is not known.
    pub async fn get(self) -> Option<String> {
        match self {
            Etag::Ready(etag) => etag,
            Etag::Pending(digest) => digest.await.ok(),
        }
    }
}

impl SeqMd5 {
    /// The tracker of an empty file.
    pub fn empty() -> SeqMd5 {
        SeqMd5::Known {
            hash: Hash::Inline(Md5::new()),
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
    pub fn write(&mut self, offset: u64, data: &Bytes) {
        if data.is_empty() {
            return;
        }
        if let SeqMd5::Known { hash, pos } = self {
            if offset == *pos {
                *pos += data.len() as u64;
                if *pos > INLINE_BYTES {
                    hash.move_beside();
                }
                if hash.update(data) {
                    return;
                }
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
    pub fn etag(&self, size: u64) -> Etag {
        match self {
            SeqMd5::Known { hash, pos } if *pos == size => match hash {
                Hash::Inline(md5) => Etag::Ready(Some(hex::encode(md5.clone().finalize()))),
                Hash::Beside(tx) => {
                    let (reply, digest) = oneshot::channel();
                    match tx.send(Feed::Digest(reply)) {
                        Ok(()) => Etag::Pending(digest),
                        Err(_) => Etag::Ready(None),
                    }
                }
            },
            _ => Etag::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(data: &[u8]) -> String {
        hex::encode(Md5::digest(data))
    }

    fn b(data: &'static [u8]) -> Bytes {
        Bytes::from_static(data)
    }

    fn etag_now(t: &SeqMd5, size: u64) -> Option<String> {
        match t.etag(size) {
            Etag::Ready(etag) => etag,
            Etag::Pending(_) => panic!("a small file's hash is inline"),
        }
    }

    #[test]
    fn sequential_writes_give_the_md5() {
        let mut t = SeqMd5::empty();
        t.write(0, &b(b"hello "));
        t.write(6, &b(b"world"));
        assert_eq!(etag_now(&t, 11), Some(md5_hex(b"hello world")));
        // A size that the hash did not see is not vouched for.
        assert_eq!(etag_now(&t, 12), None);
    }

    #[test]
    fn rewrites_and_holes_make_it_unknown_and_truncate_to_zero_restarts() {
        let mut t = SeqMd5::empty();
        t.write(0, &b(b"abc"));
        t.write(1, &b(b"x"));
        assert_eq!(etag_now(&t, 3), None);
        t.truncate(0);
        t.write(0, &b(b"abc"));
        assert_eq!(etag_now(&t, 3), Some(md5_hex(b"abc")));
        t.write(10, &b(b"z"));
        assert_eq!(etag_now(&t, 11), None);
        assert_eq!(etag_now(&SeqMd5::for_size(0), 0), Some(md5_hex(b"")));
        assert_eq!(etag_now(&SeqMd5::for_size(5), 5), None);
    }

    #[tokio::test]
    async fn a_large_file_is_hashed_beside_its_writes_in_order() {
        let piece = 100 << 10;
        let pieces: Vec<Bytes> = (0..8u8)
            .map(|i| Bytes::from(vec![i.wrapping_mul(37); piece]))
            .collect();
        let mut t = SeqMd5::empty();
        let mut whole = Vec::new();
        let mut at = 0u64;
        for (i, p) in pieces.iter().enumerate() {
            t.write(at, p);
            at += p.len() as u64;
            whole.extend_from_slice(p);
            // Asked part-way, the digest covers exactly what came before.
            if i == 4 {
                assert!(matches!(t.etag(at), Etag::Pending(_)), "hashed beside");
                assert_eq!(t.etag(at).get().await, Some(md5_hex(&whole)));
            }
        }
        assert_eq!(t.etag(at).get().await, Some(md5_hex(&whole)));
        assert_eq!(t.etag(at + 1).get().await, None);
        // A rewrite still makes it unknown.
        t.write(0, &pieces[0]);
        assert_eq!(t.etag(at).get().await, None);
    }
}
