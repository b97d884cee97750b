//! Replica placement: a pure function from a table of chunk servers and a
//! request to a replica chain, with the reasons for every choice, so that it
//! can be unit-tested and explained to an operator.
//!
//! Rules, in order:
//! 1. A CS is eligible only if it is online, not draining, not excluded, and
//!    has room for a full chunk (`min(capacity - used, free) >= room_needed`).
//! 2. Never two replicas on one host (the failure domain).
//! 3. Among eligible CS, those of the wanted tier come first; then the lowest
//!    [`cost`]; ties go to the lowest CS id. Other tiers are used only when
//!    the wanted tier lacks distinct hosts. A CS the client could not reach
//!    lately (`avoid`) comes after all others, and is used only when the
//!    others do not reach the minimum.
//! 4. The chain is in that order, except that a chosen CS on the preferred
//!    (client's) host goes first: the first hop is then local.
//! 5. `replicas` (normal) distinct hosts when that many can take the chunk;
//!    else as many as can, down to `min_replicas`: the chain is then short
//!    and [`Placement::short`] says why (the chunk is born degraded, and the
//!    healer restores the normal count when a host is available).
//! 6. Fewer distinct eligible hosts than the minimum is an error naming
//!    every CS and why it was not used, and whether space is the cause —
//!    never a doubled-up placement.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// A chunk server as placement sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub host: String,
    pub tier: u32,
    /// Bytes it may use; 0 when unknown (no heartbeat yet).
    pub capacity: u64,
    /// Bytes its replicas use.
    pub used: u64,
    /// Bytes free on its disk.
    pub free: u64,
    pub online: bool,
    pub draining: bool,
    /// Its measured I/O latency (write and sync, moving average); 0 when
    /// unknown.
    pub latency_ms: f64,
}

/// What to place.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The normal count: how many distinct hosts the chain should have.
    pub replicas: usize,
    /// The fewest the chain may have when hosts are missing (at most
    /// `replicas`; 0 counts as `replicas`).
    pub min_replicas: usize,
    pub tier: u32,
    /// Host of the writing client, whose CS (if chosen) leads the chain.
    pub preferred_host: Option<&'a str>,
    /// CS that must not be used (already hold the chunk, failed just now).
    pub exclude: &'a [u32],
    /// CS the client could not reach lately: used last, and only to reach
    /// the minimum.
    pub avoid: &'a [u32],
    /// Room a CS needs: a chunk may grow to the cluster's chunk size.
    pub room_needed: u64,
}

impl Request<'_> {
    /// Exactly `replicas` CS of `tier` with `room_needed` bytes of room,
    /// from anywhere: the healer's request.
    pub fn exact(replicas: usize, tier: u32, room_needed: u64) -> Request<'static> {
        Request {
            replicas,
            min_replicas: replicas,
            tier,
            preferred_host: None,
            exclude: &[],
            avoid: &[],
            room_needed,
        }
    }

    fn minimum(&self) -> usize {
        match self.min_replicas {
            0 => self.replicas,
            m => m.min(self.replicas),
        }
    }
}

/// The chosen chain and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// CS ids in chain order.
    pub chain: Vec<u32>,
    /// One line per CS considered, plus the chain order decision.
    pub reasons: Vec<String>,
    /// Set when the chain has fewer than the normal count: why, for the
    /// operator (the chunk is born degraded).
    pub short: Option<String>,
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum PlacementError {
    #[error("a chunk needs at least one replica")]
    NoReplicas,
    #[error(
        "need {need} chunk servers on distinct hosts, {available} available: {}",
        reasons.join("; ")
    )]
    NotEnoughHosts {
        /// The minimum asked for.
        need: usize,
        available: usize,
        /// Chunk servers skipped only for lack of room would have made the
        /// minimum: space is the cause, not missing hosts.
        full: bool,
        reasons: Vec<String>,
    },
}

impl PlacementError {
    /// Whether lack of space (rather than missing hosts) refused it.
    pub fn is_full(&self) -> bool {
        matches!(self, PlacementError::NotEnoughHosts { full: true, .. })
    }
}

/// How full a CS is, from 0 to 1 (1 when its capacity is unknown).
pub fn fill(c: &Candidate) -> f64 {
    if c.capacity == 0 {
        return 1.0;
    }
    (c.used as f64 / c.capacity as f64).clamp(0.0, 1.0)
}

/// Latency at which a CS's cost doubles: a disk answering in 100 ms is
/// saturated (a spinning disk under load); an SSD's millisecond barely
/// counts.
pub const LATENCY_SCALE_MS: f64 = 100.0;

/// Cost of placing a replica on a CS:
///
/// `cost = (1 + tier) × (1 + fill) × (1 + min(latency / 100 ms, 1))`
///
/// The tier is the storage class (0 fastest: SSD < SAS < SATA as tiers rise),
/// so each slower class weighs one unit more; fill (0..1) scales it by up to
/// two, so an empty CS costs half of a full one of the same class; measured
/// latency scales it by up to two more, so a struggling disk gets fewer new
/// chunks. Placement picks the lowest cost, which steers new chunks to fast,
/// empty disks and lets a new CS fill up to the level of the others.
pub fn cost(c: &Candidate) -> f64 {
    let latency = if c.latency_ms.is_finite() {
        (c.latency_ms / LATENCY_SCALE_MS).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (1.0 + f64::from(c.tier)) * (1.0 + fill(c)) * (1.0 + latency)
}

fn room(c: &Candidate) -> u64 {
    c.capacity.saturating_sub(c.used).min(c.free)
}

fn label(c: &Candidate) -> String {
    format!("cs {} (host {}, tier {})", c.id, c.host, c.tier)
}

/// Chooses up to `request.replicas` CS on distinct hosts, at least
/// `request.min_replicas`. See the module rules.
pub fn place(candidates: &[Candidate], request: &Request) -> Result<Placement, PlacementError> {
    if request.replicas == 0 {
        return Err(PlacementError::NoReplicas);
    }
    let minimum = request.minimum();
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by_key(|c| c.id);

    // Reasons keyed by CS id, so they read in id order whatever the decision
    // order was.
    let mut reasons: BTreeMap<u32, String> = BTreeMap::new();
    let mut eligible: Vec<&Candidate> = Vec::new();
    // Hosts of CS that were usable but for their room.
    let mut full_hosts: BTreeSet<&str> = BTreeSet::new();
    for c in sorted {
        let why_not = if request.exclude.contains(&c.id) {
            Some("excluded".to_string())
        } else if !c.online {
            Some("offline".to_string())
        } else if c.draining {
            Some("draining".to_string())
        } else if room(c) < request.room_needed {
            full_hosts.insert(c.host.as_str());
            Some(format!(
                "full ({} bytes of room, {} needed)",
                room(c),
                request.room_needed
            ))
        } else {
            None
        };
        match why_not {
            Some(why) => {
                reasons.insert(c.id, format!("{}: skipped, {why}", label(c)));
            }
            None => eligible.push(c),
        }
    }

    let avoided = |c: &Candidate| request.avoid.contains(&c.id);
    eligible.sort_by(|a, b| {
        avoided(a)
            .cmp(&avoided(b))
            .then((a.tier != request.tier).cmp(&(b.tier != request.tier)))
            .then(cost(a).total_cmp(&cost(b)))
            .then(a.id.cmp(&b.id))
    });

    let mut chosen: Vec<&Candidate> = Vec::new();
    let mut host_holder: BTreeMap<&str, u32> = BTreeMap::new();
    for c in eligible {
        let detail = format!("{:.0}% full, cost {:.2}", fill(c) * 100.0, cost(c));
        if let Some(holder) = host_holder.get(c.host.as_str()) {
            reasons.insert(
                c.id,
                format!(
                    "{}: skipped, host {} already has cs {holder} ({detail})",
                    label(c),
                    c.host
                ),
            );
            continue;
        }
        if chosen.len() == request.replicas {
            reasons.insert(
                c.id,
                format!("{}: not needed, costlier ({detail})", label(c)),
            );
            continue;
        }
        if avoided(c) && chosen.len() >= minimum {
            reasons.insert(
                c.id,
                format!(
                    "{}: skipped, the client could not reach it lately ({detail})",
                    label(c)
                ),
            );
            continue;
        }
        let mut notes = String::new();
        if c.tier != request.tier {
            notes.push_str(&format!(
                ", tier {} wanted but it lacks hosts",
                request.tier
            ));
        }
        if avoided(c) {
            notes.push_str(", though the client could not reach it lately");
        }
        reasons.insert(c.id, format!("{}: chosen ({detail}{notes})", label(c)));
        host_holder.insert(c.host.as_str(), c.id);
        chosen.push(c);
    }

    let not_chosen: Vec<String> = reasons
        .iter()
        .filter(|(id, _)| !host_holder.values().any(|h| h == *id))
        .map(|(_, r)| r.clone())
        .collect();
    let mut reasons: Vec<String> = reasons.into_values().collect();
    if chosen.len() < minimum {
        let spare_full = full_hosts
            .iter()
            .filter(|h| !host_holder.contains_key(*h))
            .count();
        return Err(PlacementError::NotEnoughHosts {
            need: minimum,
            available: chosen.len(),
            full: !full_hosts.is_empty() && chosen.len() + spare_full >= minimum,
            reasons,
        });
    }
    let short = (chosen.len() < request.replicas).then(|| {
        format!(
            "{} of {} replicas placed: {}",
            chosen.len(),
            request.replicas,
            not_chosen.join("; ")
        )
    });

    if let Some(host) = request.preferred_host {
        if let Some(pos) = chosen.iter().position(|c| c.host == host) {
            if pos > 0 {
                let local = chosen.remove(pos);
                chosen.insert(0, local);
            }
            reasons.push(format!(
                "cs {} leads the chain: it is on the client's host {host}",
                chosen[0].id
            ));
        }
    }
    Ok(Placement {
        chain: chosen.iter().map(|c| c.id).collect(),
        reasons,
        short,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const CHUNK: u64 = 64 << 20;

    fn cs(id: u32, host: &str, tier: u32, used: u64) -> Candidate {
        Candidate {
            id,
            host: host.to_string(),
            tier,
            capacity: 100 * GIB,
            used,
            free: 100 * GIB - used,
            online: true,
            draining: false,
            latency_ms: 0.0,
        }
    }

    fn req(replicas: usize) -> Request<'static> {
        Request::exact(replicas, 0, CHUNK)
    }

    #[test]
    fn replicas_go_to_distinct_hosts() {
        let table = vec![
            cs(1, "a", 0, 0),
            cs(2, "a", 0, 0),
            cs(3, "b", 0, 0),
            cs(4, "b", 0, 0),
            cs(5, "c", 0, 0),
        ];
        let p = place(&table, &req(3)).unwrap();
        assert_eq!(p.chain, vec![1, 3, 5]);
        let hosts: Vec<&str> = p
            .chain
            .iter()
            .map(|id| table.iter().find(|c| c.id == *id).unwrap().host.as_str())
            .collect();
        assert_eq!(hosts, vec!["a", "b", "c"]);
        assert!(p
            .reasons
            .iter()
            .any(|r| r.starts_with("cs 2") && r.contains("host a already has cs 1")));
    }

    #[test]
    fn too_few_hosts_is_an_error_never_a_double_up() {
        let table = vec![cs(1, "a", 0, 0), cs(2, "a", 0, 0), cs(3, "b", 0, 0)];
        let err = place(&table, &req(3)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("need 3 chunk servers on distinct hosts, 2 available: "),
            "{text}"
        );
        assert!(
            text.contains("cs 2 (host a, tier 0): skipped, host a already has cs 1"),
            "{text}"
        );
        assert!(matches!(
            err,
            PlacementError::NotEnoughHosts {
                need: 3,
                available: 2,
                ..
            }
        ));
    }

    #[test]
    fn lowest_cost_wins_and_ties_go_to_the_lowest_id() {
        // Same tier: the emptier CS is cheaper.
        let table = vec![
            cs(1, "a", 0, 60 * GIB),
            cs(2, "b", 0, 10 * GIB),
            cs(3, "c", 0, 10 * GIB),
        ];
        let p = place(&table, &req(2)).unwrap();
        assert_eq!(
            p.chain,
            vec![2, 3],
            "cs 2 and 3 tie on cost; cs 1 is fuller"
        );
        assert!(p
            .reasons
            .iter()
            .any(|r| r.starts_with("cs 1") && r.contains("not needed")));
        // Order of the input does not matter.
        let mut reversed = table.clone();
        reversed.reverse();
        assert_eq!(place(&reversed, &req(2)).unwrap().chain, vec![2, 3]);
    }

    #[test]
    fn cost_formula() {
        let empty_fast = cs(1, "a", 0, 0);
        let full_fast = Candidate {
            used: 100 * GIB,
            ..cs(2, "a", 0, 0)
        };
        let empty_slow = cs(3, "a", 2, 0);
        assert_eq!(cost(&empty_fast), 1.0);
        assert_eq!(cost(&full_fast), 2.0);
        assert_eq!(cost(&empty_slow), 3.0);
        let half = cs(4, "a", 1, 50 * GIB);
        assert!((cost(&half) - 3.0).abs() < 1e-9);
        // Latency doubles the cost at 100 ms, and no more.
        let slow = Candidate {
            latency_ms: 50.0,
            ..cs(5, "a", 0, 0)
        };
        assert!((cost(&slow) - 1.5).abs() < 1e-9);
        let stuck = Candidate {
            latency_ms: 5000.0,
            ..cs(6, "a", 0, 0)
        };
        assert_eq!(cost(&stuck), 2.0);
    }

    #[test]
    fn wanted_tier_first_other_tiers_only_when_short() {
        let table = vec![
            cs(1, "a", 1, 0),
            cs(2, "b", 1, 0),
            cs(3, "c", 1, 0),
            cs(4, "d", 0, 90 * GIB),
            cs(5, "e", 0, 90 * GIB),
        ];
        // Tier 1 wanted and three hosts have it.
        let p = place(&table, &Request { tier: 1, ..req(3) }).unwrap();
        assert_eq!(p.chain, vec![1, 2, 3]);
        // Tier 0 wanted: two tier-0 hosts, the third replica falls back.
        let p = place(&table, &req(3)).unwrap();
        assert_eq!(&p.chain[..2], &[4, 5]);
        assert_eq!(p.chain[2], 1);
        assert!(p
            .reasons
            .iter()
            .any(|r| r.starts_with("cs 1") && r.contains("tier 0 wanted")));
    }

    #[test]
    fn offline_draining_full_and_excluded_are_skipped_with_reasons() {
        let mut table = vec![
            cs(1, "a", 0, 0),
            cs(2, "b", 0, 0),
            cs(3, "c", 0, 0),
            cs(4, "d", 0, 0),
            cs(5, "e", 0, 0),
            cs(6, "f", 0, 0),
        ];
        table[0].online = false;
        table[1].draining = true;
        table[2].used = 100 * GIB - 1024; // 1 KiB of room
        table[2].free = 1024;
        let p = place(
            &table,
            &Request {
                exclude: &[4],
                ..req(2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![5, 6]);
        let find = |id: u32| {
            p.reasons
                .iter()
                .find(|r| r.starts_with(&format!("cs {id} ")))
                .cloned()
                .unwrap_or_default()
        };
        assert!(find(1).contains("offline"));
        assert!(find(2).contains("draining"));
        assert!(find(3).contains("full"));
        assert!(find(4).contains("excluded"));
        assert!(find(5).contains("chosen"));
        // One more replica than eligible hosts: refused.
        let err = place(
            &table,
            &Request {
                exclude: &[4],
                ..req(3)
            },
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("need 3 chunk servers on distinct hosts, 2 available"));
    }

    #[test]
    fn unknown_capacity_means_no_room() {
        let mut table = vec![cs(1, "a", 0, 0), cs(2, "b", 0, 0)];
        table[1].capacity = 0;
        table[1].free = 0;
        let err = place(&table, &req(2)).unwrap_err();
        assert!(err
            .to_string()
            .contains("cs 2 (host b, tier 0): skipped, full"));
    }

    #[test]
    fn preferred_host_leads_the_chain_only_if_chosen() {
        let table = vec![cs(1, "a", 0, 0), cs(2, "b", 0, 0), cs(3, "c", 0, 50 * GIB)];
        let p = place(
            &table,
            &Request {
                preferred_host: Some("b"),
                ..req(2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![2, 1]);
        assert!(p.reasons.iter().any(|r| r.contains("leads the chain")));
        // Host c is not chosen (costlier): no reordering, c is not added.
        let p = place(
            &table,
            &Request {
                preferred_host: Some("c"),
                ..req(2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![1, 2]);
        assert!(!p.reasons.iter().any(|r| r.contains("leads the chain")));
    }

    #[test]
    fn zero_replicas_is_refused() {
        assert_eq!(
            place(&[cs(1, "a", 0, 0)], &req(0)),
            Err(PlacementError::NoReplicas)
        );
    }

    #[test]
    fn every_candidate_gets_a_reason() {
        let table = vec![
            cs(1, "a", 0, 0),
            cs(2, "a", 0, 0),
            cs(3, "b", 0, 0),
            cs(4, "c", 0, 0),
        ];
        let p = place(&table, &req(2)).unwrap();
        for id in 1..=4 {
            assert!(
                p.reasons
                    .iter()
                    .any(|r| r.starts_with(&format!("cs {id} "))),
                "no reason for cs {id}: {:?}",
                p.reasons
            );
        }
    }

    fn req_min(replicas: usize, min_replicas: usize) -> Request<'static> {
        Request {
            min_replicas,
            ..Request::exact(replicas, 0, CHUNK)
        }
    }

    #[test]
    fn normal_minimum_across_host_counts() {
        // (hosts online, normal, minimum) -> chain length, or the error's
        // (need, available).
        type Case = (usize, usize, usize, Result<usize, (usize, usize)>);
        let cases: &[Case] = &[
            (3, 3, 2, Ok(3)),
            (2, 3, 2, Ok(2)),
            (1, 3, 2, Err((2, 1))),
            (0, 3, 2, Err((2, 0))),
            (2, 3, 3, Err((3, 2))),
            (5, 3, 2, Ok(3)),
            (4, 5, 3, Ok(4)),
            (2, 5, 3, Err((3, 2))),
            (1, 2, 1, Ok(1)),
            (1, 1, 1, Ok(1)),
            // A minimum of 0 counts as the normal count.
            (2, 3, 0, Err((3, 2))),
        ];
        for &(hosts, normal, min, want) in cases {
            let mut table: Vec<Candidate> =
                (1..=5).map(|i| cs(i, &format!("h{i}"), 0, 0)).collect();
            for c in table.iter_mut().skip(hosts) {
                c.online = false;
            }
            let got = place(&table, &req_min(normal, min));
            match (got, want) {
                (Ok(p), Ok(len)) => {
                    assert_eq!(p.chain.len(), len, "{hosts} hosts, {normal}:{min}");
                    assert_eq!(
                        p.short.is_some(),
                        len < normal,
                        "{hosts} hosts, {normal}:{min}"
                    );
                }
                (
                    Err(PlacementError::NotEnoughHosts {
                        need,
                        available,
                        full,
                        ..
                    }),
                    Err((n, a)),
                ) => {
                    assert_eq!((need, available), (n, a), "{hosts} hosts, {normal}:{min}");
                    assert!(!full, "offline hosts are not a lack of space");
                }
                (got, want) => panic!("{hosts} hosts, {normal}:{min}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn a_short_chain_says_which_hosts_are_missing_and_why() {
        let mut table = vec![cs(1, "a", 0, 0), cs(2, "b", 0, 0), cs(3, "c", 0, 0)];
        table[2].online = false;
        let p = place(&table, &req_min(3, 2)).unwrap();
        assert_eq!(p.chain, vec![1, 2]);
        let short = p.short.expect("a chain of 2 for 3 wanted is short");
        assert!(short.starts_with("2 of 3 replicas placed: "), "{short}");
        assert!(
            short.contains("cs 3 (host c, tier 0): skipped, offline"),
            "{short}"
        );
        assert!(
            !short.contains("cs 1"),
            "chosen CS are not reasons: {short}"
        );
        // Two CS on the same host do not make two replicas.
        let table = vec![cs(1, "a", 0, 0), cs(2, "a", 0, 0), cs(3, "b", 0, 0)];
        let p = place(&table, &req_min(3, 2)).unwrap();
        assert_eq!(p.chain, vec![1, 3]);
        assert!(p.short.unwrap().contains("host a already has cs 1"));
    }

    #[test]
    fn full_chunk_servers_are_a_lack_of_space_missing_hosts_are_not() {
        let mut table = vec![cs(1, "a", 0, 0), cs(2, "b", 0, 0), cs(3, "c", 0, 0)];
        for c in table.iter_mut().skip(1) {
            c.used = 100 * GIB - 1024;
            c.free = 1024;
        }
        let err = place(&table, &req_min(3, 2)).unwrap_err();
        assert!(err.is_full(), "{err}");
        // One full and one offline: a host is missing, and room on the
        // full one alone would not make the minimum of 3.
        table[2].online = false;
        let err = place(&table, &req_min(3, 3)).unwrap_err();
        assert!(!err.is_full(), "{err}");
        // ... but it would make the minimum of 2: space is the cause.
        let err = place(&table, &req_min(3, 2)).unwrap_err();
        assert!(err.is_full(), "{err}");
    }

    #[test]
    fn fill_and_tier_still_order_a_short_chain() {
        let mut table = vec![
            cs(1, "a", 1, 0),
            cs(2, "b", 0, 80 * GIB),
            cs(3, "c", 0, 10 * GIB),
            cs(4, "d", 0, 0),
        ];
        table[3].online = false;
        let p = place(&table, &req_min(3, 2)).unwrap();
        // Tier 0 first, emptier first; the tier-1 CS fills the third place.
        assert_eq!(p.chain, vec![3, 2, 1]);
        assert!(p.short.is_none());
        table[0].online = false;
        let p = place(&table, &req_min(3, 2)).unwrap();
        assert_eq!(p.chain, vec![3, 2]);
        assert!(p.short.is_some());
    }

    #[test]
    fn avoided_servers_are_used_only_to_reach_the_minimum() {
        let table = vec![cs(1, "a", 0, 0), cs(2, "b", 0, 0), cs(3, "c", 0, 0)];
        // The client could not reach cs 1: the chunk goes to the two others
        // and is born short, rather than wait on cs 1.
        let p = place(
            &table,
            &Request {
                avoid: &[1],
                ..req_min(3, 2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![2, 3]);
        assert!(p.short.unwrap().contains("could not reach it lately"));
        // Two avoided: one of them is needed for the minimum.
        let p = place(
            &table,
            &Request {
                avoid: &[1, 2],
                ..req_min(3, 2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![3, 1]);
        assert!(p.reasons.iter().any(|r| r.starts_with("cs 1")
            && r.contains("chosen")
            && r.contains("could not reach")));
        // Hosts to spare: an avoided CS is not used at all.
        let table = vec![
            cs(1, "a", 0, 0),
            cs(2, "b", 0, 0),
            cs(3, "c", 0, 0),
            cs(4, "d", 0, 50 * GIB),
        ];
        let p = place(
            &table,
            &Request {
                avoid: &[1],
                ..req_min(3, 2)
            },
        )
        .unwrap();
        assert_eq!(p.chain, vec![2, 3, 4]);
        assert!(p.short.is_none());
    }
}
