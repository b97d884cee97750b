//! `/metrics` on every daemon: `cairn up --metrics-listen` serves all of
//! its parts on one address, and lone `cairn mds`, `cairn cs` and
//! `cairn gateway` processes each serve their own. The text parses strictly
//! as OpenMetrics, and the counters grow with real traffic.

mod common;
mod ops_support;

use std::{process::Stdio, time::Duration};

use common::{assert_success, path_str, TestCluster};
use ops_support::{eventually, free_addr, http_get, scrape, sum, Daemon, Sample, Up};

const MIB: usize = 1 << 20;

/// Sum of `cairn_requests_total` of `part`.
fn requests(s: &[Sample], part: &str) -> f64 {
    sum(s, "cairn_requests_total", &[("part", part)])
}

/// Puts a `len`-byte object through the CLI (MDS + chunk servers) and
/// reads it back.
fn traffic(cairn: impl Fn(&[&str]) -> std::process::Output, dir: &std::path::Path, len: usize) {
    let src = dir.join("object.bin");
    common::write_pattern_file(&src, 7, len);
    let _ = cairn(&["mb", "metrics"]);
    assert_success(
        &cairn(&["put", path_str(&src), "metrics/object.bin"]),
        "put",
    );
    let back = dir.join("back.bin");
    assert_success(
        &cairn(&["get", "metrics/object.bin", path_str(&back)]),
        "get",
    );
    assert_eq!(common::md5_file(&src), common::md5_file(&back));
}

/// Waits for the three chunk servers to be active in the MDS's figures.
fn wait_three_active(up: &Up) {
    eventually(Duration::from_secs(60), "3 active chunk servers", || {
        let s = scrape(&up.metrics_addr);
        (sum(
            &s,
            "cairn_chunk_servers",
            &[("part", "mds"), ("state", "active")],
        ) == 3.0)
            .then_some(())
    });
}

#[test]
fn cairn_up_serves_every_part_on_one_address_and_counters_grow() {
    let up = Up::start(&[]);
    wait_three_active(&up);
    let before = scrape(&up.metrics_addr);
    for part in ["mds", "cs1", "cs2", "cs3"] {
        assert!(
            before
                .iter()
                .any(|s| s.labels.get("part").map(String::as_str) == Some(part)),
            "no figures of part {part}"
        );
    }
    traffic(|a| up.cairn(a), up.dir(), 3 * MIB);
    // An unsigned S3 request: the gateway answers it (AccessDenied) and
    // counts it.
    let (status, _) = http_get(&up.s3_addr, "/").expect("GET / on S3");
    assert_eq!(status, 403);
    let after = scrape(&up.metrics_addr);

    assert!(
        requests(&after, "mds") > requests(&before, "mds"),
        "MDS requests did not grow"
    );
    let cs_in = |s: &[Sample]| -> f64 {
        ["cs1", "cs2", "cs3"]
            .iter()
            .map(|p| sum(s, "cairn_bytes_total", &[("part", p), ("direction", "in")]))
            .sum()
    };
    // Three replicas of the object were written.
    assert!(
        cs_in(&after) - cs_in(&before) >= (3 * 3 * MIB) as f64,
        "chunk servers took in {} bytes",
        cs_in(&after) - cs_in(&before)
    );
    let cs_requests =
        |s: &[Sample]| -> f64 { ["cs1", "cs2", "cs3"].iter().map(|p| requests(s, p)).sum() };
    assert!(cs_requests(&after) > cs_requests(&before));
    assert!(
        sum(
            &after,
            "cairn_requests_total",
            &[
                ("part", "gateway"),
                ("op", "ListBuckets"),
                ("result", "error")
            ]
        ) > sum(
            &before,
            "cairn_requests_total",
            &[
                ("part", "gateway"),
                ("op", "ListBuckets"),
                ("result", "error")
            ]
        ),
        "the gateway did not count the S3 request"
    );
    // Latency histograms grow with the counters (heartbeats keep coming,
    // so the two are not compared for equality).
    let timed = |s: &[Sample]| {
        sum(
            s,
            "cairn_request_duration_seconds_count",
            &[("part", "mds")],
        )
    };
    assert!(timed(&after) > timed(&before));
    assert!(
        sum(&after, "cairn_chunks", &[("part", "mds")]) >= 1.0,
        "no chunk counted"
    );
    assert!(
        sum(&after, "cairn_replicas", &[("part", "mds")]) >= 3.0,
        "no replica counted"
    );
}

/// With a group of three MDS in one `cairn up`, the metrics and the status
/// page come from whichever of them leads: every chunk server, the three
/// MDS with one leader.
#[test]
fn cairn_up_with_three_mds_serves_the_figures_of_the_group() {
    let up = Up::start(&["--mds-count", "3"]);
    wait_three_active(&up);
    let page = eventually(Duration::from_secs(30), "a status page with 3 MDS", || {
        let (status, page) = http_get(&up.metrics_addr, "/").ok()?;
        (status == 200 && page.matches("<td class=l>follower</td>").count() == 2).then_some(page)
    });
    assert_eq!(
        page.matches("<td class=l>leader</td>").count(),
        1,
        "one leader: {page}"
    );
    for id in 1..=3 {
        assert!(
            page.contains(&format!("<tr id=cs{id} class=cs>")),
            "chunk server {id} on the page: {page}"
        );
    }
}

/// A daemon process killed on drop.
#[test]
fn lone_daemons_serve_their_own_metrics() {
    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    // Restart the MDS and one chunk server with a metrics listener.
    let mds_metrics = free_addr();
    cluster.restart_mds(&["--metrics-listen", &mds_metrics]);
    let cs_metrics = free_addr();
    cluster.kill_cs(0);
    let cs_dir = cluster.cs[0].dir.clone();
    let child = cluster
        .command()
        .args([
            "cs",
            "-r",
            path_str(&cs_dir),
            "--metrics-listen",
            &cs_metrics,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the chunk server");
    cluster.cs[0].child = Some(child);
    let gw_metrics = free_addr();
    let s3 = free_addr();
    let _gateway = Daemon(
        cluster
            .command()
            .args(["gateway", "--listen", &s3, "--metrics-listen", &gw_metrics])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the gateway"),
    );
    cluster.wait_active(3);
    for addr in [&mds_metrics, &cs_metrics, &gw_metrics] {
        eventually(Duration::from_secs(30), "a metrics listener", || {
            http_get(addr, "/metrics").ok().filter(|(s, _)| *s == 200)
        });
    }
    let mds_before = scrape(&mds_metrics);
    let cs_before = scrape(&cs_metrics);
    let cs_part = cs_before
        .iter()
        .find_map(|s| s.labels.get("part").cloned())
        .expect("the chunk server names its part");
    assert!(cs_part.starts_with("cs"), "part {cs_part}");
    // Each lone daemon shows only its own part.
    assert!(mds_before
        .iter()
        .all(|s| s.labels.get("part").is_none_or(|p| p == "mds")));
    assert!(cs_before
        .iter()
        .all(|s| s.labels.get("part").is_none_or(|p| *p == cs_part)));

    traffic(|a| cluster.cairn(a), cluster.root.path(), 2 * MIB);
    eventually(Duration::from_secs(20), "the gateway to answer", || {
        http_get(&s3, "/").ok().filter(|(s, _)| *s == 403)
    });

    let mds_after = scrape(&mds_metrics);
    let cs_after = scrape(&cs_metrics);
    let gw_after = scrape(&gw_metrics);
    assert!(requests(&mds_after, "mds") > requests(&mds_before, "mds"));
    // Counted per gRPC method: the client's calls and the heartbeats.
    let methods: std::collections::BTreeSet<&str> = mds_after
        .iter()
        .filter(|s| s.name == "cairn_requests_total")
        .filter_map(|s| s.labels.get("op").map(String::as_str))
        .collect();
    assert!(
        methods.iter().any(|m| m.starts_with("Metadata/")) && methods.len() >= 3,
        "per-method counts on the MDS: {methods:?}"
    );
    // Every chunk of the object has a replica on each of the three hosts.
    let bytes_in = |s: &[Sample]| sum(s, "cairn_bytes_total", &[("direction", "in")]);
    assert!(bytes_in(&cs_after) - bytes_in(&cs_before) >= (2 * MIB) as f64);
    assert!(requests(&cs_after, &cs_part) > requests(&cs_before, &cs_part));
    assert!(requests(&gw_after, "gateway") >= 1.0);
    // The MDS's listener also serves the status page, listing each CS.
    let (status, page) = http_get(&mds_metrics, "/").expect("GET the status page");
    assert_eq!(status, 200);
    for id in 1..=3 {
        assert!(
            page.contains(&format!("id=cs{id} ")),
            "CS {id} missing from the page"
        );
    }
}
