//! `cairn-bench`: measures Cairn and, in the same run, the ceilings of the
//! machine it runs on and its peers, and prints figures with their ratios.
//!
//! `cairn-bench all [--quick]`: the machine's ceilings (disk write with
//! fsync, loopback TCP, MD5 on one core); the same S3 load against `cairn
//! up` and Garage (defaults, then fsync on); the same filesystem load on the
//! Cairn mount and a MooseFS mount; a VM image and a source tree on both
//! mounts and the local disk; the healing figures of a four-server
//! cluster. Prints a table and, in the full mode, writes it into
//! BENCHMARKS.md. `--quick` uses small sizes (CI runs it so the harness
//! never rots) and skips a Garage that is not installed.
//!
//! `cairn-bench core [--size 1G] [--dir DIR]`: sequential write and read of
//! one file through the client library with 3 replicas, next to the disk's
//! sequential write with fsync (divided by 3: every byte is written three
//! times on this one disk) and its sequential read.
//!
//! `cairn-bench meta [--ops 2000]`: small metadata operations (4 KiB PUTs,
//! then HEADs, at concurrency 16) with one MDS and with a raft group of
//! three, in the same run, and their ratio.
//!
//! `cairn-bench lost-host [--quick]`: S3 PUTs of 1 MiB objects at
//! concurrency 16 on three hosts (an MDS and a chunk server each), then
//! with one host cut off (SIGSTOP), and the time from the cut to the first
//! acknowledged PUT sent after it (issue 25); `all` runs it too.
//!
//! `cairn-bench tls [--quick] [--baseline-cairn BIN]`: S3 over HTTPS
//! against plain HTTP through one gateway, and the mount's sequential
//! figures over the cluster's mutual TLS (issue 20).
//!
//! `cairn-bench images [--quick]`: a VM image file driven by fio (4 KiB
//! random writes with fdatasync, without, random reads, a 64 KiB 70/30
//! mix) and a source tree's `tar -xf` and `rm -rf`, on the Cairn mount, a
//! MooseFS mount and the local disk in the same run (issue 19); `all` runs
//! it too.

mod ceiling;
mod cluster;
mod fio;
mod fsload;
mod garage;
mod heal;
mod images;
mod lost_host;
mod meta;
mod moosefs;
mod report;
mod s3load;
mod sys;
mod tls;
mod versions;

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use bytes::Bytes;
use cairn_client::{ObjectMeta, PutConditions};
use cairn_common::units::{format_size, parse_size};
use clap::{Parser, Subcommand};
use futures::StreamExt;

#[derive(Parser)]
#[command(about = "Benchmarks of Cairn against the machine's ceilings and its peers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sequential write and read through the client library, 3 replicas.
    ///
    /// Example: cairn-bench core --size 1G
    Core {
        /// Bytes to write and read.
        #[arg(long, default_value = "1G", value_parser = parse_size)]
        size: u64,
        /// Where the cluster and the ceiling files live (a temp dir by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The cairn binary (default: next to this one).
        #[arg(long, env = "CAIRN_BIN")]
        cairn: Option<PathBuf>,
    },
    /// Everything: ceilings, S3 against Garage, FS against MooseFS, VM
    /// images, healing, a lost host.
    ///
    /// Example: cargo run --release -p cairn-bench -- all
    All(AllArgs),
    /// 4 KiB PUTs and HEADs at concurrency 16, with 1 MDS and with 3.
    ///
    /// Example: cairn-bench meta --ops 2000
    Meta {
        /// Objects to PUT (and then HEAD) with each cluster.
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        /// Where the clusters live (a temp dir by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The cairn binary (default: next to this one).
        #[arg(long, env = "CAIRN_BIN")]
        cairn: Option<PathBuf>,
    },
    /// S3 versioning's cost: 1 MiB PUT/GET at concurrency 16 in a versioned
    /// bucket against an unversioned one, and ListObjectVersions against
    /// ListObjectsV2.
    ///
    /// Example: cairn-bench versions --objects 512 --listed 100000
    Versions {
        /// 1 MiB objects to PUT and GET in each bucket.
        #[arg(long, default_value_t = 512)]
        objects: usize,
        /// Versions to write and list.
        #[arg(long, default_value_t = 100_000)]
        listed: usize,
        /// Where the cluster lives (a temp dir by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The cairn binary (default: next to this one).
        #[arg(long, env = "CAIRN_BIN")]
        cairn: Option<PathBuf>,
    },
    /// S3 PUTs of 1 MiB at concurrency 16 with three hosts, then with one
    /// cut off (SIGSTOP of its MDS and chunk server).
    ///
    /// Example: cairn-bench lost-host
    LostHost {
        /// Phases of a few seconds (CI).
        #[arg(long)]
        quick: bool,
        /// `cairn mds --offline-after` (default: the product's, 10 s).
        #[arg(long)]
        offline_after: Option<u64>,
        /// Where the cluster lives (a temp dir by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The cairn binary (default: next to this one).
        #[arg(long, env = "CAIRN_BIN")]
        cairn: Option<PathBuf>,
    },
    /// The cost of encryption: S3 over HTTPS against plain HTTP through one
    /// gateway, and the mount's sequential figures over mutual TLS.
    ///
    /// Example: cairn-bench tls --dir /var/tmp
    Tls(TlsArgs),
    /// A VM image on the mount: fio phases and a source tree's tar -x and
    /// rm -rf, on the Cairn mount, a MooseFS mount and the local disk.
    ///
    /// Example: cairn-bench images --dir /var/tmp
    Images {
        /// A small image and phases of a few seconds (CI).
        #[arg(long)]
        quick: bool,
        /// Where the targets keep their data and the local disk's image
        /// lives (a temp dir inside it; default: the system's temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The cairn binary (default: next to this one).
        #[arg(long, env = "CAIRN_BIN")]
        cairn: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
struct TlsArgs {
    /// Small sizes and one round (CI).
    #[arg(long)]
    quick: bool,
    /// Where the clusters live (a temp dir inside it; default: the
    /// system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The cairn binary (default: next to this one).
    #[arg(long, env = "CAIRN_BIN")]
    cairn: Option<PathBuf>,
    /// A cairn binary from before mutual TLS: the mount's figures over its
    /// plaintext cluster RPC, for the ratio.
    #[arg(long)]
    baseline_cairn: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct AllArgs {
    /// Small sizes, a few minutes at most (CI); writes no report by default.
    #[arg(long)]
    quick: bool,
    /// Where every system keeps its data (a temp dir inside it, removed at
    /// the end; default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The cairn binary (default: next to this one).
    #[arg(long, env = "CAIRN_BIN")]
    cairn: Option<PathBuf>,
    /// The Markdown file the figures are written into (default in the full
    /// mode: BENCHMARKS.md of the current directory).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write no report file.
    #[arg(long, conflicts_with = "report")]
    no_report: bool,
    /// Parts to leave out: s3, garage, fs, moosefs, images, heal,
    /// lost-host (moosefs also leaves MooseFS out of images).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
}

/// A deterministic 1 MiB block, varied per index so nothing dedups.
fn block(i: u64) -> Bytes {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(1 << 20);
    while v.len() < (1 << 20) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(v)
}

async fn core(size: u64, dir: Option<PathBuf>, cairn: Option<PathBuf>) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let blocks = size.div_ceil(1 << 20);
    let size = blocks << 20;

    let disk = ceiling::disk(tmp.path(), size)?;
    let cluster = cluster::Embedded::start(tmp.path(), cairn, None).await?;
    let client = cluster.client()?;
    client
        .create_bucket("bench", "")
        .await
        .context("create the bench bucket")?;

    // Blocks are made before the clock starts: the figure is Cairn's, not
    // the generator's.
    let data: Vec<Bytes> = (0..blocks.min(64)).map(block).collect();
    let body = futures::stream::iter(
        (0..blocks)
            .map(move |i| Ok::<_, std::io::Error>(data[(i % data.len() as u64) as usize].clone())),
    );
    let t = Instant::now();
    let node = client
        .put_object(
            "bench",
            b"seq",
            body,
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .context("write")?;
    let write_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut read = 0u64;
    while let Some(p) = stream.next().await {
        read += p.context("read")?.len() as u64;
    }
    let read_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(read == size, "read {read} bytes of {size}");
    cluster.stop().await;

    let write = mb_per_s(size, write_s);
    let read = mb_per_s(size, read_s);
    let write_ceiling = disk.write_fsync_mb_s / 3.0;
    println!(
        "cairn-bench core: {} through the client library, 3 replicas",
        format_size(size)
    );
    println!("| figure | MB/s | ceiling MB/s | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| disk sequential write + fsync (raw) | {:.0} | | |",
        disk.write_fsync_mb_s
    );
    println!("| disk sequential read (raw) | {:.0} | | |", disk.read_mb_s);
    println!(
        "| Cairn sequential write, 3 replicas | {write:.0} | {write_ceiling:.0} (raw / 3) | {:.2} |",
        write / write_ceiling
    );
    println!(
        "| Cairn sequential read | {read:.0} | {:.0} (raw) | {:.2} |",
        disk.read_mb_s,
        read / disk.read_mb_s
    );
    Ok(())
}

const MIB: u64 = 1 << 20;

/// Sizes of the full run (the issues' figures) and of the quick one.
fn sizes(quick: bool) -> (s3load::Sizes, fsload::Sizes, heal::Sizes) {
    use std::time::Duration;
    if quick {
        (
            s3load::Sizes {
                big_size: 8 << 20,
                big_count: 2,
                mid_count: 32,
                small_count: 300,
                concurrency: 16,
                limit: Duration::from_secs(20),
            },
            fsload::Sizes {
                seq_size: 32 * MIB,
                files: 200,
                limit: Duration::from_secs(20),
            },
            heal::Sizes {
                data: 64 * MIB,
                object: 4 * MIB,
                capacity: "512M",
                limit: Duration::from_secs(90),
            },
        )
    } else {
        (
            s3load::Sizes {
                big_size: 64 << 20,
                big_count: 4,
                mid_count: 128,
                small_count: 10_000,
                concurrency: 16,
                limit: Duration::from_secs(30),
            },
            fsload::Sizes {
                seq_size: 1024 * MIB,
                files: 10_000,
                limit: Duration::from_secs(60),
            },
            heal::Sizes {
                data: 1024 * MIB,
                object: 64 * MIB,
                capacity: "4G",
                limit: Duration::from_secs(300),
            },
        )
    }
}

/// Runs one part; a failure becomes a note (the other parts still run)
/// and makes the whole run fail at the end.
async fn part<T>(
    name: &str,
    failed: &mut Vec<String>,
    notes: &mut Vec<String>,
    fut: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Option<T> {
    eprintln!("cairn-bench: {name} (load average {})", sys::load());
    match fut.await {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("cairn-bench: {name} FAILED: {e:#}");
            notes.push(format!("{name} failed: {e:#}"));
            failed.push(name.to_string());
            None
        }
    }
}

async fn all(args: AllArgs) -> anyhow::Result<()> {
    let skip = |p: &str| args.skip.iter().any(|s| s == p);
    let (s3_sizes, fs_sizes, heal_sizes) = sizes(args.quick);
    let tmp = tempfile::Builder::new()
        .prefix("cairn-bench-")
        .tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let cairn = cluster::cairn_bin(args.cairn.clone());
    anyhow::ensure!(
        cairn.is_file(),
        "no cairn binary at {}: build it (cargo build --release -p cairn) or set CAIRN_BIN",
        cairn.display()
    );
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut run = report::Run {
        date: sys::today(),
        machine: sys::machine(),
        command: format!("cargo run --release -p cairn-bench -- {}", argv.join(" ")),
        quick: args.quick,
        ..Default::default()
    };
    let mut failed = Vec::new();
    let mut notes = Vec::new();
    notes.push(format!(
        "load average (1 min) at the start: {}",
        sys::load()
    ));

    // The machine's ceilings.
    let ceiling_size = if args.quick { 128 * MIB } else { 2048 * MIB };
    run.disk = part("ceiling: disk", &mut failed, &mut notes, async {
        ceiling::disk(tmp.path(), ceiling_size)
    })
    .await;
    run.tcp = part("ceiling: loopback TCP", &mut failed, &mut notes, async {
        ceiling::loopback_tcp(ceiling_size * 4, std::time::Duration::from_secs(5)).await
    })
    .await;
    run.md5 = Some(ceiling::md5_one_core(ceiling_size / 2));

    // Cairn: the S3 load and the FS load on one `cairn up --mount`.
    if !skip("s3") {
        run.s3_sizes = Some(s3_sizes.clone());
    }
    if !skip("fs") {
        run.fs_sizes = Some(fs_sizes.clone());
    }
    // Each load gets a fresh `cairn up`, so that a failure of one (say,
    // file descriptors run out) does not spill into the other's figures.
    if !skip("s3") {
        let dir = tmp.path().join("cairn-s3");
        std::fs::create_dir_all(&dir)?;
        if let Some(up) = part(
            "Cairn: start",
            &mut failed,
            &mut notes,
            cluster::Embedded::start(&dir, Some(cairn.clone()), None),
        )
        .await
        {
            run.cairn_s3 = part("Cairn: S3 load", &mut failed, &mut notes, async {
                s3load::create_bucket(&up.s3, "bench").await?;
                s3load::run(&up.s3, "bench", &s3_sizes).await
            })
            .await;
            up.stop().await;
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    if !skip("fs") {
        let dir = tmp.path().join("cairn-fs");
        std::fs::create_dir_all(&dir)?;
        let mnt = dir.join("mnt");
        if let Some(up) = part(
            "Cairn: start with --mount",
            &mut failed,
            &mut notes,
            cluster::Embedded::start(&dir, Some(cairn.clone()), Some(mnt.clone())),
        )
        .await
        {
            let z = fs_sizes.clone();
            run.cairn_fs = part("Cairn: FS load", &mut failed, &mut notes, async move {
                tokio::task::spawn_blocking(move || fsload::run("Cairn", &mnt.join("fsbench"), &z))
                    .await?
            })
            .await;
            up.stop().await;
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    // Garage, with its defaults and with fsync on.
    if !skip("s3") && !skip("garage") {
        match garage::find(!args.quick) {
            Ok(Some(bin)) => {
                for fsync in [false, true] {
                    let dir = tmp.path().join(if fsync { "garage-fsync" } else { "garage" });
                    std::fs::create_dir_all(&dir)?;
                    let name = if fsync { "Garage (fsync)" } else { "Garage (defaults)" };
                    let figures = part(name, &mut failed, &mut notes, async {
                        let g = garage::Garage::start(&bin, &dir, fsync).await?;
                        let r = s3load::run(&g.s3, garage::BUCKET, &s3_sizes).await;
                        g.stop().await;
                        r
                    })
                    .await;
                    if fsync {
                        run.garage_fsync = figures;
                    } else {
                        run.garage = figures;
                    }
                    std::fs::remove_dir_all(&dir).ok();
                }
            }
            Ok(None) => notes.push(
                "Garage skipped: not installed (set GARAGE_BIN, or run the full mode once to install it)".into(),
            ),
            Err(e) => {
                notes.push(format!("Garage failed to install: {e:#}"));
                failed.push("Garage install".into());
            }
        }
    }

    // MooseFS, with its defaults and with fsync on.
    if !skip("fs") && !skip("moosefs") {
        match moosefs::available() {
            Ok(()) => {
                for fsync in [false, true] {
                    let dir = tmp
                        .path()
                        .join(if fsync { "moosefs-fsync" } else { "moosefs" });
                    std::fs::create_dir_all(&dir)?;
                    let name = if fsync {
                        "MooseFS (fsync)"
                    } else {
                        "MooseFS (defaults)"
                    };
                    let z = fs_sizes.clone();
                    let figures = part(name, &mut failed, &mut notes, async {
                        let m = moosefs::MooseFs::start(&dir, fsync).await?;
                        let mnt = m.mount.clone();
                        let r = tokio::task::spawn_blocking(move || {
                            fsload::run(name, &mnt.join("fsbench"), &z)
                        })
                        .await;
                        m.stop().await;
                        r?
                    })
                    .await;
                    if fsync {
                        run.moosefs_fsync = figures;
                    } else {
                        run.moosefs = figures;
                    }
                    std::fs::remove_dir_all(&dir).ok();
                }
            }
            Err(why) => notes.push(format!("MooseFS skipped: {why}")),
        }
    }

    // A VM image on the mount, the MooseFS mount and the local disk.
    if !skip("images") {
        let sizes = images::Sizes::new(args.quick);
        let dir = tmp.path().join("images");
        std::fs::create_dir_all(&dir)?;
        if let Some(f) = part(
            "images: Cairn, MooseFS, local disk",
            &mut failed,
            &mut notes,
            images::run(&cairn, &dir, &sizes, !skip("moosefs")),
        )
        .await
        {
            failed.extend(f.failed.iter().map(|t| format!("images: {t}")));
            run.images = Some(f);
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    // Healing.
    if !skip("heal") {
        run.heal_sizes = Some(heal_sizes.clone());
        let dir = tmp.path().join("heal");
        std::fs::create_dir_all(&dir)?;
        run.heal = part(
            "Cairn: healing",
            &mut failed,
            &mut notes,
            heal::run(&cairn, &dir, &heal_sizes),
        )
        .await;
        std::fs::remove_dir_all(&dir).ok();
    }

    // Writes while a host is cut off.
    if !skip("lost-host") {
        let sizes = lost_host::Sizes::new(args.quick);
        run.lost_host_sizes = Some(sizes.clone());
        let dir = tmp.path().join("lost-host");
        std::fs::create_dir_all(&dir)?;
        run.lost_host = part(
            "Cairn: lost host",
            &mut failed,
            &mut notes,
            lost_host::run(&cairn, &dir, &sizes),
        )
        .await;
        std::fs::remove_dir_all(&dir).ok();
    }

    for f in [&run.cairn_s3, &run.garage, &run.garage_fsync]
        .into_iter()
        .flatten()
    {
        if f.listed < s3_sizes.small_count {
            notes.push(format!(
                "{}: only {} keys were made within the time bound; LIST walked those",
                f.name, f.listed
            ));
        }
    }
    notes.push(format!("load average (1 min) at the end: {}", sys::load()));
    run.notes = notes;
    let text = run.markdown();
    println!("{text}");
    let target = match (&args.report, args.no_report, args.quick) {
        (Some(p), _, _) => Some(p.clone()),
        (None, false, false) => Some(PathBuf::from("BENCHMARKS.md")),
        _ => None,
    };
    if let Some(p) = target {
        run.write_into(&p)?;
        eprintln!("cairn-bench: figures written into {}", p.display());
    }
    anyhow::ensure!(failed.is_empty(), "parts failed: {}", failed.join(", "));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match cli.command {
            Command::Core { size, dir, cairn } => core(size, dir, cairn).await,
            Command::All(args) => all(args).await,
            Command::Meta { ops, dir, cairn } => meta::run(ops, dir, cairn).await,
            Command::Versions {
                objects,
                listed,
                dir,
                cairn,
            } => versions::run(objects, listed, dir, cairn).await,
            Command::Tls(a) => tls::run(a.quick, a.dir, a.cairn, a.baseline_cairn).await,
            Command::LostHost {
                quick,
                offline_after,
                dir,
                cairn,
            } => lost_host::main(quick, offline_after, dir, cairn).await,
            Command::Images { quick, dir, cairn } => images::main(quick, dir, cairn).await,
        }
    })
}
