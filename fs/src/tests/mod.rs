//! Tests of the filesystem logic over the in-memory cluster model: no
//! kernel mount, no cluster.

mod cache;
mod data;
mod entries;
mod model;
mod namespace;
mod semantics;

use std::time::Duration;

use cairn_client::{Node, SetAttr};
use cairn_common::ROOT_INO;

use crate::{mock::Mock, open_file::Limits, Fs, FsOptions};

/// A filesystem over a model cluster with 64-byte chunks and small
/// batches, so that a few hundred bytes cross chunk boundaries and start
/// background batches.
pub(crate) fn small_fs() -> (Fs<Mock>, Mock) {
    let mock = Mock::new(64);
    let fs = Fs::new(
        mock.clone(),
        FsOptions {
            owner: "AKTEST".into(),
            limits: Limits {
                timeout: Duration::from_secs(5),
                batch_bytes: 256,
                max_unsent: 1024,
            },
            ..FsOptions::default()
        },
    );
    (fs, mock)
}

/// Makes bucket `b` and returns its node.
pub(crate) async fn bucket(fs: &Fs<Mock>, name: &str) -> Node {
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
