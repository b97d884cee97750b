//! fallocate and lseek's SEEK_DATA/SEEK_HOLE: thin provisioning both ways.
//!
//! * mode 0 extends the file to `offset + len` (a hole: nothing is
//!   written) after checking that the cluster's allocatable space (free
//!   space over the replica count, as `df` shows it) holds the bytes of
//!   the range not yet mapped; ENOSPC otherwise. It reserves nothing:
//!   chunk servers are thin, so a later write can still meet a full
//!   cluster when others wrote first. `KEEP_SIZE` alone does the check
//!   and changes nothing.
//! * `PUNCH_HOLE | KEEP_SIZE` cuts the range out of the layout (PunchHole
//!   on the MDS): it reads as zeros and whole chunks inside it go back to
//!   the cluster. `ZERO_RANGE` does the same and, without `KEEP_SIZE`,
//!   extends the file to the end of the range.
//! * every other mode (PUNCH_HOLE without KEEP_SIZE, COLLAPSE_RANGE,
//!   INSERT_RANGE, UNSHARE_RANGE, ...) is EOPNOTSUPP.
//!
//! copy_file_range shares chunks like a reflink (CloneRange on the MDS):
//! the destination's layout names the source's chunk bytes, and writes to
//! either file go around shared chunks (copy on write).
//!
//! SEEK_DATA and SEEK_HOLE answer from the layout once the file's buffered
//! writes are committed, so `cp --sparse`, `tar -S` and `qemu-img` find the
//! holes.

use super::*;
use cairn_common::extent::{mapped, punch, seek_data, seek_hole};

pub const FALLOC_FL_KEEP_SIZE: i32 = 0x01;
pub const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;
pub const FALLOC_FL_ZERO_RANGE: i32 = 0x10;

pub const SEEK_DATA: i32 = 3;
pub const SEEK_HOLE: i32 = 4;

impl<B: Backend> Fs<B> {
    pub async fn fallocate(&self, fh: u64, offset: u64, len: u64, mode: i32) -> Result<()> {
        let h = self.handle(fh)?;
        if len == 0 {
            return Err(ClusterError::Invalid("fallocate of 0 bytes".into()).into());
        }
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= crate::open_file::MAX_FILE_SIZE)
            .ok_or_else(|| Error::FileTooBig(format!("{len} bytes at {offset}")))?;
        let keep_size = mode & FALLOC_FL_KEEP_SIZE != 0;
        let result = match mode & !FALLOC_FL_KEEP_SIZE {
            0 => self.reserve(&h, offset, end, keep_size).await,
            FALLOC_FL_PUNCH_HOLE if keep_size => {
                h.file.punch(&self.backend, offset, len).await.map(|_| ())
            }
            FALLOC_FL_ZERO_RANGE => {
                h.file.punch(&self.backend, offset, len).await?;
                if keep_size {
                    Ok(())
                } else {
                    self.extend(&h, end).await
                }
            }
            _ => Err(Error::NotSupported(format!(
                "fallocate mode {mode:#x}: 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE only"
            ))),
        };
        self.entries.forget_node(h.file.ino);
        result
    }

    /// Mode 0: room for the unmapped bytes of the range, then the size.
    async fn reserve(&self, h: &Handle<B>, offset: u64, end: u64, keep_size: bool) -> Result<()> {
        let node = h.file.node();
        let held = mapped(&node.extents) - mapped(&punch(&node.extents, offset, end));
        let needed = (end - offset).saturating_sub(held);
        if needed > 0 {
            let cap = self.ask("statfs", self.backend.capacity()).await?;
            if cap.free < needed {
                return Err(ClusterError::NoSpace(format!(
                    "fallocate of {needed} bytes: the cluster can take {} more",
                    cap.free
                ))
                .into());
            }
        }
        if keep_size {
            return Ok(());
        }
        self.extend(h, end).await
    }

    /// Grows the file to `end` bytes (never shrinks it).
    async fn extend(&self, h: &Handle<B>, end: u64) -> Result<()> {
        if h.file.size() >= end {
            return Ok(());
        }
        let attr = SetAttr {
            size: Some(end),
            ..SetAttr::default()
        };
        h.file.setattr(&self.backend, attr).await.map(|_| ())
    }

    /// copy_file_range: the source's bytes of the range (up to its end)
    /// become the destination's, sharing the source's chunks instead of
    /// moving the bytes through this host; answers how many bytes.
    pub async fn copy_file_range(
        &self,
        fh_in: u64,
        offset_in: u64,
        fh_out: u64,
        offset_out: u64,
        len: u64,
    ) -> Result<u64> {
        let (src, dst) = (self.handle(fh_in)?, self.handle(fh_out)?);
        offset_out
            .checked_add(len)
            .filter(|end| *end <= crate::open_file::MAX_FILE_SIZE)
            .ok_or_else(|| Error::FileTooBig(format!("{len} bytes at {offset_out}")))?;
        // The source's buffered bytes go first: the clone takes its
        // committed layout.
        let (_, src_size) = src.file.settled(&self.backend).await?;
        let copied = len.min(src_size.saturating_sub(offset_in));
        if copied == 0 {
            return Ok(0);
        }
        // An encrypted source's chunks hold ciphertext: never shared into
        // a plain file (callers such as cp fall back to reading).
        let src_node = self
            .ask("getattr", self.backend.getattr(src.file.ino))
            .await?;
        if cairn_client::sse::ObjectSse::from_headers(&src_node.headers)
            .map_or(true, |s| s.is_some())
        {
            return Err(Error::NotSupported(format!(
                "inode {}: copy_file_range from an encrypted object",
                src.file.ino
            )));
        }
        dst.file
            .clone_range_from(&self.backend, src.file.ino, offset_in, offset_out, copied)
            .await?;
        self.entries.forget_node(dst.file.ino);
        Ok(copied)
    }

    /// lseek with SEEK_DATA or SEEK_HOLE (the kernel does the others
    /// itself; SEEK_SET is answered as asked for completeness).
    pub async fn lseek(&self, fh: u64, offset: i64, whence: i32) -> Result<i64> {
        let h = self.handle(fh)?;
        let seek = match whence {
            SEEK_DATA => seek_data,
            SEEK_HOLE => seek_hole,
            libc::SEEK_SET if offset >= 0 => return Ok(offset),
            _ => return Err(ClusterError::Invalid(format!("lseek whence {whence}")).into()),
        };
        let Ok(at) = u64::try_from(offset) else {
            return Err(Error::NoSuchOffset(format!("offset {offset}")));
        };
        let (node, size) = h.file.settled(&self.backend).await?;
        let found = seek(&node.extents, size, at)
            .ok_or_else(|| Error::NoSuchOffset(format!("no {whence} at or after {at}")))?;
        i64::try_from(found).map_err(|_| Error::FileTooBig(format!("offset {found}")))
    }
}
