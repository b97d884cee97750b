//! What the background work shares with the gRPC handlers, in memory only:
//! the copies in flight (ordered, handed out in heartbeat replies, reported
//! back with ReportCopy), the chunks writers touched recently, the
//! replication rate and the reasons of blocked chunks.
//!
//! Nothing here is part of the replicated state: a restarted MDS (or a new
//! raft leader) starts with no copy in flight; copies that finish anyway
//! are still accepted if the chunk needs them, trimmed otherwise.
//!
//! Invariant: at most one copy of a chunk is in flight at a time.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// Why a copy is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyKind {
    /// Fewer live replicas than wanted.
    Repair,
    /// A replica is on a draining chunk server.
    Drain,
    /// A replica is on the wrong storage tier.
    Tier,
    /// The balancer moves a replica from a fuller chunk server.
    Balance,
}

impl CopyKind {
    /// Moves keep the replica count: the copy replaces a replica.
    pub fn is_move(self) -> bool {
        matches!(self, CopyKind::Tier | CopyKind::Balance)
    }
}

/// A copy the healer decided on.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyOrder {
    pub chunk_id: u64,
    pub version: u64,
    pub length: u64,
    /// The chunk server that makes the copy (it pulls from a source).
    pub target: u32,
    /// Good replicas to read from, best first.
    pub sources: Vec<u32>,
    /// A replica the copy takes the place of, dropped when it joins.
    pub replaces: Option<u32>,
    pub kind: CopyKind,
    /// Bytes per second the target may pull at; 0: no limit.
    pub rate: u64,
}

/// Least time a copy is given before it is presumed lost: a restarting CS,
/// a slow start.
const COPY_TIMEOUT_BASE: Duration = Duration::from_secs(60);
/// Slowest copy rate expected of an unthrottled copy (bytes/s): a 64 MiB
/// chunk gets about a minute more.
const MIN_COPY_RATE: u64 = 1 << 20;
/// After a failed copy, the chunk waits this long before another attempt,
/// so that a broken source or target is not hammered every second.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Window over which the replication rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

struct InFlight {
    order: CopyOrder,
    ordered_at: Instant,
    deadline: Instant,
    delivered: bool,
}

#[derive(Default)]
struct Inner {
    copies: BTreeMap<u64, InFlight>,
    touched: HashMap<u64, Instant>,
    retry_after: HashMap<u64, Instant>,
    done: VecDeque<(Instant, u64)>,
    copied_bytes: u64,
    blocked: BTreeMap<u64, String>,
}

/// See the module documentation.
#[derive(Default)]
pub struct HealShared {
    inner: Mutex<Inner>,
}

/// A copy that finished, as the handler of ReportCopy sees it.
pub struct Finished {
    pub order: CopyOrder,
    pub ordered_at: Instant,
}

/// In-flight figures for `stat`.
#[derive(Clone, Debug, Default)]
pub struct FlightFigures {
    /// Chunk ids with a copy in flight.
    pub chunks: BTreeSet<u64>,
    pub copies: u64,
    pub moves: u64,
    /// Copies in flight towards / from each CS.
    pub copies_in: BTreeMap<u32, u64>,
    pub copies_out: BTreeMap<u32, u64>,
    pub bytes_per_sec: f64,
    pub copied_bytes: u64,
    pub blocked: BTreeMap<u64, String>,
}

impl HealShared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writers wrote to (or changed the replicas of) these chunks at `now`.
    pub fn touch(&self, chunk_ids: impl IntoIterator<Item = u64>, now: Instant) {
        let mut inner = self.lock();
        for id in chunk_ids {
            inner.touched.insert(id, now);
        }
    }

    /// Chunks touched within `quiet` of `now` (older entries are forgotten).
    pub fn recently_touched(&self, now: Instant, quiet: Duration) -> BTreeSet<u64> {
        let mut inner = self.lock();
        inner
            .touched
            .retain(|_, t| now.saturating_duration_since(*t) < quiet);
        inner.touched.keys().copied().collect()
    }

    /// Whether a writer touched the chunk after `since`.
    pub fn touched_after(&self, chunk_id: u64, since: Instant) -> bool {
        self.lock()
            .touched
            .get(&chunk_id)
            .is_some_and(|t| *t > since)
    }

    /// Chunks whose last copy failed too recently to try again.
    pub fn backing_off(&self, now: Instant) -> BTreeSet<u64> {
        let mut inner = self.lock();
        inner.retry_after.retain(|_, t| *t > now);
        inner.retry_after.keys().copied().collect()
    }

    /// Every copy in flight.
    pub fn in_flight(&self) -> Vec<CopyOrder> {
        self.lock()
            .copies
            .values()
            .map(|c| c.order.clone())
            .collect()
    }

    /// Records a new copy, to be handed to its target with its next
    /// heartbeat. A chunk with a copy in flight keeps that one.
    pub fn start(&self, order: CopyOrder, now: Instant) -> bool {
        let mut inner = self.lock();
        if inner.copies.contains_key(&order.chunk_id) {
            return false;
        }
        let mut budget = COPY_TIMEOUT_BASE + Duration::from_secs(order.length / MIN_COPY_RATE);
        if let Some(throttled) = (2 * order.length).checked_div(order.rate) {
            budget += Duration::from_secs(throttled);
        }
        inner.copies.insert(
            order.chunk_id,
            InFlight {
                order,
                ordered_at: now,
                deadline: now + budget,
                delivered: false,
            },
        );
        true
    }

    /// The copies not yet handed to chunk server `cs_id`, now handed.
    pub fn take_orders(&self, cs_id: u32) -> Vec<CopyOrder> {
        let mut inner = self.lock();
        inner
            .copies
            .values_mut()
            .filter(|c| c.order.target == cs_id && !c.delivered)
            .map(|c| {
                c.delivered = true;
                c.order.clone()
            })
            .collect()
    }

    /// Ends the copy of `chunk_id` by `cs_id`, if it is in flight.
    pub fn finish(&self, chunk_id: u64, cs_id: u32) -> Option<Finished> {
        let mut inner = self.lock();
        match inner.copies.get(&chunk_id) {
            Some(c) if c.order.target == cs_id => {}
            _ => return None,
        }
        inner.copies.remove(&chunk_id).map(|c| Finished {
            order: c.order,
            ordered_at: c.ordered_at,
        })
    }

    /// A copy of `bytes` joined its chunk at `now`.
    pub fn record_copied(&self, bytes: u64, now: Instant) {
        let mut inner = self.lock();
        inner.copied_bytes = inner.copied_bytes.saturating_add(bytes);
        inner.done.push_back((now, bytes));
        while inner
            .done
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            inner.done.pop_front();
        }
    }

    /// A copy of the chunk failed at `now`: wait before the next attempt.
    pub fn record_failure(&self, chunk_id: u64, now: Instant) {
        self.lock().retry_after.insert(chunk_id, now + RETRY_AFTER);
    }

    /// Forgets the copies past their deadline (their target died or lost
    /// the order) and returns them.
    pub fn expire(&self, now: Instant) -> Vec<CopyOrder> {
        let mut inner = self.lock();
        let late: Vec<u64> = inner
            .copies
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(late.len());
        for id in late {
            if let Some(c) = inner.copies.remove(&id) {
                inner.retry_after.insert(id, now + RETRY_AFTER);
                out.push(c.order);
            }
        }
        out
    }

    /// Forgets every copy towards or from a chunk server (it left).
    pub fn cancel_cs(&self, cs_id: u32) {
        self.lock()
            .copies
            .retain(|_, c| c.order.target != cs_id && c.order.replaces != Some(cs_id));
    }

    pub fn set_blocked(&self, blocked: BTreeMap<u64, String>) {
        self.lock().blocked = blocked;
    }

    /// Figures for `stat` at `now`.
    pub fn figures(&self, now: Instant) -> FlightFigures {
        let inner = self.lock();
        let mut f = FlightFigures {
            copied_bytes: inner.copied_bytes,
            blocked: inner.blocked.clone(),
            ..FlightFigures::default()
        };
        for (id, c) in &inner.copies {
            f.chunks.insert(*id);
            if c.order.kind.is_move() {
                f.moves += 1;
            } else {
                f.copies += 1;
            }
            *f.copies_in.entry(c.order.target).or_default() += 1;
            if let Some(src) = c.order.sources.first() {
                *f.copies_out.entry(*src).or_default() += 1;
            }
        }
        let recent: u64 = inner
            .done
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= RATE_WINDOW)
            .map(|(_, b)| *b)
            .sum();
        f.bytes_per_sec = recent as f64 / RATE_WINDOW.as_secs_f64();
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(chunk_id: u64, target: u32) -> CopyOrder {
        CopyOrder {
            chunk_id,
            version: 1,
            length: 1 << 20,
            target,
            sources: vec![1],
            replaces: None,
            kind: CopyKind::Repair,
            rate: 0,
        }
    }

    #[test]
    fn one_copy_per_chunk_handed_out_once() {
        let s = HealShared::default();
        let t0 = Instant::now();
        assert!(s.start(order(7, 2), t0));
        assert!(!s.start(order(7, 3), t0), "one copy of a chunk at a time");
        assert!(s.take_orders(3).is_empty());
        assert_eq!(s.take_orders(2).len(), 1);
        assert!(s.take_orders(2).is_empty(), "handed out once");
        assert!(s.finish(7, 3).is_none(), "not that target's copy");
        let done = s.finish(7, 2).expect("in flight");
        assert_eq!(done.order.chunk_id, 7);
        assert!(s.in_flight().is_empty());
    }

    #[test]
    fn late_copies_expire_and_back_off() {
        let s = HealShared::default();
        let t0 = Instant::now();
        s.start(order(1, 2), t0);
        assert!(s.expire(t0 + Duration::from_secs(10)).is_empty());
        let late = s.expire(t0 + Duration::from_secs(3600));
        assert_eq!(late.len(), 1);
        assert!(s.backing_off(t0 + Duration::from_secs(3600)).contains(&1));
        assert!(s
            .backing_off(t0 + Duration::from_secs(3600) + RETRY_AFTER + Duration::from_secs(1))
            .is_empty());
    }

    #[test]
    fn touches_and_rate() {
        let s = HealShared::default();
        let t0 = Instant::now();
        s.touch([5, 6], t0);
        assert!(s.touched_after(5, t0 - Duration::from_secs(1)));
        assert!(!s.touched_after(5, t0));
        assert_eq!(
            s.recently_touched(t0 + Duration::from_secs(1), Duration::from_secs(5)),
            BTreeSet::from([5, 6])
        );
        assert!(s
            .recently_touched(t0 + Duration::from_secs(6), Duration::from_secs(5))
            .is_empty());
        s.record_copied(10 << 20, t0);
        let f = s.figures(t0);
        assert_eq!(f.copied_bytes, 10 << 20);
        assert!((f.bytes_per_sec - (1 << 20) as f64).abs() < 1.0);
    }
}
