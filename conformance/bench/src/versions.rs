//! `cairn-bench versions`: what S3 versioning costs. PUT and GET of 1 MiB
//! objects at concurrency 16 in a versioned bucket against an unversioned
//! one (same cluster, same run, as a ratio), and ListObjectVersions over
//! many versions in pages of 1,000 next to ListObjectsV2 over the same keys.

use std::{path::PathBuf, time::Duration, time::Instant};

use anyhow::{ensure, Context};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::cluster::Embedded;
use crate::s3load::{bounded, get, payload, put};

/// Operations in flight at once, as the figure asks.
const CONCURRENCY: usize = 16;
/// Size of each large object.
const MIB: usize = 1 << 20;
/// How long one phase may run at most.
const LIMIT: Duration = Duration::from_secs(300);
/// Rounds of PUT+GET per bucket, alternated between the two buckets.
const ROUNDS: usize = 3;
/// Versions per key in the listing bucket: each key is written this often.
const VERSIONS_PER_KEY: usize = 4;
/// Entries per listing page (S3's default and maximum).
const PAGE: i32 = 1000;

async fn enable_versioning(c: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .context("enable versioning")?;
    Ok(())
}

/// (PUT MiB/s, GET MiB/s) of `count` 1 MiB objects, each key written twice
/// (the second write makes a version in a versioned bucket).
async fn put_get(c: &aws_sdk_s3::Client, bucket: &str, count: usize) -> anyhow::Result<(f64, f64)> {
    let body = payload(7, MIB);
    let keys = count / 2;
    let (n, s) = bounded(count, CONCURRENCY, LIMIT, |i| {
        put(c, bucket, format!("o{:06}", i % keys.max(1)), body.clone())
    })
    .await?;
    let put_rate = (n * MIB) as f64 / (1 << 20) as f64 / s;
    let (n, s) = bounded(count, CONCURRENCY, LIMIT, |i| async move {
        let got = get(c, bucket, &format!("o{:06}", i % keys.max(1))).await?;
        ensure!(got == MIB as u64, "short GET: {got} bytes");
        Ok(())
    })
    .await?;
    Ok((put_rate, (n * MIB) as f64 / (1 << 20) as f64 / s))
}

/// The median of each figure of (PUT, GET) pairs.
fn medians(runs: &[(f64, f64)]) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
    )
}

/// Entries per second of a whole listing, in pages of [`PAGE`].
async fn list_rate(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    versions: bool,
) -> anyhow::Result<(usize, f64)> {
    let t = Instant::now();
    let mut seen = 0usize;
    let (mut key_marker, mut version_marker, mut token): (
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (None, None, None);
    for _ in 0..100_000 {
        if versions {
            let page = c
                .list_object_versions()
                .bucket(bucket)
                .max_keys(PAGE)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .context("ListObjectVersions")?;
            seen += page.versions().len() + page.delete_markers().len();
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        } else {
            let page = c
                .list_objects_v2()
                .bucket(bucket)
                .max_keys(PAGE)
                .set_continuation_token(token.clone())
                .send()
                .await
                .context("ListObjectsV2")?;
            seen += page.contents().len();
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            token = page.next_continuation_token().map(str::to_string);
        }
    }
    Ok((seen, seen as f64 / t.elapsed().as_secs_f64()))
}

pub async fn run(
    objects: usize,
    listed: usize,
    dir: Option<PathBuf>,
    cairn: Option<PathBuf>,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let base = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let cluster = Embedded::start(&base, cairn, None).await?;
    let c = cluster.s3.client();
    for b in ["plain", "versioned", "listing"] {
        c.create_bucket().bucket(b).send().await.context("bucket")?;
    }
    enable_versioning(&c, "versioned").await?;
    enable_versioning(&c, "listing").await?;
    // Alternate the two buckets over ROUNDS rounds (ABBA order) and keep
    // each one's median, so a burst of other work on the machine lands on
    // both sides rather than on one.
    let (mut plain_runs, mut versioned_runs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let first_plain = round % 2 == 0;
        for plain_now in [first_plain, !first_plain] {
            let bucket = if plain_now { "plain" } else { "versioned" };
            let run = put_get(&c, bucket, objects).await?;
            eprintln!(
                "round {round} {bucket}: PUT {:.1} MiB/s, GET {:.1} MiB/s",
                run.0, run.1
            );
            if plain_now {
                plain_runs.push(run);
            } else {
                versioned_runs.push(run);
            }
        }
    }
    let plain = medians(&plain_runs);
    let versioned = medians(&versioned_runs);

    // The listing bucket: `listed` versions, VERSIONS_PER_KEY per key.
    let small = payload(3, 16);
    let keys = (listed / VERSIONS_PER_KEY).max(1);
    let (written, _) = bounded(listed, CONCURRENCY * 4, Duration::from_secs(1800), |i| {
        put(&c, "listing", format!("k{:07}", i % keys), small.clone())
    })
    .await?;
    let (n_versions, versions_rate) = list_rate(&c, "listing", true).await?;
    let (n_keys, keys_rate) = list_rate(&c, "listing", false).await?;
    ensure!(
        n_versions == written,
        "listed {n_versions} versions of {written} written"
    );
    cluster.stop().await;

    println!(
        "cairn-bench versions: {objects} PUTs and GETs of 1 MiB at concurrency {CONCURRENCY} (each key written twice; median of {ROUNDS} alternated rounds per bucket), then {written} versions of {n_keys} keys listed in pages of {PAGE}"
    );
    println!("| figure | unversioned | versioned | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| PUT 1 MiB, MiB/s | {:.1} | {:.1} | {:.2} |",
        plain.0,
        versioned.0,
        versioned.0 / plain.0
    );
    println!(
        "| GET 1 MiB, MiB/s | {:.1} | {:.1} | {:.2} |",
        plain.1,
        versioned.1,
        versioned.1 / plain.1
    );
    println!(
        "| listing, entries/s (ListObjectsV2 over {n_keys} keys; ListObjectVersions over {n_versions} versions) | {keys_rate:.0} | {versions_rate:.0} | {:.2} |",
        versions_rate / keys_rate
    );
    Ok(())
}
