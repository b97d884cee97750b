//! Replica count and tier as attributes of buckets and objects, on real
//! processes: `cairn set-attr` changes them, existing chunks follow, new
//! ones inherit them.
//!
//! Bounds: each change of replica count is reflected in every chunk within
//! 60 s; the tier move within 60 s. Data: 16 objects of 1 MiB per bucket.

mod common;

use std::time::Duration;

use common::heal::*;

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(60);

fn set_attr(cluster: &HealCluster, args: &[&str]) {
    let mut all = vec!["set-attr"];
    all.extend_from_slice(args);
    common::assert_success(&cluster.cairn(&all), &all.join(" "));
}

fn get_attr(cluster: &HealCluster, path: &str) -> serde_json::Value {
    let out = cluster.cairn(&["get-attr", path, "--json"]);
    common::assert_success(&out, "get-attr");
    serde_json::from_slice(&out.stdout).expect("get-attr --json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_counts_follow_set_attr_on_a_bucket() {
    let cluster = HealCluster::start(&["h1", "h2", "h3", "h4"], Opts::default());
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    put_objects(&client, "b", "dir/obj", 16, MIB, 40, 4).await;
    wait_placements(&cluster, &client, &["b"], 3, None, Duration::from_secs(30)).await;
    assert_eq!(get_attr(&cluster, "b")["replicas"], 3);

    set_attr(&cluster, &["b", "--replicas", "2", "-R"]);
    assert_eq!(get_attr(&cluster, "b")["replicas"], 2);
    assert_eq!(
        get_attr(&cluster, "b/dir")["replicas"],
        2,
        "directories too"
    );
    assert_eq!(get_attr(&cluster, "b/dir/obj3")["replicas"], 2);
    let took = wait_placements(&cluster, &client, &["b"], 2, None, BOUND).await;
    eprintln!("trimmed to 2 replicas in {took:?}");

    set_attr(&cluster, &["b", "--replicas", "4", "-R"]);
    let took = wait_placements(&cluster, &client, &["b"], 4, None, BOUND).await;
    eprintln!("re-replicated to 4 replicas in {took:?}");

    // A new object inherits the bucket's count (through the implicit
    // directory `dir`, which -R changed too).
    put_objects(&client, "b", "dir/new", 1, MIB, 90, 1).await;
    let fresh: Vec<Placed> = placements(&client, "b")
        .await
        .into_iter()
        .filter(|p| p.key == b"dir/new0")
        .collect();
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        fresh[0].replicas.len(),
        4,
        "written with 4 replicas at once"
    );
    for i in 0..16 {
        let key = format!("dir/obj{i}");
        assert_eq!(
            read_md5(&client, "b", &key).await.expect("read"),
            (MIB as u64, pattern_md5(40 + i, MIB))
        );
    }
    // Bad values are refused.
    assert!(!cluster
        .cairn(&["set-attr", "b", "--replicas", "0"])
        .status
        .success());
    assert!(!cluster
        .cairn(&["set-attr", "nope", "--replicas", "2"])
        .status
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_asking_for_tier_0_land_only_on_tier_0() {
    // Three fast (tier 0) and three slow (tier 2) chunk servers, one of
    // each on every host.
    let mut cluster = HealCluster::start(&["h1", "h2", "h3"], Opts::default());
    for host in ["h1", "h2", "h3"] {
        cluster.add(host, &["--tier", "2"]);
    }
    cluster.wait_active(6);
    let client = cluster.client();
    client.create_bucket("fast", "").await.expect("bucket");
    client.create_bucket("slow", "").await.expect("bucket");
    set_attr(&cluster, &["slow", "--tier", "2"]);
    assert_eq!(get_attr(&cluster, "slow")["tier"], 2);
    put_objects(&client, "fast", "obj", 16, MIB, 1, 4).await;
    put_objects(&client, "slow", "obj", 16, MIB, 2, 4).await;
    let stat = cluster.stat_json();
    let fast = placements(&client, "fast").await;
    let slow = placements(&client, "slow").await;
    check_placements(&fast, &stat, 3, Some(&[0])).expect("tier-0 files on tier-0 CS only");
    check_placements(&slow, &stat, 3, Some(&[2])).expect("tier-2 files on tier-2 CS only");

    // Changing a file's tier moves its chunks.
    set_attr(&cluster, &["fast/obj0", "--tier", "2"]);
    let started = std::time::Instant::now();
    cairn_testkit::until(
        BOUND,
        Duration::from_millis(250),
        "obj0 on tier 2",
        || async {
            let stat = cluster.stat_json();
            let moved: Vec<Placed> = placements(&client, "fast")
                .await
                .into_iter()
                .filter(|p| p.key == b"obj0")
                .collect();
            check_placements(&moved, &stat, 3, Some(&[2]))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    eprintln!("a file moved to tier 2 in {took:?}");
    let stat = cluster.stat_json();
    let rest: Vec<Placed> = placements(&client, "fast")
        .await
        .into_iter()
        .filter(|p| p.key != b"obj0")
        .collect();
    check_placements(&rest, &stat, 3, Some(&[0])).expect("the other files stay on tier 0");
    assert_eq!(
        read_md5(&client, "fast", "obj0").await.expect("read"),
        (MIB as u64, pattern_md5(1, MIB))
    );
}
