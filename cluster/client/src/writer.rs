//! Sequential writes of a stream into new chunks: the path of an S3 PUT, of
//! `cairn put`, and of a file written from start to end.
//!
//! The stream is cut into chunks of the cluster's chunk size and each chunk
//! into pieces; the MD5 of the whole stream is computed on the way. A
//! finished chunk is synced in the background while the next one fills, so
//! a large write keeps the chain busy. Memory held: the pieces in flight of
//! one chunk, never the object.

use std::sync::Arc;

use bytes::Bytes;
use cairn_common::ClusterError;
use cairn_proto as pb;
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

use crate::{chain::ChunkWrite, node::ChunkLocation, node::Extent, Inner};

/// What a finished stream wrote.
#[derive(Debug, Clone, Default)]
pub struct WrittenData {
    pub size: u64,
    /// Hex MD5 of every byte written.
    pub md5_hex: String,
    pub extents: Vec<Extent>,
    /// Length each chunk reached.
    pub chunk_lengths: Vec<(u64, u64)>,
}

/// A full chunk being synced in the background: where it starts in the
/// file, its length, and the task that finishes it.
type FinishingChunk = (u64, u64, JoinHandle<Result<ChunkLocation, ClusterError>>);

struct OpenChunk {
    write: ChunkWrite,
    /// Where the chunk starts in the file.
    file_offset: u64,
    /// Bytes handed to the chain so far.
    sent: u64,
}

/// Writes one stream into new chunks.
pub struct StreamWriter {
    inner: Arc<Inner>,
    /// The inode whose replicas/tier attributes the chunks take.
    attr_ino: u64,
    chunk_size: u64,
    md5: Md5,
    size: u64,
    buf: Vec<Bytes>,
    buf_len: usize,
    current: Option<OpenChunk>,
    finishing: Vec<FinishingChunk>,
}

impl StreamWriter {
    pub(crate) fn new(inner: Arc<Inner>, attr_ino: u64) -> StreamWriter {
        let chunk_size = inner.chunk_size;
        StreamWriter {
            inner,
            attr_ino,
            chunk_size,
            md5: Md5::new(),
            size: 0,
            buf: Vec::new(),
            buf_len: 0,
            current: None,
            finishing: Vec::new(),
        }
    }

    /// Bytes accepted so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `data` to the stream.
    pub async fn write(&mut self, mut data: Bytes) -> Result<(), ClusterError> {
        self.md5.update(&data);
        while !data.is_empty() {
            let chunk_fill = self.size % self.chunk_size;
            let room = (self.chunk_size - chunk_fill) as usize;
            let take = data.split_to(room.min(data.len()));
            self.size += take.len() as u64;
            self.buf_len += take.len();
            self.buf.push(take);
            let chunk_full = self.size.is_multiple_of(self.chunk_size);
            if self.buf_len >= crate::chain::PIECE_BYTES || chunk_full {
                self.send_buffer(chunk_full).await?;
            }
            if chunk_full {
                self.close_chunk()?;
            }
        }
        Ok(())
    }

    /// Sends what is gathered; `last`: it ends the current chunk.
    async fn send_buffer(&mut self, last: bool) -> Result<(), ClusterError> {
        if self.buf_len == 0 {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        let len = self.buf_len as u64;
        self.buf_len = 0;
        if self.current.is_none() {
            // One MDS call per chunk rather than the FUSE door's pool: a
            // batch shares one chain, and large objects must spread.
            let loc = self.inner.allocate_chunk(self.attr_ino).await?;
            let file_offset = self.size - len;
            self.current = Some(OpenChunk {
                write: ChunkWrite::new(self.inner.clone(), loc, true),
                file_offset,
                sent: 0,
            });
        }
        if let Some(open) = self.current.as_mut() {
            open.write.write_at(open.sent, data, last).await?;
            open.sent += len;
        }
        Ok(())
    }

    /// Finishes the current chunk in the background.
    fn close_chunk(&mut self) -> Result<(), ClusterError> {
        if let Some(open) = self.current.take() {
            let handle = tokio::spawn(open.write.finish(true));
            self.finishing.push((open.file_offset, open.sent, handle));
        }
        Ok(())
    }

    /// Sends what is left, waits until every chunk is on stable storage on
    /// every live replica, and returns the layout written.
    pub async fn finish(mut self) -> Result<WrittenData, ClusterError> {
        self.send_buffer(true).await?;
        self.close_chunk()?;
        let mut extents = Vec::with_capacity(self.finishing.len());
        let mut chunk_lengths = Vec::with_capacity(self.finishing.len());
        let mut first_error = None;
        for (file_offset, length, handle) in self.finishing.drain(..) {
            let result = match handle.await {
                Ok(r) => r,
                Err(e) => Err(ClusterError::Io(format!("chunk write task failed: {e}"))),
            };
            match result {
                Ok(loc) => {
                    extents.push(Extent {
                        file_offset,
                        chunk_id: loc.chunk_id,
                        chunk_offset: 0,
                        length,
                    });
                    chunk_lengths.push((loc.chunk_id, length));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(WrittenData {
            size: self.size,
            md5_hex: hex::encode(self.md5.finalize_reset()),
            extents,
            chunk_lengths,
        })
    }
}

impl WrittenData {
    pub(crate) fn chunk_lengths_pb(&self) -> Vec<pb::ChunkLength> {
        self.chunk_lengths
            .iter()
            .map(|&(chunk_id, length)| pb::ChunkLength { chunk_id, length })
            .collect()
    }
}
