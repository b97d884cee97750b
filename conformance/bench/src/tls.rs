//! `cairn-bench tls`: what encryption costs. One `cairn up --tls
//! --plain-listen` serves S3 over HTTPS and over plain HTTP from the same
//! gateway and cluster; large objects one at a time and 1 MiB objects at
//! concurrency 16 go through each, in alternated rounds (ABBA), and each
//! side's median is compared. The cluster's own RPC is mutual TLS always
//! (no plaintext port exists to compare with), so the FUSE mount's
//! sequential write and read are given next to the disk's ceiling, as
//! `cairn-bench all` gives them, with `--baseline-cairn` (a binary from
//! before mutual TLS) adding the same figures over plaintext RPC.

use std::{path::Path, path::PathBuf, time::Duration};

use anyhow::{ensure, Context};

use crate::cluster::Embedded;
use crate::s3load::{bounded, get, payload, put, Target};

/// Operations in flight at once for the 1 MiB objects.
const CONCURRENCY: usize = 16;
const MIB: usize = 1 << 20;
/// How long one phase may run at most.
const LIMIT: Duration = Duration::from_secs(300);

/// How much each round moves.
struct Load {
    big_size: usize,
    big_count: usize,
    mid_count: usize,
    rounds: usize,
    seq_size: u64,
}

impl Load {
    fn new(quick: bool) -> Load {
        if quick {
            Load {
                big_size: 8 * MIB,
                big_count: 2,
                mid_count: 32,
                rounds: 1,
                seq_size: 32 << 20,
            }
        } else {
            Load {
                big_size: 64 * MIB,
                big_count: 6,
                mid_count: 256,
                rounds: 3,
                seq_size: 1 << 30,
            }
        }
    }
}

/// MiB/s of (PUT large, GET large, PUT 1 MiB, GET 1 MiB) in `bucket`.
async fn round(c: &aws_sdk_s3::Client, bucket: &str, load: &Load) -> anyhow::Result<[f64; 4]> {
    let rate = |n: usize, size: usize, s: f64| (n * size) as f64 / MIB as f64 / s;
    let big = payload(11, load.big_size);
    let (n, s) = bounded(load.big_count, 1, LIMIT, |i| {
        put(c, bucket, format!("big/{i}"), big.clone())
    })
    .await?;
    let put_big = rate(n, load.big_size, s);
    let (n, s) = bounded(n, 1, LIMIT, |i| async move {
        let got = get(c, bucket, &format!("big/{i}")).await?;
        ensure!(got == load.big_size as u64, "short GET of big/{i}");
        Ok(())
    })
    .await?;
    let get_big = rate(n, load.big_size, s);
    let mid = payload(12, MIB);
    let (n, s) = bounded(load.mid_count, CONCURRENCY, LIMIT, |i| {
        put(c, bucket, format!("mid/{i}"), mid.clone())
    })
    .await?;
    let put_mid = rate(n, MIB, s);
    let (n, s) = bounded(n, CONCURRENCY, LIMIT, |i| async move {
        let got = get(c, bucket, &format!("mid/{i}")).await?;
        ensure!(got == MIB as u64, "short GET of mid/{i}");
        Ok(())
    })
    .await?;
    Ok([put_big, get_big, put_mid, rate(n, MIB, s)])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The S3 figures over plain HTTP and over HTTPS, each figure's median.
async fn s3_figures(
    base: &Path,
    cairn: Option<PathBuf>,
    load: &Load,
) -> anyhow::Result<[[f64; 4]; 2]> {
    std::fs::create_dir_all(base)?;
    let plain_port = cairn_testkit::reserve_port();
    let plain_listen = format!("127.0.0.1:{plain_port}");
    let cluster = Embedded::start_with(
        base,
        cairn,
        None,
        &["--tls", "--plain-listen", &plain_listen],
    )
    .await?;
    let ca_pem = std::fs::read(base.join("cairn/etc/local/ca.pem"))
        .context("the cluster CA of `cairn up --tls`")?;
    let tls_target = Target {
        endpoint: format!("https://{}", cluster.s3.addr()),
        ..cluster.s3.clone()
    };
    let plain_target = Target {
        endpoint: format!("http://{plain_listen}"),
        ..cluster.s3.clone()
    };
    let clients = [plain_target.client(), tls_target.https_client(&ca_pem)?];
    for (c, b) in clients.iter().zip(["plain", "tls"]) {
        c.create_bucket().bucket(b).send().await.context("bucket")?;
    }
    let mut runs: [Vec<[f64; 4]>; 2] = [Vec::new(), Vec::new()];
    for r in 0..load.rounds {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let bucket = ["plain", "tls"][side];
            let figures = round(&clients[side], bucket, load).await?;
            eprintln!("round {r} {bucket}: {figures:.1?} MiB/s");
            runs[side].push(figures);
        }
    }
    cluster.stop().await;
    let medians = |side: &Vec<[f64; 4]>| {
        let mut out = [0.0; 4];
        for (k, m) in out.iter_mut().enumerate() {
            *m = median(side.iter().map(|f| f[k]).collect());
        }
        out
    };
    Ok([medians(&runs[0]), medians(&runs[1])])
}

/// Sequential write (with its fsync) and read of one file through the
/// mount of a `cairn up` run by `cairn`, in MiB/s.
async fn mount_figures(
    base: &Path,
    cairn: Option<PathBuf>,
    load: &Load,
) -> anyhow::Result<(f64, f64)> {
    std::fs::create_dir_all(base)?;
    let mount = base.join("mnt");
    let cluster = Embedded::start(base, cairn, Some(mount.clone())).await?;
    let dir = mount.join("bench-tls");
    let sizes = crate::fsload::Sizes {
        seq_size: load.seq_size,
        files: 1,
        limit: LIMIT,
    };
    let figures = tokio::task::spawn_blocking(move || crate::fsload::run("mount", &dir, &sizes))
        .await
        .context("the mount load")??;
    cluster.stop().await;
    Ok((figures.write, figures.read))
}

pub async fn run(
    quick: bool,
    dir: Option<PathBuf>,
    cairn: Option<PathBuf>,
    baseline: Option<PathBuf>,
) -> anyhow::Result<()> {
    let load = Load::new(quick);
    let tmp = tempfile::tempdir_in(dir.as_deref().unwrap_or(&std::env::temp_dir()))?;
    let disk = crate::ceiling::disk(tmp.path(), load.seq_size.min(1 << 30))?;
    let s3 = s3_figures(&tmp.path().join("s3"), cairn.clone(), &load).await?;
    let mount = mount_figures(&tmp.path().join("fs"), cairn, &load).await?;
    let plain_rpc = match baseline {
        Some(bin) => Some(mount_figures(&tmp.path().join("fs-baseline"), Some(bin), &load).await?),
        None => None,
    };

    println!(
        "cairn-bench tls: S3 through one gateway over plain HTTP and over HTTPS (median of {} alternated rounds; large objects of {} MiB one at a time, 1 MiB objects at concurrency {CONCURRENCY}); the FUSE mount's sequential write (fsync at the end) and read of {} MiB, cluster RPC in mutual TLS",
        load.rounds,
        load.big_size / MIB,
        load.seq_size >> 20
    );
    println!("| figure, MiB/s | plain | TLS | TLS / plain |");
    println!("|---|---:|---:|---:|");
    let names = [
        "S3 PUT large",
        "S3 GET large",
        "S3 PUT 1 MiB x16",
        "S3 GET 1 MiB x16",
    ];
    for (k, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} |",
            s3[0][k],
            s3[1][k],
            s3[1][k] / s3[0][k].max(1e-9)
        );
    }
    match plain_rpc {
        Some((w, r)) => {
            println!(
                "| mount sequential write | {w:.1} | {:.1} | {:.2} |",
                mount.0,
                mount.0 / w.max(1e-9)
            );
            println!(
                "| mount sequential read | {r:.1} | {:.1} | {:.2} |",
                mount.1,
                mount.1 / r.max(1e-9)
            );
        }
        None => {
            println!(
                "| mount sequential write (disk + fsync / 3: {:.1}) | – | {:.1} | – |",
                disk.write_fsync_mb_s / 3.0,
                mount.0
            );
            println!(
                "| mount sequential read (disk: {:.1}) | – | {:.1} | – |",
                disk.read_mb_s, mount.1
            );
        }
    }
    Ok(())
}
