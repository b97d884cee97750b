//! Chain-replicated writes into one chunk.
//!
//! Data goes in pieces: each piece is one `ChunkService.Write` call to the
//! first live replica, which forwards it down the chain. A few pieces are in
//! flight at once so that the chain stays busy. A replica that fails is
//! dropped from the chain and the write goes on with the others while at
//! least the chunk's minimum of replicas (`ChunkLocation::min_replicas`)
//! hold every byte; when the chunk is finished the MDS is told
//! (`DropReplica` bumps the chunk version, so the dropped copy is
//! recognisable as stale) and the survivors are moved to the new version.
//!
//! Every call to a chunk server has a deadline, the client's `cs_timeout`
//! (B). A piece's header carries the budget `next_budget(B)`, and each hop
//! waits for the next one a margin less than it was given
//! (`cairn_common::net`): a hop that does not answer is reported failed by
//! the hop before it in time for that report to reach the client. A hop
//! that sat behind a failed one is not reported at all (it never saw the
//! piece) and gets the piece again, straight from the client.
//!
//! A small piece goes from the client to every replica at once rather than
//! down the chain: its latency is then one hop, not one per replica.
//!
//! A piece sent with nothing else in flight may carry the sync itself (the
//! last piece of a stream's chunk does): each hop then syncs before it
//! answers, and `finish` needs no separate Sync round.
//!
//! Invariants:
//! * When `finish` returns Ok, every replica in the returned location holds
//!   every byte written through this `ChunkWrite`, at the returned version,
//!   on stable storage if `sync` was asked, and there are at least the
//!   minimum of them.
//! * Once fewer than the minimum remain, every call fails (`Unavailable`,
//!   or `NoSpace` when every replica lost was full).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_common::{net, ClusterError};
use cairn_proto as pb;
use tokio::task::JoinHandle;
use tonic::Status;
use tracing::{debug, warn};

use crate::{
    node::{ChunkLocation, CsAddr},
    retry::Retry,
    rpc::{is_transport_failure, CsPool},
    Inner,
};

/// Most bytes of one piece: one `ChunkService.Write` call. A stream is cut
/// into pieces of this size, and in-place writes gather adjacent runs up
/// to it; well under the chunk servers' message limit.
pub(crate) const PIECE_BYTES: usize = 4 << 20;

/// Largest data message on the wire.
const MESSAGE_BYTES: usize = 1 << 20;

/// Pieces up to this size go to every replica at once instead of down the
/// chain (see [`send_piece`]).
const FAN_OUT_BYTES: usize = 128 << 10;

/// Pieces in flight per chunk: two keep the chain streaming while one ack
/// returns, without holding much data in memory.
const PIECES_IN_FLIGHT: usize = 2;

/// The fewest replicas that must hold every byte of a write into `loc`:
/// its `min_replicas`, or every replica when the MDS did not say (0).
pub(crate) fn effective_min(loc: &ChunkLocation) -> usize {
    let min = match loc.min_replicas {
        0 => loc.replicas.len(),
        n => n as usize,
    };
    min.max(1)
}

/// Why one replica did not take a piece.
#[derive(Debug, Clone)]
struct HopError {
    cs_id: u32,
    error: ClusterError,
    /// It did not answer in time or could not be connected to: a suspect.
    unreachable: bool,
}

impl HopError {
    /// From the status of a call made to `cs` itself.
    fn from_status(cs: &CsAddr, status: &Status) -> HopError {
        let unreachable = is_transport_failure(status);
        let message = format!("CS {} ({}): {}", cs.cs_id, cs.addr, status.message());
        let error = if unreachable {
            ClusterError::Unavailable(message)
        } else {
            // The chunk server's answers carry their kind in the status
            // code (a full disk is RESOURCE_EXHAUSTED): keep it.
            let mut e = ClusterError::from_status(status);
            with_detail(&mut e, message);
            e
        };
        HopError {
            cs_id: cs.cs_id,
            error,
            unreachable,
        }
    }

    fn timed_out(cs: &CsAddr, what: &str, after: Duration) -> HopError {
        HopError {
            cs_id: cs.cs_id,
            error: ClusterError::Unavailable(format!(
                "CS {} ({}): no answer to {what} in {:.1}s",
                cs.cs_id,
                cs.addr,
                after.as_secs_f64()
            )),
            unreachable: true,
        }
    }

    /// From a hop a chain head reported failed, with the errno tag of its
    /// failure; one without (an older server) is an I/O error of unknown
    /// cause.
    fn reported(hop: pb::FailedHop) -> HopError {
        let error =
            ClusterError::from_tag(&hop.errno, &hop.error).unwrap_or(ClusterError::Io(hop.error));
        HopError {
            cs_id: hop.cs_id,
            unreachable: matches!(error, ClusterError::Unavailable(_)),
            error,
        }
    }
}

/// Replaces the message of `e`, keeping its kind.
fn with_detail(e: &mut ClusterError, message: String) {
    *e = ClusterError::from_tag(e.tag(), &message).unwrap_or(ClusterError::Io(message));
}

/// What one chain write returned: who has the piece, who failed.
struct PieceOutcome {
    written: HashSet<u32>,
    failed: Vec<HopError>,
}

/// Where one piece goes in its chunk, and how.
#[derive(Debug, Clone, Copy)]
struct PieceHeader {
    chunk_id: u64,
    version: u64,
    offset: u64,
    /// The replicas may not exist yet (a new chunk).
    create: bool,
    /// Each hop syncs the replica before it answers.
    sync: bool,
}

struct PieceTask {
    header: PieceHeader,
    data: Vec<Bytes>,
    chain: Vec<CsAddr>,
    handle: JoinHandle<Result<PieceOutcome, HopError>>,
}

/// Splits data into messages no larger than `MESSAGE_BYTES`, without copying.
fn messages(data: &[Bytes]) -> Vec<pb::WriteRequest> {
    let mut out = Vec::new();
    for buf in data {
        let mut rest = buf.clone();
        while !rest.is_empty() {
            let piece = rest.split_to(rest.len().min(MESSAGE_BYTES));
            out.push(pb::WriteRequest {
                msg: Some(pb::write_request::Msg::Data(piece)),
            });
        }
    }
    out
}

/// Sends one piece to every replica of `chain`: down the chain, or, when
/// it is small, straight to each replica at once. A small piece gains
/// nothing from the chain's pipelining and would pay one hop of latency per
/// replica; sent to all at once it pays one, for a few KiB more of the
/// client's bandwidth. Replicas that failed come back in `failed` either
/// way, and the caller resends to those that did not get the piece.
async fn send_piece(
    pool: Arc<CsPool>,
    chain: Vec<CsAddr>,
    piece: PieceHeader,
    data: Vec<Bytes>,
    timeout: Duration,
) -> Result<PieceOutcome, HopError> {
    let size: usize = data.iter().map(Bytes::len).sum();
    if chain.len() < 2 || size > FAN_OUT_BYTES {
        return send_down_chain(pool, &chain, piece, data, timeout).await;
    }
    Ok(send_to_each(pool, &chain, piece, data, timeout).await)
}

/// Sends one piece straight to each replica of `replicas`, at once.
async fn send_to_each(
    pool: Arc<CsPool>,
    replicas: &[CsAddr],
    piece: PieceHeader,
    data: Vec<Bytes>,
    timeout: Duration,
) -> PieceOutcome {
    let sends = replicas.iter().map(|cs| {
        send_down_chain(
            pool.clone(),
            std::slice::from_ref(cs),
            piece,
            data.clone(),
            timeout,
        )
    });
    let mut outcome = PieceOutcome {
        written: HashSet::new(),
        failed: Vec::new(),
    };
    for result in futures::future::join_all(sends).await {
        match result {
            Ok(out) => {
                outcome.written.extend(out.written);
                outcome.failed.extend(out.failed);
            }
            Err(hop) => outcome.failed.push(hop),
        }
    }
    outcome
}

/// One `ChunkService.Write` call to the first replica of `chain`, which
/// forwards the piece to the others; it is given `timeout` to answer, and
/// told a budget short of it, for the chain to answer in time.
async fn send_down_chain(
    pool: Arc<CsPool>,
    chain: &[CsAddr],
    piece: PieceHeader,
    data: Vec<Bytes>,
    timeout: Duration,
) -> Result<PieceOutcome, HopError> {
    let Some(first) = chain.first() else {
        return Ok(PieceOutcome {
            written: HashSet::new(),
            failed: Vec::new(),
        });
    };
    let mut rpc = pool.get(&first.addr).map_err(|e| HopError {
        cs_id: first.cs_id,
        error: e,
        unreachable: false,
    })?;
    let header = pb::WriteRequest {
        msg: Some(pb::write_request::Msg::Header(pb::WriteHeader {
            chunk_id: piece.chunk_id,
            version: piece.version,
            offset: piece.offset,
            chain: chain[1..].iter().map(pb::CsAddr::from).collect(),
            sync: piece.sync,
            create: piece.create,
            budget_ms: net::budget_ms(net::next_budget(timeout)),
        })),
    };
    let mut requests = vec![header];
    requests.extend(messages(&data));
    let reply =
        match tokio::time::timeout(timeout, rpc.write(futures::stream::iter(requests))).await {
            Ok(Ok(reply)) => reply.into_inner(),
            Ok(Err(status)) => return Err(HopError::from_status(first, &status)),
            Err(_) => return Err(HopError::timed_out(first, "a write", timeout)),
        };
    Ok(PieceOutcome {
        written: reply.written.into_iter().collect(),
        failed: reply.failed.into_iter().map(HopError::reported).collect(),
    })
}

/// A write in progress into one chunk.
pub(crate) struct ChunkWrite {
    inner: Arc<Inner>,
    loc: ChunkLocation,
    /// Fewest replicas that must hold every byte (`effective_min`).
    min: usize,
    /// Replicas still in the chain, in chain order.
    live: Vec<CsAddr>,
    /// Replicas dropped during this write, with why.
    failed: Vec<(CsAddr, ClusterError)>,
    in_flight: VecDeque<PieceTask>,
    /// The replicas may not exist yet (a new chunk).
    create: bool,
    /// Every byte written so far is on stable storage on every live
    /// replica: the last piece carried the sync and nothing followed it.
    synced: bool,
}

impl ChunkWrite {
    /// A write into `loc`. Replicas this client could not reach lately
    /// (suspects) are left out of the chain from the start when the others
    /// reach the minimum: they would most likely cost a timeout and be
    /// dropped anyway.
    pub(crate) fn new(inner: Arc<Inner>, loc: ChunkLocation, create: bool) -> ChunkWrite {
        let min = effective_min(&loc);
        let now = Instant::now();
        let (suspect, trusted): (Vec<CsAddr>, Vec<CsAddr>) = loc
            .replicas
            .iter()
            .cloned()
            .partition(|c| inner.suspects.is_suspect(c.cs_id, now));
        let (live, failed) = if !suspect.is_empty() && trusted.len() >= min {
            let failed = suspect
                .into_iter()
                .map(|cs| {
                    // Expected for every new chunk while a server is gone:
                    // not worth a warning each time (the drop is reported).
                    debug!(
                        chunk = loc.chunk_id,
                        cs = cs.cs_id,
                        "replica left out of the write chain: unreachable lately"
                    );
                    let why = ClusterError::Unavailable(format!(
                        "CS {} ({}) was left out: it could not be reached lately",
                        cs.cs_id, cs.addr
                    ));
                    (cs, why)
                })
                .collect();
            (trusted, failed)
        } else {
            (loc.replicas.clone(), Vec::new())
        };
        ChunkWrite {
            inner,
            loc,
            min,
            live,
            failed,
            in_flight: VecDeque::new(),
            create,
            synced: false,
        }
    }

    fn spawn_piece(&mut self, header: PieceHeader, data: Vec<Bytes>, chain: Vec<CsAddr>) {
        self.synced = false;
        let handle = tokio::spawn(send_piece(
            self.inner.cs.clone(),
            chain.clone(),
            header,
            data.clone(),
            self.inner.cs_timeout,
        ));
        self.in_flight.push_back(PieceTask {
            header,
            data,
            chain,
            handle,
        });
    }

    /// Writes `data` at `offset` of the chunk. Returns once the piece is
    /// queued; errors of earlier pieces surface here or in `finish`.
    /// `last`: no more data follows, so the piece may carry the sync that
    /// `finish` would otherwise ask for in a round of its own.
    pub(crate) async fn write_at(
        &mut self,
        offset: u64,
        data: Vec<Bytes>,
        last: bool,
    ) -> Result<(), ClusterError> {
        self.check_minimum()?;
        while self.in_flight.len() >= PIECES_IN_FLIGHT {
            self.settle_oldest().await?;
        }
        let header = PieceHeader {
            chunk_id: self.loc.chunk_id,
            version: self.loc.version,
            offset,
            create: self.create,
            // A sync covers only what reached the replica before it: with
            // an earlier piece still in flight it could come first.
            sync: last && self.in_flight.is_empty(),
        };
        let chain = self.live.clone();
        self.spawn_piece(header, data, chain);
        Ok(())
    }

    fn mark_failed(&mut self, hop: HopError) {
        if hop.unreachable {
            self.inner.suspects.mark(hop.cs_id, Instant::now());
        }
        if let Some(pos) = self.live.iter().position(|c| c.cs_id == hop.cs_id) {
            let cs = self.live.remove(pos);
            warn!(chunk = self.loc.chunk_id, cs = hop.cs_id, error = %hop.error, "replica dropped from write chain");
            self.failed.push((cs, hop.error));
        }
    }

    /// Counts the replicas that answered as reachable.
    fn answered(&self, written: &HashSet<u32>) {
        for cs in written {
            self.inner.suspects.clear(*cs);
        }
    }

    /// Fails once fewer than the minimum of replicas remain.
    fn check_minimum(&self) -> Result<(), ClusterError> {
        if self.live.len() >= self.min {
            return Ok(());
        }
        Err(below_minimum(
            self.loc.chunk_id,
            self.live.len(),
            self.loc.replicas.len(),
            self.min,
            &self.failed,
        ))
    }

    /// Waits for the oldest piece and repairs its outcome: replicas of its
    /// chain that do not have it get it again, directly; those that still
    /// fail are dropped.
    async fn settle_oldest(&mut self) -> Result<(), ClusterError> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let outcome = match task.handle.await {
            Ok(r) => r,
            Err(e) => Err(HopError {
                cs_id: task.chain.first().map(|c| c.cs_id).unwrap_or(0),
                error: ClusterError::Io(format!("write task failed: {e}")),
                unreachable: false,
            }),
        };
        let mut have: HashSet<u32> = HashSet::new();
        match outcome {
            Ok(out) => {
                self.answered(&out.written);
                for hop in out.failed {
                    self.mark_failed(hop);
                }
                have = out.written;
            }
            Err(first) => self.mark_failed(first),
        }
        // Members of the chain that are still live but did not get the
        // piece (they sat behind a hop that failed, and were never reached)
        // get it straight from here, each on its own: one more dead hop
        // among them costs its own timeout, not the others'.
        let missing: Vec<CsAddr> = task
            .chain
            .iter()
            .filter(|c| !have.contains(&c.cs_id) && self.live.contains(c))
            .cloned()
            .collect();
        if !missing.is_empty() {
            debug!(
                chunk = self.loc.chunk_id,
                n = missing.len(),
                "resending piece"
            );
            let out = send_to_each(
                self.inner.cs.clone(),
                &missing,
                task.header,
                task.data.clone(),
                self.inner.cs_timeout,
            )
            .await;
            self.answered(&out.written);
            for hop in out.failed {
                self.mark_failed(hop);
            }
            have.extend(out.written);
        }
        let still_missing: Vec<u32> = task
            .chain
            .iter()
            .filter(|c| !have.contains(&c.cs_id) && self.live.contains(c))
            .map(|c| c.cs_id)
            .collect();
        for cs_id in still_missing {
            self.mark_failed(HopError {
                cs_id,
                error: ClusterError::Io("did not take the data when sent it directly".into()),
                unreachable: false,
            });
        }
        self.check_minimum()?;
        // Every live replica took the syncing piece, and it was the last.
        self.synced = task.header.sync && self.in_flight.is_empty();
        Ok(())
    }

    /// Waits for every piece, forces the data to stable storage on every
    /// live replica when `sync` is set, and records dropped replicas with
    /// the MDS. Returns the chunk's location after the write.
    pub(crate) async fn finish(mut self, sync: bool) -> Result<ChunkLocation, ClusterError> {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await?;
        }
        self.check_minimum()?;
        if sync && !self.synced {
            let timeout = self.inner.cs_timeout;
            let syncs = self.live.clone().into_iter().map(|cs| {
                let pool = self.inner.cs.clone();
                let req = pb::SyncRequest {
                    chunk_id: self.loc.chunk_id,
                    version: self.loc.version,
                };
                async move {
                    let res = match pool.get(&cs.addr) {
                        Ok(mut rpc) => match tokio::time::timeout(timeout, rpc.sync(req)).await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(s)) => Err(HopError::from_status(&cs, &s)),
                            Err(_) => Err(HopError::timed_out(&cs, "a sync", timeout)),
                        },
                        Err(e) => Err(HopError {
                            cs_id: cs.cs_id,
                            error: e,
                            unreachable: false,
                        }),
                    };
                    (cs, res)
                }
            });
            for (cs, res) in futures::future::join_all(syncs).await {
                match res {
                    Ok(()) => self.inner.suspects.clear(cs.cs_id),
                    Err(hop) => self.mark_failed(hop),
                }
            }
            self.check_minimum()?;
        }
        if self.failed.is_empty() {
            return Ok(ChunkLocation {
                replicas: self.live,
                ..self.loc
            });
        }
        self.retire_failed().await
    }

    /// Tells the MDS which replicas were dropped (each drop bumps the
    /// version) and moves the survivors to the final version.
    async fn retire_failed(mut self) -> Result<ChunkLocation, ClusterError> {
        let mut mds_version = self.loc.version;
        let mut location = self.loc.clone();
        let mut reported: HashSet<u32> = HashSet::new();
        // Versions the surviving replicas are at.
        let mut at: HashMap<u32, u64> = self
            .live
            .iter()
            .map(|c| (c.cs_id, self.loc.version))
            .collect();
        let timeout = self.inner.cs_timeout;
        for _round in 0..4 {
            let to_report: Vec<(u32, String)> = self
                .failed
                .iter()
                .filter(|(c, _)| !reported.contains(&c.cs_id))
                .map(|(c, e)| (c.cs_id, e.to_string()))
                .collect();
            for (cs_id, reason) in to_report {
                let req = pb::DropReplicaRequest {
                    chunk_id: self.loc.chunk_id,
                    version: mds_version,
                    cs_id,
                    reason,
                };
                let loc: ChunkLocation = self
                    .inner
                    .mds
                    .metadata(Retry::Idempotent, req, |mut m, r| async move {
                        m.drop_replica(r).await
                    })
                    .await?
                    .into();
                mds_version = loc.version;
                location = loc;
                reported.insert(cs_id);
            }
            let mut newly_failed = Vec::new();
            for cs in self.live.clone() {
                let old = at.get(&cs.cs_id).copied().unwrap_or(self.loc.version);
                if old == mds_version {
                    continue;
                }
                let req = pb::SetVersionRequest {
                    chunk_id: self.loc.chunk_id,
                    old_version: old,
                    new_version: mds_version,
                };
                let res = match self.inner.cs.get(&cs.addr) {
                    Ok(mut rpc) => {
                        match tokio::time::timeout(timeout, rpc.set_version(req)).await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(s)) => Err(HopError::from_status(&cs, &s)),
                            Err(_) => Err(HopError::timed_out(&cs, "a version change", timeout)),
                        }
                    }
                    Err(e) => Err(HopError {
                        cs_id: cs.cs_id,
                        error: e,
                        unreachable: false,
                    }),
                };
                match res {
                    Ok(()) => {
                        self.inner.suspects.clear(cs.cs_id);
                        at.insert(cs.cs_id, mds_version);
                    }
                    Err(hop) => newly_failed.push(hop),
                }
            }
            if newly_failed.is_empty() {
                break;
            }
            for hop in newly_failed {
                self.mark_failed(hop);
            }
            self.check_minimum()?;
        }
        let live: HashSet<u32> = self.live.iter().map(|c| c.cs_id).collect();
        location.replicas.retain(|c| live.contains(&c.cs_id));
        if location.min_replicas == 0 {
            // An MDS that does not say it in DropReplica's answer: the
            // chunk's minimum did not change.
            location.min_replicas = self.loc.min_replicas;
        }
        self.inner.remember_location(&location);
        Ok(location)
    }
}

/// The error of a write left with `live` of `placed` replicas when `min`
/// must hold every byte: `NoSpace` when every replica lost was full (the
/// cluster has no room), `Unavailable` otherwise (replicas were lost; a
/// retry later may find others).
fn below_minimum(
    chunk_id: u64,
    live: usize,
    placed: usize,
    min: usize,
    failed: &[(CsAddr, ClusterError)],
) -> ClusterError {
    let why: Vec<String> = failed.iter().map(|(_, e)| e.to_string()).collect();
    let message = format!(
        "chunk {chunk_id}: {live} of its {placed} replicas hold the data written, {min} needed: {}",
        why.join("; ")
    );
    if !failed.is_empty()
        && failed
            .iter()
            .all(|(_, e)| matches!(e, ClusterError::NoSpace(_)))
    {
        return ClusterError::NoSpace(message);
    }
    ClusterError::Unavailable(message)
}

#[cfg(test)]
mod tests;
