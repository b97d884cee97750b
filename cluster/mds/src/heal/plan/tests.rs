//! The planner's tests, over a small world of chunk servers and chunks.

use super::*;

pub(crate) fn view(id: u32, host: &str) -> CsView {
    CsView {
        id,
        host: host.into(),
        tier: 0,
        liveness: Liveness::Online,
        draining: false,
        capacity: 100 << 30,
        used: 0,
        free: 100 << 30,
        latency_ms: 0.0,
        reachable: true,
    }
}

pub(crate) fn chunk(replicas: &[u32], want: u32) -> ChunkInfo {
    ChunkInfo {
        version: 2,
        length: 4 << 20,
        replicas: replicas.to_vec(),
        refs: 1,
        owner: 1,
        want,
        tier: 0,
        released: false,
    }
}

pub(crate) fn config() -> HealConfig {
    HealConfig {
        default_replicas: 3,
        max_copies_per_cs: 2,
        balance_threshold: 0.05,
        balance_rate: 10 << 20,
    }
}

pub(crate) struct World {
    pub views: BTreeMap<u32, CsView>,
    pub chunks: Vec<(u64, ChunkInfo)>,
    pub in_flight: Vec<CopyOrder>,
    pub pending: BTreeSet<(u32, u64)>,
    pub quiet: BTreeSet<u64>,
    pub config: HealConfig,
    pub balancing: BTreeSet<u32>,
}

impl World {
    pub(crate) fn new(views: &[CsView], chunks: &[(u64, ChunkInfo)]) -> World {
        World {
            views: views.iter().map(|v| (v.id, v.clone())).collect(),
            chunks: chunks.to_vec(),
            in_flight: Vec::new(),
            pending: BTreeSet::new(),
            quiet: BTreeSet::new(),
            config: config(),
            balancing: BTreeSet::new(),
        }
    }

    pub(crate) fn plan(&self) -> Plan {
        plan(&Input {
            chunks: &self.chunks,
            views: &self.views,
            in_flight: &self.in_flight,
            pending_deletes: &self.pending,
            quiet: &self.quiet,
            config: &self.config,
            balancing: &self.balancing,
        })
    }
}

fn four() -> Vec<CsView> {
    vec![view(1, "a"), view(2, "b"), view(3, "c"), view(4, "d")]
}

#[test]
fn a_lost_replica_is_copied_to_a_free_host_then_trimmed() {
    let mut w = World::new(&four(), &[(10, chunk(&[1, 2, 3], 3))]);
    w.views.get_mut(&3).unwrap().liveness = Liveness::Offline;
    let p = w.plan();
    assert!(p.copies.is_empty(), "offline within the grace: wait");
    w.views.get_mut(&3).unwrap().liveness = Liveness::Lost;
    let p = w.plan();
    assert_eq!(p.copies.len(), 1);
    let c = &p.copies[0];
    assert_eq!((c.target, c.replaces, c.kind), (4, None, CopyKind::Repair));
    assert_eq!(c.sources, vec![1, 2]);
    assert!(p.trims.is_empty(), "nothing trimmed before the copy lands");
    // The copy landed: the lost replica goes.
    w.chunks[0].1.replicas.push(4);
    let p = w.plan();
    assert!(p.copies.is_empty());
    assert_eq!(
        p.trims,
        vec![Trim {
            chunk_id: 10,
            version: 2,
            cs_id: 3,
            why: "its chunk server is lost"
        }]
    );
}

#[test]
fn urgent_first_and_urgent_does_not_wait() {
    let mut w = World::new(
        &four(),
        &[(1, chunk(&[1, 2, 3], 3)), (2, chunk(&[1, 3, 4], 3))],
    );
    w.config.max_copies_per_cs = 1;
    w.views.get_mut(&3).unwrap().liveness = Liveness::Offline;
    w.views.get_mut(&4).unwrap().liveness = Liveness::Offline;
    // Chunk 2 has one live replica: copied at once, although its other
    // replicas are only offline; chunk 1 (two live, one waiting) waits.
    let p = w.plan();
    assert_eq!(p.copies.len(), 1);
    assert_eq!(p.copies[0].chunk_id, 2);
    assert_eq!(p.copies[0].target, 2);
    // Degraded chunks in id order once urgent ones are served.
    w.views.get_mut(&3).unwrap().liveness = Liveness::Lost;
    w.views.get_mut(&4).unwrap().liveness = Liveness::Online;
    w.chunks = vec![(5, chunk(&[1, 2, 3], 3)), (6, chunk(&[1, 3], 3))];
    let p = w.plan();
    assert_eq!(p.copies[0].chunk_id, 6, "fewest live replicas first");
}

#[test]
fn copies_respect_the_per_cs_bound() {
    let views = vec![view(1, "a"), view(2, "b"), view(3, "c")];
    let chunks: Vec<(u64, ChunkInfo)> = (1..=5).map(|i| (i, chunk(&[1, 2], 3))).collect();
    let mut w = World::new(&views, &chunks);
    w.config.max_copies_per_cs = 2;
    let p = w.plan();
    assert_eq!(p.copies.len(), 2, "cs 3 takes two copies at once");
    assert!(p.copies.iter().all(|c| c.target == 3));
    assert_eq!(p.repairs_needed, 5);
    assert!(p.blocked.is_empty(), "busy is not blocked");
    w.in_flight = p.copies.clone();
    let p = w.plan();
    assert!(p.copies.is_empty(), "slots full while those run");
}

#[test]
fn blocked_with_reasons_when_no_host_is_free() {
    let views = vec![view(1, "a"), view(2, "b"), view(3, "b")];
    let w = World::new(&views, &[(1, chunk(&[1, 2], 3))]);
    let p = w.plan();
    assert!(p.copies.is_empty());
    let why = &p.blocked[&1];
    assert!(
        why.contains("need 1 chunk servers on distinct hosts"),
        "{why}"
    );
    let w = World::new(&views, &[(1, chunk(&[9], 3))]);
    assert!(w.plan().blocked[&1].contains("no live replica"));
}

#[test]
fn a_copy_on_the_host_of_a_lost_replica_replaces_it() {
    // Three hosts; the CS of host c was wiped and came back as cs 4.
    let mut views = vec![view(1, "a"), view(2, "b"), view(3, "c"), view(4, "c")];
    views[2].liveness = Liveness::Lost;
    let w = World::new(&views, &[(1, chunk(&[1, 2, 3], 3))]);
    let p = w.plan();
    assert_eq!(p.copies.len(), 1);
    assert_eq!((p.copies[0].target, p.copies[0].replaces), (4, Some(3)));
}

#[test]
fn overcommitted_chunks_are_trimmed_to_the_wanted_count() {
    let mut views = four();
    views[3].used = 90 << 30; // cs 4 is the fullest
    let w = World::new(&views, &[(1, chunk(&[1, 2, 3, 4], 3))]);
    let p = w.plan();
    assert_eq!(p.trims.len(), 1);
    assert_eq!(p.trims[0].cs_id, 4, "the fullest goes");
    let w = World::new(&four(), &[(1, chunk(&[1, 2, 3, 4], 2))]);
    assert_eq!(w.plan().trims.len(), 2);
    // Offline replicas are not trimmed: they may come back.
    let mut w = World::new(&four(), &[(1, chunk(&[1, 2, 3, 4], 3))]);
    w.views.get_mut(&4).unwrap().liveness = Liveness::Offline;
    assert!(w.plan().trims.is_empty());
}

#[test]
fn drain_copies_first_then_trims_and_reports_done() {
    let mut w = World::new(&four(), &[(1, chunk(&[1, 2, 3], 3))]);
    w.views.get_mut(&3).unwrap().draining = true;
    let p = w.plan();
    assert_eq!(p.copies.len(), 1);
    assert_eq!(p.copies[0].target, 4);
    assert_eq!(p.copies[0].kind, CopyKind::Drain);
    assert!(
        p.trims.is_empty(),
        "the draining replica stays until the copy"
    );
    assert!(p.drained.is_empty());
    w.chunks[0].1.replicas.push(4);
    let p = w.plan();
    assert_eq!(p.trims.len(), 1);
    assert_eq!(p.trims[0].cs_id, 3);
    w.chunks[0].1.replicas.retain(|r| *r != 3);
    assert_eq!(w.plan().drained, vec![3]);
}

#[test]
fn pending_deletes_and_quiet_chunks_wait() {
    let views = vec![view(1, "a"), view(2, "b"), view(3, "c"), view(4, "d")];
    let mut w = World::new(&views, &[(7, chunk(&[1, 2], 3))]);
    w.pending.insert((3, 7));
    let p = w.plan();
    assert_eq!(p.copies[0].target, 4, "cs 3 still has a deletion queued");
    w.quiet.insert(7);
    assert!(w.plan().copies.is_empty());
}

#[test]
fn wrong_tier_replicas_move_to_the_wanted_tier() {
    let mut views = four();
    views.push(view(5, "e"));
    views[0].tier = 2; // cs 1 is slow
    let mut c = chunk(&[1, 2, 3], 3);
    c.tier = 0;
    let w = World::new(&views, &[(1, c)]);
    let p = w.plan();
    assert_eq!(p.copies.len(), 1);
    let m = &p.copies[0];
    assert_eq!(
        (m.kind, m.replaces, m.sources[0]),
        (CopyKind::Tier, Some(1), 1)
    );
    assert!(m.target == 4 || m.target == 5);
    assert!(m.rate > 0, "moves are rate-limited");
}

mod balance;
