//! The FUSE adapter through the real kernel, over the test backend (the
//! MDS's metadata core in memory): every request goes kernel -> fuser ->
//! runtime -> Fs -> metadata core and back.

mod common;

use cairn_fs::test_backend::TestCluster;
use common::{blocking, can_mount, fsx, scenarios, Mounted};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posix_scenarios_and_fsx_over_the_model() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    // 1 MiB chunks, as the smallest real cluster has.
    let m = Mounted::start(TestCluster::with_chunks(1 << 20)).await;
    let root = m.path();
    blocking(move || {
        scenarios::sequential(&root);
        scenarios::sparse_truncate_flags(&root);
        scenarios::namespace(&root);
        scenarios::unlink_open(&root);
        scenarios::xattrs(&root);
        scenarios::permissions(&root);
        scenarios::statfs(&root);
        scenarios::times(&root);
        scenarios::tarball(&root);
        let b = scenarios::bucket(&root, "fsx");
        let local = tempfile::tempdir().unwrap();
        fsx::run(&b, local.path(), fsx::seed(), 1500, 3, 3 << 20);
    })
    .await;
    // 1 MiB application writes reach the filesystem whole (max_write).
    let st = m.stats();
    assert_eq!(st.max_write, 1 << 20, "{st:?}");
    assert!(st.reads > 0 && st.writes > 0);
    m.unmount().await;
}
