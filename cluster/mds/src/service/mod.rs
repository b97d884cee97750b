//! gRPC handlers. Each converts the request to domain values, reads through
//! a snapshot or submits a command, and converts the answer back. The time
//! and anything else not derived from the state are chosen here, before the
//! command.

use std::{collections::BTreeMap, sync::Arc, time::Duration, time::Instant};

use cairn_common::{time::now_ns, tls::peer::PeerInfo, ClusterError};
use cairn_proto as pb;
use cairn_proto::{
    cluster_admin_server::ClusterAdmin, join_server::Join, metadata_server::Metadata,
};
use tonic::{Request, Response, Status};

use crate::allocations;
use crate::command::{AttrChange, Command, ReplicaRef, WriteCommit};
use crate::convert::{attr_change_from_pb, bucket_to_pb, node_to_pb, object_from_pb};
use crate::heal;
use crate::health;
use crate::init::verify_password;
use crate::placement::{self, Candidate};
use crate::query::Reader;
use crate::registry::{data_addr, Figures, Live};
use crate::reply::{CsRegistered, CsRemoved, NewChunk, Reconciled};
use crate::schema::{BucketInfo, ChunkInfo, ChunkServerInfo, CsState, Inode};
use crate::state::State;

mod admin;
mod certs;
mod join;
mod metadata;

pub(crate) use certs::keep_revoked;
pub(crate) use join::JoinService;

/// How long a wrong cluster password waits before it is refused: with
/// attempts serialised, this caps guessing at one try a second.
const AUTH_FAILURE_DELAY: Duration = Duration::from_secs(1);

pub(crate) type Reply<T> = Result<Response<T>, Status>;

/// Most unlinks in one `UnlinkMany` call.
pub const MAX_UNLINK_BATCH: usize = 1024;

/// The command of one unlink: conditional when it names an inode.
fn unlink_command(r: pb::UnlinkRequest, now_ns: i64) -> Command {
    match r.ino {
        0 => Command::Unlink {
            parent: r.parent,
            name: r.name,
            now_ns,
        },
        ino => Command::UnlinkInode {
            parent: r.parent,
            name: r.name,
            ino,
            now_ns,
        },
    }
}

/// Metadata (clients) and ClusterAdmin (chunk servers).
#[derive(Clone)]
pub(crate) struct MdsService {
    pub(crate) state: Arc<State>,
}

impl MdsService {
    pub fn new(state: Arc<State>) -> MdsService {
        MdsService { state }
    }

    pub(crate) async fn node(&self, command: Command) -> Reply<pb::Node> {
        let node: Inode = self.state.submit_for(command).await?;
        Ok(Response::new(node_to_pb(&node)))
    }

    /// Applies `command`, a change of file `ino`'s content made by client
    /// `session`: once committed, the other mounts hear of it
    /// (`file_watch`).
    pub(crate) async fn node_changing(
        &self,
        ino: u64,
        session: &str,
        command: Command,
    ) -> Reply<pb::Node> {
        let reply = self.node(command).await;
        if reply.is_ok() {
            self.state.file_watch.changed(ino, session);
        }
        reply
    }

    pub(crate) async fn done(&self, command: Command) -> Reply<pb::Empty> {
        self.state.submit(command).await?;
        Ok(Response::new(pb::Empty {}))
    }

    /// Placement's view of every registered CS at `now`.
    fn candidates(&self, servers: &[ChunkServerInfo], now: Instant) -> Vec<Candidate> {
        let live = self.state.registry.snapshot();
        servers
            .iter()
            .filter(|s| s.state != CsState::Removed)
            .map(|s| {
                candidate(
                    s,
                    live.get(&s.id),
                    self.state.registry.is_online(live.get(&s.id), now),
                )
            })
            .collect()
    }

    /// A chunk's location with its replicas ordered for readers: online ones
    /// by cost, then offline ones. `min_replicas`: the fewest a write into
    /// it may go on with.
    fn location(
        &self,
        chunk_id: u64,
        chunk: &ChunkInfo,
        min_replicas: u32,
        servers: &BTreeMap<u32, ChunkServerInfo>,
        live: &std::collections::HashMap<u32, Live>,
        now: Instant,
    ) -> pb::ChunkLocation {
        let mut replicas: Vec<(bool, f64, pb::CsAddr)> = chunk
            .replicas
            .iter()
            .map(|id| {
                let l = live.get(id);
                let online = self.state.registry.is_online(l, now);
                let (addr, host, cost) = match servers.get(id) {
                    Some(s) => (
                        data_addr(&s.addr, l),
                        s.host.clone(),
                        placement::cost(&candidate(s, l, online)),
                    ),
                    None => (String::new(), String::new(), f64::MAX),
                };
                (
                    !online,
                    cost,
                    pb::CsAddr {
                        cs_id: *id,
                        addr,
                        host,
                    },
                )
            })
            .collect();
        // Stable sort: equal costs keep the chain order.
        replicas.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pb::ChunkLocation {
            chunk_id,
            version: chunk.version,
            length: chunk.length,
            replicas: replicas.into_iter().map(|r| r.2).collect(),
            shared: chunk.shared(false),
            min_replicas,
        }
    }

    /// The fewest replicas a write into `chunk` may go on with: the
    /// minimum of the inode it was made for, while that inode still wants
    /// what the chunk wants; else the default for the chunk's count.
    fn min_replicas_of(&self, reader: &Reader, chunk: &ChunkInfo) -> u32 {
        let want = health::wanted(chunk, self.state.meta.default_replicas) as u32;
        let stored_min = reader
            .inode(chunk.owner)
            .ok()
            .filter(|owner| owner.replicas == want)
            .map_or(0, |owner| owner.min_replicas);
        cairn_common::replicas::minimum(want, stored_min)
    }

    /// Where `count` new chunks of inode `ino` go: placement over the live
    /// figures, at the inode's normal replica count when that many hosts
    /// can take them, else down to its minimum. Returns the chain, the
    /// minimum a write into them must keep, and the chunk servers they were
    /// chosen among. Below the minimum: `NoSpace` when lack of room is the
    /// cause, else `Unavailable` (a store that cannot place data is not
    /// full).
    async fn place_chunk(
        &self,
        ino: u64,
        client_host: &str,
        avoid: &[u32],
        count: u64,
    ) -> Result<(Vec<u32>, u32, BTreeMap<u32, ChunkServerInfo>), ClusterError> {
        let reader = self.state.read().await?;
        let owner = reader.inode(ino)?;
        let servers = reader.chunk_servers()?;
        drop(reader);
        let candidates = self.candidates(&servers, Instant::now());
        let normal = owner.replicas.max(1);
        let minimum = cairn_common::replicas::minimum(normal, owner.min_replicas);
        let request = placement::Request {
            replicas: normal as usize,
            min_replicas: minimum as usize,
            tier: owner.tier,
            preferred_host: (!client_host.is_empty()).then_some(client_host),
            exclude: &[],
            avoid,
            room_needed: self.state.meta.chunk_size,
        };
        let chosen = match placement::place(&candidates, &request) {
            Ok(chosen) => chosen,
            Err(e) => {
                let why = e.to_string();
                tracing::warn!(ino, error = %why, "chunk allocation refused");
                self.state.allocations.record(
                    allocations::Outcome::Refused(&why),
                    count,
                    Instant::now(),
                    &self.state.events,
                );
                return Err(if e.is_full() {
                    ClusterError::NoSpace(why)
                } else {
                    ClusterError::Unavailable(why)
                });
            }
        };
        let outcome = match &chosen.short {
            Some(why) => allocations::Outcome::Short(why),
            None => allocations::Outcome::Normal,
        };
        self.state
            .allocations
            .record(outcome, count, Instant::now(), &self.state.events);
        tracing::debug!(ino, chain = ?chosen.chain, reasons = ?chosen.reasons, "chunk placed");
        Ok((
            chosen.chain,
            minimum,
            servers.into_iter().map(|s| (s.id, s)).collect(),
        ))
    }

    fn chain(
        &self,
        chunk_id: u64,
        chunk: &ChunkInfo,
        servers: &BTreeMap<u32, ChunkServerInfo>,
    ) -> pb::ChunkLocation {
        let live = self.state.registry.snapshot();
        pb::ChunkLocation {
            chunk_id,
            version: chunk.version,
            length: chunk.length,
            replicas: chunk
                .replicas
                .iter()
                .map(|id| {
                    let s = servers.get(id);
                    pb::CsAddr {
                        cs_id: *id,
                        addr: data_addr(s.map_or("", |s| s.addr.as_str()), live.get(id)),
                        host: s.map(|s| s.host.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
            shared: chunk.shared(false),
            min_replicas: 0,
        }
    }

    /// Where a chunk server's data path listens, as the data path needs it.
    fn addr_of(&self, s: &ChunkServerInfo) -> pb::CsAddr {
        let live = self.state.registry.get(s.id);
        pb::CsAddr {
            cs_id: s.id,
            addr: data_addr(&s.addr, live.as_ref()),
            host: s.host.clone(),
        }
    }

    fn servers_by_id(&self) -> Result<BTreeMap<u32, ChunkServerInfo>, ClusterError> {
        Ok(self
            .state
            .reader()?
            .chunk_servers()?
            .into_iter()
            .map(|s| (s.id, s))
            .collect())
    }
}

fn candidate(s: &ChunkServerInfo, live: Option<&Live>, online: bool) -> Candidate {
    let figures = live.map(|l| l.figures.clone()).unwrap_or_default();
    Candidate {
        id: s.id,
        host: s.host.clone(),
        tier: s.tier,
        capacity: if s.capacity != 0 {
            s.capacity
        } else {
            figures.capacity
        },
        used: figures.used,
        free: figures.free,
        // Placement hands out addresses: a CS that never said where it
        // listens cannot be in a chain.
        online: online && !data_addr(&s.addr, live).is_empty(),
        draining: s.state != CsState::Active,
        latency_ms: figures.latency_ms,
    }
}

/// A latency a chunk server reported, as a figure the MDS keeps (a NaN or
/// a negative one from a faulty peer is 0).
fn finite_ms(ms: f64) -> f64 {
    if ms.is_finite() {
        ms.max(0.0)
    } else {
        0.0
    }
}

fn entries(page: crate::query::Page) -> Vec<(Vec<u8>, pb::Node)> {
    page.entries
        .into_iter()
        .map(|(name, node)| (name, node_to_pb(&node)))
        .collect()
}
