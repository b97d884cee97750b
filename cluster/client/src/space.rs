//! What a user can still write: the figure `df` (the mount's statfs),
//! `cairn stat` and `cairn top` call allocatable, as `vstorage top` does.
//!
//! Only chunk servers that can take new chunks count: an offline, lost or
//! draining one holds no future write. Each byte written lands on the
//! cluster's replica count of them, so their free space is divided by it.
//! A server's free space is what its disk has left, but never more than
//! its capacity (a `--capacity` below the disk) minus what it holds.

use cairn_common::{summary::CsStatus, ClusterError};
use cairn_proto as pb;
use serde::Serialize;

use crate::{retry::Retry, Client};

/// Bytes a block of the inode estimate costs on each replica (the
/// smallest file that holds data).
const BYTES_PER_INODE: u64 = 4096;

/// The cluster's space, as statfs and the admin tools report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Space {
    /// Replicas each byte is written to (the root's replica count).
    pub replicas: u32,
    /// Capacity and free space of the chunk servers that take new chunks,
    /// before replication.
    pub raw_total: u64,
    pub raw_free: u64,
    /// `raw_total` and `raw_free` divided by the replica count: what
    /// `df` shows as size and available.
    pub total: u64,
    pub allocatable: u64,
    /// New files that still fit if each held one 4 KiB block: `df -i`'s
    /// free inodes.
    pub free_inodes: u64,
}

impl Space {
    /// `servers`: (state, capacity, used, free) of each chunk server.
    pub fn of(
        servers: impl IntoIterator<Item = (CsStatus, u64, u64, u64)>,
        replicas: u32,
    ) -> Space {
        let replicas = replicas.max(1);
        let (raw_total, raw_free) = cairn_common::summary::raw_space(servers);
        let allocatable = raw_free / u64::from(replicas);
        Space {
            replicas,
            raw_total,
            raw_free,
            total: raw_total / u64::from(replicas),
            allocatable,
            free_inodes: allocatable / BYTES_PER_INODE,
        }
    }
}

impl Client {
    /// What can still be written, and the namespace's inode count: the
    /// MDS answers from the chunk servers' figures without scanning the
    /// chunk map (statfs calls this; `cairn stat` calls [`Client::stat`]).
    pub async fn space(&self) -> Result<(Space, u64), ClusterError> {
        let reply: pb::ClusterSpace = self
            .inner
            .mds
            .metadata(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.space(r).await
            })
            .await?;
        let space = Space::of(
            reply
                .chunk_servers
                .iter()
                .map(|c| (c.status(), c.capacity, c.used, c.free)),
            reply.default_replicas,
        );
        Ok((space, reply.inodes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_servers_that_take_chunks_count_divided_by_the_replicas() {
        let servers = [
            (CsStatus::Active, 1000, 100, 900),
            // The disk has more room than the configured capacity allows.
            (CsStatus::Active, 1000, 600, 800),
            (CsStatus::Active, 1000, 0, 500),
            (CsStatus::Offline, 1000, 0, 1000),
            (CsStatus::Lost, 1000, 0, 1000),
            (CsStatus::Draining, 1000, 0, 1000),
        ];
        let s = Space::of(servers, 3);
        assert_eq!((s.raw_total, s.raw_free), (3000, 900 + 400 + 500));
        assert_eq!((s.total, s.allocatable), (1000, 600));
        assert_eq!(s.replicas, 3);
        // An MDS that does not say: no division by zero.
        assert_eq!(Space::of(servers, 0).allocatable, 1800);
        let big = Space::of([(CsStatus::Active, 0, 0, 3 << 30)], 3);
        assert_eq!(big.free_inodes, (1 << 30) / 4096);
    }
}
