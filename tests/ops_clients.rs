//! The client table: the S3 gateway and the FUSE mount of a real `cairn up
//! --mount` report what they serve to the MDS, and `cairn stat --json`,
//! `cairn stat` and the status page show both doors with their figures.

mod common;
mod ops_support;

use std::{io::Write, time::Duration};

use aws_sdk_s3::primitives::ByteStream;
use common::{
    path_str,
    s3::{body_bytes, sdk_client},
};
use ops_support::{eventually, http_get, Unmount, Up};

const OBJECT: usize = 300 * 1024;
const FILE: usize = 1 << 20;

/// The `clients[]` entry of `kind` in a stat reply.
fn door<'a>(stat: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    stat["clients"]
        .as_array()?
        .iter()
        .find(|c| c["kind"].as_str() == Some(kind))
}

/// `cairn stat --json` of the cluster whose config is in `etc`.
fn stat_json(etc: &std::path::Path) -> Option<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_CONFIG_DIR", etc)
        .env("CAIRN_CLUSTER", "local")
        .env("RUST_LOG", "warn")
        .args(["stat", "--json"])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn figure(door: &serde_json::Value, name: &str) -> u64 {
    door[name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn gateways_and_mounts_report_what_they_serve() {
    let root = tempfile::tempdir().expect("temp dir");
    let mnt = root.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    let _unmount = Unmount(mnt.clone());
    let up = Up::start(&["--mount", path_str(&mnt)]);

    // S3: a bucket, one PUT and one GET of OBJECT bytes, with a new key.
    let out = up.cairn(&["key", "create", "clients", "--json"]);
    common::assert_success(&out, "key create");
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    let s3 = sdk_client(
        &format!("http://{}", up.s3_addr),
        key["access_key"].as_str().expect("access_key"),
        key["secret_key"].as_str().expect("secret_key"),
    );
    s3.create_bucket()
        .bucket("clients")
        .send()
        .await
        .expect("create bucket");
    let body = common::pattern(1, OBJECT);
    s3.put_object()
        .bucket("clients")
        .key("object")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put object");
    let got = s3
        .get_object()
        .bucket("clients")
        .key("object")
        .send()
        .await
        .expect("get object");
    assert_eq!(body_bytes(got).await, body);

    // FUSE: a bucket (mkdir at the top) and a file written with an fsync.
    let mnt_dir = mnt.clone();
    tokio::task::spawn_blocking(move || {
        let dir = mnt_dir.join("fsdoor");
        std::fs::create_dir(&dir).expect("mkdir through the mount");
        let mut f = std::fs::File::create(dir.join("file.bin")).expect("create through the mount");
        f.write_all(&common::pattern(2, FILE)).expect("write");
        f.sync_all().expect("fsync through the mount");
    })
    .await
    .expect("the mount's writer");

    // Both doors report every 2 s: their totals reach the MDS.
    let stat = tokio::task::spawn_blocking({
        let etc = up.etc();
        move || {
            eventually(Duration::from_secs(20), "both doors' reports", || {
                let stat = stat_json(&etc)?;
                let gateway = door(&stat, "gateway")?;
                let mount = door(&stat, "mount")?;
                (figure(gateway, "write_bytes") >= OBJECT as u64
                    && figure(gateway, "read_bytes") >= OBJECT as u64
                    && figure(mount, "write_bytes") >= FILE as u64
                    && figure(mount, "fsyncs") >= 1)
                    .then_some(stat)
            })
        }
    })
    .await
    .expect("the stat poller");
    let gateway = door(&stat, "gateway").expect("the gateway's entry");
    let mount = door(&stat, "mount").expect("the mount's entry");
    // CreateBucket and PutObject are writes; the GET is a read.
    assert!(figure(gateway, "write_ops") >= 2, "{gateway}");
    assert!(figure(gateway, "read_ops") >= 1, "{gateway}");
    assert_eq!(gateway["name"].as_str(), Some(up.s3_addr.as_str()));
    assert!(figure(mount, "write_ops") >= 1, "{mount}");
    assert_eq!(mount["name"].as_str(), Some(path_str(&mnt)));
    for d in [gateway, mount] {
        assert!(
            d["report_age_ms"].as_i64().is_some_and(|a| a < 30_000),
            "{d}"
        );
        assert!(!d["host"].as_str().unwrap_or("").is_empty(), "{d}");
    }

    // An anonymous request is refused: one more read, and an error.
    let errors = figure(gateway, "errors");
    let reads = figure(gateway, "read_ops");
    let (status, _) = http_get(&up.s3_addr, "/").expect("anonymous GET");
    assert_eq!(status, 403);
    let up_etc = up.etc();
    tokio::task::spawn_blocking(move || {
        eventually(
            Duration::from_secs(20),
            "the refused request's report",
            || {
                let stat = stat_json(&up_etc)?;
                let g = door(&stat, "gateway")?;
                (figure(g, "errors") > errors && figure(g, "read_ops") > reads).then_some(())
            },
        )
    })
    .await
    .expect("the stat poller");

    // `cairn stat` for humans lists both doors.
    let out = up.cairn(&["stat"]);
    common::assert_success(&out, "stat");
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |kind: &str, name: &str| {
        text.lines()
            .any(|l| l.starts_with(kind) && l.contains(name))
    };
    assert!(row("gateway", &up.s3_addr), "{text}");
    assert!(row("mount", path_str(&mnt)), "{text}");

    // The status page has a row for each.
    let (status, page) = http_get(&up.metrics_addr, "/").expect("GET the status page");
    assert_eq!(status, 200);
    assert!(
        page.contains("<tr class=client><td class=l>gateway</td>"),
        "{page}"
    );
    assert!(
        page.contains("<tr class=client><td class=l>mount</td>"),
        "{page}"
    );
    drop(up);
}
