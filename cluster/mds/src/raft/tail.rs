//! The raft log's tail in `raft.tail`: the changes made to the log since
//! its last durable commit, in a plain append-only file.
//!
//! redb forgets a non-durable commit when the process dies; the OS keeps
//! what was written to a file. Every change to the log is also written
//! here, so an entry answered before its fsync ([`cairn_common::Persist::Os`])
//! survives a `kill -9` of the MDS: the next open replays the tail into the
//! log. A durable commit of the log makes the tail redundant, and it is
//! emptied under the same lock that orders the changes.
//!
//! A record is its body's length (u32 LE), the CRC32C of the body (u32
//! LE), then the body (postcard of a [`TailOp`]). A torn last record (the
//! process died while writing it) fails its length or checksum and ends the
//! replay: it was never answered.
//!
//! Invariant: replaying the records in order over the last durable state of
//! the log yields the log as it was last changed. Each op sets or removes
//! whole keys, so a key ends up as the last op naming it left it, whichever
//! earlier state the replay starts from.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
};

use serde::{Deserialize, Serialize};

/// The tail file inside an MDS directory.
pub const TAIL_FILE: &str = "raft.tail";

/// Largest record replayed: a larger length is a torn or foreign record.
const MAX_RECORD: usize = 256 << 20;

/// One change to the log table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TailOp {
    /// Entries set at their indexes (encoded as the log table holds them).
    Insert(Vec<(u64, Vec<u8>)>),
    /// Every entry from this index on removed (a truncation).
    RemoveFrom(u64),
}

/// The open tail file.
#[derive(Debug)]
pub struct Tail {
    file: File,
    /// Bytes of whole records in the file.
    len: u64,
}

impl Tail {
    /// Opens (or makes) `dir/raft.tail` and returns the ops it holds, in
    /// order, up to the first torn record.
    pub fn open(dir: &Path) -> std::io::Result<(Tail, Vec<TailOp>)> {
        let path = dir.join(TAIL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (ops, whole) = parse(&bytes);
        if whole < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                dropped = bytes.len() - whole,
                "the raft tail ends in a torn record, never answered: dropped"
            );
        }
        let mut tail = Tail { file, len: 0 };
        tail.file.set_len(whole as u64)?;
        tail.file.seek(SeekFrom::Start(whole as u64))?;
        tail.len = whole as u64;
        Ok((tail, ops))
    }

    /// Nothing has been written since the last [`Tail::clear`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `op` at the end (to the OS, not synced). On failure the file
    /// is cut back to its whole records, so later records stay readable.
    pub fn push(&mut self, op: &TailOp) -> std::io::Result<()> {
        let body = postcard::to_allocvec(op).map_err(std::io::Error::other)?;
        let len = u32::try_from(body.len())
            .map_err(|_| std::io::Error::other("a raft tail record over 4 GiB"))?;
        let mut record = Vec::with_capacity(8 + body.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        record.extend_from_slice(&body);
        match self.file.write_all(&record) {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }

    /// Empties the file: the log holds everything durably.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.len = 0;
        Ok(())
    }
}

/// The ops of whole, intact records, and the bytes they take.
fn parse(bytes: &[u8]) -> (Vec<TailOp>, usize) {
    let mut ops = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 8) {
        let mut word = [0u8; 4];
        word.copy_from_slice(&head[..4]);
        let len = u32::from_le_bytes(word) as usize;
        word.copy_from_slice(&head[4..]);
        let crc = u32::from_le_bytes(word);
        if len > MAX_RECORD {
            break;
        }
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Ok(op) = postcard::from_bytes::<TailOp>(body) else {
            break;
        };
        ops.push(op);
        at += 8 + len;
    }
    (ops, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(index: u64, byte: u8) -> TailOp {
        TailOp::Insert(vec![(index, vec![byte; 10])])
    }

    #[test]
    fn records_come_back_in_order_after_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tail, ops) = Tail::open(dir.path()).expect("open");
        assert!(ops.is_empty() && tail.is_empty());
        tail.push(&insert(1, 1)).expect("push");
        tail.push(&TailOp::RemoveFrom(1)).expect("push");
        tail.push(&insert(1, 2)).expect("push");
        assert!(!tail.is_empty());
        drop(tail);
        let (tail, ops) = Tail::open(dir.path()).expect("reopen");
        assert_eq!(ops, vec![insert(1, 1), TailOp::RemoveFrom(1), insert(1, 2)]);
        assert!(!tail.is_empty());
    }

    #[test]
    fn a_torn_or_corrupt_record_ends_the_replay_and_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tail, _) = Tail::open(dir.path()).expect("open");
        tail.push(&insert(1, 1)).expect("push");
        tail.push(&insert(2, 2)).expect("push");
        drop(tail);
        let path = dir.path().join(TAIL_FILE);
        let whole = std::fs::read(&path).expect("read");
        // A torn second record.
        std::fs::write(&path, &whole[..whole.len() - 3]).expect("write");
        let (mut tail, ops) = Tail::open(dir.path()).expect("reopen");
        assert_eq!(ops, vec![insert(1, 1)]);
        // What follows the cut is readable again.
        tail.push(&insert(3, 3)).expect("push");
        drop(tail);
        let (_, ops) = Tail::open(dir.path()).expect("reopen");
        assert_eq!(ops, vec![insert(1, 1), insert(3, 3)]);
        // A flipped byte in the first record's body: nothing replays.
        let mut bad = std::fs::read(&path).expect("read");
        bad[9] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        let (_, ops) = Tail::open(dir.path()).expect("reopen");
        assert!(ops.is_empty());
    }

    #[test]
    fn clear_empties_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tail, _) = Tail::open(dir.path()).expect("open");
        tail.push(&insert(1, 1)).expect("push");
        tail.clear().expect("clear");
        assert!(tail.is_empty());
        tail.push(&insert(2, 2)).expect("push");
        drop(tail);
        let (_, ops) = Tail::open(dir.path()).expect("reopen");
        assert_eq!(ops, vec![insert(2, 2)]);
    }
}
