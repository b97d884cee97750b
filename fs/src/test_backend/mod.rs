//! The backend the mount's tests run on (feature `test-backend`, on for
//! this crate's own tests): the MDS's real metadata core in memory
//! ([`MemCluster`]) behind a wrapper that counts calls and injects faults
//! ([`Faulty`]). The tests check the mount against the rules the MDS
//! applies, not against a copy of them.

mod cluster;
mod faults;

pub use cluster::{MemCluster, MemWriter};
pub use faults::{Faults, Faulty, FaultyWriter};

/// The test cluster: the real metadata core with faults in front.
pub type TestCluster = Faulty<MemCluster>;

impl TestCluster {
    /// A cluster with chunks of `chunk_size` bytes (see [`MemCluster::new`]).
    pub fn with_chunks(chunk_size: u64) -> TestCluster {
        Faulty::new(MemCluster::new(chunk_size))
    }
}
