//! Streaming reads of a file's byte range.
//!
//! Each chunk is read from the replica on the caller's host first, then in
//! the MDS's order of cost. The chunk server verifies its block checksums
//! and refuses to return bad bytes; a replica that fails is reported to the
//! MDS and the read resumes, from the byte where it stopped, on the next
//! replica. Holes in the layout read as zeros.

use std::sync::Arc;

use bytes::Bytes;
use cairn_common::FsError;
use cairn_proto as pb;
use futures::Stream;
use tonic::Code;
use tracing::warn;

use crate::{node::Node, Inner};

/// Zeros are produced in pieces of this size.
const ZERO_PIECE: u64 = 1 << 20;

fn zeros(len: u64) -> impl Iterator<Item = Bytes> {
    let full = len / ZERO_PIECE;
    let rest = len % ZERO_PIECE;
    (0..full)
        .map(|_| Bytes::from(vec![0u8; ZERO_PIECE as usize]))
        .chain((rest > 0).then(|| Bytes::from(vec![0u8; rest as usize])))
}

/// Streams bytes `[offset, offset + len)` of `node`, clamped to its size.
pub(crate) fn read_range(
    inner: Arc<Inner>,
    node: Node,
    offset: u64,
    len: u64,
) -> impl Stream<Item = Result<Bytes, FsError>> + Send + 'static {
    async_stream::try_stream! {
        let end = node.size.min(offset.saturating_add(len));
        let mut pos = offset.min(end);
        let start = pos;
        let wanted: Vec<crate::node::Extent> = node
            .extents
            .iter()
            .filter(|e| e.file_end() > start && e.file_offset < end)
            .copied()
            .collect();
        let ids: Vec<u64> = wanted.iter().map(|e| e.chunk_id).collect();
        inner.prefetch_locations(&ids).await?;
        for ext in wanted {
            if ext.file_offset > pos {
                for z in zeros(ext.file_offset - pos) {
                    yield z;
                }
                pos = ext.file_offset;
            }
            let stop = ext.file_end().min(end);
            let chunk_from = ext.chunk_offset + (pos - ext.file_offset);
            let chunk_to = ext.chunk_offset + (stop - ext.file_offset);
            let mut at = chunk_from;
            let mut loc = inner.locate(ext.chunk_id).await?;
            let mut order = inner.replica_order(&loc);
            let mut next = 0usize;
            let mut refreshed = false;
            let mut errors: Vec<String> = Vec::new();
            while at < chunk_to {
                let Some(cs) = order.get(next).cloned() else {
                    if !refreshed {
                        // The cached location may be stale (a version bump,
                        // a replica moved): ask the MDS once more.
                        refreshed = true;
                        inner.forget_location(ext.chunk_id);
                        loc = inner.locate(ext.chunk_id).await?;
                        order = inner.replica_order(&loc);
                        next = 0;
                        continue;
                    }
                    Err(FsError::Io(format!(
                        "no replica of chunk {} could be read: {}",
                        ext.chunk_id,
                        errors.join("; ")
                    )))?;
                    unreachable!();
                };
                next += 1;
                let req = pb::ReadRequest {
                    chunk_id: loc.chunk_id,
                    version: loc.version,
                    offset: at,
                    length: chunk_to - at,
                };
                let mut rpc = inner.cs.get(&cs.addr)?;
                let mut stream = match rpc.read(req).await {
                    Ok(s) => s.into_inner(),
                    Err(status) => {
                        errors.push(format!("CS {}: {}", cs.cs_id, status.message()));
                        inner.report_bad_replica(&loc, cs.cs_id, &status);
                        continue;
                    }
                };
                let mut ended = false;
                loop {
                    match stream.message().await {
                        Ok(Some(reply)) => {
                            let n = reply.data.len() as u64;
                            if n == 0 {
                                continue;
                            }
                            let take = n.min(chunk_to - at);
                            at += take;
                            yield reply.data.slice(..take as usize);
                        }
                        Ok(None) => {
                            ended = true;
                            break;
                        }
                        Err(status) => {
                            warn!(chunk = loc.chunk_id, cs = cs.cs_id, error = %status.message(), "replica read failed; trying the next");
                            errors.push(format!("CS {}: {}", cs.cs_id, status.message()));
                            inner.report_bad_replica(&loc, cs.cs_id, &status);
                            break;
                        }
                    }
                }
                if ended && at < chunk_to {
                    // The replica holds fewer bytes than the extent names:
                    // the rest of the range was never written.
                    for z in zeros(chunk_to - at) {
                        yield z;
                    }
                    at = chunk_to;
                }
            }
            pos = stop;
        }
        if pos < end {
            for z in zeros(end - pos) {
                yield z;
            }
        }
    }
}

/// Whether a failed read says the replica's bytes are bad (as opposed to
/// the server being unreachable), so the MDS should drop it.
pub(crate) fn is_bad_replica(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::DataLoss | Code::NotFound)
}
