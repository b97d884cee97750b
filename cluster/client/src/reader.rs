//! Streaming reads of a file's byte range.
//!
//! The range is cut into segments of at most `SEGMENT_BYTES`, each inside one
//! extent; up to `SEGMENTS_IN_FLIGHT` are fetched at once and handed out in
//! order, so a sequential read keeps several replicas busy while memory stays
//! bounded (segments in flight x segment size).
//!
//! Each segment is read from the replica on the caller's host first, else
//! from the replicas in turn (segment by segment, to spread the load), then
//! the others. The chunk server verifies its block checksums and refuses to
//! return bad bytes; a replica that fails is reported to the MDS and the
//! segment resumes, from the byte where it stopped, on the next replica.
//! Holes in the layout read as zeros.

use std::sync::Arc;

use bytes::Bytes;
use cairn_common::FsError;
use cairn_proto as pb;
use futures::{Stream, StreamExt};
use tonic::Code;
use tracing::warn;

use crate::{node::Node, Inner};

/// Zeros are produced in pieces of this size.
const ZERO_PIECE: u64 = 1 << 20;

/// Largest piece of a range fetched as one unit.
const SEGMENT_BYTES: u64 = 4 << 20;

/// Segments fetched at once by one reader.
const SEGMENTS_IN_FLIGHT: usize = 4;

fn zeros(len: u64) -> Vec<Bytes> {
    let full = len / ZERO_PIECE;
    let rest = len % ZERO_PIECE;
    (0..full)
        .map(|_| Bytes::from(vec![0u8; ZERO_PIECE as usize]))
        .chain((rest > 0).then(|| Bytes::from(vec![0u8; rest as usize])))
        .collect()
}

/// One unit of a read.
#[derive(Debug, Clone, Copy)]
enum Segment {
    Hole(u64),
    Data {
        chunk_id: u64,
        chunk_offset: u64,
        len: u64,
        /// Position among the segments: picks the replica to start with.
        index: usize,
    },
}

/// Cuts `[pos, end)` of `node` into segments, in file order.
fn segments(node: &Node, mut pos: u64, end: u64) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut index = 0;
    let from = pos;
    for ext in node
        .extents
        .iter()
        .filter(|e| e.file_end() > from && e.file_offset < end)
    {
        if ext.file_offset > pos {
            out.push(Segment::Hole(ext.file_offset - pos));
            pos = ext.file_offset;
        }
        let stop = ext.file_end().min(end);
        while pos < stop {
            let len = (stop - pos).min(SEGMENT_BYTES);
            out.push(Segment::Data {
                chunk_id: ext.chunk_id,
                chunk_offset: ext.chunk_offset + (pos - ext.file_offset),
                len,
                index,
            });
            index += 1;
            pos += len;
        }
    }
    if pos < end {
        out.push(Segment::Hole(end - pos));
    }
    out
}

/// Streams bytes `[offset, offset + len)` of `node`, clamped to its size.
pub(crate) fn read_range(
    inner: Arc<Inner>,
    node: Node,
    offset: u64,
    len: u64,
) -> impl Stream<Item = Result<Bytes, FsError>> + Send + 'static {
    let end = node.size.min(offset.saturating_add(len));
    let start = offset.min(end);
    let segs = segments(&node, start, end);
    let ids: Vec<u64> = segs
        .iter()
        .filter_map(|s| match s {
            Segment::Data { chunk_id, .. } => Some(*chunk_id),
            Segment::Hole(_) => None,
        })
        .collect();
    let prefetch = {
        let inner = inner.clone();
        async move { inner.prefetch_locations(&ids).await }
    };
    futures::stream::once(prefetch)
        .map(move |prefetched| {
            let inner = inner.clone();
            let fetches = segs.clone().into_iter().map(move |seg| {
                let inner = inner.clone();
                async move {
                    match seg {
                        Segment::Hole(n) => Ok(zeros(n)),
                        Segment::Data {
                            chunk_id,
                            chunk_offset,
                            len,
                            index,
                        } => fetch(&inner, chunk_id, chunk_offset, len, index).await,
                    }
                }
            });
            match prefetched {
                Ok(()) => futures::stream::iter(fetches)
                    .buffered(SEGMENTS_IN_FLIGHT)
                    .boxed(),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .flat_map(|r: Result<Vec<Bytes>, FsError>| match r {
            Ok(pieces) => futures::stream::iter(pieces.into_iter().map(Ok)).left_stream(),
            Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
        })
}

/// Reads `len` bytes of a chunk from `chunk_offset`, failing over between
/// replicas; bytes a replica does not hold (never written) read as zeros.
async fn fetch(
    inner: &Arc<Inner>,
    chunk_id: u64,
    chunk_offset: u64,
    len: u64,
    index: usize,
) -> Result<Vec<Bytes>, FsError> {
    let chunk_to = chunk_offset + len;
    let mut at = chunk_offset;
    let mut out = Vec::new();
    let mut loc = inner.locate(chunk_id).await?;
    let mut order = inner.replica_order_for(&loc, index);
    let mut next = 0usize;
    let mut refreshed = false;
    let mut errors: Vec<String> = Vec::new();
    while at < chunk_to {
        let Some(cs) = order.get(next).cloned() else {
            if refreshed {
                return Err(FsError::Io(format!(
                    "no replica of chunk {chunk_id} could be read: {}",
                    errors.join("; ")
                )));
            }
            // The cached location may be stale (a version bump, a replica
            // moved): ask the MDS once more.
            refreshed = true;
            inner.forget_location(chunk_id);
            loc = inner.locate(chunk_id).await?;
            order = inner.replica_order_for(&loc, index);
            next = 0;
            continue;
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
                    let n = (reply.data.len() as u64).min(chunk_to - at);
                    if n > 0 {
                        at += n;
                        out.push(reply.data.slice(..n as usize));
                    }
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
            // The replica holds fewer bytes than the extent names: the rest
            // of the range was never written.
            out.extend(zeros(chunk_to - at));
            at = chunk_to;
        }
    }
    Ok(out)
}

/// Whether a failed read says the replica's bytes are bad (as opposed to
/// the server being unreachable), so the MDS should drop it.
pub(crate) fn is_bad_replica(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::DataLoss | Code::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Extent, NodeKind};

    fn node(extents: Vec<Extent>, size: u64) -> Node {
        Node {
            ino: 2,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            atime_ns: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            nlink: 1,
            etag: String::new(),
            content_type: String::new(),
            user_meta: Default::default(),
            headers: Default::default(),
            replicas: 3,
            min_replicas: 0,
            tier: 0,
            extents,
            symlink_target: Vec::new(),
            xattrs: Default::default(),
        }
    }

    #[test]
    fn segments_cover_the_range_with_holes_in_order() {
        let n = node(
            vec![
                Extent {
                    file_offset: 100,
                    chunk_id: 1,
                    chunk_offset: 0,
                    length: 10 << 20,
                },
                Extent {
                    file_offset: (10 << 20) + 200,
                    chunk_id: 2,
                    chunk_offset: 5,
                    length: 50,
                },
            ],
            (20 << 20) as u64,
        );
        let segs = segments(&n, 50, 20 << 20);
        let total: u64 = segs
            .iter()
            .map(|s| match s {
                Segment::Hole(l) => *l,
                Segment::Data { len, .. } => *len,
            })
            .sum();
        assert_eq!(total, (20 << 20) - 50);
        assert!(matches!(segs[0], Segment::Hole(50)));
        assert!(
            matches!(segs[1], Segment::Data { chunk_id: 1, chunk_offset: 0, len, .. } if len == SEGMENT_BYTES)
        );
        assert!(segs.iter().all(|s| match s {
            Segment::Data { len, .. } => *len <= SEGMENT_BYTES,
            Segment::Hole(_) => true,
        }));
        assert!(matches!(
            segs[segs.len() - 2],
            Segment::Data {
                chunk_id: 2,
                chunk_offset: 5,
                len: 50,
                ..
            }
        ));
        assert!(matches!(segs[segs.len() - 1], Segment::Hole(_)));
    }
}
