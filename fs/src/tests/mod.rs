//! Tests of the filesystem logic over the MDS's real metadata core in
//! memory (`crate::test_backend`): no kernel mount, no processes.

mod cache;
mod data;
mod entries;
mod holes;
mod model;
mod namespace;
mod semantics;
mod special;
mod unlinks;

use std::time::Duration;

use cairn_client::{Node, SetAttr};
use cairn_common::ROOT_INO;

use crate::{open_file::Limits, test_backend::TestCluster, Fs, FsOptions};

/// A filesystem over a test cluster with 64-byte chunks and small
/// batches, so that a few hundred bytes cross chunk boundaries and start
/// background batches.
pub(crate) fn small_fs() -> (Fs<TestCluster>, TestCluster) {
    small_fs_with(Duration::ZERO)
}

/// [`small_fs`] with the entry cache on for `entry_ttl`.
pub(crate) fn small_fs_with(entry_ttl: Duration) -> (Fs<TestCluster>, TestCluster) {
    let cluster = TestCluster::with_chunks(64);
    let fs = Fs::new(
        cluster.clone(),
        FsOptions {
            owner: "AKTEST".into(),
            limits: Limits {
                timeout: Duration::from_secs(5),
                batch_bytes: 256,
                max_unsent: 1024,
            },
            entry_ttl,
            ..FsOptions::default()
        },
    );
    (fs, cluster)
}

/// A file `name` made in `parent` behind the mount's back, as an S3 PUT
/// of a new key makes it.
pub(crate) async fn made_elsewhere(cluster: &TestCluster, parent: u64, name: &[u8]) -> Node {
    use crate::backend::{Backend, NewNode};
    cluster
        .create(NewNode {
            parent,
            name,
            kind: cairn_client::NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            target: b"",
            exclusive: true,
            rdev: 0,
        })
        .await
        .unwrap()
}

/// Makes bucket `b` and returns its node.
pub(crate) async fn bucket(fs: &Fs<TestCluster>, name: &str) -> Node {
    fs.mkdir(ROOT_INO, name.as_bytes(), 0o755, 0, 0)
        .await
        .unwrap()
}

pub(crate) fn truncate_to(size: u64) -> SetAttr {
    SetAttr {
        size: Some(size),
        ..SetAttr::default()
    }
}
