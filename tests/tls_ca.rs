//! `make-mds -I` gives a new cluster its own certificate authority beside
//! its config: `ca.pem` for every node to trust, `ca.key` readable by the
//! owner alone; the CA signs certificates that verify against it.

use std::{os::unix::fs::PermissionsExt, process::Command};

use cairn_common::{pki::Authority, ClusterConfig};

#[test]
fn make_mds_init_makes_the_cluster_ca_with_a_private_key() {
    let root = tempfile::tempdir().expect("temp dir");
    let etc = root.path().join("etc");
    let port = cairn_testkit::reserve_port();
    let out = Command::new(cairn_testkit::cairn_bin())
        .args(["-c", "ca-test", "make-mds", "-I", "-r"])
        .arg(root.path().join("mds"))
        .args(["-a", &format!("127.0.0.1:{port}"), "--password", "pw"])
        .env("CAIRN_CONFIG_DIR", &etc)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cairn make-mds");
    assert!(
        out.status.success(),
        "make-mds -I: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = etc.join("ca-test");
    let config = ClusterConfig::load_from(&etc, "ca-test").expect("the cluster config");
    assert!(!config.cluster_id.is_empty());
    let mode = std::fs::metadata(dir.join("ca.key"))
        .expect("ca.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let ca = Authority::load(&dir).expect("the CA loads");
    let pem = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
    assert_eq!(ca.cert_pem(), pem);
    // It signs: a leaf from it chains to it.
    let leaf = ca.issue_server("x", &["127.0.0.1"]).expect("a leaf");
    assert!(leaf.cert_pem.ends_with(&pem));
}
