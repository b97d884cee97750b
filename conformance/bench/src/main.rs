//! `cairn-bench`: measures Cairn and, in the same run, the ceilings of the
//! machine it runs on, and prints figures with their ratios.
//!
//! `cairn-bench core [--size 1G] [--dir DIR]`: sequential write and read of
//! one file through the client library with 3 replicas, next to the disk's
//! sequential write with fsync (divided by 3: every byte is written three
//! times on this one disk) and its sequential read.

mod ceiling;
mod cluster;

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
    let cluster = cluster::Embedded::start(tmp.path(), cairn).await?;
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match cli.command {
            Command::Core { size, dir, cairn } => core(size, dir, cairn).await,
        }
    })
}
