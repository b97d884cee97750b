//! The `ChunkService` of a chunk server: chain writes, verified reads,
//! syncs, version changes and deletions of replicas.
//!
//! # Chain writes
//!
//! A `Write` stream carries a header, then data. The CS checks (or creates)
//! its replica before anything else, opens a stream to the next hop of the
//! chain (`chain[0]`, told `chain[1..]` as its own chain) and then, for each
//! batch of data, hands the batch to that stream and writes it locally: the
//! hops work at the same time, the chain is a pipeline. Data moves as
//! `Bytes`, forwarded without a copy.
//!
//! The header's `budget_ms` says how long the caller waits for this hop's
//! answer. The hop waits for the next one at most
//! `cairn_common::net::next_budget` of it and tells the next hop that as
//! its budget, so a hop that does not answer (a host gone, a process
//! stopped) is reported by the hop before it while the caller still waits.
//! Without a budget (0, older clients) the next hop gets `FORWARD_STALL` to
//! take each message and `FORWARD_ANSWER` to answer once the data is sent.
//!
//! Invariants:
//! * A failing downstream hop never fails the write: it is reported in
//!   `failed` with the errno tag of its failure (`UNAVAILABLE` for a hop
//!   that did not answer in time, `ENOSPC` for a full one), and the local
//!   write goes on. The hops
//!   after it are reported neither written nor failed: they never saw the
//!   data and are healthy as far as this hop knows; the client sends it to
//!   them directly.
//! * A failing local write fails the call, and the downstream stream is
//!   cancelled, never ended cleanly, so no hop acknowledges a write that
//!   its upstream did not complete.
//! * With `sync`, the answer comes only once this CS's replica is on stable
//!   storage (fsync or journal) and the downstream hop answered, which it
//!   does only under the same rule.

use std::{pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
use cairn_common::{
    errno::is_transport_failure,
    net,
    node_cert::Role,
    tls::{peer::check_peer, NodeTls},
    ClusterError,
};

use crate::peers::{ChunkClient, Peers};
use cairn_proto::{
    chunk_service_server::ChunkService, write_request, CopyPiece, CsAddr, DeleteReplicaRequest,
    Empty, FailedHop, ReadReply, ReadRequest, SetVersionRequest, SyncRequest, WriteHeader,
    WriteReply, WriteRequest,
};
use futures::{FutureExt, Stream, StreamExt};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    error::{error_chain, ReplicaError},
    store::Store,
};

pub use cairn_common::net::CS_MAX_MESSAGE as MAX_MESSAGE;
/// Size of the pieces a read is streamed in.
pub const READ_PIECE: u64 = 1 << 20;
/// Data written locally in one blocking call, at most.
const WRITE_BATCH: usize = 4 << 20;
/// Messages queued towards the next hop before the writer waits.
const FORWARD_QUEUE: usize = 32;
/// Without a budget from the caller: how long the next hop may refuse to
/// take data before it counts as failed. Two HTTP/2 PING checks
/// (`cairn_common::net`) fit in it, so a dead connection is noticed first;
/// a live hop that takes no data for six seconds is too slow to keep.
const FORWARD_STALL: Duration = Duration::from_secs(6);
/// Without a budget from the caller: how long the next hop may take to
/// answer once the data is all sent, i.e. its last write and sync (a
/// journal or an SSD syncs in milliseconds, a busy disk in a second or
/// two) and those of the hops after it.
const FORWARD_ANSWER: Duration = Duration::from_secs(8);

/// The chunk service of one chunk server.
pub struct ChunkSvc {
    store: Arc<Store>,
    /// Channels to the next hops of chain writes.
    peers: Peers,
    /// This server's identity, for the role checks of its callers.
    tls: NodeTls,
}

fn join_error(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("chunk server task failed: {e}"))
}

impl ChunkSvc {
    pub fn new(store: Arc<Store>, tls: NodeTls) -> ChunkSvc {
        ChunkSvc {
            store,
            peers: Peers::new(tls.clone()),
            tls,
        }
    }

    fn client(&self, addr: &str) -> Result<ChunkClient, String> {
        self.peers.client(addr)
    }

    /// Opens the stream to the next hop and sends it the header. The
    /// header came in at `received`.
    fn forward(&self, header: &WriteHeader, received: Instant) -> Downstream {
        let hops = header.chain.clone();
        let next = &hops[0];
        let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
        // The next hop is waited for until `deadline`, and told that as
        // its own budget (see `net::next_budget`).
        let (deadline, next_budget_ms) = match net::budget_from_ms(header.budget_ms) {
            Some(budget) => {
                let next = net::next_budget(budget);
                (Some(received + next), net::budget_ms(next))
            }
            None => (None, 0),
        };
        let mut down = Downstream {
            next: next.clone(),
            deadline,
            tx: None,
            call: None,
            broken: None,
        };
        let mut client = match self.client(&next.addr) {
            Ok(c) => c,
            Err(e) => {
                down.broken = Some(ClusterError::Invalid(e));
                return down;
            }
        };
        let next_header = WriteHeader {
            chain: hops[1..].to_vec(),
            budget_ms: next_budget_ms,
            ..header.clone()
        };
        let first = WriteRequest {
            msg: Some(write_request::Msg::Header(next_header)),
        };
        if tx.try_send(first).is_err() {
            down.broken = Some(ClusterError::Io("could not queue the header".into()));
            return down;
        }
        down.tx = Some(tx);
        down.call = Some(tokio::spawn(async move {
            client
                .write(ReceiverStream::new(rx))
                .await
                .map(Response::into_inner)
        }));
        down
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ReplicaError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(join_error)?
            .map_err(Status::from)
    }
}

/// The write stream towards the next hop of a chain.
struct Downstream {
    /// The next hop.
    next: CsAddr,
    /// When this hop stops waiting for the next one; None: no budget was
    /// given, the defaults apply.
    deadline: Option<Instant>,
    tx: Option<mpsc::Sender<WriteRequest>>,
    call: Option<JoinHandle<Result<WriteReply, Status>>>,
    /// Why the stream broke before the end, if it did.
    broken: Option<ClusterError>,
}

/// What a failed call to the next hop says about it: it did not answer
/// (a transport failure: `Unavailable`), or it answered an error, whose
/// kind its status code carries (a full disk: `NoSpace`).
fn hop_error(status: &Status) -> ClusterError {
    let message = error_chain(status);
    if is_transport_failure(status) {
        return ClusterError::Unavailable(message);
    }
    let kind = ClusterError::from_status(status);
    ClusterError::from_tag(kind.tag(), &message).unwrap_or(ClusterError::Io(message))
}

impl Downstream {
    /// Hands data to the next hop; a hop that does not take it is marked
    /// broken and gets nothing more.
    async fn send(&mut self, batch: &[Bytes]) {
        let Some(tx) = &self.tx else {
            return;
        };
        for piece in batch {
            let msg = WriteRequest {
                msg: Some(write_request::Msg::Data(piece.clone())),
            };
            let limit = self
                .deadline
                .unwrap_or_else(|| Instant::now() + FORWARD_STALL);
            let why = match tokio::time::timeout_at(limit, tx.send(msg)).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => ClusterError::Io("it stopped taking data".into()),
                Err(_) => ClusterError::Unavailable("it took no data in time".into()),
            };
            self.broken = Some(why);
            self.tx = None;
            return;
        }
    }

    /// Cancels the stream: the next hop sees an error, never a clean end.
    fn abort(&mut self) {
        self.tx = None;
        if let Some(call) = self.call.take() {
            call.abort();
        }
    }

    /// Ends the stream and collects the next hop's answer into
    /// `written`/`failed`.
    async fn finish(mut self, written: &mut Vec<u32>, failed: &mut Vec<FailedHop>) {
        self.tx = None;
        let outcome = match (self.broken.take(), self.call.take()) {
            (Some(why), Some(call)) if call.is_finished() => match call.await {
                // The call's own error says more than "stopped taking data".
                Ok(Err(status)) => Err(hop_error(&status)),
                _ => Err(why),
            },
            (Some(why), call) => {
                if let Some(call) = call {
                    call.abort();
                }
                Err(why)
            }
            (None, Some(mut call)) => {
                let limit = self
                    .deadline
                    .unwrap_or_else(|| Instant::now() + FORWARD_ANSWER);
                match tokio::time::timeout_at(limit, &mut call).await {
                    Ok(Ok(Ok(reply))) => Ok(reply),
                    Ok(Ok(Err(status))) => Err(hop_error(&status)),
                    Ok(Err(e)) => Err(ClusterError::Io(format!("forwarding task failed: {e}"))),
                    Err(_) => {
                        // Reset the stream: a hop that wakes up later must
                        // not take it for a complete write.
                        call.abort();
                        Err(ClusterError::Unavailable("no answer in time".into()))
                    }
                }
            }
            (None, None) => Err(ClusterError::Unavailable("not contacted".into())),
        };
        match outcome {
            Ok(reply) => {
                written.extend(reply.written);
                failed.extend(reply.failed);
            }
            Err(why) => {
                let next = &self.next;
                tracing::warn!(cs = next.cs_id, addr = %next.addr, error = %why, "chain hop failed");
                // Only the next hop: those after it never saw the data and
                // are not known to have failed (see the module invariants).
                let detail = format!(
                    "chunk server {} at {}: {}",
                    next.cs_id,
                    next.addr,
                    why.detail()
                );
                let error =
                    ClusterError::from_tag(why.tag(), &detail).unwrap_or(ClusterError::Io(detail));
                failed.push(FailedHop {
                    cs_id: next.cs_id,
                    errno: error.tag().to_string(),
                    error: error.detail().to_string(),
                });
            }
        }
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        // A write abandoned half-way (error, cancelled call) must not end
        // the next hop's stream cleanly.
        if let Some(call) = self.call.take() {
            call.abort();
        }
    }
}

/// Waits for the next data message, then takes those already received,
/// up to `WRITE_BATCH` bytes. An empty batch: the stream ended.
async fn next_batch(stream: &mut Streaming<WriteRequest>) -> Result<Vec<Bytes>, Status> {
    let mut batch = Vec::new();
    let mut size = 0;
    let mut next = stream.next().await;
    loop {
        match next {
            None => return Ok(batch),
            Some(Err(status)) => return Err(status),
            Some(Ok(WriteRequest {
                msg: Some(write_request::Msg::Data(data)),
            })) => {
                size += data.len();
                batch.push(data);
            }
            Some(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "a write stream has one header, first, then only data",
                ))
            }
        }
        if size >= WRITE_BATCH {
            return Ok(batch);
        }
        match stream.next().now_or_never() {
            Some(item) => next = item,
            None => return Ok(batch),
        }
    }
}

#[tonic::async_trait]
impl ChunkService for ChunkSvc {
    async fn write(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<WriteReply>, Status> {
        let mut stream = request.into_inner();
        let header = match stream.message().await? {
            Some(WriteRequest {
                msg: Some(write_request::Msg::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "a write stream starts with its header",
                ))
            }
        };
        let received = Instant::now();
        let (chunk_id, version, create) = (header.chunk_id, header.version, header.create);
        self.store.count_write_op();
        // The local replica is checked (or created) before anything moves
        // down the chain. Without a chain the check rides on the first
        // batch: one trip to the blocking pool instead of two.
        let start = header.offset;
        let check = move |s: &Store| s.write(chunk_id, version, start, &[], create);
        let mut checked = false;
        let mut length = 0;
        let mut downstream = None;
        if !header.chain.is_empty() {
            length = self.blocking(check).await?;
            checked = true;
            downstream = Some(self.forward(&header, received));
        }

        let mut offset = header.offset;
        loop {
            let batch = match next_batch(&mut stream).await {
                Ok(b) => b,
                Err(status) => {
                    if let Some(d) = &mut downstream {
                        d.abort();
                    }
                    return Err(status);
                }
            };
            if batch.is_empty() {
                break;
            }
            if let Some(d) = &mut downstream {
                d.send(&batch).await;
            }
            let size: u64 = batch.iter().map(|b| b.len() as u64).sum();
            let at = offset;
            let create_here = create && !checked;
            checked = true;
            match self
                .blocking(move |s| s.write(chunk_id, version, at, &batch, create_here))
                .await
            {
                Ok(l) => length = l,
                Err(status) => {
                    if let Some(d) = &mut downstream {
                        d.abort();
                    }
                    return Err(status);
                }
            }
            offset += size;
        }
        if !checked {
            length = self.blocking(check).await?;
        }
        if header.sync {
            if let Err(e) = self.store.sync(chunk_id, version).await {
                if let Some(d) = &mut downstream {
                    d.abort();
                }
                return Err(e.into());
            }
        }
        let mut written = vec![self.store.cs_id()];
        let mut failed = Vec::new();
        if let Some(d) = downstream {
            d.finish(&mut written, &mut failed).await;
        }
        Ok(Response::new(WriteReply {
            written,
            failed,
            chunk_length: length,
        }))
    }

    type ReadStream = Pin<Box<dyn Stream<Item = Result<ReadReply, Status>> + Send>>;

    /// Streams bytes `[offset, offset+length)` of the replica in verified
    /// pieces; only bytes that exist are sent. `length` 0 reads to the end.
    async fn read(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let r = request.into_inner();
        self.store.count_read_op();
        let (chunk_id, version) = (r.chunk_id, r.version);
        let len = if r.length == 0 { u64::MAX } else { r.length };
        let end = r.offset.saturating_add(len);
        // The first piece is read before answering, so that a missing or
        // corrupt replica is an error status, not a broken stream.
        let first_len = READ_PIECE.min(end - r.offset);
        let offset = r.offset;
        let first = self
            .blocking(move |s| s.read(chunk_id, version, offset, first_len))
            .await?;
        let mut at = r.offset + first.len() as u64;
        let more = first.len() as u64 == first_len && at < end;
        let (tx, rx) = mpsc::channel(2);
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            if first.is_empty() {
                // Nothing at or past `offset`: an empty stream.
                return;
            }
            if tx.send(Ok(ReadReply { data: first })).await.is_err() || !more {
                return;
            }
            while at < end {
                let n = READ_PIECE.min(end - at);
                let s = Arc::clone(&store);
                let from = at;
                let piece = tokio::task::spawn_blocking(move || s.read(chunk_id, version, from, n))
                    .await
                    .map_err(join_error)
                    .and_then(|r| r.map_err(Status::from));
                let piece = match piece {
                    Ok(p) if p.is_empty() => return,
                    Ok(p) => p,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let got = piece.len() as u64;
                at += got;
                if tx.send(Ok(ReadReply { data: piece })).await.is_err() || got < n {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<Empty>, Status> {
        let r = request.into_inner();
        self.store.sync(r.chunk_id, r.version).await?;
        Ok(Response::new(Empty {}))
    }

    async fn set_version(
        &self,
        request: Request<SetVersionRequest>,
    ) -> Result<Response<Empty>, Status> {
        let r = request.into_inner();
        self.blocking(move |s| s.set_version(r.chunk_id, r.old_version, r.new_version))
            .await?;
        Ok(Response::new(Empty {}))
    }

    async fn delete_replica(
        &self,
        request: Request<DeleteReplicaRequest>,
    ) -> Result<Response<Empty>, Status> {
        let r = request.into_inner();
        self.blocking(move |s| s.delete(r.chunk_id, r.version))
            .await?;
        Ok(Response::new(Empty {}))
    }

    type ReadForCopyStream = Pin<Box<dyn Stream<Item = Result<CopyPiece, Status>> + Send>>;

    /// Streams the replica from `offset` in verified pieces with their
    /// stored block CRCs, for another CS making a copy. A replica found
    /// corrupt on the way is quarantined at once: this CS reports it gone
    /// and the MDS restores it from a good copy.
    async fn read_for_copy(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<Self::ReadForCopyStream>, Status> {
        // Copies are ordered by the MDS and made by chunk servers.
        check_peer(&self.tls, &request, &[Role::Cs, Role::Mds])?;
        let r = request.into_inner();
        self.store.count_read_op();
        let (chunk_id, version) = (r.chunk_id, r.version);
        let len = if r.length == 0 { u64::MAX } else { r.length };
        let end = r.offset.saturating_add(len);
        let store = Arc::clone(&self.store);
        let piece = move |from: u64| {
            let store = Arc::clone(&store);
            async move {
                let n = READ_PIECE.min(end - from);
                // Whole blocks: a piece shorter than READ_PIECE only at the
                // end of the replica or of the range.
                let n = if n < READ_PIECE {
                    n.next_multiple_of(crate::replica::BLOCK)
                } else {
                    n
                };
                let s = Arc::clone(&store);
                let got = tokio::task::spawn_blocking(move || {
                    let got = s.read_for_copy(chunk_id, version, from, n);
                    if let Err(ReplicaError::Corrupt { detail, .. }) = &got {
                        tracing::error!(chunk = chunk_id, version, %detail, "replica corrupt while read for a copy: quarantining it");
                        if let Err(e) = s.quarantine(chunk_id, version) {
                            tracing::error!(error = %e, "quarantine failed");
                        }
                    }
                    got
                })
                .await
                .map_err(join_error)?;
                got.map_err(Status::from)
            }
        };
        // The first piece before answering: a missing replica is a status.
        let (data, crcs) = piece(r.offset).await?;
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(async move {
            let mut at = r.offset + data.len() as u64;
            let mut more = !data.is_empty() && data.len() as u64 == READ_PIECE && at < end;
            if data.is_empty() || tx.send(Ok(CopyPiece { data, crcs })).await.is_err() {
                return;
            }
            while more {
                match piece(at).await {
                    Ok((data, _)) if data.is_empty() => return,
                    Ok((data, crcs)) => {
                        at += data.len() as u64;
                        more = data.len() as u64 == READ_PIECE && at < end;
                        if tx.send(Ok(CopyPiece { data, crcs })).await.is_err() {
                            return;
                        }
                    }
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
