//! One chunk replica: one file, a checksummed header, then the data.
//!
//! # File format (version 1)
//!
//! A replica of chunk `ID` at version `V` is the file
//! `chunks/<ID % 256 as 2 hex digits>/<ID as 16 hex digits>.<V in decimal>`.
//! It starts with a fixed header of [`HEADER_SIZE`] (8 KiB) bytes, then the
//! chunk's data: byte `i` of the chunk is byte `HEADER_SIZE + i` of the file.
//! All integers are little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0    | 8    | magic `CAIRNRPL` |
//! | 8    | 4    | format version (1); decoding dispatches on it so that a later format migrates older files |
//! | 12   | 4    | reserved, zero |
//! | 16   | 8    | chunk id |
//! | 24   | 8    | chunk version |
//! | 32   | 8    | data length in bytes (at most [`MAX_BLOCKS`] x [`BLOCK`] = 64 MiB) |
//! | 40   | 24   | reserved, zero |
//! | 64   | 4096 | CRC32C of each 64 KiB data block, 1024 slots; slot `b` covers data bytes `[b*64Ki, min((b+1)*64Ki, length))`; slots past the last block are zero |
//! | 4160 | 4028 | reserved, zero |
//! | 8188 | 4    | CRC32C of header bytes `[0, 8188)` |
//!
//! # Invariants
//!
//! * After a sync of the file (fdatasync, or syncfs of its filesystem), the
//!   header on stable storage describes the data on stable storage: every
//!   block's CRC matches its bytes. Between syncs the file may be ahead of
//!   what a crash would leave; the in-memory header always matches the file
//!   as the page cache shows it.
//! * Bytes between the end of the data and a later write's offset (holes)
//!   read as zeros and are checksummed as zeros. To keep that true the file
//!   is never longer than `HEADER_SIZE + length` once opened: a tail left by
//!   a crash before the header was updated is cut off on open.
//! * Every read verifies the CRC of every block it touches and fails rather
//!   than return bytes that do not match. A write never blesses corrupt
//!   data: a write inside the data patches each block's CRC with the change
//!   of the bytes it covers (CRC32C is linear), so bytes of the block that
//!   were already bad keep failing it, and costs a read of only the bytes
//!   it replaces; a write that grows a partial block verifies the block's
//!   old bytes before it computes the new CRC, as does journal replay.
//! * Replica files are read at random (`POSIX_FADV_RANDOM`): a small read
//!   reads the blocks it needs and no kernel read-ahead; large reads are
//!   large requests of their own.
//! * The file name is the authority on the version; the header repeats it.
//!   Versions only grow: a header version lower than the name's is a
//!   `set_version` interrupted between the rename and the header update, and
//!   is repaired on open; a higher one marks the replica corrupt.
//!
//! A torn header (power lost while the 8 KiB header was half written, on a
//! device without atomic 8 KiB writes) fails the header CRC: the replica is
//! then reported corrupt and healed from another replica by the MDS, never
//! read with wrong checksums.

use std::{
    fs::{File, OpenOptions},
    io,
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::Path,
    sync::Arc,
};

use bytes::{Bytes, BytesMut};
use cairn_common::{CHECKSUM_BLOCK, MAX_CHUNK_SIZE};

/// Size of the header that precedes the data.
pub const HEADER_SIZE: u64 = 8192;
/// Size of a checksummed block.
pub const BLOCK: u64 = CHECKSUM_BLOCK;
/// Number of CRC slots in the header: enough for the largest chunk.
pub const MAX_BLOCKS: usize = (MAX_CHUNK_SIZE / CHECKSUM_BLOCK) as usize;
/// The format this code writes.
pub const FORMAT_VERSION: u32 = 1;

/// A write of at least this many bytes starts its write-back at once, so
/// that a stream's bytes go to the disk while more arrive instead of all
/// at its fsync (small writes are left to the kernel to gather).
const WRITEBACK_FROM: u64 = 512 << 10;

const MAGIC: [u8; 8] = *b"CAIRNRPL";
const CRCS_AT: usize = 64;
const HEADER_CRC_AT: usize = HEADER_SIZE as usize - 4;

const _: () = assert!(CRCS_AT + 4 * MAX_BLOCKS <= HEADER_CRC_AT);

/// Why an operation on a replica file failed, before the store adds which
/// chunk server and replica it was.
#[derive(Debug)]
pub enum Fault {
    Io(&'static str, io::Error),
    Corrupt(String),
    Invalid(String),
}

/// The decoded header of a replica file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub chunk_id: u64,
    pub version: u64,
    pub length: u64,
    /// One CRC32C per block; only the first `blocks(length)` are meaningful.
    pub crcs: Vec<u32>,
}

impl Header {
    pub fn new(chunk_id: u64, version: u64) -> Header {
        Header {
            chunk_id,
            version,
            length: 0,
            crcs: vec![0; MAX_BLOCKS],
        }
    }

    /// The header as it is stored, with its own CRC in the last 4 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_SIZE as usize];
        buf[0..8].copy_from_slice(&MAGIC);
        buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf[16..24].copy_from_slice(&self.chunk_id.to_le_bytes());
        buf[24..32].copy_from_slice(&self.version.to_le_bytes());
        buf[32..40].copy_from_slice(&self.length.to_le_bytes());
        let used = block_count(self.length);
        for (i, crc) in self.crcs.iter().take(used).enumerate() {
            let at = CRCS_AT + 4 * i;
            buf[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        }
        let crc = crc32c::crc32c(&buf[..HEADER_CRC_AT]);
        buf[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Decodes a stored header, dispatching on its format version.
    pub fn decode(buf: &[u8]) -> Result<Header, String> {
        if buf.len() < HEADER_SIZE as usize {
            return Err(format!(
                "header is truncated ({} of {HEADER_SIZE} bytes)",
                buf.len()
            ));
        }
        if buf[0..8] != MAGIC {
            return Err("header has no replica magic".into());
        }
        let stored_crc = le_u32(&buf[HEADER_CRC_AT..]);
        let actual_crc = crc32c::crc32c(&buf[..HEADER_CRC_AT]);
        if stored_crc != actual_crc {
            return Err(format!(
                "header checksum mismatch (stored {stored_crc:08x}, computed {actual_crc:08x})"
            ));
        }
        match le_u32(&buf[8..12]) {
            1 => Self::decode_v1(buf),
            other => Err(format!(
                "header has format version {other}, this build reads up to {FORMAT_VERSION}: \
                 upgrade cairn"
            )),
        }
    }

    fn decode_v1(buf: &[u8]) -> Result<Header, String> {
        let length = le_u64(&buf[32..40]);
        if length > MAX_CHUNK_SIZE {
            return Err(format!(
                "header data length {length} exceeds the chunk maximum"
            ));
        }
        let crcs = (0..MAX_BLOCKS)
            .map(|i| le_u32(&buf[CRCS_AT + 4 * i..]))
            .collect();
        Ok(Header {
            chunk_id: le_u64(&buf[16..24]),
            version: le_u64(&buf[24..32]),
            length,
            crcs,
        })
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Number of blocks that hold `length` bytes.
pub fn block_count(length: u64) -> usize {
    length.div_ceil(BLOCK) as usize
}

/// Reads into `buf` from `pos` until it is full or the file ends; returns
/// how many bytes were read (the rest of `buf` is left untouched).
fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Contiguous data given as several buffers (the messages of a stream),
/// addressed by offset from the start of the first.
struct Pieces<'a> {
    pieces: &'a [Bytes],
}

impl Pieces<'_> {
    fn len(&self) -> u64 {
        self.pieces.iter().map(|p| p.len() as u64).sum()
    }

    /// Calls `f` on the slices that make up bytes `[from, to)`, in order.
    fn for_each(&self, from: u64, to: u64, mut f: impl FnMut(&[u8])) {
        let mut at = 0u64;
        for p in self.pieces {
            let (start, end) = (at, at + p.len() as u64);
            at = end;
            if end <= from || p.is_empty() {
                continue;
            }
            if start >= to {
                break;
            }
            let a = from.max(start) - start;
            let b = to.min(end) - start;
            f(&p[a as usize..b as usize]);
        }
    }
}

/// An open replica file and its header as the page cache holds it.
///
/// Not synchronised: the store keeps each one behind a mutex, so one
/// operation at a time changes a replica.
#[derive(Debug)]
pub struct ReplicaFile {
    file: Arc<File>,
    header: Header,
}

impl ReplicaFile {
    /// Creates a new, empty replica; fails if the file exists.
    pub fn create(path: &Path, chunk_id: u64, version: u64) -> Result<ReplicaFile, Fault> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Fault::Io("create", e))?;
        read_at_random(&file);
        let replica = ReplicaFile {
            file: Arc::new(file),
            header: Header::new(chunk_id, version),
        };
        replica.write_header()?;
        Ok(replica)
    }

    /// Opens an existing replica whose file name says `chunk_id` and
    /// `version`, checking and if needed repairing its header (see the
    /// module's invariants).
    pub fn open(path: &Path, chunk_id: u64, version: u64) -> Result<ReplicaFile, Fault> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Fault::Io("open", e))?;
        read_at_random(&file);
        let mut buf = vec![0u8; HEADER_SIZE as usize];
        let n = read_full_at(&file, &mut buf, 0).map_err(|e| Fault::Io("read header of", e))?;
        buf.truncate(n);
        let mut header = Header::decode(&buf).map_err(Fault::Corrupt)?;
        if header.chunk_id != chunk_id {
            return Err(Fault::Corrupt(format!(
                "header names chunk {:016x}, the file name {chunk_id:016x}",
                header.chunk_id
            )));
        }
        if header.version > version {
            return Err(Fault::Corrupt(format!(
                "header has version {}, newer than the file name's {version}",
                header.version
            )));
        }
        let replica_needs_header = header.version < version;
        header.version = version;
        let replica = ReplicaFile {
            file: Arc::new(file),
            header,
        };
        if replica_needs_header {
            replica.write_header()?;
        }
        let size = replica
            .file
            .metadata()
            .map_err(|e| Fault::Io("stat", e))?
            .len();
        let expected = HEADER_SIZE + replica.header.length;
        if size > expected {
            // An unsynced tail from before a crash: its bytes are not
            // described by the header and would break "holes read as zeros".
            replica
                .file
                .set_len(expected)
                .map_err(|e| Fault::Io("truncate unsynced tail of", e))?;
        }
        Ok(replica)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn length(&self) -> u64 {
        self.header.length
    }

    pub fn version(&self) -> u64 {
        self.header.version
    }

    /// The open file, for syncing it outside the replica's lock.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Stores the in-memory header in the file (page cache).
    pub fn write_header(&self) -> Result<(), Fault> {
        self.file
            .write_all_at(&self.header.encode(), 0)
            .map_err(|e| Fault::Io("write header of", e))
    }

    /// Records a new version in the header (the caller renames the file).
    pub fn set_version(&mut self, version: u64) -> Result<(), Fault> {
        let old = self.header.version;
        self.header.version = version;
        if let Err(e) = self.write_header() {
            self.header.version = old;
            return Err(e);
        }
        Ok(())
    }

    /// Writes the concatenation of `pieces` at data offset `offset`,
    /// extending the replica if it ends past the current length (the gap,
    /// if any, reads as zeros). Returns the new length. With
    /// `verify_blocks`, every partial block's old bytes are read and
    /// verified whole (journal replay, where the bytes on disk may already
    /// be the ones being written).
    pub fn write_at(
        &mut self,
        offset: u64,
        pieces: &[Bytes],
        verify_blocks: bool,
    ) -> Result<u64, Fault> {
        let data = Pieces { pieces };
        let total = data.len();
        let end = offset
            .checked_add(total)
            .filter(|&e| e <= MAX_CHUNK_SIZE)
            .ok_or_else(|| {
                Fault::Invalid(format!(
                    "write of {total} bytes at offset {offset} ends past the largest chunk \
                     ({MAX_CHUNK_SIZE} bytes)"
                ))
            })?;
        if total == 0 {
            return Ok(self.header.length);
        }
        let old_len = self.header.length;
        let new_len = old_len.max(end);
        let first_block = offset.min(old_len) / BLOCK;
        let last_block = (end - 1) / BLOCK;

        // New CRCs first: partial blocks need their old bytes, read before
        // the data is overwritten.
        let in_place = end <= old_len && !verify_blocks;
        let mut new_crcs = Vec::with_capacity((last_block - first_block + 1) as usize);
        for b in first_block..=last_block {
            let bs = b * BLOCK;
            let be = (bs + BLOCK).min(new_len);
            let crc = if offset <= bs && end >= be {
                let mut crc = 0;
                data.for_each(bs - offset, be - offset, |s| {
                    crc = crc32c::crc32c_append(crc, s)
                });
                crc
            } else if in_place {
                // The block keeps its length: only the bytes replaced are
                // read.
                let (cs, ce) = (offset.max(bs), end.min(be));
                let mut old = vec![0u8; (ce - cs) as usize];
                read_full_at(&self.file, &mut old, HEADER_SIZE + cs)
                    .map_err(|e| Fault::Io("read", e))?;
                let mut at = 0;
                data.for_each(cs - offset, ce - offset, |s| {
                    for (o, n) in old[at..at + s.len()].iter_mut().zip(s) {
                        *o ^= n;
                    }
                    at += s.len();
                });
                patched_crc(self.header.crcs[b as usize], &old, cs - bs, be - bs)
            } else {
                let mut buf = vec![0u8; (be - bs) as usize];
                if bs < old_len {
                    let old_end = (bs + BLOCK).min(old_len);
                    let old = &mut buf[..(old_end - bs) as usize];
                    read_full_at(&self.file, old, HEADER_SIZE + bs)
                        .map_err(|e| Fault::Io("read", e))?;
                    let stored = self.header.crcs[b as usize];
                    let actual = crc32c::crc32c(old);
                    if stored != actual {
                        return Err(Fault::Corrupt(format!(
                            "block {b} (bytes {bs}..{old_end}) fails its checksum (stored \
                             {stored:08x}, computed {actual:08x}); refusing to rewrite part of it"
                        )));
                    }
                }
                // The part of the block this write covers; none for a
                // block wholly inside a hole before `offset`.
                let (cs, ce) = (offset.max(bs), end.min(be));
                if cs < ce {
                    let mut at = (cs - bs) as usize;
                    data.for_each(cs - offset, ce - offset, |s| {
                        buf[at..at + s.len()].copy_from_slice(s);
                        at += s.len();
                    });
                }
                crc32c::crc32c(&buf)
            };
            new_crcs.push(crc);
        }

        let mut pos = HEADER_SIZE + offset;
        for p in pieces {
            if let Err(e) = self.file.write_all_at(p, pos) {
                if new_len > old_len {
                    // Best effort: keep "file no longer than the header says".
                    let _ = self.file.set_len(HEADER_SIZE + old_len);
                }
                return Err(Fault::Io("write", e));
            }
            pos += p.len() as u64;
        }
        if total >= WRITEBACK_FROM {
            start_writeback(&self.file, HEADER_SIZE + offset, total);
        }
        for (i, crc) in new_crcs.into_iter().enumerate() {
            self.header.crcs[first_block as usize + i] = crc;
        }
        self.header.length = new_len;
        self.write_header()?;
        Ok(new_len)
    }

    /// Reads up to `len` bytes at data offset `offset`, verifying every
    /// block touched; bytes past the data length are not returned.
    pub fn read_at(&self, offset: u64, len: u64) -> Result<Bytes, Fault> {
        let length = self.header.length;
        if offset >= length || len == 0 {
            return Ok(Bytes::new());
        }
        let end = offset.saturating_add(len).min(length);
        let rs = offset / BLOCK * BLOCK;
        let re = (end.div_ceil(BLOCK) * BLOCK).min(length);
        let mut buf = BytesMut::zeroed((re - rs) as usize);
        read_full_at(&self.file, &mut buf, HEADER_SIZE + rs).map_err(|e| Fault::Io("read", e))?;
        for (i, block) in buf.chunks(BLOCK as usize).enumerate() {
            let b = (rs / BLOCK) as usize + i;
            let stored = self.header.crcs[b];
            let actual = crc32c::crc32c(block);
            if stored != actual {
                let bs = b as u64 * BLOCK;
                return Err(Fault::Corrupt(format!(
                    "block {b} (bytes {bs}..{}) fails its checksum (stored {stored:08x}, \
                     computed {actual:08x})",
                    bs + block.len() as u64
                )));
            }
        }
        let mut data = buf.freeze();
        Ok(data
            .split_off((offset - rs) as usize)
            .slice(..(end - offset) as usize))
    }
}

/// The CRC32C of a block of `block_len` bytes whose CRC was `crc`, after
/// the bytes at `at` changed by `change` (old XOR new). CRC32C is affine in
/// its message: for messages of one length, crc(x ^ y) = crc(x) ^ crc(y) ^
/// crc(zeros), so the new CRC is crc ^ crc(change, zero-padded to the
/// block) ^ crc(zeros of the block).
fn patched_crc(crc: u32, change: &[u8], at: u64, block_len: u64) -> u32 {
    static ZEROS: [u8; BLOCK as usize] = [0; BLOCK as usize];
    let (at, len) = (at as usize, block_len as usize);
    let mut delta = crc32c::crc32c(&ZEROS[..at]);
    delta = crc32c::crc32c_append(delta, change);
    delta = crc32c::crc32c_append(delta, &ZEROS[at + change.len()..len]);
    crc ^ delta ^ crc32c::crc32c(&ZEROS[..len])
}

/// Tells the kernel that `file` is read at random, so that a small read
/// costs no read-ahead of the rest of the chunk. Only a hint.
fn read_at_random(file: &File) {
    // SAFETY: posix_fadvise reads no memory of ours; the descriptor is open
    // for as long as `file` is borrowed.
    let done = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    if done != 0 {
        tracing::debug!(error = %io::Error::from_raw_os_error(done), "posix_fadvise failed");
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// the disk, without waiting for them. Only a hint: if it fails, the bytes
/// are written at the next fsync or by the kernel's own write-back.
fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range reads no memory of ours; the descriptor is
    // open for as long as `file` is borrowed.
    let done = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if done != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "sync_file_range failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn model_write(model: &mut Vec<u8>, offset: u64, data: &[u8]) {
        let end = offset as usize + data.len();
        if model.len() < end {
            model.resize(end, 0);
        }
        model[offset as usize..end].copy_from_slice(data);
    }

    #[test]
    fn writes_and_reads_at_odd_offsets_against_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut r = ReplicaFile::create(&path, 7, 1).unwrap();
        let mut model = Vec::new();
        let seed: u64 = rand::rng().random();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..60 {
            let offset = rng.random_range(0..(3 * BLOCK + 777));
            let len = rng.random_range(1..(2 * BLOCK as usize + 100));
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Split into pieces at random points, as a stream would.
            let cut = rng.random_range(0..len);
            let pieces = [
                Bytes::copy_from_slice(&data[..cut]),
                Bytes::copy_from_slice(&data[cut..]),
            ];
            let verify = rng.random_bool(0.3);
            let new_len = r.write_at(offset, &pieces, verify).unwrap();
            model_write(&mut model, offset, &data);
            assert_eq!(new_len, model.len() as u64);
            let ro = rng.random_range(0..model.len() as u64 + 10);
            let rl = rng.random_range(0..(BLOCK * 2));
            let got = r.read_at(ro, rl).unwrap();
            let from = (ro as usize).min(model.len());
            let to = (ro.saturating_add(rl) as usize).min(model.len());
            assert_eq!(&got[..], &model[from..to], "read {ro}+{rl}");
        }
        drop(r);
        // Everything survives a reopen.
        let r = ReplicaFile::open(&path, 7, 1).unwrap();
        assert_eq!(&r.read_at(0, u64::MAX).unwrap()[..], &model[..]);
    }

    #[test]
    fn holes_read_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = ReplicaFile::create(&dir.path().join("r"), 1, 1).unwrap();
        r.write_at(10, &[Bytes::from_static(b"abc")], false)
            .unwrap();
        r.write_at(3 * BLOCK + 5, &[Bytes::from_static(b"xyz")], false)
            .unwrap();
        assert_eq!(r.length(), 3 * BLOCK + 8);
        let all = r.read_at(0, u64::MAX).unwrap();
        assert_eq!(all.len() as u64, 3 * BLOCK + 8);
        assert_eq!(&all[10..13], b"abc");
        assert!(all[13..(3 * BLOCK + 5) as usize].iter().all(|&b| b == 0));
        assert_eq!(&all[(3 * BLOCK + 5) as usize..], b"xyz");
        // Reading past the end returns only what exists.
        assert!(r.read_at(3 * BLOCK + 8, 100).unwrap().is_empty());
        assert_eq!(&r.read_at(3 * BLOCK + 6, 100).unwrap()[..], b"yz");
    }

    #[test]
    fn corrupt_data_byte_is_detected_on_read_and_partial_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut r = ReplicaFile::create(&path, 1, 1).unwrap();
        let data = vec![0x5au8; (2 * BLOCK) as usize];
        r.write_at(0, &[Bytes::from(data)], false).unwrap();
        // Flip one byte of block 1 behind the replica's back.
        let raw = OpenOptions::new().write(true).open(&path).unwrap();
        raw.write_all_at(&[0xa5], HEADER_SIZE + BLOCK + 100)
            .unwrap();
        // Block 0 still reads; any read touching block 1 fails.
        assert_eq!(r.read_at(0, BLOCK).unwrap().len() as u64, BLOCK);
        match r.read_at(BLOCK + 50, 1) {
            Err(Fault::Corrupt(msg)) => assert!(msg.contains("block 1"), "{msg}"),
            other => panic!("expected corruption, got {other:?}"),
        }
        // A partial write into the bad block does not bless it: patched or
        // verified whole, the block keeps failing.
        r.write_at(BLOCK + 1, &[Bytes::from_static(b"x")], false)
            .unwrap();
        assert!(matches!(r.read_at(BLOCK, 1), Err(Fault::Corrupt(_))));
        assert!(matches!(
            r.write_at(BLOCK + 2, &[Bytes::from_static(b"y")], true),
            Err(Fault::Corrupt(_))
        ));
        // A write covering the whole block repairs it.
        r.write_at(BLOCK, &[Bytes::from(vec![1u8; BLOCK as usize])], false)
            .unwrap();
        assert_eq!(r.read_at(BLOCK, 3).unwrap().as_ref(), &[1, 1, 1]);
    }

    #[test]
    fn corrupt_header_is_detected_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut r = ReplicaFile::create(&path, 1, 1).unwrap();
        r.write_at(0, &[Bytes::from_static(b"hello")], false)
            .unwrap();
        drop(r);
        let raw = OpenOptions::new().write(true).open(&path).unwrap();
        raw.write_all_at(&[0xff], 70).unwrap(); // inside the CRC table
        match ReplicaFile::open(&path, 1, 1) {
            Err(Fault::Corrupt(msg)) => assert!(msg.contains("header checksum"), "{msg}"),
            other => panic!("expected a corrupt header, got {other:?}"),
        }
        // A header that names another chunk is refused too.
        let path2 = dir.path().join("r2");
        drop(ReplicaFile::create(&path2, 2, 1).unwrap());
        assert!(matches!(
            ReplicaFile::open(&path2, 3, 1),
            Err(Fault::Corrupt(_))
        ));
    }

    #[test]
    fn unknown_format_version_is_refused() {
        let mut buf = Header::new(1, 1).encode();
        buf[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&buf[..HEADER_CRC_AT]);
        buf[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        let err = Header::decode(&buf).unwrap_err();
        assert!(err.contains("format version 2"), "{err}");
    }

    #[test]
    fn version_change_is_kept_and_an_interrupted_one_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut r = ReplicaFile::create(&path, 1, 1).unwrap();
        r.write_at(0, &[Bytes::from_static(b"data")], false)
            .unwrap();
        r.set_version(2).unwrap();
        drop(r);
        let r = ReplicaFile::open(&path, 1, 2).unwrap();
        assert_eq!(r.version(), 2);
        drop(r);
        // Renamed to 3 but the header still says 2: repaired on open.
        let r = ReplicaFile::open(&path, 1, 3).unwrap();
        assert_eq!(r.version(), 3);
        assert_eq!(r.read_at(0, 4).unwrap().as_ref(), b"data");
        drop(r);
        // A name older than the header is corruption: versions only grow.
        assert!(matches!(
            ReplicaFile::open(&path, 1, 2),
            Err(Fault::Corrupt(_))
        ));
    }

    #[test]
    fn unsynced_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut r = ReplicaFile::create(&path, 1, 1).unwrap();
        r.write_at(0, &[Bytes::from_static(b"abc")], false).unwrap();
        drop(r);
        // Bytes past the length, as a crash before the header update leaves.
        let raw = OpenOptions::new().write(true).open(&path).unwrap();
        raw.write_all_at(b"garbage", HEADER_SIZE + 3).unwrap();
        let mut r = ReplicaFile::open(&path, 1, 1).unwrap();
        r.write_at(20, &[Bytes::from_static(b"z")], false).unwrap();
        let all = r.read_at(0, 100).unwrap();
        assert_eq!(&all[..3], b"abc");
        assert!(all[3..20].iter().all(|&b| b == 0));
    }
}
