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
//!    the wanted tier lacks distinct hosts.
//! 4. The chain is in that order, except that a chosen CS on the preferred
//!    (client's) host goes first: the first hop is then local.
//! 5. Fewer distinct eligible hosts than replicas is an error naming every
//!    CS and why it was not used — never a doubled-up placement.

use std::collections::BTreeMap;

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
    pub replicas: usize,
    pub tier: u32,
    /// Host of the writing client, whose CS (if chosen) leads the chain.
    pub preferred_host: Option<&'a str>,
    /// CS that must not be used (already hold the chunk, failed just now).
    pub exclude: &'a [u32],
    /// Room a CS needs: a chunk may grow to the cluster's chunk size.
    pub room_needed: u64,
}

/// The chosen chain and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// CS ids in chain order.
    pub chain: Vec<u32>,
    /// One line per CS considered, plus the chain order decision.
    pub reasons: Vec<String>,
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
        need: usize,
        available: usize,
        reasons: Vec<String>,
    },
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

/// Chooses `request.replicas` CS on distinct hosts. See the module rules.
pub fn place(candidates: &[Candidate], request: &Request) -> Result<Placement, PlacementError> {
    if request.replicas == 0 {
        return Err(PlacementError::NoReplicas);
    }
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by_key(|c| c.id);

    // Reasons keyed by CS id, so they read in id order whatever the decision
    // order was.
    let mut reasons: BTreeMap<u32, String> = BTreeMap::new();
    let mut eligible: Vec<&Candidate> = Vec::new();
    for c in sorted {
        let why_not = if request.exclude.contains(&c.id) {
            Some("excluded".to_string())
        } else if !c.online {
            Some("offline".to_string())
        } else if c.draining {
            Some("draining".to_string())
        } else if room(c) < request.room_needed {
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

    eligible.sort_by(|a, b| {
        (a.tier != request.tier)
            .cmp(&(b.tier != request.tier))
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
        let tier_note = if c.tier != request.tier {
            format!(", tier {} wanted but it lacks hosts", request.tier)
        } else {
            String::new()
        };
        reasons.insert(c.id, format!("{}: chosen ({detail}{tier_note})", label(c)));
        host_holder.insert(c.host.as_str(), c.id);
        chosen.push(c);
    }

    let mut reasons: Vec<String> = reasons.into_values().collect();
    if chosen.len() < request.replicas {
        return Err(PlacementError::NotEnoughHosts {
            need: request.replicas,
            available: chosen.len(),
            reasons,
        });
    }

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
        Request {
            replicas,
            tier: 0,
            preferred_host: None,
            exclude: &[],
            room_needed: CHUNK,
        }
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
}
