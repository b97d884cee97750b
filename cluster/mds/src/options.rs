//! How an MDS runs: timings and rates of its background work, set by
//! `cairn mds` flags and shortened by tests.

use std::time::Duration;

/// Changes per second the runner makes, by default. Each is one raft
/// entry and one state-machine transaction; the MDS commits thousands a
/// second in group commits, so 100 a second takes a few percent of it and
/// leaves the clients' latency alone, while a backlog of 10 million expired
/// versions still clears in about a day (S3 itself runs lifecycle
/// asynchronously, over days for large buckets).
pub const LIFECYCLE_ACTIONS_PER_SECOND: u32 = 100;

#[derive(Clone, Debug)]
pub struct MdsOptions {
    /// A chunk server silent for longer than this is offline.
    pub offline_after: Duration,
    /// A chunk server silent for longer than this (the grace period) has
    /// its replicas counted lost: they are restored elsewhere.
    pub lost_after: Duration,
    /// Replica copies at once towards, and from, one chunk server.
    pub max_copies_per_cs: usize,
    /// Fill difference (0..1) between the fullest and the emptiest chunk
    /// server of a tier that starts the balancer.
    pub balance_threshold: f64,
    /// Bytes per second the balancing (and tier) moves into, and out of,
    /// one chunk server copy at together.
    pub balance_rate: u64,
    /// How long a chunk released by its last holder stays readable before
    /// it is freed.
    pub release_grace: Duration,
    /// How long an allocated chunk may stay out of every layout before it
    /// is collected.
    pub uncommitted_timeout: Duration,
    /// Time between two passes of the background work.
    pub heal_interval: Duration,
    /// Raft log entries between two snapshots of the state.
    pub snapshot_every: u64,
    /// Raft log entries kept before the last snapshot.
    pub log_kept: u64,
    /// The length of a lifecycle day: 24 hours, shortened by tests only.
    pub lifecycle_day: Duration,
    /// Lifecycle changes per second at most.
    pub lifecycle_rate: u32,
}

impl Default for MdsOptions {
    fn default() -> Self {
        MdsOptions {
            // Ten missed one-second heartbeats: long enough to ride out a GC
            // pause or a busy disk, short enough that writers stop choosing a
            // dead CS quickly.
            offline_after: Duration::from_secs(10),
            // A minute: a CS restart (upgrade, reboot of its process) comes
            // back well within it and costs no copy; a dead disk starts
            // being re-replicated a minute after its last heartbeat.
            lost_after: Duration::from_secs(60),
            // Four 64 MiB copies in and out keep a disk streaming (each
            // copy is sequential) without starving its clients' queue.
            max_copies_per_cs: 4,
            // PCS's figure: closer is not worth the moves.
            balance_threshold: 0.05,
            // 20 MiB/s of moves into and out of each CS: about a tenth of
            // a disk's sequential bandwidth, so clients keep most of it; a
            // 1 TiB imbalance levels in about 15 hours.
            balance_rate: 20 << 20,
            // Long enough for a reader holding an old layout to finish
            // reading a few 64 MiB chunks on a slow link.
            release_grace: Duration::from_secs(60),
            // A write allocates and commits within seconds; an hour covers
            // the slowest multipart part on the slowest link.
            uncommitted_timeout: Duration::from_secs(3600),
            // Heartbeats come every second: deciding more often gains
            // nothing.
            heal_interval: Duration::from_secs(1),
            snapshot_every: crate::raft::SNAPSHOT_EVERY,
            log_kept: crate::raft::LOG_KEPT,
            lifecycle_day: Duration::from_secs(86_400),
            lifecycle_rate: LIFECYCLE_ACTIONS_PER_SECOND,
        }
    }
}
