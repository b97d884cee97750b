//! Health of chunks: how the healer, `cairn stat` and `wait-healthy` see a
//! chunk at one instant. Pure functions over the chunk map and a view of
//! the chunk servers; no clock, no I/O.
//!
//! A chunk server is, at an instant:
//! * online: heard from within `offline_after` (default 10 s);
//! * offline: silent for longer, but not yet `lost_after` (default 60 s):
//!   its replicas are not live (readers try them last, stat counts the
//!   chunk degraded) but the healer waits for it to return before copying
//!   — unless a chunk is down to one live replica (urgent);
//! * lost: silent past `lost_after` (or never heard since the MDS
//!   started, for as long): its replicas are counted lost and restored
//!   elsewhere; once a chunk has its wanted count again they are trimmed
//!   from the map, and deleted if the CS ever returns.
//!
//! A draining CS is online and serves reads, but its replicas do not count
//! towards the wanted count of a chunk: each is copied elsewhere, then
//! trimmed.
//!
//! Chunk states, named as PCS operators know them: see [`ChunkState`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::placement::{self, Candidate};
use crate::registry::Live;
use crate::schema::ChunkInfo;

/// Whether a chunk server answers heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Online,
    /// Silent past the offline timeout, within the grace period.
    Offline,
    /// Silent past the grace period: its replicas are counted lost.
    Lost,
}

/// A chunk server as the healer sees it at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct CsView {
    pub id: u32,
    pub host: String,
    pub tier: u32,
    pub liveness: Liveness,
    pub draining: bool,
    /// Bytes it may use; 0 when unknown.
    pub capacity: u64,
    /// Bytes used, from its heartbeats.
    pub used: u64,
    /// Bytes free on its disk, from its heartbeats.
    pub free: u64,
    /// Measured I/O latency, from its heartbeats.
    pub latency_ms: f64,
    /// It said where it listens (a copy needs its address).
    pub reachable: bool,
}

impl CsView {
    /// Placement's view of this CS.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            id: self.id,
            host: self.host.clone(),
            tier: self.tier,
            capacity: self.capacity,
            used: self.used,
            free: self.free,
            online: self.liveness == Liveness::Online && self.reachable,
            draining: self.draining,
            latency_ms: self.latency_ms,
        }
    }

    /// Placement cost of this CS.
    pub fn cost(&self) -> f64 {
        placement::cost(&self.candidate())
    }
}

/// The state of a chunk, as PCS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChunkState {
    /// Its wanted number of live replicas, on distinct hosts.
    Healthy,
    /// Fewer live replicas than wanted, more than one.
    Degraded,
    /// One live replica left (and more wanted): restored first.
    Urgent,
    /// No live replica is left to copy from, or the last one is and no
    /// placement can restore the chunk (the reason is kept by the
    /// healer). A chunk with two or more live replicas that no placement
    /// can restore yet (a host is missing: a chunk written degraded) is
    /// `Degraded`, its reason kept all the same.
    Blocked,
    /// A copy of it is in flight (re-replication, drain, tier change or
    /// balancing move).
    Replicating,
    /// More replicas listed than wanted: the extra ones are trimmed.
    Overcommitted,
    /// Released by its last holder; freed after the grace period.
    Deleting,
    /// Allocated, not yet in any layout (a write in progress).
    Uncommitted,
}

impl ChunkState {
    pub const ALL: [ChunkState; 8] = [
        ChunkState::Healthy,
        ChunkState::Degraded,
        ChunkState::Urgent,
        ChunkState::Blocked,
        ChunkState::Replicating,
        ChunkState::Overcommitted,
        ChunkState::Deleting,
        ChunkState::Uncommitted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChunkState::Healthy => "healthy",
            ChunkState::Degraded => "degraded",
            ChunkState::Urgent => "urgent",
            ChunkState::Blocked => "blocked",
            ChunkState::Replicating => "replicating",
            ChunkState::Overcommitted => "overcommitted",
            ChunkState::Deleting => "deleting",
            ChunkState::Uncommitted => "uncommitted",
        }
    }

    /// States that keep the cluster from being healthy.
    pub fn is_unhealthy(self) -> bool {
        matches!(
            self,
            ChunkState::Degraded
                | ChunkState::Urgent
                | ChunkState::Blocked
                | ChunkState::Replicating
                | ChunkState::Overcommitted
        )
    }
}

/// Where the replicas of one chunk stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Replicas listed in the chunk map.
    pub listed: usize,
    /// On online chunk servers (draining ones included): readable now.
    pub live: usize,
    /// On online chunk servers that are not draining: what counts towards
    /// the wanted number.
    pub good: usize,
    /// On offline (not yet lost) chunk servers that are not draining.
    pub waiting: usize,
    /// On lost chunk servers (or ones no longer registered).
    pub lost: usize,
    /// Distinct hosts among the live replicas.
    pub live_hosts: usize,
}

/// Counts a chunk's replicas by the state of their chunk servers. A CS
/// missing from `views` (removed) counts as lost.
pub fn census(chunk: &ChunkInfo, views: &BTreeMap<u32, CsView>) -> Census {
    let mut c = Census {
        listed: chunk.replicas.len(),
        ..Census::default()
    };
    let mut hosts = BTreeSet::new();
    for id in &chunk.replicas {
        match views.get(id) {
            Some(v) if v.liveness == Liveness::Online => {
                c.live += 1;
                hosts.insert(v.host.as_str());
                if !v.draining {
                    c.good += 1;
                }
            }
            Some(v) if v.liveness == Liveness::Offline => {
                if !v.draining {
                    c.waiting += 1;
                }
            }
            _ => c.lost += 1,
        }
    }
    c.live_hosts = hosts.len();
    c
}

/// A chunk's wanted replica count: its own, or the cluster default for a
/// chunk that has none recorded.
pub fn wanted(chunk: &ChunkInfo, default_replicas: u32) -> usize {
    let w = if chunk.want == 0 {
        default_replicas
    } else {
        chunk.want
    };
    w.max(1) as usize
}

/// The state of a chunk. `copying`: a copy of it is in flight; `blocked`:
/// the healer found no placement that restores it.
pub fn state(
    chunk: &ChunkInfo,
    want: usize,
    census: &Census,
    copying: bool,
    blocked: bool,
) -> ChunkState {
    if chunk.refs == 0 {
        return if chunk.released {
            ChunkState::Deleting
        } else {
            ChunkState::Uncommitted
        };
    }
    if copying {
        return ChunkState::Replicating;
    }
    if census.live == 0 || (blocked && census.live < 2) {
        return ChunkState::Blocked;
    }
    if census.live < want || census.live_hosts < census.live {
        return if census.live == 1 && want > 1 {
            ChunkState::Urgent
        } else {
            ChunkState::Degraded
        };
    }
    if census.listed > want {
        return ChunkState::Overcommitted;
    }
    ChunkState::Healthy
}

/// The liveness of a CS last seen as `live` (None: not since `started`).
pub fn liveness(
    live: Option<&Live>,
    now: Instant,
    started: Instant,
    offline_after: Duration,
    lost_after: Duration,
) -> Liveness {
    let silent = match live {
        Some(l) => now.saturating_duration_since(l.last_seen),
        None => now.saturating_duration_since(started),
    };
    if live.is_some() && silent <= offline_after {
        Liveness::Online
    } else if silent <= lost_after.max(offline_after) {
        Liveness::Offline
    } else {
        Liveness::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: u32, host: &str, liveness: Liveness) -> CsView {
        CsView {
            id,
            host: host.into(),
            tier: 0,
            liveness,
            draining: false,
            capacity: 1 << 30,
            used: 0,
            free: 1 << 30,
            latency_ms: 0.0,
            reachable: true,
        }
    }

    fn chunk(replicas: &[u32]) -> ChunkInfo {
        ChunkInfo {
            version: 1,
            length: 10,
            replicas: replicas.to_vec(),
            refs: 1,
            owner: 1,
            want: 3,
            tier: 0,
            released: false,
        }
    }

    fn views(list: &[CsView]) -> BTreeMap<u32, CsView> {
        list.iter().map(|v| (v.id, v.clone())).collect()
    }

    #[test]
    fn states_follow_live_replicas() {
        let mut v = views(&[
            view(1, "a", Liveness::Online),
            view(2, "b", Liveness::Online),
            view(3, "c", Liveness::Offline),
            view(4, "d", Liveness::Lost),
        ]);
        let st =
            |c: &ChunkInfo, v: &BTreeMap<u32, CsView>| state(c, 3, &census(c, v), false, false);
        assert_eq!(st(&chunk(&[1, 2, 3]), &v), ChunkState::Degraded);
        assert_eq!(st(&chunk(&[1, 3, 4]), &v), ChunkState::Urgent);
        assert_eq!(st(&chunk(&[3, 4]), &v), ChunkState::Blocked);
        v.get_mut(&3).unwrap().liveness = Liveness::Online;
        assert_eq!(st(&chunk(&[1, 2, 3]), &v), ChunkState::Healthy);
        assert_eq!(st(&chunk(&[1, 2, 3, 4]), &v), ChunkState::Overcommitted);
        let c = chunk(&[1, 2]);
        assert_eq!(
            state(&c, 3, &census(&c, &v), true, false),
            ChunkState::Replicating
        );
        // No placement can restore it: degraded while two replicas live
        // (written while a host was missing), blocked on its last one.
        assert_eq!(
            state(&c, 3, &census(&c, &v), false, true),
            ChunkState::Degraded
        );
        let last = chunk(&[1]);
        assert_eq!(
            state(&last, 3, &census(&last, &v), false, true),
            ChunkState::Blocked
        );
        assert_eq!(
            state(&last, 3, &census(&last, &v), false, false),
            ChunkState::Urgent
        );
        let mut released = chunk(&[1]);
        released.refs = 0;
        released.released = true;
        assert_eq!(st(&released, &v), ChunkState::Deleting);
        released.released = false;
        assert_eq!(st(&released, &v), ChunkState::Uncommitted);
    }

    #[test]
    fn census_counts_draining_as_live_but_not_good() {
        let mut v = views(&[
            view(1, "a", Liveness::Online),
            view(2, "b", Liveness::Online),
            view(3, "c", Liveness::Offline),
        ]);
        v.get_mut(&2).unwrap().draining = true;
        let c = census(&chunk(&[1, 2, 3, 9]), &v);
        assert_eq!(
            c,
            Census {
                listed: 4,
                live: 2,
                good: 1,
                waiting: 1,
                lost: 1,
                live_hosts: 2
            }
        );
    }

    #[test]
    fn unknown_want_is_the_default() {
        let mut c = chunk(&[1]);
        c.want = 0;
        assert_eq!(wanted(&c, 3), 3);
        c.want = 2;
        assert_eq!(wanted(&c, 3), 2);
    }
}
