//! The optional write journal, on a fast device (`make-cs -j PATH -s SIZE`).
//!
//! With a journal, a synced write is acknowledged once its record is on
//! stable storage in the journal: one sequential append and one
//! group-committed `fdatasync` of the journal, instead of a flush of the
//! replica file. The replica file gets the same bytes at once, in the page
//! cache (so reads see them), and reaches the disk in the background; a
//! checkpoint makes every replica durable and starts the journal anew.
//!
//! # File format (version 1)
//!
//! A superblock of [`SUPERBLOCK_SIZE`] bytes, then records, all integers
//! little-endian:
//!
//! * superblock: magic `CAIRNJNL` (8), format version u32, reserved u32,
//!   file size u64, generation u64, zeros, CRC32C of bytes `[0, 4092)` in the
//!   last 4 bytes.
//! * record, 8-byte aligned: magic `JREC` (4), kind u8 (1 write, 2 create and
//!   write, 3 set-version, 4 delete), 3 zero bytes, generation u64, chunk id
//!   u64, version u64, argument u64 (write: data offset in the chunk;
//!   set-version: new version; delete: 0), data length u32, CRC32C u32 of the
//!   record's first 44 bytes followed by its data; then the data, zero-padded
//!   to 8 bytes.
//!
//! Replay reads records from the start until the first one that is not
//! whole, not of the superblock's generation, or fails its CRC: that is
//! where appending stopped.
//!
//! # Invariants
//!
//! * Every record of the current generation describes an operation already
//!   applied to the replica files (in the page cache at least): a write is
//!   appended after it is applied, under the replica's lock, so records of
//!   one replica are in the order the replica saw the operations.
//! * A checkpoint (`syncfs` of the data filesystem, then a new generation in
//!   the superblock, fsynced) leaves no record whose effect is not durable
//!   in the replicas.
//! * Replay applies a write record only to the replica it names, when that
//!   replica exists at that version, or, for a create record, when no
//!   replica of the chunk exists (all of a replica created since the last
//!   checkpoint is in the journal, so the re-created one is whole). Writes
//!   followed by a set-version or delete record of the same replica are
//!   skipped: set-version syncs the file before it renames it, and a
//!   deleted replica stays deleted. Replaying the records of a durable
//!   replica writes the same bytes again: replay is idempotent.

use std::{
    fs::{File, OpenOptions},
    io,
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bytes::Bytes;

use crate::{error::CsError, sync::Syncer};

/// Size of the superblock at the start of the journal.
pub const SUPERBLOCK_SIZE: u64 = 4096;
/// Smallest journal accepted: room for several of the largest records.
pub const MIN_SIZE: u64 = 8 << 20;
/// Largest data of one record; a longer write becomes several records so
/// that any write fits any journal.
pub const MAX_RECORD_DATA: usize = 1 << 20;

const MAGIC: [u8; 8] = *b"CAIRNJNL";
const FORMAT_VERSION: u32 = 1;
const RECORD_MAGIC: [u8; 4] = *b"JREC";
const RECORD_HEADER: usize = 48;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Write,
    CreateWrite,
    SetVersion,
    Delete,
}

impl RecordKind {
    fn code(self) -> u8 {
        match self {
            RecordKind::Write => 1,
            RecordKind::CreateWrite => 2,
            RecordKind::SetVersion => 3,
            RecordKind::Delete => 4,
        }
    }

    fn from_code(code: u8) -> Option<RecordKind> {
        Some(match code {
            1 => RecordKind::Write,
            2 => RecordKind::CreateWrite,
            3 => RecordKind::SetVersion,
            4 => RecordKind::Delete,
            _ => return None,
        })
    }
}

/// One record found by replay (its data is read on demand).
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: RecordKind,
    pub chunk_id: u64,
    pub version: u64,
    /// Write: offset in the chunk; set-version: the new version.
    pub arg: u64,
    data_at: u64,
    data_len: u32,
}

struct Position {
    generation: u64,
    /// Where the next record goes.
    next: u64,
}

/// An open journal. Appends are serialised by an internal lock.
pub struct Journal {
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    position: Mutex<Position>,
    syncer: Syncer,
    /// The data directory, whose filesystem a checkpoint flushes.
    data_root: File,
}

fn journal_err(path: &Path, message: impl Into<String>) -> CsError {
    CsError::Journal {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn superblock(size: u64, generation: u64) -> Vec<u8> {
    let mut buf = vec![0u8; SUPERBLOCK_SIZE as usize];
    buf[0..8].copy_from_slice(&MAGIC);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf[16..24].copy_from_slice(&size.to_le_bytes());
    buf[24..32].copy_from_slice(&generation.to_le_bytes());
    let end = SUPERBLOCK_SIZE as usize - 4;
    let crc = crc32c::crc32c(&buf[..end]);
    buf[end..].copy_from_slice(&crc.to_le_bytes());
    buf
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn padded(len: usize) -> u64 {
    (len as u64).div_ceil(8) * 8
}

impl Journal {
    /// Checks that a journal can be made at `path` with `size` bytes.
    pub fn check_new(path: &Path, size: u64) -> Result<(), CsError> {
        if size < MIN_SIZE {
            return Err(journal_err(
                path,
                format!(
                    "a journal needs at least {} MiB (asked for {size} bytes)",
                    MIN_SIZE >> 20
                ),
            ));
        }
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => Err(journal_err(
                path,
                "already exists and is not empty: pick a new file (a journal belongs to one \
                 chunk server)",
            )),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent_ok = path
                    .parent()
                    .map(|p| p.as_os_str().is_empty() || p.is_dir())
                    .unwrap_or(false);
                if parent_ok {
                    Ok(())
                } else {
                    Err(journal_err(path, "its directory does not exist"))
                }
            }
            Err(e) => Err(journal_err(path, e.to_string())),
        }
    }

    /// Creates an empty journal of `size` bytes.
    pub fn create(path: &Path, size: u64) -> Result<(), CsError> {
        Self::check_new(path, size)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| CsError::io("create journal", path, e))?;
        // Written with zeros rather than left sparse: appends then never
        // allocate blocks, and a journal flush is a pure data flush.
        let zeros = vec![0u8; 1 << 20];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], at)
                .map_err(|e| CsError::io("write journal", path, e))?;
            at += n as u64;
        }
        file.write_all_at(&superblock(size, 1), 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| CsError::io("write journal", path, e))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::sync::sync_dir(parent)?;
        }
        Ok(())
    }

    /// Opens the journal at `path` for a CS whose data is under `data_dir`.
    /// The caller replays [`Journal::records`] and then calls
    /// [`Journal::checkpoint`] before appending.
    pub fn open(path: &Path, data_dir: &Path) -> Result<Journal, CsError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| CsError::io("open journal", path, e))?;
        // One journal, one chunk server: a second user would interleave
        // records and checkpoints.
        match cairn_common::host::try_lock_exclusive(&file) {
            Ok(true) => {}
            Ok(false) => return Err(journal_err(
                path,
                "in use by another running chunk server: each chunk server needs its own journal",
            )),
            Err(err) => return Err(CsError::io("lock journal", path, err)),
        }
        let mut sb = vec![0u8; SUPERBLOCK_SIZE as usize];
        file.read_exact_at(&mut sb, 0)
            .map_err(|e| CsError::io("read journal superblock of", path, e))?;
        let end = SUPERBLOCK_SIZE as usize - 4;
        if sb[0..8] != MAGIC || le_u32(&sb[end..]) != crc32c::crc32c(&sb[..end]) {
            return Err(journal_err(
                path,
                "not a Cairn journal, or its superblock is damaged",
            ));
        }
        let format = le_u32(&sb[8..12]);
        if format != FORMAT_VERSION {
            return Err(journal_err(
                path,
                format!("journal format {format} is not supported by this build: upgrade cairn"),
            ));
        }
        let size = le_u64(&sb[16..24]);
        let generation = le_u64(&sb[24..32]);
        let actual = file
            .metadata()
            .map_err(|e| CsError::io("stat journal", path, e))?
            .len();
        if actual < size {
            return Err(journal_err(
                path,
                format!("journal is {actual} bytes, its superblock says {size}"),
            ));
        }
        let syncer = Syncer::start(path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| CsError::io("start the syncer of journal", path, e))?;
        let data_root = File::open(data_dir).map_err(|e| CsError::io("open", data_dir, e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Arc::new(file),
            size,
            position: Mutex::new(Position {
                generation,
                next: SUPERBLOCK_SIZE,
            }),
            syncer,
            data_root,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Position> {
        self.position
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The valid records of the current generation, in append order
    /// (blocking).
    pub fn records(&self) -> io::Result<Vec<Record>> {
        let generation = self.lock().generation;
        let mut out = Vec::new();
        let mut at = SUPERBLOCK_SIZE;
        let mut head = [0u8; RECORD_HEADER];
        while at + RECORD_HEADER as u64 <= self.size {
            self.file.read_exact_at(&mut head, at)?;
            if head[0..4] != RECORD_MAGIC || le_u64(&head[8..16]) != generation {
                break;
            }
            let Some(kind) = RecordKind::from_code(head[4]) else {
                break;
            };
            let data_len = le_u32(&head[40..44]);
            let data_at = at + RECORD_HEADER as u64;
            if data_len as usize > MAX_RECORD_DATA || data_at + u64::from(data_len) > self.size {
                break;
            }
            let mut data = vec![0u8; data_len as usize];
            self.file.read_exact_at(&mut data, data_at)?;
            let crc = crc32c::crc32c_append(crc32c::crc32c(&head[..44]), &data);
            if crc != le_u32(&head[44..48]) {
                break;
            }
            out.push(Record {
                kind,
                chunk_id: le_u64(&head[16..24]),
                version: le_u64(&head[24..32]),
                arg: le_u64(&head[32..40]),
                data_at,
                data_len,
            });
            at = data_at + padded(data_len as usize);
        }
        Ok(out)
    }

    /// The data of a record returned by [`Journal::records`] (blocking).
    pub fn record_data(&self, record: &Record) -> io::Result<Bytes> {
        let mut data = vec![0u8; record.data_len as usize];
        self.file.read_exact_at(&mut data, record.data_at)?;
        Ok(Bytes::from(data))
    }

    /// Appends a write (or create-and-write) of `pieces` at `offset`
    /// (blocking; may checkpoint when the journal is full).
    pub fn append_write(
        &self,
        create: bool,
        chunk_id: u64,
        version: u64,
        offset: u64,
        pieces: &[Bytes],
    ) -> io::Result<()> {
        let kind = if create {
            RecordKind::CreateWrite
        } else {
            RecordKind::Write
        };
        let mut pos = self.lock();
        let mut at = offset;
        let mut first = true;
        let mut pending: Vec<&[u8]> = Vec::new();
        let mut pending_len = 0usize;
        // Cut the data into records of at most MAX_RECORD_DATA bytes.
        for piece in pieces {
            let mut rest: &[u8] = piece;
            while !rest.is_empty() {
                let take = rest.len().min(MAX_RECORD_DATA - pending_len);
                pending.push(&rest[..take]);
                pending_len += take;
                rest = &rest[take..];
                if pending_len == MAX_RECORD_DATA {
                    let k = if first { kind } else { RecordKind::Write };
                    self.append(&mut pos, k, chunk_id, version, at, &pending)?;
                    first = false;
                    at += pending_len as u64;
                    pending.clear();
                    pending_len = 0;
                }
            }
        }
        if pending_len > 0 || first {
            let k = if first { kind } else { RecordKind::Write };
            self.append(&mut pos, k, chunk_id, version, at, &pending)?;
        }
        Ok(())
    }

    /// Appends a set-version or delete record (blocking).
    pub fn append_event(
        &self,
        kind: RecordKind,
        chunk_id: u64,
        version: u64,
        arg: u64,
    ) -> io::Result<()> {
        let mut pos = self.lock();
        self.append(&mut pos, kind, chunk_id, version, arg, &[])
    }

    fn append(
        &self,
        pos: &mut Position,
        kind: RecordKind,
        chunk_id: u64,
        version: u64,
        arg: u64,
        data: &[&[u8]],
    ) -> io::Result<()> {
        let len: usize = data.iter().map(|d| d.len()).sum();
        let total = RECORD_HEADER as u64 + padded(len);
        if pos.next + total > self.size {
            self.checkpoint_locked(pos)?;
        }
        let mut head = [0u8; RECORD_HEADER];
        head[0..4].copy_from_slice(&RECORD_MAGIC);
        head[4] = kind.code();
        head[8..16].copy_from_slice(&pos.generation.to_le_bytes());
        head[16..24].copy_from_slice(&chunk_id.to_le_bytes());
        head[24..32].copy_from_slice(&version.to_le_bytes());
        head[32..40].copy_from_slice(&arg.to_le_bytes());
        head[40..44].copy_from_slice(&(len as u32).to_le_bytes());
        let mut crc = crc32c::crc32c(&head[..44]);
        for d in data {
            crc = crc32c::crc32c_append(crc, d);
        }
        head[44..48].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(&head, pos.next)?;
        let mut at = pos.next + RECORD_HEADER as u64;
        for d in data {
            self.file.write_all_at(d, at)?;
            at += d.len() as u64;
        }
        pos.next += total;
        Ok(())
    }

    /// Makes every replica durable and starts a new generation (blocking).
    pub fn checkpoint(&self) -> io::Result<()> {
        let mut pos = self.lock();
        self.checkpoint_locked(&mut pos)
    }

    fn checkpoint_locked(&self, pos: &mut Position) -> io::Result<()> {
        // SAFETY: syncfs only reads the descriptor, which `data_root` keeps open.
        if unsafe { libc::syncfs(self.data_root.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let generation = pos.generation + 1;
        self.file
            .write_all_at(&superblock(self.size, generation), 0)?;
        self.file.sync_data()?;
        pos.generation = generation;
        pos.next = SUPERBLOCK_SIZE;
        tracing::debug!(journal = %self.path.display(), generation, "journal checkpoint");
        Ok(())
    }

    /// Waits until every record appended before the call is on stable
    /// storage (group-committed with concurrent callers).
    pub async fn sync(&self) -> io::Result<()> {
        self.syncer.sync(Arc::clone(&self.file), None).await
    }

    /// Journal flushes so far.
    pub fn flushes(&self) -> u64 {
        self.syncer.flushes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopen_and_a_checkpoint_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        Journal::create(&path, MIN_SIZE).unwrap();
        let j = Journal::open(&path, dir.path()).unwrap();
        let big = Bytes::from(vec![7u8; MAX_RECORD_DATA + 10]);
        j.append_write(true, 5, 1, 100, &[Bytes::from_static(b"ab"), big])
            .unwrap();
        j.append_event(RecordKind::SetVersion, 5, 1, 2).unwrap();
        j.sync().await.unwrap();
        drop(j);

        let j = Journal::open(&path, dir.path()).unwrap();
        let records = j.records().unwrap();
        let kinds: Vec<_> = records.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                RecordKind::CreateWrite,
                RecordKind::Write,
                RecordKind::SetVersion
            ]
        );
        assert_eq!(records[0].arg, 100);
        assert_eq!(records[1].arg, 100 + MAX_RECORD_DATA as u64);
        let first = j.record_data(&records[0]).unwrap();
        assert_eq!(&first[..2], b"ab");
        assert_eq!(j.record_data(&records[1]).unwrap().len(), 12);
        assert_eq!(records[2].arg, 2);

        j.checkpoint().unwrap();
        assert!(j.records().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_journal_checkpoints_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        Journal::create(&path, MIN_SIZE).unwrap();
        let j = Journal::open(&path, dir.path()).unwrap();
        let piece = Bytes::from(vec![1u8; MAX_RECORD_DATA]);
        for i in 0..20 {
            j.append_write(
                false,
                1,
                1,
                i * MAX_RECORD_DATA as u64,
                std::slice::from_ref(&piece),
            )
            .unwrap();
        }
        // 20 MiB went through an 8 MiB journal: what is left is the tail.
        let left = j.records().unwrap();
        assert!(!left.is_empty() && left.len() < 8, "{} records", left.len());
        assert_eq!(left.last().unwrap().arg, 19 * MAX_RECORD_DATA as u64);
    }

    #[test]
    fn a_journal_serves_one_chunk_server_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        Journal::create(&path, MIN_SIZE).unwrap();
        let first = Journal::open(&path, dir.path()).unwrap();
        let err = Journal::open(&path, dir.path()).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(first);
        Journal::open(&path, dir.path()).unwrap();
    }

    #[test]
    fn refuses_small_or_used_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let small = Journal::create(&path, 1 << 20);
        assert!(
            matches!(&small, Err(CsError::Journal { message, .. }) if message.contains("at least")),
            "{small:?}"
        );
        std::fs::write(&path, b"something").unwrap();
        let used = Journal::check_new(&path, MIN_SIZE);
        assert!(
            matches!(&used, Err(CsError::Journal { message, .. }) if message.contains("not empty")),
            "{used:?}"
        );
    }
}
