//! Streaming reads of a file's byte range.
//!
//! The range is cut into segments of at most `SEGMENT_BYTES`, each inside one
//! extent; up to `SEGMENTS_IN_FLIGHT` are fetched at once and handed out in
//! order, so a sequential read keeps several replicas busy while memory stays
//! bounded (segments in flight x segment size).
//!
//! Each segment is read from the replica on the caller's host first, else
//! from the replicas in turn (segment by segment, to spread the load), then
//! the others, and replicas on chunk servers not reached lately (suspects)
//! last. The chunk server verifies its block checksums and refuses to
//! return bad bytes; a replica that answers bad data is reported to the
//! MDS. A replica that fails in any way (an error, a lost connection, or
//! nothing for `cs_timeout`: a host that vanished) is left, and the segment
//! resumes from the byte where it stopped on the next replica; one that
//! could not be reached becomes a suspect. Holes in the layout read as
//! zeros.
//!
//! Invariant: a segment never waits longer than `cs_timeout` for the next
//! message of one replica, so a read outlives the loss of any replica but
//! the last at a cost of one `cs_timeout` per loss.

use std::sync::Arc;

use bytes::Bytes;
use cairn_common::ClusterError;
use cairn_proto as pb;
use futures::{Stream, StreamExt};
use tonic::Code;
use tracing::warn;

use crate::{
    node::{ChunkLocation, Node},
    rpc::is_transport_failure,
    Inner,
};

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
        .filter(|e| e.end() > from && e.file_offset < end)
    {
        if ext.file_offset > pos {
            out.push(Segment::Hole(ext.file_offset - pos));
            pos = ext.file_offset;
        }
        let stop = ext.end().min(end);
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
) -> impl Stream<Item = Result<Bytes, ClusterError>> + Send + 'static {
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
        .flat_map(|r: Result<Vec<Bytes>, ClusterError>| match r {
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
) -> Result<Vec<Bytes>, ClusterError> {
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
                return Err(ClusterError::Io(format!(
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
        let stall = inner.cs_timeout;
        let mut rpc = inner.cs.get(&cs.addr)?;
        let mut stream = match tokio::time::timeout(stall, rpc.read(req)).await {
            Ok(Ok(s)) => s.into_inner(),
            Ok(Err(status)) => {
                errors.push(format!("CS {}: {}", cs.cs_id, status.message()));
                replica_failed(inner, &loc, cs.cs_id, &status);
                continue;
            }
            Err(_) => {
                warn!(
                    chunk = loc.chunk_id,
                    cs = cs.cs_id,
                    "replica did not answer a read; trying the next"
                );
                errors.push(format!("CS {}: no answer in {stall:?}", cs.cs_id));
                inner.cs_unreachable(loc.chunk_id, cs.cs_id);
                continue;
            }
        };
        let mut ended = false;
        loop {
            match tokio::time::timeout(stall, stream.message()).await {
                Ok(Ok(Some(reply))) => {
                    let n = (reply.data.len() as u64).min(chunk_to - at);
                    if n > 0 {
                        at += n;
                        out.push(reply.data.slice(..n as usize));
                    }
                }
                Ok(Ok(None)) => {
                    ended = true;
                    inner.suspects.clear(cs.cs_id);
                    break;
                }
                Ok(Err(status)) => {
                    warn!(chunk = loc.chunk_id, cs = cs.cs_id, error = %status.message(), "replica read failed; trying the next");
                    errors.push(format!("CS {}: {}", cs.cs_id, status.message()));
                    replica_failed(inner, &loc, cs.cs_id, &status);
                    break;
                }
                Err(_) => {
                    // Dropping the stream resets it: the chunk server, if it
                    // is still there, stops sending.
                    warn!(
                        chunk = loc.chunk_id,
                        cs = cs.cs_id,
                        at,
                        "replica read stalled; resuming on the next"
                    );
                    errors.push(format!("CS {}: nothing for {stall:?}", cs.cs_id));
                    inner.cs_unreachable(loc.chunk_id, cs.cs_id);
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

/// Notes a read of `cs_id` that failed with `status`: a replica with bad
/// bytes is reported, a server not reached becomes a suspect.
fn replica_failed(inner: &Arc<Inner>, loc: &ChunkLocation, cs_id: u32, status: &tonic::Status) {
    if is_transport_failure(status) {
        inner.cs_unreachable(loc.chunk_id, cs_id);
    } else {
        inner.report_bad_replica(loc, cs_id, status);
    }
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
            version_id: String::new(),
            protection: Default::default(),
            rdev: 0,
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

#[cfg(test)]
mod failover_tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{
        node::{Extent, NodeKind},
        testing::{client, collect, fake_cs, fake_mds, place},
    };

    /// The replica a read starts on stops sending half-way without closing
    /// anything (a vanished host): the read goes on from the next replica
    /// at the byte where it stopped, and the silent one becomes a suspect
    /// that later reads try last.
    #[tokio::test]
    async fn a_stalled_read_resumes_on_the_next_replica_where_it_stopped() {
        let mds = fake_mds().await;
        let (c1, c2) = (fake_cs(1).await, fake_cs(2).await);
        let timeout = Duration::from_millis(500);
        let client = client(&[&mds], timeout);
        let inner = client.inner.clone();
        let data: Vec<u8> = (0..(3 << 20) as u32).map(|i| (i % 251) as u8).collect();
        for cs in [&c1, &c2] {
            cs.set(|s| {
                s.chunks.insert(20, (1, data.clone()));
            });
        }
        c1.set(|s| s.read_stall_after = Some(300_000));
        place(&mds, 20, &[&c1, &c2], 2);
        let node = Node {
            ino: 5,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: data.len() as u64,
            atime_ns: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            nlink: 1,
            etag: String::new(),
            content_type: String::new(),
            user_meta: Default::default(),
            headers: Default::default(),
            replicas: 2,
            min_replicas: 0,
            tier: 0,
            extents: vec![Extent {
                file_offset: 0,
                chunk_id: 20,
                chunk_offset: 0,
                length: data.len() as u64,
            }],
            symlink_target: Vec::new(),
            xattrs: Default::default(),
            version_id: String::new(),
            protection: Default::default(),
            rdev: 0,
        };
        // One segment, so that it starts on CS 1 (index 0).
        let started = Instant::now();
        let got = collect(read_range(inner.clone(), node.clone(), 0, 1 << 20))
            .await
            .unwrap();
        assert!(got == data[..1 << 20]);
        let took = started.elapsed();
        assert!(took >= timeout && took < timeout * 4, "{took:?}");
        // CS 2 was asked from where CS 1 stopped, a whole number of its
        // pieces, not from the start.
        let resumed_at = c2.state.lock().unwrap().reads.clone();
        assert_eq!(resumed_at.len(), 1, "{resumed_at:?}");
        assert!(
            resumed_at[0] > 0 && resumed_at[0] <= 300_000,
            "{resumed_at:?}"
        );
        assert!(inner.suspects.is_suspect(1, Instant::now()));

        // The whole file now: CS 1 is tried last, so nothing stalls.
        let started = Instant::now();
        let got = collect(read_range(inner.clone(), node, 0, u64::MAX))
            .await
            .unwrap();
        assert!(got == data);
        assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
        assert_eq!(c1.state.lock().unwrap().reads.len(), 1);
    }
}
