//! gRPC handlers. Each converts the request to domain values, reads through
//! a snapshot or submits a command, and converts the answer back. The time
//! and anything else not derived from the state are chosen here, before the
//! command.

use std::{collections::BTreeMap, sync::Arc, time::Duration, time::Instant};

use cairn_common::{time::now_ns, FsError};
use cairn_proto as pb;
use cairn_proto::{
    cluster_admin_server::ClusterAdmin, join_server::Join, metadata_server::Metadata,
};
use tonic::{Request, Response, Status};

use crate::allocations;
use crate::command::{Command, CommandReply, ReplicaRef};
use crate::convert::{
    attr_change_from_pb, bucket_to_pb, node_kind_from_pb, node_to_pb, object_from_pb,
};
use crate::heal;
use crate::health::{self, ChunkState, Liveness};
use crate::init::verify_password;
use crate::placement::{self, Candidate};
use crate::query::Reader;
use crate::registry::{Figures, Live};
use crate::schema::{ChunkInfo, ChunkServerInfo, CsState, Inode};
use crate::server::State;

/// How long a wrong cluster password waits before it is refused: with
/// attempts serialised, this caps guessing at one try a second.
const AUTH_FAILURE_DELAY: Duration = Duration::from_secs(1);

pub(crate) type Reply<T> = Result<Response<T>, Status>;

/// Blocked chunks listed by Stat, at most: the counts say how many there
/// are; a sample of reasons is what an operator needs.
const MAX_BLOCKED_SHOWN: usize = 20;

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
        match self.state.submit(command).await? {
            CommandReply::Node(n) => Ok(Response::new(node_to_pb(&n))),
            other => Err(unexpected(&other)),
        }
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
                        l.map(|l| l.figures.addr.clone())
                            .filter(|a| !a.is_empty())
                            .unwrap_or_else(|| s.addr.clone()),
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
            shared: chunk.refs > 1,
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
    ) -> Result<(Vec<u32>, u32, BTreeMap<u32, ChunkServerInfo>), FsError> {
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
                    FsError::NoSpace(why)
                } else {
                    FsError::Unavailable(why)
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
                        addr: live
                            .get(id)
                            .map(|l| l.figures.addr.clone())
                            .filter(|a| !a.is_empty())
                            .or_else(|| s.map(|s| s.addr.clone()))
                            .unwrap_or_default(),
                        host: s.map(|s| s.host.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
            shared: chunk.refs > 1,
            min_replicas: 0,
        }
    }

    /// Where a chunk server's data path listens, as the data path needs it.
    fn addr_of(&self, s: &ChunkServerInfo) -> pb::CsAddr {
        let live = self.state.registry.get(s.id);
        pb::CsAddr {
            cs_id: s.id,
            addr: live
                .map(|l| l.figures.addr)
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| s.addr.clone()),
            host: s.host.clone(),
        }
    }

    fn servers_by_id(&self) -> Result<BTreeMap<u32, ChunkServerInfo>, FsError> {
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
        online: online && (!s.addr.is_empty() || !figures.addr.is_empty()),
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

pub(crate) fn unexpected(reply: &CommandReply) -> Status {
    Status::internal(format!("unexpected command reply {reply:?}"))
}

fn entries(page: crate::query::Page) -> Vec<(Vec<u8>, pb::Node)> {
    page.entries
        .into_iter()
        .map(|(name, node)| (name, node_to_pb(&node)))
        .collect()
}

#[tonic::async_trait]
impl Metadata for MdsService {
    async fn lookup(&self, request: Request<pb::LookupRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let node = self.state.read().await?.lookup(r.parent, &r.name)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn get_attr(&self, request: Request<pb::InoRequest>) -> Reply<pb::Node> {
        let node = self.state.read().await?.inode(request.into_inner().ino)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn set_attr(&self, request: Request<pb::SetAttrRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let change = attr_change_from_pb(&r);
        self.node(match r.min_replicas {
            Some(min_replicas) => Command::SetAttrWithMinimum {
                ino: r.ino,
                change,
                min_replicas,
                now_ns: now_ns(),
            },
            None => Command::SetAttr {
                ino: r.ino,
                change,
                now_ns: now_ns(),
            },
        })
        .await
    }

    async fn create(&self, request: Request<pb::CreateRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let kind = node_kind_from_pb(r.kind)?
            .ok_or_else(|| FsError::Invalid("Create needs a kind (file, dir or symlink)".into()))?;
        self.node(Command::CreateNode {
            parent: r.parent,
            name: r.name,
            kind,
            mode: r.mode,
            uid: r.uid,
            gid: r.gid,
            symlink_target: r.symlink_target,
            exclusive: r.exclusive,
            now_ns: now_ns(),
        })
        .await
    }

    async fn unlink(&self, request: Request<pb::UnlinkRequest>) -> Reply<pb::Empty> {
        self.done(unlink_command(request.into_inner(), now_ns()))
            .await
    }

    async fn unlink_many(
        &self,
        request: Request<pb::UnlinkManyRequest>,
    ) -> Reply<pb::UnlinkManyReply> {
        let r = request.into_inner();
        if r.unlinks.len() > MAX_UNLINK_BATCH {
            return Err(FsError::Invalid(format!(
                "{} unlinks in one call; {MAX_UNLINK_BATCH} at most",
                r.unlinks.len()
            ))
            .into());
        }
        if let Some(u) = r.unlinks.iter().find(|u| u.ino == 0) {
            return Err(FsError::Invalid(format!(
                "unlink of `{}` in a batch names no inode",
                String::from_utf8_lossy(&u.name)
            ))
            .into());
        }
        let now = now_ns();
        // Submitted together, they share the batcher's entry.
        let outcomes = futures::future::join_all(
            r.unlinks
                .into_iter()
                .map(|u| self.state.submit(unlink_command(u, now))),
        )
        .await;
        let mut reply = pb::UnlinkManyReply::default();
        for outcome in outcomes {
            reply.outcomes.push(match outcome {
                Ok(_) => pb::UnlinkOutcome::default(),
                // Not made, not refused: the caller retries the whole batch
                // (each unlink is conditional, so a retry is safe).
                Err(e @ FsError::Unavailable(_)) => return Err(e.into()),
                Err(e) => pb::UnlinkOutcome {
                    errno: e.tag().to_string(),
                    message: e.detail().to_string(),
                },
            });
        }
        Ok(Response::new(reply))
    }

    async fn rmdir(&self, request: Request<pb::NameRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::Rmdir {
            parent: r.parent,
            name: r.name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn rename(&self, request: Request<pb::RenameRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::Rename {
            parent: r.parent,
            name: r.name,
            new_parent: r.new_parent,
            new_name: r.new_name,
            no_replace: r.no_replace,
            now_ns: now_ns(),
        })
        .await
    }

    async fn link(&self, request: Request<pb::LinkRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        self.node(Command::Link {
            ino: r.ino,
            new_parent: r.new_parent,
            new_name: r.new_name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn readlink(&self, request: Request<pb::InoRequest>) -> Reply<pb::ReadlinkReply> {
        let ino = request.into_inner().ino;
        let node: Inode = self.state.read().await?.inode(ino)?;
        if node.kind != crate::schema::NodeKind::Symlink {
            return Err(FsError::Invalid(format!("inode {ino} is not a symlink")).into());
        }
        Ok(Response::new(pb::ReadlinkReply {
            target: node.symlink_target,
        }))
    }

    async fn readdir(&self, request: Request<pb::ReaddirRequest>) -> Reply<pb::ReaddirReply> {
        let r = request.into_inner();
        let page = self.state.read().await?.readdir(r.ino, &r.after, r.limit)?;
        let more = page.more;
        Ok(Response::new(pb::ReaddirReply {
            entries: entries(page)
                .into_iter()
                .map(|(name, node)| pb::DirEntry {
                    name,
                    node: Some(node),
                })
                .collect(),
            more,
        }))
    }

    async fn put_key(&self, request: Request<pb::PutKeyRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let object = object_from_pb(&r.node.unwrap_or_default())?;
        self.node(Command::PutKey {
            bucket: r.bucket,
            key: r.key,
            object,
            if_match: r.if_match,
            if_none_match: r.if_none_match,
            request_id: r.request_id,
            now_ns: now_ns(),
        })
        .await
    }

    async fn get_key(&self, request: Request<pb::KeyRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let node = self.state.read().await?.get_key(&r.bucket, &r.key)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn delete_key(&self, request: Request<pb::KeyRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::DeleteKey {
            bucket: r.bucket,
            key: r.key,
            now_ns: now_ns(),
        })
        .await
    }

    async fn list_keys(&self, request: Request<pb::ListKeysRequest>) -> Reply<pb::ListKeysReply> {
        let r = request.into_inner();
        let page =
            self.state
                .read()
                .await?
                .list_keys(&r.bucket, &r.prefix, &r.start_after, r.limit)?;
        let truncated = page.more;
        Ok(Response::new(pb::ListKeysReply {
            entries: entries(page)
                .into_iter()
                .map(|(key, node)| pb::KeyEntry {
                    key,
                    node: Some(node),
                })
                .collect(),
            truncated,
        }))
    }

    async fn create_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Bucket> {
        let r = request.into_inner();
        match self
            .state
            .submit(Command::CreateBucket {
                name: r.name,
                owner: r.owner,
                now_ns: now_ns(),
            })
            .await?
        {
            CommandReply::Bucket(b) => Ok(Response::new(bucket_to_pb(&b))),
            other => Err(unexpected(&other)),
        }
    }

    async fn delete_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::DeleteBucket {
            name: r.name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn get_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Bucket> {
        let b = self
            .state
            .read()
            .await?
            .bucket(&request.into_inner().name)?;
        Ok(Response::new(bucket_to_pb(&b)))
    }

    async fn list_buckets(&self, _request: Request<pb::Empty>) -> Reply<pb::ListBucketsReply> {
        let buckets = self.state.read().await?.buckets()?;
        Ok(Response::new(pb::ListBucketsReply {
            buckets: buckets.iter().map(bucket_to_pb).collect(),
        }))
    }

    async fn allocate_chunk(
        &self,
        request: Request<pb::AllocateChunkRequest>,
    ) -> Reply<pb::ChunkLocation> {
        let r = request.into_inner();
        let (chain, minimum, servers) =
            self.place_chunk(r.ino, &r.client_host, &r.avoid, 1).await?;
        match self
            .state
            .submit(Command::AllocateChunk {
                owner: r.ino,
                chain,
            })
            .await?
        {
            CommandReply::Chunk { chunk_id, chunk } => Ok(Response::new(pb::ChunkLocation {
                min_replicas: minimum,
                ..self.chain(chunk_id, &chunk, &servers)
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn allocate_chunks(
        &self,
        request: Request<pb::AllocateChunksRequest>,
    ) -> Reply<pb::AllocateChunksReply> {
        let r = request.into_inner();
        let (chain, minimum, servers) = self
            .place_chunk(r.ino, &r.client_host, &r.avoid, u64::from(r.count.max(1)))
            .await?;
        match self
            .state
            .submit(Command::AllocateChunks {
                owner: r.ino,
                chain,
                count: r.count,
            })
            .await?
        {
            CommandReply::Chunks(made) => Ok(Response::new(pb::AllocateChunksReply {
                chunks: made
                    .iter()
                    .map(|(chunk_id, chunk)| pb::ChunkLocation {
                        min_replicas: minimum,
                        ..self.chain(*chunk_id, chunk, &servers)
                    })
                    .collect(),
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn locate_chunks(
        &self,
        request: Request<pb::LocateChunksRequest>,
    ) -> Reply<pb::LocateChunksReply> {
        let ids = request.into_inner().chunk_ids;
        let reader = self.state.read().await?;
        let servers: BTreeMap<u32, ChunkServerInfo> = reader
            .chunk_servers()?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let now = Instant::now();
        let live = self.state.registry.snapshot();
        let mut chunks = Vec::with_capacity(ids.len());
        for id in ids {
            let chunk = reader.chunk(id)?;
            let min_replicas = self.min_replicas_of(&reader, &chunk);
            chunks.push(self.location(id, &chunk, min_replicas, &servers, &live, now));
        }
        Ok(Response::new(pb::LocateChunksReply { chunks }))
    }

    async fn sync_metadata(&self, _request: Request<pb::Empty>) -> Reply<pb::Empty> {
        self.state.barrier().await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn commit_write(&self, request: Request<pb::CommitWriteRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        // Copies of these chunks wait: an in-place write just landed.
        self.state.heal.touch(
            r.extents
                .iter()
                .map(|e| e.chunk_id)
                .chain(r.chunk_lengths.iter().map(|c| c.chunk_id)),
            Instant::now(),
        );
        self.node(Command::CommitWrite {
            ino: r.ino,
            extents: r
                .extents
                .iter()
                .map(crate::convert::extent_from_pb)
                .collect(),
            size: r.size,
            etag: r.etag,
            mtime_ns: r.mtime_ns,
            chunk_lengths: r
                .chunk_lengths
                .iter()
                .map(|c| (c.chunk_id, c.length))
                .collect(),
            replace_layout: r.replace_layout,
            now_ns: now_ns(),
        })
        .await
    }

    async fn drop_replica(
        &self,
        request: Request<pb::DropReplicaRequest>,
    ) -> Reply<pb::ChunkLocation> {
        let r = request.into_inner();
        tracing::info!(chunk = r.chunk_id, version = r.version, cs = r.cs_id, reason = %r.reason, "replica dropped by a writer");
        self.state.heal.touch([r.chunk_id], Instant::now());
        match self
            .state
            .submit(Command::DropReplica {
                chunk_id: r.chunk_id,
                version: r.version,
                cs_id: r.cs_id,
            })
            .await?
        {
            CommandReply::Chunk { chunk_id, chunk } => {
                let servers = self.servers_by_id()?;
                let min_replicas = self.min_replicas_of(&self.state.reader()?, &chunk);
                Ok(Response::new(pb::ChunkLocation {
                    min_replicas,
                    ..self.chain(chunk_id, &chunk, &servers)
                }))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn report_bad_replica(
        &self,
        request: Request<pb::ReportBadReplicaRequest>,
    ) -> Reply<pb::Empty> {
        let r = request.into_inner();
        tracing::warn!(chunk = r.chunk_id, version = r.version, cs = r.cs_id, reason = %r.reason, "bad replica reported: dropping it");
        self.state.events.push(
            format!("cs{}", r.cs_id),
            crate::events::Severity::Error,
            format!("replica of chunk {} failed: {}", r.chunk_id, r.reason),
        );
        self.done(Command::DropBadReplica {
            chunk_id: r.chunk_id,
            version: r.version,
            cs_id: r.cs_id,
        })
        .await
    }

    async fn stat(&self, _request: Request<pb::Empty>) -> Reply<pb::ClusterStat> {
        let reader = self.state.read().await?;
        let servers = reader.chunk_servers()?;
        let chunks = reader.chunks()?;
        let (inodes, logical_bytes) = reader.inode_totals()?;
        let buckets = reader.buckets()?.len() as u64;
        let mut replica_counts: BTreeMap<u32, u64> = BTreeMap::new();
        for s in servers.iter().filter(|s| s.state != CsState::Removed) {
            replica_counts.insert(s.id, reader.replica_count(s.id)?);
        }
        drop(reader);
        let now = Instant::now();
        let live = self.state.registry.snapshot();
        let views = heal::views(&self.state, &servers, now);
        let flight = self.state.heal.figures(now);
        let mut cs_stats = Vec::with_capacity(views.len());
        for s in servers.iter().filter(|s| s.state != CsState::Removed) {
            let Some(view) = views.get(&s.id) else {
                continue;
            };
            let l = live.get(&s.id);
            let figures = l.map(|l| l.figures.clone()).unwrap_or_default();
            let c = view.candidate();
            let state = match (s.state, view.liveness) {
                (CsState::Draining, _) => "draining",
                (_, Liveness::Online) => "active",
                (_, Liveness::Offline) => "offline",
                (_, Liveness::Lost) => "lost",
            };
            cs_stats.push(pb::CsStat {
                cs_id: s.id,
                addr: if figures.addr.is_empty() {
                    s.addr.clone()
                } else {
                    figures.addr.clone()
                },
                host: s.host.clone(),
                tier: s.tier,
                state: state.to_string(),
                capacity: c.capacity,
                used: figures.used,
                free: figures.free,
                replicas: replica_counts.get(&s.id).copied().unwrap_or(0),
                cost: placement::cost(&c),
                journal: s.journal,
                last_heartbeat_ms_ago: l
                    .map(|l| {
                        i64::try_from(now.saturating_duration_since(l.last_seen).as_millis())
                            .unwrap_or(i64::MAX)
                    })
                    .unwrap_or(-1),
                read_bytes: figures.read_bytes,
                write_bytes: figures.write_bytes,
                read_ops: figures.read_ops,
                write_ops: figures.write_ops,
                fill: placement::fill(&c),
                copies_in: flight.copies_in.get(&s.id).copied().unwrap_or(0),
                copies_out: flight.copies_out.get(&s.id).copied().unwrap_or(0),
                latency_ms: figures.latency_ms,
                latency_max_ms: figures.latency_max_ms,
                queue_depth: figures.queue_depth,
            });
        }
        let mut by_replicas: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
        let mut states: BTreeMap<&'static str, u64> =
            ChunkState::ALL.iter().map(|s| (s.name(), 0)).collect();
        let mut healthy = true;
        for (id, chunk) in &chunks {
            let c = health::census(chunk, &views);
            *by_replicas.entry(c.live as u32).or_default() += 1;
            let want = health::wanted(chunk, self.state.meta.default_replicas);
            let st = health::state(
                chunk,
                want,
                &c,
                flight.chunks.contains(id),
                flight.blocked.contains_key(id),
            );
            healthy &= !st.is_unhealthy();
            *states.entry(st.name()).or_default() += 1;
        }
        let allocations = self.state.allocations.figures(Instant::now());
        Ok(Response::new(pb::ClusterStat {
            cluster_name: self.state.meta.name.clone(),
            cluster_id: self.state.meta.cluster_id.clone(),
            chunk_servers: cs_stats,
            chunks_by_replicas: by_replicas,
            chunks: chunks.len() as u64,
            inodes,
            buckets,
            logical_bytes,
            chunk_states: states
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            blocked: flight
                .blocked
                .iter()
                .take(MAX_BLOCKED_SHOWN)
                .map(|(chunk_id, reason)| pb::BlockedChunk {
                    chunk_id: *chunk_id,
                    reason: reason.clone(),
                })
                .collect(),
            copies_in_flight: flight.copies,
            moves_in_flight: flight.moves,
            copy_bytes_per_sec: flight.bytes_per_sec,
            copied_bytes: flight.copied_bytes,
            healthy: healthy && flight.chunks.is_empty(),
            events: self.state.events.to_proto(),
            mds: crate::status_page::mds_stats(&self.state),
            clients: self.state.clients.snapshot(now),
            writing_degraded: allocations.writing_degraded,
            chunks_placed_short: allocations.chunks_placed_short,
            allocations_refused: allocations.allocations_refused,
        }))
    }

    async fn report_client(&self, request: Request<pb::ClientStat>) -> Reply<pb::Empty> {
        self.state.members.check_leader()?;
        let stat = request.into_inner();
        if stat.id.is_empty() || stat.id.len() > 256 || stat.name.len() > 4096 {
            return Err(Status::invalid_argument(
                "a door report needs an id of 1 to 256 bytes and a name of at most 4096",
            ));
        }
        if !self.state.clients.report(stat, Instant::now()) {
            return Err(Status::resource_exhausted(format!(
                "this MDS already follows {} doors",
                crate::clients::MAX_DOORS
            )));
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn remove_cs(&self, request: Request<pb::RemoveCsRequest>) -> Reply<pb::RemoveCsReply> {
        let r = request.into_inner();
        let reader = self.state.read().await?;
        let info = reader.chunk_server(r.cs_id)?.ok_or_else(|| {
            FsError::NotFound(format!("chunk server {} is not registered", r.cs_id))
        })?;
        drop(reader);
        if info.state == CsState::Removed {
            return Ok(Response::new(pb::RemoveCsReply {
                state: "removed".into(),
                replicas: 0,
                chunks_lost: 0,
            }));
        }
        if r.force {
            let lost = match self
                .state
                .submit(Command::RemoveCs {
                    cs_id: r.cs_id,
                    force: true,
                })
                .await?
            {
                CommandReply::CsRemoved { chunks_lost } => chunks_lost,
                other => return Err(unexpected(&other)),
            };
            self.state.heal.cancel_cs(r.cs_id);
            tracing::warn!(
                cs_id = r.cs_id,
                chunks_lost = lost,
                "chunk server removed by force"
            );
            return Ok(Response::new(pb::RemoveCsReply {
                state: "removed".into(),
                replicas: 0,
                chunks_lost: lost,
            }));
        }
        if info.state != CsState::Draining {
            self.state
                .submit(Command::SetCsDraining {
                    cs_id: r.cs_id,
                    draining: true,
                })
                .await?;
            tracing::info!(cs_id = r.cs_id, "chunk server draining");
        }
        // Already empty: gone at once (otherwise the background work
        // removes it once drained).
        let removed = self
            .state
            .submit(Command::RemoveCs {
                cs_id: r.cs_id,
                force: false,
            })
            .await
            .is_ok();
        let replicas = self.state.read().await?.replica_count(r.cs_id)?;
        Ok(Response::new(pb::RemoveCsReply {
            state: if removed { "removed" } else { "draining" }.into(),
            replicas,
            chunks_lost: 0,
        }))
    }
}

#[tonic::async_trait]
impl ClusterAdmin for MdsService {
    async fn register_cs(
        &self,
        request: Request<pb::RegisterCsRequest>,
    ) -> Reply<pb::RegisterCsReply> {
        let r = request.into_inner();
        match self
            .state
            .submit(Command::RegisterCs {
                host: r.host.clone(),
                tier: r.tier,
                capacity: r.capacity,
                journal: r.journal,
                now_ns: now_ns(),
            })
            .await?
        {
            CommandReply::CsRegistered { cs_id } => {
                tracing::info!(cs_id, host = %r.host, tier = r.tier, "chunk server registered");
                Ok(Response::new(pb::RegisterCsReply {
                    cs_id,
                    cluster_id: self.state.meta.cluster_id.clone(),
                }))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn heartbeat(&self, request: Request<pb::HeartbeatRequest>) -> Reply<pb::HeartbeatReply> {
        let r = request.into_inner();
        let reader = self.state.read().await?;
        let Some(info) = reader.chunk_server(r.cs_id)? else {
            return Err(FsError::NotFound(format!(
                "chunk server {} is not registered with cluster {}: register it again (make-cs)",
                r.cs_id, self.state.meta.name
            ))
            .into());
        };
        if info.state == CsState::Removed {
            return Err(FsError::NotFound(format!(
                "chunk server {} was removed from cluster {}: stop it; to use its disk again, \
                 empty the directory and run make-cs",
                r.cs_id, self.state.meta.name
            ))
            .into());
        }
        let pending = reader.has_pending_deletes(r.cs_id)?;
        drop(reader);
        let first_seen = self.state.registry.get(r.cs_id).is_none();
        self.state.registry.record(
            r.cs_id,
            Figures {
                addr: r.addr.clone(),
                capacity: r.capacity,
                used: r.used,
                free: r.free,
                replicas: r.replicas,
                read_bytes: r.read_bytes,
                write_bytes: r.write_bytes,
                read_ops: r.read_ops,
                write_ops: r.write_ops,
                latency_ms: finite_ms(r.latency_ms),
                latency_max_ms: finite_ms(r.latency_max_ms),
                queue_depth: r.queue_depth,
            },
            Instant::now(),
        );
        if first_seen {
            tracing::info!(cs_id = r.cs_id, addr = %r.addr, "chunk server online");
        }
        if !r.addr.is_empty() && r.addr != info.addr {
            self.state
                .submit(Command::SetCsAddr {
                    cs_id: r.cs_id,
                    addr: r.addr.clone(),
                })
                .await?;
        }
        let command = if r.full_report {
            Some(Command::ReconcileReplicas {
                cs_id: r.cs_id,
                report: r
                    .replica_report
                    .iter()
                    .map(|x| ReplicaRef {
                        chunk_id: x.chunk_id,
                        version: x.version,
                        length: x.length,
                    })
                    .collect(),
            })
        } else if pending {
            Some(Command::TakeReplicaDeletes { cs_id: r.cs_id })
        } else {
            None
        };
        let (deletes, set_versions) = match command {
            None => (Vec::new(), Vec::new()),
            Some(c) => match self.state.submit(c).await? {
                CommandReply::Deletes(d) => (d, Vec::new()),
                CommandReply::Reconciled {
                    deletes,
                    set_versions,
                } => (deletes, set_versions),
                other => return Err(unexpected(&other)),
            },
        };
        if !deletes.is_empty() {
            tracing::debug!(
                cs_id = r.cs_id,
                count = deletes.len(),
                "replicas handed out for deletion"
            );
        }
        let orders = self.state.heal.take_orders(r.cs_id);
        let replicate = if orders.is_empty() {
            Vec::new()
        } else {
            let servers = self.servers_by_id()?;
            orders
                .iter()
                .map(|o| pb::ReplicateOrder {
                    chunk_id: o.chunk_id,
                    version: o.version,
                    length: o.length,
                    sources: o
                        .sources
                        .iter()
                        .filter_map(|id| servers.get(id))
                        .map(|s| self.addr_of(s))
                        .collect(),
                    rate: o.rate,
                })
                .collect()
        };
        Ok(Response::new(pb::HeartbeatReply {
            delete: deletes
                .into_iter()
                .map(|d| pb::ReplicaInfo {
                    chunk_id: d.chunk_id,
                    version: d.version,
                    length: d.length,
                })
                .collect(),
            replicate,
            set_version: set_versions
                .into_iter()
                .map(|(chunk_id, old_version, new_version)| pb::SetVersionOrder {
                    chunk_id,
                    old_version,
                    new_version,
                })
                .collect(),
        }))
    }

    async fn report_copy(
        &self,
        request: Request<pb::ReportCopyRequest>,
    ) -> Reply<pb::ReportCopyReply> {
        let r = request.into_inner();
        let now = Instant::now();
        let finished = self.state.heal.finish(r.chunk_id, r.cs_id);
        if !r.ok {
            tracing::warn!(chunk = r.chunk_id, cs = r.cs_id, error = %r.error, "replica copy failed");
            self.state.heal.record_failure(r.chunk_id, now);
            return Ok(Response::new(pb::ReportCopyReply { keep: false }));
        }
        // A writer touched the chunk after the copy was ordered: the copy
        // may miss that write.
        let since = finished
            .as_ref()
            .map(|f| f.ordered_at)
            .unwrap_or_else(|| now.checked_sub(heal::WRITE_QUIET).unwrap_or(now));
        if self.state.heal.touched_after(r.chunk_id, since) {
            tracing::info!(
                chunk = r.chunk_id,
                cs = r.cs_id,
                "copy refused: the chunk was written meanwhile"
            );
            self.state.heal.record_failure(r.chunk_id, now);
            return Ok(Response::new(pb::ReportCopyReply { keep: false }));
        }
        let replaces = finished.as_ref().and_then(|f| f.order.replaces);
        let outcome = self
            .state
            .submit(Command::AddReplica {
                chunk_id: r.chunk_id,
                version: r.version,
                cs_id: r.cs_id,
                replaces,
            })
            .await;
        match outcome {
            Ok(_) => {
                self.state.heal.record_copied(r.length, now);
                tracing::info!(
                    chunk = r.chunk_id,
                    cs = r.cs_id,
                    bytes = r.length,
                    replaces = ?replaces,
                    "replica copied"
                );
                Ok(Response::new(pb::ReportCopyReply { keep: true }))
            }
            Err(e) => {
                tracing::info!(chunk = r.chunk_id, cs = r.cs_id, error = %e, "copy not needed any more");
                Ok(Response::new(pb::ReportCopyReply { keep: false }))
            }
        }
    }
}

/// Join: the one service without the cluster credential.
pub(crate) struct JoinService {
    state: Arc<State>,
}

impl JoinService {
    pub fn new(state: Arc<State>) -> JoinService {
        JoinService { state }
    }
}

#[tonic::async_trait]
impl Join for JoinService {
    async fn auth_node(&self, request: Request<pb::AuthNodeRequest>) -> Reply<pb::AuthNodeReply> {
        let r = request.into_inner();
        let _gate = self.state.join_gate.lock().await;
        let meta = &self.state.meta;
        let hash = meta.password_hash.clone();
        let password = r.password;
        let right = r.cluster_name == meta.name
            && tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .unwrap_or(false);
        if !right {
            tracing::warn!(cluster = %r.cluster_name, "auth-node refused: wrong cluster name or password");
            tokio::time::sleep(AUTH_FAILURE_DELAY).await;
            return Err(Status::permission_denied(format!(
                "wrong password for cluster {} (or this MDS serves another cluster)",
                r.cluster_name
            )));
        }
        tracing::info!(cluster = %meta.name, "auth-node accepted");
        Ok(Response::new(pb::AuthNodeReply {
            cluster_id: meta.cluster_id.clone(),
            secret: meta.secret.clone(),
            mds_addrs: self.state.mds_addrs(),
            chunk_size: meta.chunk_size,
        }))
    }
}
