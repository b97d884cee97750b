//! Replica copies ordered by the MDS: this chunk server pulls a chunk from
//! another one that holds a good replica, and keeps it only once every byte
//! is checked against the checksums it was written with.
//!
//! A copy:
//! 1. drops any replica of the chunk this CS still holds (the MDS orders a
//!    copy only to a CS it does not list for the chunk: what is here is a
//!    leftover), and creates the replica at the ordered version;
//! 2. streams the source's replica with `ReadForCopy`; each piece carries
//!    the source's stored CRC32C of each 64 KiB block, and every block
//!    received is checked against it before it is written (the source
//!    verified its bytes against the same CRCs when it read them: the check
//!    is end to end). A source that fails is replaced by the next one,
//!    from the byte where the copy stopped;
//! 3. syncs the replica, then checks that the CRCs this CS computed while
//!    writing are the source's, block for block;
//! 4. is reported to the MDS (`ReportCopy`), which adds the replica to the
//!    chunk only if the chunk is still at that version; a copy the MDS does
//!    not keep, and any copy that failed, is deleted.
//!
//! Invariants: at most one copy of a chunk at a time on this CS; at most
//! [`MAX_COPIES`] at once; an order with a rate pulls at most that many
//! bytes a second.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_common::tls::NodeTls;

use crate::peers::{ChunkClient, Peers};
use cairn_proto::{ReadRequest, ReplicateOrder};
use futures::StreamExt;
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::{
    error::{error_chain, ReplicaError},
    replica::BLOCK,
    store::Store,
};

/// Copies this CS makes at once, at most, whatever it is ordered: the MDS
/// bounds them per CS too (4 by default); this guards against a flood of
/// orders after an MDS restart forgot those in flight.
pub const MAX_COPIES: usize = 8;
/// A source that sends nothing for this long has failed.
const STALL: Duration = Duration::from_secs(30);

/// Why a copy failed.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error("no source could provide chunk {chunk_id:016x} version {version}: {tried}")]
    NoSource {
        chunk_id: u64,
        version: u64,
        tried: String,
    },
    #[error(
        "chunk {chunk_id:016x}: block {block} from cs {source_cs} does not match its checksum \
         (sent {sent:08x}, received {got:08x})"
    )]
    Checksum {
        chunk_id: u64,
        source_cs: u32,
        block: u64,
        sent: u32,
        got: u32,
    },
    #[error("chunk {chunk_id:016x}: the copy has {got} bytes, the MDS knows {want}")]
    Short { chunk_id: u64, got: u64, want: u64 },
    #[error(
        "chunk {chunk_id:016x}: the copy's checksums differ from the source's at block {block}"
    )]
    Mismatch { chunk_id: u64, block: usize },
    #[error("chunk {chunk_id:016x} is being copied here already")]
    Busy { chunk_id: u64 },
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("copy task failed: {0}")]
    Task(String),
}

/// Makes the copies the MDS orders. Shared by the heartbeat loop's tasks.
pub struct Copier {
    store: Arc<Store>,
    peers: Peers,
    active: Mutex<HashSet<u64>>,
    permits: Semaphore,
}

/// Removes a chunk from the active set when a copy ends, however it ends.
struct Active<'a> {
    copier: &'a Copier,
    chunk_id: u64,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.copier
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.chunk_id);
    }
}

impl Copier {
    pub fn new(store: Arc<Store>, tls: NodeTls) -> Copier {
        Copier {
            store,
            peers: Peers::new(tls),
            active: Mutex::new(HashSet::new()),
            permits: Semaphore::new(MAX_COPIES),
        }
    }

    fn client(&self, addr: &str) -> Result<ChunkClient, String> {
        self.peers.client(addr)
    }

    /// Whether a copy of the chunk is running here.
    pub fn is_copying(&self, chunk_id: u64) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&chunk_id)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ReplicaError> + Send + 'static,
    ) -> Result<T, CopyError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CopyError::Task(e.to_string()))?
            .map_err(CopyError::from)
    }

    /// Makes the copy `order` asks for; returns its length. On failure the
    /// partial replica is deleted.
    pub async fn copy(&self, order: &ReplicateOrder) -> Result<u64, CopyError> {
        let chunk_id = order.chunk_id;
        if !self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chunk_id)
        {
            return Err(CopyError::Busy { chunk_id });
        }
        let _active = Active {
            copier: self,
            chunk_id,
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CopyError::Task(e.to_string()))?;
        let version = order.version;
        let result = self.pull(order).await;
        if result.is_err() {
            if let Err(e) = self.blocking(move |s| s.delete(chunk_id, version)).await {
                tracing::warn!(chunk = chunk_id, error = %e, "could not delete a failed copy");
            }
        }
        result
    }

    async fn pull(&self, order: &ReplicateOrder) -> Result<u64, CopyError> {
        let (chunk_id, version) = (order.chunk_id, order.version);
        // A leftover replica of the chunk (another version, or a copy that
        // failed) goes first.
        self.blocking(move |s| {
            if s.version_of(chunk_id).is_some() {
                s.delete(chunk_id, 0)?;
            }
            s.write(chunk_id, version, 0, &[], true).map(|_| ())
        })
        .await?;

        let started = Instant::now();
        let mut offset = 0u64;
        let mut crcs: Vec<u32> = Vec::new();
        let mut tried: Vec<String> = Vec::new();
        let mut done = false;
        for source in &order.sources {
            match self
                .pull_from(
                    order,
                    source.cs_id,
                    &source.addr,
                    &mut offset,
                    &mut crcs,
                    started,
                )
                .await
            {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e @ CopyError::Replica(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(chunk = chunk_id, source = source.cs_id, error = %e, "copy source failed; trying the next one");
                    tried.push(format!("cs {} at {}: {e}", source.cs_id, source.addr));
                }
            }
        }
        if !done {
            return Err(CopyError::NoSource {
                chunk_id,
                version,
                tried: if tried.is_empty() {
                    "no source given".into()
                } else {
                    tried.join("; ")
                },
            });
        }
        if offset < order.length {
            return Err(CopyError::Short {
                chunk_id,
                got: offset,
                want: order.length,
            });
        }
        self.store.sync(chunk_id, version).await?;
        let local = self
            .blocking(move |s| s.block_crcs(chunk_id, version))
            .await?;
        if let Some(block) = (0..local.len().max(crcs.len())).find(|&b| local.get(b) != crcs.get(b))
        {
            return Err(CopyError::Mismatch { chunk_id, block });
        }
        Ok(offset)
    }

    /// Streams the rest of the replica from one source, from `*offset`.
    async fn pull_from(
        &self,
        order: &ReplicateOrder,
        source_cs: u32,
        addr: &str,
        offset: &mut u64,
        crcs: &mut Vec<u32>,
        started: Instant,
    ) -> Result<(), CopyError> {
        let (chunk_id, version) = (order.chunk_id, order.version);
        let source_error = |what: String| CopyError::NoSource {
            chunk_id,
            version,
            tried: what,
        };
        let mut client = self.client(addr).map_err(source_error)?;
        let mut stream = client
            .read_for_copy(ReadRequest {
                chunk_id,
                version,
                offset: *offset,
                length: 0,
            })
            .await
            .map_err(|s| source_error(error_chain(&s)))?
            .into_inner();
        loop {
            let piece = match tokio::time::timeout(STALL, stream.next()).await {
                Err(_) => return Err(source_error(format!("nothing for {}s", STALL.as_secs()))),
                Ok(None) => return Ok(()),
                Ok(Some(Err(s))) => return Err(source_error(error_chain(&s))),
                Ok(Some(Ok(p))) => p,
            };
            let data: Bytes = piece.data;
            if data.is_empty() {
                continue;
            }
            let blocks = data.len().div_ceil(BLOCK as usize);
            if piece.crcs.len() != blocks {
                return Err(source_error(format!(
                    "a piece of {} bytes came with {} checksums",
                    data.len(),
                    piece.crcs.len()
                )));
            }
            for (i, block) in data.chunks(BLOCK as usize).enumerate() {
                let got = crc32c::crc32c(block);
                if got != piece.crcs[i] {
                    return Err(CopyError::Checksum {
                        chunk_id,
                        source_cs,
                        block: *offset / BLOCK + i as u64,
                        sent: piece.crcs[i],
                        got,
                    });
                }
            }
            let at = *offset;
            let n = data.len() as u64;
            self.blocking(move |s| s.write(chunk_id, version, at, &[data], false))
                .await?;
            crcs.extend_from_slice(&piece.crcs);
            *offset += n;
            if order.rate > 0 {
                // Sleep until the bytes copied so far fit the rate.
                let due = Duration::from_secs_f64(*offset as f64 / order.rate as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(ahead).await;
                }
            }
            if !n.is_multiple_of(BLOCK) {
                // A short block ends the replica.
                return Ok(());
            }
        }
    }
}
