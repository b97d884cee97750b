//! Node certificates for tests that run cluster servers and clients in
//! their own process: per cluster id, one CA (with its key) and a
//! certificate for every role, in a directory that lives as long as the
//! test process.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use cairn_common::pki::Authority;

/// The node directory of cluster `cluster_id` (`ca.pem`, `ca.key`, and
/// `mds`, `cs`, `client` certificates with their keys), made on first use.
pub fn node_dir(cluster_id: &str) -> PathBuf {
    static DIRS: OnceLock<Mutex<HashMap<String, tempfile::TempDir>>> = OnceLock::new();
    let mut dirs = DIRS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = dirs.entry(cluster_id.to_string()).or_insert_with(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Authority::new_node_dir(dir.path(), cluster_id).expect("a test CA and certificates");
        dir
    });
    dir.path().to_path_buf()
}
