//! The balancer's tests, over the planner's test world.

use super::{chunk, view, World};
use std::collections::BTreeSet;

use crate::heal::balance::*;
use crate::in_flight::{CopyKind, CopyOrder};
use crate::schema::ChunkInfo;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// Three full chunk servers on hosts a..c and an empty one on d.
fn world(chunks: usize) -> World {
    let mut views = vec![view(1, "a"), view(2, "b"), view(3, "c"), view(4, "d")];
    for v in &mut views {
        v.capacity = GIB;
    }
    let list: Vec<(u64, ChunkInfo)> = (0..chunks as u64)
        .map(|i| {
            let mut c = chunk(&[1, 2, 3], 3);
            c.length = 4 * MIB;
            (i + 1, c)
        })
        .collect();
    World::new(&views, &list)
}

#[test]
fn an_empty_cs_receives_moves_from_the_fullest() {
    let w = world(64); // 256 MiB on each of cs 1..3: 25%, cs 4 at 0%
    let p = w.plan();
    assert!(p.balancing.contains(&0));
    let bound = MOVES_PER_CS.min(w.config.max_copies_per_cs);
    assert_eq!(p.copies.len(), bound, "a bounded number of moves at once");
    let chunks: BTreeSet<u64> = p.copies.iter().map(|m| m.chunk_id).collect();
    assert_eq!(chunks.len(), bound, "a chunk moves once at a time");
    assert!(p.copies.iter().all(|m| m.target == 4));
    let m = &p.copies[0];
    assert_eq!((m.target, m.kind), (4, CopyKind::Balance));
    assert_eq!(m.replaces, Some(m.sources[0]));
    assert!(m.rate > 0);
}

#[test]
fn balancing_stops_below_half_the_threshold_and_starts_above_it() {
    let mut w = world(64);
    // Simulate the moves landing until the balancer stops.
    let mut rounds = 0;
    loop {
        let p = w.plan();
        w.balancing = p.balancing.clone();
        if p.copies.is_empty() {
            break;
        }
        for m in p.copies {
            let c = &mut w
                .chunks
                .iter_mut()
                .find(|(id, _)| *id == m.chunk_id)
                .unwrap()
                .1;
            c.replicas.retain(|r| Some(*r) != m.replaces);
            c.replicas.push(m.target);
            // Distinct hosts, always.
            let hosts: BTreeSet<&str> = c
                .replicas
                .iter()
                .map(|r| w.views[r].host.as_str())
                .collect();
            assert_eq!(hosts.len(), c.replicas.len());
        }
        rounds += 1;
        assert!(rounds < 200, "the balancer converges");
    }
    let refs: Vec<&CopyOrder> = Vec::new();
    let used = map_fill(&w.chunks, &w.views, &refs);
    let fills: Vec<f64> = used.values().map(|u| *u as f64 / GIB as f64).collect();
    let spread = fills.iter().copied().fold(f64::MIN, f64::max)
        - fills.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread <= 0.025 + 1e-9, "spread {spread}");
    assert!(w.balancing.is_empty());
    // A small imbalance (under the threshold) does not restart it.
    let c = &mut w.chunks[0].1;
    c.replicas = vec![1, 2, 3];
    assert!(w.plan().copies.is_empty());
}

#[test]
fn moves_respect_hosts_and_tiers() {
    // cs 4 is empty but on host a, which every chunk already uses.
    let mut w = world(16);
    w.views.get_mut(&4).unwrap().host = "a".into();
    let p = w.plan();
    assert!(
        p.copies
            .iter()
            .all(|m| m.target != 4 || m.replaces == Some(1)),
        "{:?}",
        p.copies
    );
    // Another tier is never balanced against this one.
    let mut w = world(16);
    w.views.get_mut(&4).unwrap().tier = 1;
    assert!(w.plan().copies.is_empty());
}

#[test]
fn no_balancing_while_chunks_need_repair() {
    let mut w = world(16);
    w.chunks.push((100, chunk(&[1, 2], 3)));
    let p = w.plan();
    assert!(p.copies.iter().all(|m| m.kind != CopyKind::Balance));
}
