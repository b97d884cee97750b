//! Bad input gives a clear error and loses nothing already stored.

mod common;

use bytes::Bytes;
use cairn_client::{ObjectMeta, PutConditions};
use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn chunk_server_directories_that_cannot_serve() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    // Missing.
    let missing = cluster.root.path().join("nope/deeper");
    let out = cluster.cairn(&["cs", "-r", path_str(&missing)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("make-cs"),
        "says what to do: {}",
        stderr(&out)
    );
    // Not a directory (a regular file where the directory should be).
    let file = cluster.root.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = cluster.cairn(&["make-cs", "-r", path_str(&file.join("cs")), "--host", "h9"]);
    assert!(!out.status.success(), "make-cs under a file must fail");
    assert!(!stderr(&out).is_empty());
    // Already holding a chunk server.
    let out = cluster.cairn(&[
        "make-cs",
        "-r",
        path_str(&cluster.cs[0].dir),
        "--host",
        "h9",
    ]);
    assert!(
        !out.status.success(),
        "make-cs over an existing CS must fail"
    );
    assert!(
        stderr(&out).to_lowercase().contains("already"),
        "{}",
        stderr(&out)
    );
    // In use by a running chunk server.
    let out = cluster.cairn(&["cs", "-r", path_str(&cluster.cs[0].dir)]);
    assert!(
        !out.status.success(),
        "a second CS on one directory must fail"
    );
    assert!(
        stderr(&out).to_lowercase().contains("in use"),
        "{}",
        stderr(&out)
    );
    cluster.wait_active(3);
}

#[test]
fn an_mds_that_does_not_answer() {
    let cluster = TestCluster::start(&[]);
    let mut cfg = cluster.config();
    cfg.mds_addrs = vec![format!("127.0.0.1:{}", reserve_port())];
    let etc = cluster.root.path().join("dead-etc");
    cfg.save_to(&etc).unwrap();
    // The host's certificates, so that only the address is wrong.
    for entry in std::fs::read_dir(cluster.etc.join(CLUSTER)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if name != "cluster.toml" {
            std::fs::copy(&path, etc.join(CLUSTER).join(name)).unwrap();
        }
    }
    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &etc)
        .args(["stat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("does not answer") && err.contains("cairn mds"),
        "{err}"
    );
    // An unknown cluster name says how to create or join it.
    let out = cluster
        .command()
        .args(["-c", "nosuch", "stat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("auth-node"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_cluster_refuses_writes_and_keeps_what_it_has() {
    let cluster = TestCluster::start_with(&["h1", "h2", "h3"], &["--capacity", "100M"]);
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    let small = Bytes::from(pattern(5, 1 << 20));
    client
        .put_object(
            "b",
            b"small",
            futures::stream::iter([Ok::<_, std::io::Error>(small.clone())]),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("a small object fits");
    let big: Vec<Result<Bytes, std::io::Error>> = (0..150)
        .map(|i| Ok(Bytes::from(pattern(i, 1 << 20))))
        .collect();
    let err = client
        .put_object(
            "b",
            b"big",
            futures::stream::iter(big),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect_err("150 MiB cannot fit in 100 MiB");
    assert!(
        matches!(err, cairn_common::ClusterError::NoSpace(_)),
        "a clear no-space error: {err:?}"
    );
    assert!(
        matches!(
            client.head_object("b", b"big").await,
            Err(cairn_common::ClusterError::NotFound(_))
        ),
        "no partial object"
    );
    let node = client
        .head_object("b", b"small")
        .await
        .expect("small is still there");
    let mut got = Vec::new();
    let mut s = std::pin::pin!(client.read(&node, 0, node.size));
    use futures::StreamExt;
    while let Some(p) = s.next().await {
        got.extend_from_slice(&p.expect("read"));
    }
    assert_eq!(got, small.to_vec());
}
