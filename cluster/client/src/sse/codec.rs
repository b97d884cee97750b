//! The block codec: a plaintext stream sealed into blocks of [`BLOCK`]
//! bytes plus their tag, and a stored range opened back into exactly the
//! plaintext bytes asked for. The format is in the module docs of `sse`.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use cairn_common::ClusterError;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};

use super::{DataKey, SseError, BLOCK, SEALED_BLOCK, TAG};

/// Stored size of `plain` bytes of plaintext.
pub fn sealed_size(plain: u64) -> u64 {
    plain + TAG as u64 * plain.div_ceil(BLOCK as u64)
}

/// The stored bytes that hold a plaintext range, and what of their
/// plaintext to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSpan {
    /// Index of the first block read.
    pub first_block: u64,
    /// Where that block starts in the stored bytes.
    pub stored_offset: u64,
    /// Stored bytes to read (whole blocks).
    pub stored_len: u64,
    /// Plaintext bytes of the first block before the range.
    pub skip: u64,
    /// Plaintext bytes of the range.
    pub len: u64,
}

/// The stored span of plaintext bytes `[offset, offset + len)` of an
/// object of `plain_size` bytes (clamped to it).
pub fn stored_span(offset: u64, len: u64, plain_size: u64) -> StoredSpan {
    let end = plain_size.min(offset.saturating_add(len));
    let start = offset.min(end);
    let block = BLOCK as u64;
    let first_block = start / block;
    if start == end {
        return StoredSpan {
            first_block,
            stored_offset: 0,
            stored_len: 0,
            skip: 0,
            len: 0,
        };
    }
    let last_block = (end - 1) / block;
    let stored_offset = first_block * SEALED_BLOCK as u64;
    let stored_end = ((last_block + 1) * SEALED_BLOCK as u64).min(sealed_size(plain_size));
    StoredSpan {
        first_block,
        stored_offset,
        stored_len: stored_end - stored_offset,
        skip: start - first_block * block,
        len: end - start,
    }
}

/// The plaintext's size and hex MD5, known once the sealing stream ended.
#[derive(Debug, Clone, Default)]
pub struct SealedDigest(Arc<Mutex<Option<(u64, String)>>>);

impl SealedDigest {
    /// The plaintext's size and hex MD5, if the stream ended.
    pub fn get(&self) -> Option<(u64, String)> {
        self.0.lock().ok().and_then(|d| d.clone())
    }

    fn set(&self, size: u64, md5_hex: String) {
        if let Ok(mut d) = self.0.lock() {
            *d = Some((size, md5_hex));
        }
    }
}

/// Seals `body` as part `part` under `key`: the stored bytes, in whole
/// sealed blocks. `digest` has the plaintext's size and MD5 once the body
/// ended. A body error is passed on as it came.
pub fn seal_stream<S, E>(
    body: S,
    key: DataKey,
    part: u32,
    digest: SealedDigest,
) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: From<SseError> + Send,
{
    async_stream::try_stream! {
        let mut body = std::pin::pin!(body);
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut block = 0u64;
        let mut buf: Vec<u8> = Vec::with_capacity(SEALED_BLOCK);
        while let Some(piece) = body.next().await {
            let mut piece = piece?;
            md5.update(&piece);
            size += piece.len() as u64;
            while !piece.is_empty() {
                let take = (BLOCK - buf.len()).min(piece.len());
                buf.extend_from_slice(&piece.split_to(take));
                if buf.len() == BLOCK {
                    let mut sealed = std::mem::replace(&mut buf, Vec::with_capacity(SEALED_BLOCK));
                    key.seal(part, block, &mut sealed)?;
                    block += 1;
                    yield Bytes::from(sealed);
                }
            }
        }
        if !buf.is_empty() {
            key.seal(part, block, &mut buf)?;
            yield Bytes::from(buf);
        }
        digest.set(size, hex::encode(md5.finalize()));
    }
}

/// Opens `stored`, the stored bytes of `span` of part `part`, into the
/// plaintext of the span. A block that does not authenticate, or stored
/// bytes ending early, end the stream with an error: never wrong bytes.
pub fn open_blocks<S>(
    stored: S,
    key: DataKey,
    part: u32,
    span: StoredSpan,
) -> impl Stream<Item = Result<Bytes, ClusterError>> + Send
where
    S: Stream<Item = Result<Bytes, ClusterError>> + Send,
{
    async_stream::try_stream! {
        let mut stored = std::pin::pin!(stored);
        let mut buf = BytesMut::new();
        let mut block = span.first_block;
        let mut skip = span.skip as usize;
        let mut left = span.len;
        let mut received = 0u64;
        let mut ended = false;
        while left > 0 {
            if buf.len() < SEALED_BLOCK && !ended {
                match stored.next().await {
                    Some(piece) => {
                        let piece = piece?;
                        received += piece.len() as u64;
                        buf.extend_from_slice(&piece);
                    }
                    None => ended = true,
                }
                continue;
            }
            let take = buf.len().min(SEALED_BLOCK);
            if take <= TAG || (ended && received < span.stored_len) {
                Err::<(), _>(ClusterError::Io(SseError::Truncated.to_string()))?;
            }
            let mut sealed = buf.split_to(take);
            let plain_len = key
                .open(part, block, &mut sealed)
                .map_err(|e| ClusterError::Io(e.to_string()))?;
            block += 1;
            let mut plain = sealed.freeze().slice(..plain_len);
            let from = skip.min(plain.len());
            skip -= from;
            plain = plain.slice(from..);
            let keep = (plain.len() as u64).min(left) as usize;
            left -= keep as u64;
            if keep > 0 {
                yield plain.slice(..keep);
            }
        }
    }
}
