//! Chain-replicated writes into one chunk.
//!
//! Data goes in pieces: each piece is one `ChunkService.Write` call to the
//! first live replica, which forwards it down the chain. A few pieces are in
//! flight at once so that the chain stays busy. A replica that fails is
//! dropped from the chain and the write goes on with the others; when the
//! chunk is finished the MDS is told (`DropReplica` bumps the chunk version,
//! so the dropped copy is recognisable as stale) and the survivors are moved
//! to the new version.
//!
//! A small piece goes from the client to every replica at once rather than
//! down the chain: its latency is then one hop, not one per replica.
//!
//! A piece sent with nothing else in flight may carry the sync itself (the
//! last piece of a stream's chunk does): each hop then syncs before it
//! answers, and `finish` needs no separate Sync round.
//!
//! Invariant: when `finish` returns Ok, every replica in the returned
//! location holds every byte written through this `ChunkWrite`, at the
//! returned version, on stable storage if `sync` was asked.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
};

use bytes::Bytes;
use cairn_common::FsError;
use cairn_proto as pb;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::{
    node::{ChunkLocation, CsAddr},
    rpc::CsPool,
    Inner,
};

/// Largest data message on the wire.
const MESSAGE_BYTES: usize = 1 << 20;

/// Pieces up to this size go to every replica at once instead of down the
/// chain (see [`send_piece`]).
const FAN_OUT_BYTES: usize = 128 << 10;

/// Pieces in flight per chunk: two keep the chain streaming while one ack
/// returns, without holding much data in memory.
const PIECES_IN_FLIGHT: usize = 2;

/// What one chain write returned: who has the piece, who failed.
struct PieceOutcome {
    written: HashSet<u32>,
    failed: Vec<(u32, String)>,
}

/// Why a piece did not reach anyone: the first hop failed.
struct FirstHopFailed {
    cs_id: u32,
    error: String,
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
    handle: JoinHandle<Result<PieceOutcome, FirstHopFailed>>,
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
) -> Result<PieceOutcome, FirstHopFailed> {
    let size: usize = data.iter().map(Bytes::len).sum();
    if chain.len() < 2 || size > FAN_OUT_BYTES {
        return send_down_chain(pool, &chain, piece, data).await;
    }
    let sends = chain
        .iter()
        .map(|cs| send_down_chain(pool.clone(), std::slice::from_ref(cs), piece, data.clone()));
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
            Err(hop) => outcome.failed.push((hop.cs_id, hop.error)),
        }
    }
    Ok(outcome)
}

/// One `ChunkService.Write` call to the first replica of `chain`, which
/// forwards the piece to the others.
async fn send_down_chain(
    pool: Arc<CsPool>,
    chain: &[CsAddr],
    piece: PieceHeader,
    data: Vec<Bytes>,
) -> Result<PieceOutcome, FirstHopFailed> {
    let Some(first) = chain.first() else {
        return Ok(PieceOutcome {
            written: HashSet::new(),
            failed: Vec::new(),
        });
    };
    let first_id = first.cs_id;
    let fail = |error: String| FirstHopFailed {
        cs_id: first_id,
        error,
    };
    let mut rpc = pool.get(&first.addr).map_err(|e| fail(e.to_string()))?;
    let header = pb::WriteRequest {
        msg: Some(pb::write_request::Msg::Header(pb::WriteHeader {
            chunk_id: piece.chunk_id,
            version: piece.version,
            offset: piece.offset,
            chain: chain[1..].iter().map(pb::CsAddr::from).collect(),
            sync: piece.sync,
            create: piece.create,
            budget_ms: 0,
        })),
    };
    let mut requests = vec![header];
    requests.extend(messages(&data));
    let reply = rpc
        .write(futures::stream::iter(requests))
        .await
        .map_err(|s| fail(format!("{}: {}", first.addr, s.message())))?
        .into_inner();
    Ok(PieceOutcome {
        written: reply.written.into_iter().collect(),
        failed: reply
            .failed
            .into_iter()
            .map(|f| (f.cs_id, f.error))
            .collect(),
    })
}

/// A write in progress into one chunk.
pub(crate) struct ChunkWrite {
    inner: Arc<Inner>,
    loc: ChunkLocation,
    /// Replicas still in the chain, in chain order.
    live: Vec<CsAddr>,
    /// Replicas dropped during this write, with why.
    failed: Vec<(CsAddr, String)>,
    in_flight: VecDeque<PieceTask>,
    /// The replicas may not exist yet (a new chunk).
    create: bool,
    /// Every byte written so far is on stable storage on every live
    /// replica: the last piece carried the sync and nothing followed it.
    synced: bool,
}

impl ChunkWrite {
    pub(crate) fn new(inner: Arc<Inner>, loc: ChunkLocation, create: bool) -> ChunkWrite {
        let live = loc.replicas.clone();
        ChunkWrite {
            inner,
            loc,
            live,
            failed: Vec::new(),
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
    ) -> Result<(), FsError> {
        if self.live.is_empty() {
            return Err(self.all_failed());
        }
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

    fn mark_failed(&mut self, cs_id: u32, error: String) {
        if let Some(pos) = self.live.iter().position(|c| c.cs_id == cs_id) {
            let cs = self.live.remove(pos);
            warn!(chunk = self.loc.chunk_id, cs = cs_id, %error, "replica dropped from write chain");
            self.failed.push((cs, error));
        }
    }

    fn all_failed(&self) -> FsError {
        let why: Vec<String> = self
            .failed
            .iter()
            .map(|(c, e)| format!("CS {} ({}): {e}", c.cs_id, c.addr))
            .collect();
        if why.iter().any(|w| w.contains("full")) {
            return FsError::NoSpace(format!(
                "chunk {}: no replica could take the write: {}",
                self.loc.chunk_id,
                why.join("; ")
            ));
        }
        FsError::Io(format!(
            "every replica of chunk {} failed: {}",
            self.loc.chunk_id,
            why.join("; ")
        ))
    }

    /// Waits for the oldest piece and repairs its outcome: replicas of its
    /// chain that do not have it get it again, directly; those that still
    /// fail are dropped.
    async fn settle_oldest(&mut self) -> Result<(), FsError> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let outcome = match task.handle.await {
            Ok(r) => r,
            Err(e) => Err(FirstHopFailed {
                cs_id: task.chain.first().map(|c| c.cs_id).unwrap_or(0),
                error: format!("write task failed: {e}"),
            }),
        };
        let mut have: HashSet<u32> = HashSet::new();
        match outcome {
            Ok(out) => {
                for (cs, err) in out.failed {
                    self.mark_failed(cs, err);
                }
                have = out.written;
            }
            Err(first) => self.mark_failed(first.cs_id, first.error),
        }
        // Members of the chain that are still live but did not get the
        // piece (they sat behind a hop that failed): send it to them again.
        for _attempt in 0..2 {
            let missing: Vec<CsAddr> = task
                .chain
                .iter()
                .filter(|c| !have.contains(&c.cs_id) && self.live.contains(c))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            debug!(
                chunk = self.loc.chunk_id,
                n = missing.len(),
                "resending piece"
            );
            match send_piece(
                self.inner.cs.clone(),
                missing,
                task.header,
                task.data.clone(),
            )
            .await
            {
                Ok(out) => {
                    for (cs, err) in out.failed {
                        self.mark_failed(cs, err);
                    }
                    have.extend(out.written);
                }
                Err(first) => self.mark_failed(first.cs_id, first.error),
            }
        }
        let still_missing: Vec<u32> = task
            .chain
            .iter()
            .filter(|c| !have.contains(&c.cs_id) && self.live.contains(c))
            .map(|c| c.cs_id)
            .collect();
        for cs in still_missing {
            self.mark_failed(cs, "did not take the data after a retry".into());
        }
        if self.live.is_empty() {
            return Err(self.all_failed());
        }
        // Every live replica took the syncing piece, and it was the last.
        self.synced = task.header.sync && self.in_flight.is_empty();
        Ok(())
    }

    /// Waits for every piece, forces the data to stable storage on every
    /// live replica when `sync` is set, and records dropped replicas with
    /// the MDS. Returns the chunk's location after the write.
    pub(crate) async fn finish(mut self, sync: bool) -> Result<ChunkLocation, FsError> {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await?;
        }
        if sync && !self.synced {
            let syncs = self.live.clone().into_iter().map(|cs| {
                let pool = self.inner.cs.clone();
                let req = pb::SyncRequest {
                    chunk_id: self.loc.chunk_id,
                    version: self.loc.version,
                };
                async move {
                    let res = match pool.get(&cs.addr) {
                        Ok(mut rpc) => rpc
                            .sync(req)
                            .await
                            .map(|_| ())
                            .map_err(|s| s.message().to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    (cs, res)
                }
            });
            for (cs, res) in futures::future::join_all(syncs).await {
                if let Err(e) = res {
                    self.mark_failed(cs.cs_id, format!("sync failed: {e}"));
                }
            }
            if self.live.is_empty() {
                return Err(self.all_failed());
            }
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
    async fn retire_failed(mut self) -> Result<ChunkLocation, FsError> {
        let mut mds_version = self.loc.version;
        let mut location = self.loc.clone();
        let mut reported: HashSet<u32> = HashSet::new();
        // Versions the surviving replicas are at.
        let mut at: HashMap<u32, u64> = self
            .live
            .iter()
            .map(|c| (c.cs_id, self.loc.version))
            .collect();
        for _round in 0..4 {
            let to_report: Vec<(u32, String)> = self
                .failed
                .iter()
                .filter(|(c, _)| !reported.contains(&c.cs_id))
                .map(|(c, e)| (c.cs_id, e.clone()))
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
                    .call(true, |mut rpc| {
                        let req = req.clone();
                        async move { rpc.drop_replica(req).await }
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
                    Ok(mut rpc) => rpc
                        .set_version(req)
                        .await
                        .map_err(|s| s.message().to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match res {
                    Ok(_) => {
                        at.insert(cs.cs_id, mds_version);
                    }
                    Err(e) => newly_failed.push((cs.cs_id, format!("set version failed: {e}"))),
                }
            }
            if newly_failed.is_empty() {
                break;
            }
            for (cs, e) in newly_failed {
                self.mark_failed(cs, e);
            }
            if self.live.is_empty() {
                return Err(self.all_failed());
            }
        }
        let live: HashSet<u32> = self.live.iter().map(|c| c.cs_id).collect();
        location.replicas.retain(|c| live.contains(&c.cs_id));
        Ok(location)
    }
}
