//! S3 lifecycle end to end: a real `cairn up` (MDS, chunk servers, S3
//! door) with a lifecycle day of a second or two, driven by the official
//! `aws-sdk-s3` client and the cluster library. Every wait is a bounded
//! poll.
//!
//! Versioning and object lock are set with the cluster library: their S3
//! endpoints belong to other modules of the door.

mod common;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
};
use common::s3::{bucket_name, error_code, sdk_client, LOCAL_CLUSTER};
use common::{assert_success, cairn_bin, path_str};

/// A `cairn up` that can be killed with SIGKILL and started again on the
/// same data; S3 listens on a port the system picks, read back from the
/// listen file at each start.
struct Up {
    _root: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    access_key: String,
    secret_key: String,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Up {
    fn start(extra: &[&str]) -> Up {
        let root = tempfile::tempdir().expect("temp dir");
        let mut up = Up {
            data: root.path().join("data"),
            log: root.path().join("up.log"),
            _root: root,
            port: 0,
            access_key: "CKLIFECYCLETEST00001".into(),
            secret_key: "lifecycle-test-secret-0123456789abcdefghij".into(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        up.spawn();
        up
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let listen_file = self.log.with_extension("listen");
        let mut cmd = Command::new(cairn_bin());
        cmd.args([
            "up",
            "--data",
            path_str(&self.data),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(&self.extra)
        .env("CAIRN_ACCESS_KEY", &self.access_key)
        .env("CAIRN_SECRET_KEY", &self.secret_key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
        cairn_testkit::listen_into(&mut cmd, &listen_file);
        let child = self.child.insert(cmd.spawn().expect("spawn cairn up"));
        let s3 = cairn_testkit::bound(&listen_file, "s3", child, Duration::from_secs(60));
        self.port = s3.port();
    }

    /// `kill -9`, then the same command again.
    fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        sdk_client(
            &format!("http://127.0.0.1:{}", self.port),
            &self.access_key,
            &self.secret_key,
        )
    }

    fn etc(&self) -> PathBuf {
        self.data.join("etc")
    }

    fn cairn(&self, args: &[&str]) -> std::process::Output {
        Command::new(cairn_bin())
            .args(args)
            .env("CAIRN_CONFIG_DIR", self.etc())
            .env("CAIRN_CLUSTER", LOCAL_CLUSTER)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run cairn")
    }

    fn stat(&self) -> serde_json::Value {
        let out = self.cairn(&["stat", "--json"]);
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn cluster(&self) -> cairn_client::Client {
        let config = cairn_common::ClusterConfig::load_from(&self.etc(), LOCAL_CLUSTER)
            .expect("the local cluster's config");
        cairn_client::Client::connect(&config, cairn_client::ClientOptions::default())
            .expect("cluster client")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The kit's poller (`cairn_testkit::until`) every 200 ms, for at most
/// `limit`, over a check that gives `None` while not yet.
async fn until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let every = Duration::from_millis(200);
    cairn_testkit::until(limit, every, what, || {
        let pending = check();
        async move { pending.await.ok_or_else(String::new) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

/// Every version of the bucket, by key: (version id, delete marker,
/// latest), newest first.
async fn versions(
    cluster: &cairn_client::Client,
    bucket: &str,
) -> BTreeMap<String, Vec<(String, bool, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
    let (mut key_marker, mut id_marker) = (Vec::new(), String::new());
    loop {
        let (page, more) = cluster
            .list_versions(bucket, b"", &key_marker, &id_marker, 1000)
            .await
            .expect("list versions");
        for v in &page {
            out.entry(String::from_utf8_lossy(&v.key).into_owned())
                .or_default()
                .push((v.version_id.clone(), v.delete_marker, v.latest));
        }
        match page.last() {
            Some(v) if more => {
                key_marker = v.key.clone();
                id_marker = v.version_id.clone();
            }
            _ => return out,
        }
    }
}

fn figure(stat: &serde_json::Value, name: &str) -> u64 {
    stat["lifecycle"][name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_configuration_round_trips_and_the_runner_applies_it() {
    let up = Up::start(&["--lifecycle-day-secs", "2", "--release-grace", "1"]);
    let s3 = up.s3();
    let cluster = up.cluster();

    // ---- the configuration itself
    let plain = bucket_name("lc-conf");
    s3.create_bucket().bucket(&plain).send().await.unwrap();
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&plain)
        .send()
        .await;
    assert_eq!(error_code(&got), "NoSuchLifecycleConfiguration");
    // A rule with neither Filter nor Prefix does not follow the schema.
    let bad = BucketLifecycleConfiguration::builder()
        .rules(
            LifecycleRule::builder()
                .id("no-filter")
                .status(ExpirationStatus::Enabled)
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let put = s3
        .put_bucket_lifecycle_configuration()
        .bucket(&plain)
        .lifecycle_configuration(bad)
        .send()
        .await;
    assert_eq!(error_code(&put), "MalformedXML");
    let good = BucketLifecycleConfiguration::builder()
        .rules(
            rule("logs", "logs/")
                .expiration(LifecycleExpiration::builder().days(30).build())
                .build()
                .unwrap(),
        )
        .rules(
            LifecycleRule::builder()
                .status(ExpirationStatus::Disabled)
                .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(2)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&plain)
        .lifecycle_configuration(good)
        .send()
        .await
        .expect("put lifecycle");
    let back = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&plain)
        .send()
        .await
        .expect("get lifecycle");
    let rules = back.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].id(), Some("logs"));
    assert_eq!(rules[0].expiration().and_then(|e| e.days()), Some(30));
    let generated = rules[1].id().unwrap_or_default();
    assert!(!generated.is_empty(), "a rule sent without an ID gets one");
    assert_eq!(rules[1].status(), &ExpirationStatus::Disabled);
    let shown = up.cairn(&["lifecycle", &plain]);
    assert_success(&shown, "cairn lifecycle");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("logs [Enabled]") && text.contains(generated),
        "{text}"
    );
    // x-amz-expiration: on PUT, GET and HEAD of what the rule selects.
    let put = s3
        .put_object()
        .bucket(&plain)
        .key("logs/today")
        .body(ByteStream::from_static(b"log line"))
        .send()
        .await
        .expect("put under the rule");
    let expiration = put.expiration().unwrap_or_default().to_string();
    assert!(
        expiration.starts_with("expiry-date=\"") && expiration.ends_with("rule-id=\"logs\""),
        "{expiration}"
    );
    let head = s3
        .head_object()
        .bucket(&plain)
        .key("logs/today")
        .send()
        .await
        .expect("head");
    assert_eq!(head.expiration(), Some(expiration.as_str()));
    let got = s3
        .get_object()
        .bucket(&plain)
        .key("logs/today")
        .send()
        .await
        .expect("get");
    assert_eq!(got.expiration(), Some(expiration.as_str()));
    let outside = s3
        .put_object()
        .bucket(&plain)
        .key("kept/today")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("put outside the rule");
    assert_eq!(outside.expiration(), None);
    s3.delete_bucket_lifecycle()
        .bucket(&plain)
        .send()
        .await
        .expect("delete lifecycle");
    let gone = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&plain)
        .send()
        .await;
    assert_eq!(error_code(&gone), "NoSuchLifecycleConfiguration");

    // ---- the runner, in a versioned bucket with object lock
    let bucket = bucket_name("lc-run");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    cluster.set_versioning(&bucket, true).await.unwrap();
    cluster.set_object_lock(&bucket, None).await.unwrap();
    let mib = vec![7u8; 1 << 20];
    let put = |key: &'static str| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        let body = mib.clone();
        async move {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        }
    };
    for key in ["exp/a", "exp/b", "exp/c", "old/k", "old/k", "lock/x"] {
        put(key).await;
    }
    cluster
        .set_protection(
            &bucket,
            b"lock/x",
            None,
            &cairn_client::ProtectionChange {
                legal_hold: Some(true),
                ..Default::default()
            },
            false,
        )
        .await
        .expect("legal hold");
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("tmp/big")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_string();
    s3.upload_part()
        .bucket(&bucket)
        .key("tmp/big")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(mib.clone()))
        .send()
        .await
        .unwrap();
    let chunks_before = up.stat()["chunks"].as_u64().unwrap_or(0);
    assert!(chunks_before >= 7, "{chunks_before} chunks");

    let config = BucketLifecycleConfiguration::builder()
        .rules(
            rule("expire", "exp/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        )
        .rules(
            rule("noncurrent", "old/")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .rules(
            rule("locked", "lock/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        )
        .rules(
            rule("uploads", "tmp/")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(config)
        .send()
        .await
        .expect("put lifecycle");

    let seen = until(Duration::from_secs(60), "lifecycle to act", || {
        let cluster = cluster.clone();
        let bucket = bucket.clone();
        async move {
            let v = versions(&cluster, &bucket).await;
            let expired = ["exp/a", "exp/b", "exp/c"].iter().all(|k| {
                v.get(*k)
                    .is_some_and(|vs| vs.len() == 2 && vs[0].1 && vs[0].2 && !vs[1].1)
            });
            let old_pruned = v.get("old/k").is_some_and(|vs| vs.len() == 1);
            let held_hidden = v.get("lock/x").is_some_and(|vs| vs.len() == 2);
            expired.then_some(v).filter(|_| old_pruned && held_hidden)
        }
    })
    .await;
    // The held object is hidden behind a marker, as S3's expiration does
    // to a locked version, and kept: readable by its id.
    let held = &seen["lock/x"];
    assert!(held[0].1 && held[0].2 && !held[1].1, "{seen:?}");
    s3.head_object()
        .bucket(&bucket)
        .key("lock/x")
        .version_id(&held[1].0)
        .send()
        .await
        .expect("the held version stays");
    until(Duration::from_secs(30), "the upload to be aborted", || {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            let l = s3
                .list_multipart_uploads()
                .bucket(&bucket)
                .send()
                .await
                .ok()?;
            l.uploads().is_empty().then_some(())
        }
    })
    .await;
    // Space returns: the removed noncurrent version and the aborted part
    // free their chunks on the chunk servers after the release grace.
    let stat = until(Duration::from_secs(60), "chunks to be freed", || {
        let stat = up.stat();
        let chunks = stat["chunks"].as_u64().unwrap_or(u64::MAX);
        let deleting = stat["chunk_states"]["deleting"].as_u64().unwrap_or(1);
        async move { (chunks + 2 <= chunks_before && deleting == 0).then_some(stat) }
    })
    .await;
    assert!(figure(&stat, "markers_added") >= 3, "{}", stat["lifecycle"]);
    assert!(figure(&stat, "noncurrent_removed") >= 1);
    assert!(figure(&stat, "uploads_aborted") >= 1);
    let events = stat["events"].to_string();
    assert!(events.contains("lifecycle of bucket"), "{events}");
    let shown = up.cairn(&["lifecycle", &bucket, "--json"]);
    assert_success(&shown, "cairn lifecycle --json");
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(report["rules"].as_array().map(Vec::len), Some(4));
    assert!(report["last_pass"]["passes"].as_u64().unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_cut_by_kill_9_finishes_after_restart_and_expires_each_key_once() {
    const KEYS: usize = 40;
    // Five changes a second: the pass over 40 due keys takes 8 s, time
    // enough to kill it in the middle.
    let mut up = Up::start(&["--lifecycle-day-secs", "1", "--lifecycle-rate", "5"]);
    let s3 = up.s3();
    let bucket = bucket_name("lc-crash");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    up.cluster().set_versioning(&bucket, true).await.unwrap();
    for i in 0..KEYS {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("k{i:03}"))
            .body(ByteStream::from(vec![1u8; 100]))
            .send()
            .await
            .unwrap();
    }
    let config = BucketLifecycleConfiguration::builder()
        .rules(
            rule("all", "")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(config)
        .send()
        .await
        .unwrap();
    let markers = |v: &BTreeMap<String, Vec<(String, bool, bool)>>| {
        v.values()
            .map(|vs| vs.iter().filter(|x| x.1).count())
            .sum::<usize>()
    };
    let cluster = up.cluster();
    let midway = until(Duration::from_secs(60), "the pass to be under way", || {
        let cluster = cluster.clone();
        let bucket = bucket.clone();
        async move {
            let n = markers(&versions(&cluster, &bucket).await);
            (n >= 3).then_some(n)
        }
    })
    .await;
    assert!(midway < KEYS, "the pass ended before the kill ({midway})");
    up.kill_and_restart();
    let cluster = up.cluster();
    let done = until(Duration::from_secs(90), "every key to expire", || {
        let cluster = cluster.clone();
        let bucket = bucket.clone();
        async move {
            let v = versions(&cluster, &bucket).await;
            (markers(&v) >= KEYS).then_some(v)
        }
    })
    .await;
    // A whole pass more runs over the expired keys, and changes nothing.
    let passes = |up: &Up| {
        let out = up.cairn(&["lifecycle", &bucket, "--json"]);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let pass = &report["last_pass"];
        let finished = pass["finished_unix_ms"].as_u64().unwrap_or(0) > 0;
        (pass["passes"].as_u64().unwrap_or(0), finished)
    };
    let (first, _) = passes(&up);
    until(Duration::from_secs(30), "one more whole pass", || {
        let (n, finished) = passes(&up);
        async move { (n >= first + 2 && finished).then_some(()) }
    })
    .await;
    let after = versions(&cluster, &bucket).await;
    assert_eq!(after, done, "a later pass changed expired keys");
    assert_eq!(after.len(), KEYS);
    for (key, vs) in &after {
        let markers = vs.iter().filter(|v| v.1).count();
        assert_eq!(markers, 1, "{key}: {vs:?}\n{}", up.log_text());
        assert_eq!(vs.len(), 2, "{key}: the object stays as noncurrent");
        assert!(vs[0].1 && vs[0].2, "{key}: the marker is the latest");
    }
}
