//! Joining a host to a cluster with the cluster password, as `pstorage
//! auth-node` does, and what a node without the right secret cannot do.

mod common;

use common::*;

#[test]
fn auth_node_writes_the_cluster_config_with_the_right_password_only() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let other_host = cluster.root.path().join("other-etc");

    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &other_host)
        .args([
            "auth-node",
            "--mds",
            &cluster.mds_addr,
            "--password",
            "wrong",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong password must be refused");
    assert!(
        !other_host.join(CLUSTER).join("cluster.toml").exists(),
        "no config is written for a refused node"
    );

    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &other_host)
        .args([
            "auth-node",
            "--mds",
            &cluster.mds_addr,
            "--password",
            PASSWORD,
        ])
        .output()
        .unwrap();
    assert_success(&out, "auth-node");
    let mut joined =
        cairn_common::ClusterConfig::load_from(&other_host, CLUSTER).expect("joined config");
    let mut own = cluster.config();
    // Each is read from its own host's directory.
    (joined.dir, own.dir) = (None, None);
    assert_eq!(joined, own, "the joined host has the cluster's config");
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(other_host.join(CLUSTER).join("cluster.toml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600, "the config is the owner's only");

    // The joined host can act on the cluster.
    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &other_host)
        .args(["mb", "from-other-host"])
        .output()
        .unwrap();
    assert_success(&out, "mb from the joined host");
    let out = cluster.cairn(&["ls"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("from-other-host"));

    // Joined as cs and client, it may not add an MDS: the answer would
    // carry the CA's key.
    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &other_host)
        .args([
            "make-mds",
            "-r",
            path_str(&cluster.root.path().join("other-mds")),
            "-a",
            "127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a client host added an MDS");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--role mds"), "{err}");
    assert_eq!(
        cluster.stat_json()["mds"].as_array().map(Vec::len),
        Some(1),
        "the group is unchanged"
    );
}

#[test]
fn make_mds_refuses_a_directory_that_holds_an_mds() {
    let cluster = TestCluster::start(&[]);
    let out = cluster.cairn(&[
        "make-mds",
        "-I",
        "-r",
        path_str(&cluster.mds_dir),
        "-a",
        "127.0.0.1:1",
        "--password",
        "x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("already") || err.contains("in use"), "{err}");
}
