//! `cairn-bench meta`: small metadata operations per second with one MDS
//! and with a raft group of three MDS (`cairn up --mds-count N`), measured
//! in one run, as a ratio.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use bytes::Bytes;
use cairn_client::{Client, ObjectMeta, PutConditions};
use futures::StreamExt;

use crate::cluster::Embedded;

/// Operations in flight at once, as the figure asks.
const CONCURRENCY: usize = 16;
/// Size of each object.
const OBJECT: usize = 4096;

/// PUTs then HEADs of `n` objects; (PUT/s, HEAD/s).
async fn small_ops(client: &Client, n: usize) -> anyhow::Result<(f64, f64)> {
    client.create_bucket("bench", "").await.context("bucket")?;
    let body = Bytes::from(vec![0x5a; OBJECT]);
    let t = Instant::now();
    let puts: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let (client, body) = (client.clone(), body.clone());
            async move {
                let stream = futures::stream::iter([Ok::<_, std::io::Error>(body)]);
                client
                    .put_object(
                        "bench",
                        format!("k{i:07}").as_bytes(),
                        stream,
                        ObjectMeta::default(),
                        PutConditions::default(),
                    )
                    .await
                    .map(|_| ())
                    .context("PUT")
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let put_s = t.elapsed().as_secs_f64();
    puts.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let t = Instant::now();
    let heads: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                client
                    .head_object("bench", format!("k{i:07}").as_bytes())
                    .await
                    .map(|_| ())
                    .context("HEAD")
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let head_s = t.elapsed().as_secs_f64();
    heads.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok((n as f64 / put_s, n as f64 / head_s))
}

pub async fn run(ops: usize, dir: Option<PathBuf>, cairn: Option<PathBuf>) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let base = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let mut figures = Vec::new();
    for count in [1u32, 3] {
        let dir = base.join(format!("mds{count}"));
        std::fs::create_dir_all(&dir)?;
        let cluster = Embedded::start_with(
            &dir,
            cairn.clone(),
            None,
            &["--mds-count", &count.to_string()],
        )
        .await?;
        let client = cluster.client()?;
        let result = small_ops(&client, ops).await;
        drop(client);
        cluster.stop().await;
        figures.push(result?);
    }
    let ((put1, head1), (put3, head3)) = (figures[0], figures[1]);
    println!("cairn-bench meta: {ops} objects of 4 KiB, concurrency {CONCURRENCY}, client library");
    println!("| figure | 1 MDS | 3 MDS | ratio 3/1 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| PUT 4 KiB per second | {put1:.0} | {put3:.0} | {:.2} |",
        put3 / put1
    );
    println!(
        "| HEAD per second | {head1:.0} | {head3:.0} | {:.2} |",
        head3 / head1
    );
    Ok(())
}
