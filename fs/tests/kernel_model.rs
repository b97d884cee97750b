//! The FUSE adapter through the real kernel, over the in-memory model of
//! the cluster: every request goes kernel -> fuser -> runtime -> Fs ->
//! model and back.

mod common;

use cairn_fs::mock::Mock;
use common::{blocking, can_mount, fsx, scenarios, Mounted};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posix_scenarios_and_fsx_over_the_model() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    // 1 MiB chunks, as the smallest real cluster has.
    let m = Mounted::start(Mock::new(1 << 20)).await;
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
