//! The balancer: moves replicas from the fullest chunk server of a tier to
//! the emptiest, so that a new, empty CS fills up to the level of the
//! others. A pure function of one snapshot, like the rest of the planner.
//!
//! Rules:
//! * Fill is measured from the chunk map (bytes of the replicas it lists,
//!   with the copies in flight counted where they are going), over the
//!   capacity: it is exact and moves at once, where heartbeat figures lag.
//! * Chunk servers are compared within a tier only (a move never changes
//!   the tier a chunk is on), and only online, non-draining ones with a
//!   known capacity.
//! * A tier's balancer starts when its fullest and emptiest CS differ by
//!   more than the threshold (default 5 points) and runs until they differ
//!   by at most half of it: the hysteresis keeps it from flapping around
//!   the threshold.
//! * A move takes a committed, settled chunk (its wanted number of good
//!   replicas, nothing lost or waiting, not being copied) from the fullest
//!   CS to the emptiest one, which must not hold it and whose host no
//!   other replica of the chunk uses: failure domains stay distinct. The
//!   largest chunk that does not overshoot (the source stays at least as
//!   full as the target) goes first.
//! * Moves are rate-limited: at most [`MOVES_PER_CS`] run
//!   towards and from each CS, each at that share of the balance rate, so
//!   clients keep most of the bandwidth.

use std::collections::{BTreeMap, BTreeSet};

use crate::health::{census, wanted, CsView, Liveness};
use crate::schema::ChunkInfo;

use crate::in_flight::{CopyKind, CopyOrder};

/// Bytes a replica costs its chunk server beyond its data: the replica
/// file's header (cairn-cs `replica::HEADER_SIZE`).
pub const REPLICA_OVERHEAD: u64 = 8192;
/// Most balancing or tier moves at once towards, and from, one chunk
/// server. Each is ordered (and reported) through heartbeats, a second or
/// two of latency: four in flight keep a steady stream, and each copies at
/// a quarter of the balance rate (see [`move_rate`]), so the moves of one
/// chunk server together stay within the rate.
pub const MOVES_PER_CS: usize = 4;

/// The rate of one move: the per-CS balance rate shared by the moves that
/// may run at once.
pub fn move_rate(balance_rate: u64) -> u64 {
    (balance_rate / MOVES_PER_CS as u64).max(1)
}

/// Most moves decided in one pass per tier: a pass is a second; the rate
/// limit, not this, bounds the bandwidth.
const MAX_MOVES_PER_PASS: usize = 16;

pub struct BalanceInput<'a> {
    pub chunks: &'a [(u64, ChunkInfo)],
    pub views: &'a BTreeMap<u32, CsView>,
    pub in_flight: &'a [CopyOrder],
    /// Copies decided earlier in the same pass.
    pub planned: &'a [CopyOrder],
    pub pending_deletes: &'a BTreeSet<(u32, u64)>,
    pub quiet: &'a BTreeSet<u64>,
    /// Fill difference (0..1) that starts the balancer.
    pub threshold: f64,
    /// Bytes per second of the moves of one chunk server, together.
    pub rate: u64,
    pub default_replicas: u32,
    /// Tiers whose balancer was running.
    pub active: &'a BTreeSet<u32>,
}

pub struct Moves {
    pub orders: Vec<CopyOrder>,
    /// Tiers whose balancer runs after this pass.
    pub active: BTreeSet<u32>,
}

/// Fill of every eligible CS from the chunk map, with copies in flight
/// counted at their destination.
pub fn map_fill(
    chunks: &[(u64, ChunkInfo)],
    views: &BTreeMap<u32, CsView>,
    flights: &[&CopyOrder],
) -> BTreeMap<u32, u64> {
    let mut used: BTreeMap<u32, u64> = views.keys().map(|id| (*id, 0)).collect();
    for (_, chunk) in chunks {
        for r in &chunk.replicas {
            if let Some(u) = used.get_mut(r) {
                *u += chunk.length + REPLICA_OVERHEAD;
            }
        }
    }
    for o in flights {
        if let Some(u) = used.get_mut(&o.target) {
            *u += o.length + REPLICA_OVERHEAD;
        }
        if let Some(r) = o.replaces {
            if let Some(u) = used.get_mut(&r) {
                *u = u.saturating_sub(o.length + REPLICA_OVERHEAD);
            }
        }
    }
    used
}

fn eligible(v: &CsView) -> bool {
    v.liveness == Liveness::Online && v.reachable && !v.draining && v.capacity > 0
}

/// Decides this pass's moves. See the module rules.
pub fn plan_moves(input: &BalanceInput) -> Moves {
    let flights: Vec<&CopyOrder> = input.in_flight.iter().chain(input.planned).collect();
    let mut used = map_fill(input.chunks, input.views, &flights);
    // Chunks being copied: a chunk moves once at a time.
    let mut flying: BTreeSet<u64> = flights.iter().map(|o| o.chunk_id).collect();
    let mut moves_in: BTreeMap<u32, usize> = BTreeMap::new();
    let mut moves_out: BTreeMap<u32, usize> = BTreeMap::new();
    for o in &flights {
        if o.kind.is_move() {
            *moves_in.entry(o.target).or_default() += 1;
            if let Some(r) = o.replaces {
                *moves_out.entry(r).or_default() += 1;
            }
        }
    }
    // Chunks each CS holds, built once.
    let mut held: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, (_, chunk)) in input.chunks.iter().enumerate() {
        for r in &chunk.replicas {
            held.entry(*r).or_default().push(i);
        }
    }
    let tiers: BTreeSet<u32> = input
        .views
        .values()
        .filter(|v| eligible(v))
        .map(|v| v.tier)
        .collect();

    let mut out = Moves {
        orders: Vec::new(),
        active: BTreeSet::new(),
    };
    for tier in tiers {
        let group: Vec<&CsView> = input
            .views
            .values()
            .filter(|v| eligible(v) && v.tier == tier)
            .collect();
        if group.len() < 2 {
            continue;
        }
        let fill = |used: &BTreeMap<u32, u64>, v: &CsView| {
            used.get(&v.id).copied().unwrap_or(0) as f64 / v.capacity as f64
        };
        let spread = |used: &BTreeMap<u32, u64>| {
            let fills: Vec<f64> = group.iter().map(|v| fill(used, v)).collect();
            let max = fills.iter().copied().fold(f64::MIN, f64::max);
            let min = fills.iter().copied().fold(f64::MAX, f64::min);
            max - min
        };
        let was_active = input.active.contains(&tier);
        let s = spread(&used);
        let active = if was_active {
            s > input.threshold / 2.0
        } else {
            s > input.threshold
        };
        if !active {
            continue;
        }
        out.active.insert(tier);
        let mut exhausted: BTreeSet<u32> = BTreeSet::new();
        for _ in 0..MAX_MOVES_PER_PASS {
            let free_in = |cs: u32| moves_in.get(&cs).copied().unwrap_or(0) < MOVES_PER_CS;
            let free_out = |cs: u32| moves_out.get(&cs).copied().unwrap_or(0) < MOVES_PER_CS;
            let Some(target) = group
                .iter()
                .filter(|v| free_in(v.id))
                .min_by(|a, b| {
                    fill(&used, a)
                        .total_cmp(&fill(&used, b))
                        .then(a.id.cmp(&b.id))
                })
                .copied()
            else {
                break;
            };
            let Some(source) = group
                .iter()
                .filter(|v| v.id != target.id && free_out(v.id) && !exhausted.contains(&v.id))
                .max_by(|a, b| {
                    fill(&used, a)
                        .total_cmp(&fill(&used, b))
                        .then(b.id.cmp(&a.id))
                })
                .copied()
            else {
                break;
            };
            let (fs, ft) = (fill(&used, source), fill(&used, target));
            if fs - ft <= input.threshold / 2.0 {
                break;
            }
            let Some(i) = pick_chunk(input, &held, &flying, source, target, fs, ft) else {
                exhausted.insert(source.id);
                continue;
            };
            let (chunk_id, chunk) = &input.chunks[i];
            let bytes = chunk.length + REPLICA_OVERHEAD;
            let mut sources: Vec<u32> = vec![source.id];
            sources.extend(chunk.replicas.iter().copied().filter(|r| {
                *r != source.id
                    && input
                        .views
                        .get(r)
                        .is_some_and(|v| v.liveness == Liveness::Online && v.reachable)
            }));
            out.orders.push(CopyOrder {
                chunk_id: *chunk_id,
                version: chunk.version,
                length: chunk.length,
                target: target.id,
                sources,
                replaces: Some(source.id),
                kind: CopyKind::Balance,
                rate: move_rate(input.rate),
            });
            *used.entry(target.id).or_default() += bytes;
            if let Some(u) = used.get_mut(&source.id) {
                *u = u.saturating_sub(bytes);
            }
            *moves_in.entry(target.id).or_default() += 1;
            *moves_out.entry(source.id).or_default() += 1;
            flying.insert(*chunk_id);
        }
    }
    out
}

/// The largest settled chunk on `source` that can go to `target` without
/// overshooting.
fn pick_chunk(
    input: &BalanceInput,
    held: &BTreeMap<u32, Vec<usize>>,
    flying: &BTreeSet<u64>,
    source: &CsView,
    target: &CsView,
    fill_source: f64,
    fill_target: f64,
) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for &i in held.get(&source.id)? {
        let (id, chunk) = &input.chunks[i];
        if chunk.refs == 0
            || chunk.length == 0
            || flying.contains(id)
            || input.quiet.contains(id)
            || chunk.replicas.contains(&target.id)
            || input.pending_deletes.contains(&(target.id, *id))
        {
            continue;
        }
        let c = census(chunk, input.views);
        let want = wanted(chunk, input.default_replicas);
        if c.good != want || c.listed != want {
            continue;
        }
        let host_taken = chunk
            .replicas
            .iter()
            .any(|r| *r != source.id && input.views.get(r).is_some_and(|v| v.host == target.host));
        if host_taken {
            continue;
        }
        let bytes = (chunk.length + REPLICA_OVERHEAD) as f64;
        let after_source = fill_source - bytes / source.capacity as f64;
        let after_target = fill_target + bytes / target.capacity as f64;
        if after_source < after_target {
            continue;
        }
        if best.is_none_or(|(len, _)| chunk.length > len) {
            best = Some((chunk.length, i));
        }
    }
    best.map(|(_, i)| i)
}
