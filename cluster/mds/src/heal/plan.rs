//! The healer's decisions, as a pure function of one snapshot: the chunk
//! map, the chunk servers as [`CsView`]s, the copies in flight. Nothing
//! here reads a clock or does I/O, so every rule is unit-tested.
//!
//! Rules:
//! 1. Re-replication: a committed chunk whose good replicas (online, not
//!    draining) plus waiting ones (offline, not yet lost) are fewer than
//!    wanted gets one copy; a chunk down to one live replica (urgent) does
//!    not wait for offline ones. Chunks are served fewest live replicas
//!    first (urgent before degraded), then by id.
//! 2. A copy goes CS to CS: the target is chosen by placement (online, not
//!    draining, room, wanted tier, lowest cost) on a host no counted replica
//!    uses; a lost or draining replica on the target's host is replaced by
//!    the copy in the same command, so hosts stay distinct. The sources are
//!    the live replicas, least busy first.
//! 3. At most `max_copies_per_cs` copies run at once towards, and from,
//!    each chunk server; what does not fit waits for the next pass. A chunk
//!    that no placement can restore is blocked, with placement's reasons.
//! 4. Trimming: once a chunk has its wanted number of good replicas, its
//!    replicas on lost and draining chunk servers are dropped from the map,
//!    then good ones beyond the wanted count (wrong tier first, then the
//!    fullest). Never a replica that is needed: no chunk goes below its
//!    wanted count, and the last replica is never trimmed.
//! 5. Tier: a healthy chunk with a replica on another tier than it wants is
//!    moved (copy, then the wrong-tier replica dropped) when a CS of the
//!    wanted tier has room on a free host.
//! 6. Chunks that writers touched recently, or whose last copy failed
//!    moments ago, are left for a later pass (`quiet`).
//! 7. A draining CS that no committed chunk lists any more is done.

use std::collections::{BTreeMap, BTreeSet};

use crate::health::{census, wanted, Census, CsView, Liveness};
use crate::placement::{self, Candidate};
use crate::schema::ChunkInfo;

use super::balance::{move_rate, MOVES_PER_CS, REPLICA_OVERHEAD};
use crate::in_flight::{CopyKind, CopyOrder};

/// Most trims one pass submits: each is a command, and a pass should not
/// hold the committer for long; the rest come a second later.
const MAX_TRIMS_PER_PASS: usize = 1024;
/// Tunables of the healer.
#[derive(Clone, Debug)]
pub struct HealConfig {
    /// Replica count of chunks that have none recorded.
    pub default_replicas: u32,
    /// Copies at once towards, and from, one chunk server.
    pub max_copies_per_cs: usize,
    /// The balancer starts when the fill of two chunk servers of a tier
    /// differs by more than this (0..1), and stops below half of it.
    pub balance_threshold: f64,
    /// Bytes per second the balancing or tier moves towards (and from) one
    /// chunk server may copy at, together.
    pub balance_rate: u64,
}

/// One snapshot of what the healer decides on.
pub struct Input<'a> {
    pub chunks: &'a [(u64, ChunkInfo)],
    pub views: &'a BTreeMap<u32, CsView>,
    pub in_flight: &'a [CopyOrder],
    /// (cs, chunk) deletions still queued: that CS must not get the chunk.
    pub pending_deletes: &'a BTreeSet<(u32, u64)>,
    /// Chunks not to copy in this pass.
    pub quiet: &'a BTreeSet<u64>,
    pub config: &'a HealConfig,
    /// Tiers whose balancer is running.
    pub balancing: &'a BTreeSet<u32>,
}

/// A replica to drop from the chunk map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trim {
    pub chunk_id: u64,
    pub version: u64,
    pub cs_id: u32,
    pub why: &'static str,
}

/// What one pass decided.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub copies: Vec<CopyOrder>,
    pub trims: Vec<Trim>,
    /// Chunks no placement can restore, with why.
    pub blocked: BTreeMap<u64, String>,
    /// Draining chunk servers that no committed chunk lists any more.
    pub drained: Vec<u32>,
    /// Chunks that need a copy (placed now or waiting for a slot).
    pub repairs_needed: usize,
    /// Tiers whose balancer runs after this pass.
    pub balancing: BTreeSet<u32>,
}

/// Copies at once per chunk server, counted from those in flight.
struct Slots {
    max: usize,
    inbound: BTreeMap<u32, usize>,
    outbound: BTreeMap<u32, usize>,
    moves_in: BTreeMap<u32, usize>,
    moves_out: BTreeMap<u32, usize>,
}

impl Slots {
    fn new(max: usize, in_flight: &[CopyOrder]) -> Slots {
        let mut s = Slots {
            max: max.max(1),
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            moves_in: BTreeMap::new(),
            moves_out: BTreeMap::new(),
        };
        for o in in_flight {
            s.take(o);
        }
        s
    }

    fn take(&mut self, o: &CopyOrder) {
        *self.inbound.entry(o.target).or_default() += 1;
        if let Some(src) = o.sources.first() {
            *self.outbound.entry(*src).or_default() += 1;
        }
        if o.kind.is_move() {
            *self.moves_in.entry(o.target).or_default() += 1;
            if let Some(r) = o.replaces {
                *self.moves_out.entry(r).or_default() += 1;
            }
        }
    }

    fn in_free(&self, cs: u32) -> bool {
        self.inbound.get(&cs).copied().unwrap_or(0) < self.max
    }

    fn out_free(&self, cs: u32) -> bool {
        self.outbound.get(&cs).copied().unwrap_or(0) < self.max
    }

    fn move_in_free(&self, cs: u32) -> bool {
        self.in_free(cs) && self.moves_in.get(&cs).copied().unwrap_or(0) < MOVES_PER_CS
    }

    fn move_out_free(&self, cs: u32) -> bool {
        self.moves_out.get(&cs).copied().unwrap_or(0) < MOVES_PER_CS
    }
}

/// Decides one pass. See the module rules.
pub fn plan(input: &Input) -> Plan {
    let mut out = Plan::default();
    let mut slots = Slots::new(input.config.max_copies_per_cs, input.in_flight);
    let flying: BTreeSet<u64> = input.in_flight.iter().map(|o| o.chunk_id).collect();
    let candidates: Vec<Candidate> = input.views.values().map(CsView::candidate).collect();

    // Draining CS that committed chunks still list.
    let mut drain_busy: BTreeSet<u32> = BTreeSet::new();
    let mut repairs: Vec<(usize, usize)> = Vec::new();
    let mut healthy_misplaced: Vec<usize> = Vec::new();
    for (i, (id, chunk)) in input.chunks.iter().enumerate() {
        if chunk.refs == 0 {
            continue;
        }
        for r in &chunk.replicas {
            if input.views.get(r).is_some_and(|v| v.draining) {
                drain_busy.insert(*r);
            }
        }
        let c = census(chunk, input.views);
        let want = wanted(chunk, input.config.default_replicas);
        if needs_copy(&c, want) {
            out.repairs_needed += 1;
            if !flying.contains(id) && !input.quiet.contains(id) {
                repairs.push((c.live, i));
            }
            continue;
        }
        if flying.contains(id) {
            continue;
        }
        if out.trims.len() < MAX_TRIMS_PER_PASS {
            trims(*id, chunk, &c, want, input, &mut out.trims);
        }
        let settled = c.good == want && c.listed == want;
        if settled && !input.quiet.contains(id) && has_wrong_tier(chunk, input.views) {
            healthy_misplaced.push(i);
        }
    }
    out.drained = input
        .views
        .values()
        .filter(|v| v.draining && !drain_busy.contains(&v.id))
        .map(|v| v.id)
        .collect();

    // Fewest live replicas first, then by chunk id.
    repairs.sort_by_key(|&(live, i)| (live, input.chunks[i].0));
    for (_, i) in repairs {
        let (id, chunk) = &input.chunks[i];
        match repair(*id, chunk, input, &candidates, &slots) {
            Ok(Some(order)) => {
                slots.take(&order);
                out.copies.push(order);
            }
            Ok(None) => {}
            Err(why) => {
                out.blocked.insert(*id, why);
            }
        }
    }

    for i in healthy_misplaced {
        let (id, chunk) = &input.chunks[i];
        if let Some(order) = tier_move(*id, chunk, input, &candidates, &slots) {
            slots.take(&order);
            out.copies.push(order);
        }
    }

    // Balancing waits until nothing needs re-replication.
    let placeable_repairs = out.repairs_needed.saturating_sub(out.blocked.len());
    if placeable_repairs == 0 {
        let moves = super::balance::plan_moves(&super::balance::BalanceInput {
            chunks: input.chunks,
            views: input.views,
            in_flight: input.in_flight,
            planned: &out.copies,
            pending_deletes: input.pending_deletes,
            quiet: input.quiet,
            threshold: input.config.balance_threshold,
            rate: input.config.balance_rate,
            default_replicas: input.config.default_replicas,
            active: input.balancing,
        });
        out.balancing = moves.active;
        for order in moves.orders {
            if slots.move_in_free(order.target)
                && order.replaces.is_none_or(|r| slots.move_out_free(r))
            {
                slots.take(&order);
                out.copies.push(order);
            }
        }
    } else {
        out.balancing = input.balancing.clone();
    }
    out
}

/// Whether a chunk lacks copies now: its good and waiting replicas are
/// fewer than wanted, or it is down to one live replica and wants more.
fn needs_copy(c: &Census, want: usize) -> bool {
    let urgent = c.live <= 1 && want > 1;
    let counted = if urgent { c.good } else { c.good + c.waiting };
    counted < want
}

fn has_wrong_tier(chunk: &ChunkInfo, views: &BTreeMap<u32, CsView>) -> bool {
    chunk
        .replicas
        .iter()
        .any(|r| views.get(r).is_some_and(|v| v.tier != chunk.tier))
}

fn fill(v: &CsView) -> f64 {
    if v.capacity == 0 {
        1.0
    } else {
        v.used as f64 / v.capacity as f64
    }
}

/// Replicas to trim from a chunk that has its wanted good count.
fn trims(
    id: u64,
    chunk: &ChunkInfo,
    c: &Census,
    want: usize,
    input: &Input,
    trims: &mut Vec<Trim>,
) {
    if c.good < want {
        return;
    }
    let mut push = |cs_id: u32, why: &'static str| {
        trims.push(Trim {
            chunk_id: id,
            version: chunk.version,
            cs_id,
            why,
        })
    };
    let mut good: Vec<&CsView> = Vec::new();
    for r in &chunk.replicas {
        match input.views.get(r) {
            None => push(*r, "its chunk server is gone"),
            Some(v) if v.liveness == Liveness::Lost => push(*r, "its chunk server is lost"),
            Some(v) if v.liveness == Liveness::Online && v.draining => {
                push(*r, "its chunk server is draining")
            }
            Some(v) if v.liveness == Liveness::Online => good.push(v),
            Some(_) => {}
        }
    }
    if good.len() > want {
        // Wrong tier first, then the fullest, then the highest id.
        good.sort_by(|a, b| {
            (b.tier != chunk.tier)
                .cmp(&(a.tier != chunk.tier))
                .then(fill(b).total_cmp(&fill(a)))
                .then(b.id.cmp(&a.id))
        });
        for v in &good[..good.len() - want] {
            push(v.id, "over the wanted replica count");
        }
    }
}

/// The replicas whose hosts a new copy must avoid: those that count (good
/// or waiting). Lost and draining replicas do not: a copy on their host
/// replaces them.
fn counted_hosts<'v>(chunk: &ChunkInfo, views: &'v BTreeMap<u32, CsView>) -> BTreeSet<&'v str> {
    chunk
        .replicas
        .iter()
        .filter_map(|r| views.get(r))
        .filter(|v| v.liveness != Liveness::Lost && !(v.liveness == Liveness::Online && v.draining))
        .map(|v| v.host.as_str())
        .collect()
}

/// The replica a copy on `target` replaces: a lost or draining one on the
/// same host (or one whose CS is gone, if the target's host had it).
fn replaced_on_host(chunk: &ChunkInfo, views: &BTreeMap<u32, CsView>, target: u32) -> Option<u32> {
    let host = &views.get(&target)?.host;
    chunk.replicas.iter().copied().find(|r| {
        views
            .get(r)
            .is_some_and(|v| &v.host == host && (v.liveness == Liveness::Lost || v.draining))
    })
}

/// Live replicas to copy from, least busy and cheapest first.
fn sources(chunk: &ChunkInfo, views: &BTreeMap<u32, CsView>, slots: &Slots) -> Vec<u32> {
    let mut live: Vec<&CsView> = chunk
        .replicas
        .iter()
        .filter_map(|r| views.get(r))
        .filter(|v| v.liveness == Liveness::Online && v.reachable)
        .collect();
    live.sort_by(|a, b| {
        slots
            .outbound
            .get(&a.id)
            .copied()
            .unwrap_or(0)
            .cmp(&slots.outbound.get(&b.id).copied().unwrap_or(0))
            .then(a.cost().total_cmp(&b.cost()))
            .then(a.id.cmp(&b.id))
    });
    live.into_iter().map(|v| v.id).collect()
}

/// Chunk servers a copy of `chunk_id` must not go to: its replicas, every
/// CS on a host that counts, those with a deletion of it still queued.
fn excluded(
    chunk_id: u64,
    chunk: &ChunkInfo,
    avoid_hosts: &BTreeSet<&str>,
    input: &Input,
) -> Vec<u32> {
    let mut ex: BTreeSet<u32> = chunk.replicas.iter().copied().collect();
    for v in input.views.values() {
        if avoid_hosts.contains(v.host.as_str())
            || input.pending_deletes.contains(&(v.id, chunk_id))
        {
            ex.insert(v.id);
        }
    }
    ex.into_iter().collect()
}

/// Placement of one more replica of `chunk`, avoiding `exclude`.
fn one_copy<'a>(chunk: &ChunkInfo, exclude: &'a [u32]) -> placement::Request<'a> {
    placement::Request {
        exclude,
        ..placement::Request::exact(1, chunk.tier, chunk.length + REPLICA_OVERHEAD)
    }
}

/// One re-replication copy of a chunk: `Ok(None)` when every usable CS is
/// busy (next pass), `Err` with placement's reasons when none can take it.
fn repair(
    id: u64,
    chunk: &ChunkInfo,
    input: &Input,
    candidates: &[Candidate],
    slots: &Slots,
) -> Result<Option<CopyOrder>, String> {
    let srcs = sources(chunk, input.views, slots);
    if srcs.is_empty() {
        let holders: Vec<String> = chunk.replicas.iter().map(|r| format!("cs {r}")).collect();
        return Err(format!(
            "no live replica to copy from (held by {}): waiting for one to return",
            if holders.is_empty() {
                "nobody".to_string()
            } else {
                holders.join(", ")
            }
        ));
    }
    if !slots.out_free(srcs[0]) {
        return Ok(None);
    }
    let avoid = counted_hosts(chunk, input.views);
    let mut exclude = excluded(id, chunk, &avoid, input);
    let first =
        placement::place(candidates, &one_copy(chunk, &exclude)).map_err(|e| e.to_string())?;
    let mut target = first.chain[0];
    if !slots.in_free(target) {
        // Somewhere else that has a free slot, or wait.
        exclude.extend(input.views.keys().copied().filter(|cs| !slots.in_free(*cs)));
        match placement::place(candidates, &one_copy(chunk, &exclude)) {
            Ok(p) => target = p.chain[0],
            Err(_) => return Ok(None),
        }
    }
    let c = census(chunk, input.views);
    let want = wanted(chunk, input.config.default_replicas);
    let kind = if c.live >= want {
        CopyKind::Drain
    } else {
        CopyKind::Repair
    };
    Ok(Some(CopyOrder {
        chunk_id: id,
        version: chunk.version,
        length: chunk.length,
        target,
        sources: srcs,
        replaces: replaced_on_host(chunk, input.views, target),
        kind,
        rate: 0,
    }))
}

/// A move of a replica on the wrong tier to a CS of the wanted tier.
fn tier_move(
    id: u64,
    chunk: &ChunkInfo,
    input: &Input,
    candidates: &[Candidate],
    slots: &Slots,
) -> Option<CopyOrder> {
    let wrong = chunk
        .replicas
        .iter()
        .copied()
        .find(|r| input.views.get(r).is_some_and(|v| v.tier != chunk.tier))?;
    if !slots.move_out_free(wrong) {
        return None;
    }
    let others: BTreeSet<&str> = chunk
        .replicas
        .iter()
        .filter(|r| **r != wrong)
        .filter_map(|r| input.views.get(r))
        .map(|v| v.host.as_str())
        .collect();
    let mut exclude = excluded(id, chunk, &others, input);
    exclude.extend(
        input
            .views
            .values()
            .filter(|v| v.tier != chunk.tier || !slots.move_in_free(v.id))
            .map(|v| v.id),
    );
    let p = placement::place(
        candidates,
        &placement::Request {
            exclude: &exclude,
            ..placement::Request::exact(1, chunk.tier, chunk.length + REPLICA_OVERHEAD)
        },
    )
    .ok()?;
    let target = p.chain[0];
    let mut srcs = sources(chunk, input.views, slots);
    // Read from the replica that leaves when it can: it spares the others.
    if let Some(pos) = srcs.iter().position(|s| *s == wrong) {
        srcs.remove(pos);
        srcs.insert(0, wrong);
    }
    if srcs.is_empty() {
        return None;
    }
    Some(CopyOrder {
        chunk_id: id,
        version: chunk.version,
        length: chunk.length,
        target,
        sources: srcs,
        replaces: Some(wrong),
        kind: CopyKind::Tier,
        rate: move_rate(input.config.balance_rate),
    })
}

#[cfg(test)]
pub(crate) mod tests;
