//! Changes of the MDS group, and who leads it.
//!
//! A new MDS joins as a learner; the leader makes it a voter once its log
//! has caught up ([`Members::promote_caught_up`], run by the leader's
//! background loop, so a join survives a change of leader). Before a
//! learner is added the leader snapshots and purges its log, so the new
//! MDS always starts from a snapshot: the cluster's first state (made by
//! `make-mds -I` before raft existed) is in no log entry.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use cairn_proto as pb;
use openraft::{BasicNode, ChangeMembers, ServerState};
use tonic::{metadata::MetadataValue, Status};

use super::{NodeId, Raft};

pub use cairn_common::errno::LEADER_HEADER;

/// A learner whose log is within this many entries of the leader's is
/// promoted to voter.
const PROMOTE_WITHIN: u64 = 64;

#[derive(Clone)]
pub struct Members {
    pub(crate) raft: Raft,
    pub(crate) node_id: NodeId,
    /// The cluster record, postcard-encoded, for new members.
    pub(crate) meta: Vec<u8>,
}

/// The refusal a follower gives to a client: retry at the leader.
pub fn not_leader(leader_addr: Option<&str>) -> Status {
    let mut status = Status::unavailable(match leader_addr {
        Some(addr) => format!("this MDS is not the leader: the leader is at {addr}"),
        None => "this MDS is not the leader and no leader is elected yet".to_string(),
    });
    let value = leader_addr.unwrap_or("");
    if let Ok(v) = MetadataValue::try_from(value) {
        status.metadata_mut().insert(LEADER_HEADER, v);
    }
    status
}

impl Members {
    /// Whether this MDS leads; `Err` is the refusal to give a client.
    pub fn check_leader(&self) -> Result<(), Status> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.current_leader == Some(self.node_id) && metrics.state == ServerState::Leader {
            return Ok(());
        }
        let addr = metrics.current_leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|n| n.addr.clone())
        });
        Err(not_leader(addr.as_deref()))
    }

    /// The current raft term.
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Every member's address by node id (voters and learners).
    pub fn addrs(&self) -> BTreeMap<NodeId, String> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }

    /// Every MDS as this one (the leader) sees it, for `cairn stat`.
    pub fn stat(&self) -> Vec<pb::MdsStat> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = metrics.last_log_index.unwrap_or(0);
        membership
            .nodes()
            .map(|(id, node)| {
                let me = *id == self.node_id;
                let matched = if me {
                    metrics.last_log_index
                } else {
                    metrics
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(id).cloned().flatten())
                        .map(|l| l.index)
                };
                let role = if me {
                    match metrics.state {
                        ServerState::Leader => "leader",
                        ServerState::Candidate => "candidate",
                        ServerState::Learner => "learner",
                        _ => "follower",
                    }
                } else if !voters.contains(id) {
                    "learner"
                } else if matched.is_some() {
                    "follower"
                } else {
                    "offline"
                };
                pb::MdsStat {
                    id: *id,
                    addr: node.addr.clone(),
                    role: role.to_string(),
                    term: metrics.current_term,
                    last_log_index: matched.unwrap_or(0),
                    applied_index: if me {
                        metrics.last_applied.map(|l| l.index).unwrap_or(0)
                    } else {
                        // The leader knows how far a follower's log is,
                        // not how far it has applied it.
                        matched.unwrap_or(0)
                    },
                    lag: last.saturating_sub(matched.unwrap_or(0)),
                    // The process figures are the answering MDS's to fill.
                    ..Default::default()
                }
            })
            .collect()
    }

    pub async fn add(&self, addr: &str) -> Result<pb::AddMdsReply, Status> {
        self.check_leader()?;
        if addr.is_empty() {
            return Err(Status::invalid_argument("the new MDS needs an address"));
        }
        let existing = self.addrs();
        if let Some((id, _)) = existing.iter().find(|(_, a)| a.as_str() == addr) {
            return Err(Status::already_exists(format!(
                "MDS {id} already has address {addr}: remove it first (`cairn rm-mds {id}`)"
            )));
        }
        let node_id = existing.keys().max().copied().unwrap_or(0) + 1;
        self.snapshot_and_purge().await?;
        self.raft
            .add_learner(
                node_id,
                BasicNode {
                    addr: addr.to_string(),
                },
                false,
            )
            .await
            .map_err(|e| Status::unavailable(format!("cannot add the MDS: {e}")))?;
        tracing::info!(node_id, addr, "MDS added as a learner");
        let mut addrs: Vec<String> = existing.into_values().collect();
        addrs.push(addr.to_string());
        Ok(pb::AddMdsReply {
            node_id,
            cluster_meta: self.meta.clone(),
            mds_addrs: addrs,
            // Filled by the service, which holds the CA.
            ..Default::default()
        })
    }

    pub async fn remove(&self, node_id: NodeId) -> Result<(), Status> {
        self.check_leader()?;
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        if membership.get_node(&node_id).is_none() {
            return Err(Status::not_found(format!("no MDS with id {node_id}")));
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&node_id) {
            if voters.len() == 1 {
                return Err(Status::failed_precondition(
                    "cannot remove the last MDS of the cluster",
                ));
            }
            self.raft
                .change_membership(
                    ChangeMembers::RemoveVoters(BTreeSet::from([node_id])),
                    false,
                )
                .await
                .map_err(|e| Status::unavailable(format!("cannot remove MDS {node_id}: {e}")))?;
        } else {
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([node_id])), false)
                .await
                .map_err(|e| Status::unavailable(format!("cannot remove MDS {node_id}: {e}")))?;
        }
        tracing::info!(node_id, "MDS removed from the group");
        Ok(())
    }

    /// Builds a snapshot of everything applied and purges the log up to it.
    async fn snapshot_and_purge(&self) -> Result<(), Status> {
        let applied = self
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0);
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| Status::unavailable(format!("snapshot: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let snapshot = loop {
            let snap = self.raft.metrics().borrow().snapshot.map(|l| l.index);
            if let Some(index) = snap.filter(|i| *i >= applied) {
                break index;
            }
            if Instant::now() > deadline {
                return Err(Status::unavailable("the snapshot took too long"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.raft
            .trigger()
            .purge_log(snapshot)
            .await
            .map_err(|e| Status::unavailable(format!("purge: {e}")))
    }

    /// Makes voters of the learners that have caught up. Leader only.
    pub async fn promote_caught_up(&self) {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return;
        }
        let Some(replication) = metrics.replication.as_ref() else {
            return;
        };
        let last = metrics.last_log_index.unwrap_or(0);
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let ready: BTreeSet<NodeId> = membership
            .learner_ids()
            .filter(|id| !voters.contains(id))
            .filter(|id| {
                replication
                    .get(id)
                    .and_then(|m| m.as_ref())
                    .is_some_and(|m| m.index + PROMOTE_WITHIN >= last)
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        match self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(ready.clone()), false)
            .await
        {
            Ok(_) => tracing::info!(?ready, "MDS learners promoted to voters"),
            Err(e) => tracing::warn!(?ready, error = %e, "cannot promote MDS learners yet"),
        }
    }
}
