//! The MDS group's membership, for the admin CLI: add an MDS (as a
//! learner) and remove one, on whichever MDS leads, through the same
//! wrapper as every metadata call (the CLI has no redirect of its own).

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{retry::Retry, Client};

/// What the leader answers when it has added an MDS.
#[derive(Debug, Clone)]
pub struct AddedMds {
    /// The new MDS's id in the group.
    pub node_id: u64,
    /// The cluster record (postcard) the new MDS opens with.
    pub cluster_meta: Vec<u8>,
    /// Every MDS address, the new one last.
    pub mds_addrs: Vec<String>,
    /// The cluster CA's certificate and key (PEM): every MDS signs.
    pub ca_pem: String,
    pub ca_key_pem: String,
}

impl Client {
    /// Adds an MDS at `addr` to the group as a learner; the leader makes
    /// it a voter once it has caught up. Not replayed after a lost answer:
    /// a second add of the address is refused as existing.
    pub async fn add_mds(&self, addr: &str) -> Result<AddedMds, ClusterError> {
        let req = pb::AddMdsRequest { addr: addr.into() };
        let reply = self
            .inner
            .mds
            .raft(
                Retry::Once,
                req,
                |mut m, r| async move { m.add_mds(r).await },
            )
            .await?;
        Ok(AddedMds {
            node_id: reply.node_id,
            cluster_meta: reply.cluster_meta,
            mds_addrs: reply.mds_addrs,
            ca_pem: reply.ca_pem,
            ca_key_pem: reply.ca_key_pem,
        })
    }

    /// Removes MDS `node_id` from the group. Not replayed after a lost
    /// answer: a second removal is refused as not found.
    pub async fn remove_mds(&self, node_id: u64) -> Result<(), ClusterError> {
        let req = pb::RemoveMdsRequest { node_id };
        self.inner
            .mds
            .raft(
                Retry::Once,
                req,
                |mut m, r| async move { m.remove_mds(r).await },
            )
            .await
            .map(|_| ())
    }
}
