//! Healing administration: `rm-cs`, `set-attr`, `get-attr`, `wait-healthy`.
//! The commands that wait show a progress bar on standard error (one line
//! per change when it is not a terminal), `--quiet` shows nothing, and
//! `--json` prints the final state for scripts.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use cairn_client::ClusterStat;
use cairn_common::{replicas::ReplicaSpec, units::format_size};
use clap::Args;
use serde::Serialize;

use super::client_for;

/// How often the waiting commands sample the cluster's state.
const POLL: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct RmCsArgs {
    /// Id of the chunk server (see `cairn stat`).
    id: u32,
    /// Remove it at once (a failed disk): its replicas are dropped and
    /// re-replication restores the counts from the other copies.
    #[arg(long)]
    force: bool,
    /// Start the drain and return without waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds (the drain goes on).
    #[arg(long)]
    timeout: Option<u64>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct SetAttrArgs {
    /// BUCKET, BUCKET/DIR or BUCKET/KEY; `/` for the cluster's default
    /// (what new buckets inherit).
    path: String,
    /// Wanted replica count as NORMAL[:MINIMUM], e.g. 3:2: chunks are kept
    /// on NORMAL hosts; while hosts are missing, writes go on with as few
    /// as MINIMUM (default: a majority of NORMAL) and the missing copies
    /// are made when hosts return.
    #[arg(long, value_name = "NORMAL[:MINIMUM]")]
    replicas: Option<ReplicaSpec>,
    /// Wanted storage tier (0 fastest).
    #[arg(long)]
    tier: Option<u32>,
    /// Also everything below the path (existing chunks are re-replicated,
    /// trimmed or moved to match).
    #[arg(short = 'R', long)]
    recursive: bool,
}

#[derive(Args)]
pub struct GetAttrArgs {
    /// BUCKET, BUCKET/DIR or BUCKET/KEY.
    path: String,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct WaitHealthyArgs {
    /// Give up after this many seconds (exit status 1).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Print the final state as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// A one-line progress display on standard error.
struct Progress {
    enabled: bool,
    tty: bool,
    last: String,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet,
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    /// Shows `done` of `total` with a message.
    fn show(&mut self, done: u64, total: u64, message: &str) {
        if !self.enabled {
            return;
        }
        const WIDTH: u64 = 30;
        let filled = (done.min(total) * WIDTH)
            .checked_div(total)
            .unwrap_or(WIDTH);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let line = format!("[{bar}] {message}");
        if line == self.last {
            return;
        }
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.last = line;
    }

    fn finish(&mut self) {
        if self.enabled && self.tty && !self.last.is_empty() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Chunks not (yet) healthy in a sample.
fn unhealthy(stat: &ClusterStat) -> u64 {
    [
        "degraded",
        "urgent",
        "blocked",
        "replicating",
        "overcommitted",
    ]
    .iter()
    .map(|s| stat.chunk_states.get(*s).copied().unwrap_or(0))
    .sum()
}

fn summary(stat: &ClusterStat) -> String {
    let get = |s: &str| stat.chunk_states.get(s).copied().unwrap_or(0);
    format!(
        "{} healthy, {} degraded, {} urgent, {} blocked, {} replicating, {} overcommitted; {}/s",
        get("healthy"),
        get("degraded"),
        get("urgent"),
        get("blocked"),
        get("replicating"),
        get("overcommitted"),
        format_size(stat.copy_bytes_per_sec as u64)
    )
}

#[derive(Serialize)]
struct RmCsOutcome {
    cs_id: u32,
    state: String,
    replicas: u64,
    chunks_lost: u64,
}

pub async fn rm_cs(cluster: Option<&str>, args: RmCsArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let first = client
        .remove_cs(args.id, args.force)
        .await
        .with_context(|| format!("cannot remove chunk server {}", args.id))?;
    let mut outcome = RmCsOutcome {
        cs_id: args.id,
        state: first.state.clone(),
        replicas: first.replicas,
        chunks_lost: first.chunks_lost,
    };
    if first.chunks_lost > 0 {
        eprintln!(
            "warning: chunk server {} held the last replica of {} chunks: their data is lost",
            args.id, first.chunks_lost
        );
    }
    if outcome.state != "removed" && !args.no_wait {
        let mut progress = Progress::new(args.quiet || args.json);
        let total = first.replicas.max(1);
        let deadline = args
            .timeout
            .map(|t| Instant::now() + Duration::from_secs(t));
        loop {
            let stat = client
                .stat()
                .await
                .context("cannot read the cluster's state")?;
            let Some(cs) = stat.chunk_servers.iter().find(|c| c.id == args.id) else {
                outcome.state = "removed".into();
                outcome.replicas = 0;
                progress.show(total, total, "removed");
                break;
            };
            outcome.replicas = cs.replicas;
            progress.show(
                total.saturating_sub(cs.replicas),
                total,
                &format!(
                    "draining cs {}: {} replicas left, {} copies running",
                    args.id, cs.replicas, cs.copies_out
                ),
            );
            if deadline.is_some_and(|d| Instant::now() >= d) {
                progress.finish();
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&outcome)?);
                }
                bail!(
                    "chunk server {} still holds {} replicas; the drain goes on (follow it with \
                     `cairn stat`)",
                    args.id,
                    cs.replicas
                );
            }
            tokio::time::sleep(POLL).await;
        }
        progress.finish();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if !args.quiet {
        match outcome.state.as_str() {
            "removed" => println!("chunk server {} removed", args.id),
            _ => println!(
                "chunk server {} draining: {} replicas to move; follow with `cairn stat`",
                args.id, outcome.replicas
            ),
        }
    }
    Ok(())
}

pub async fn set_attr(cluster: Option<&str>, args: SetAttrArgs) -> anyhow::Result<()> {
    if args.replicas.is_none() && args.tier.is_none() {
        bail!("nothing to set: give --replicas NORMAL[:MINIMUM] and/or --tier T");
    }
    let client = client_for(cluster).await?;
    let changed = client
        .set_path_attrs(&args.path, args.replicas, args.tier, args.recursive)
        .await
        .with_context(|| format!("cannot set the attributes of {}", args.path))?;
    println!(
        "{}: {} inode{} changed; existing chunks follow in the background (`cairn wait-healthy`)",
        args.path,
        changed.nodes,
        if changed.nodes == 1 { "" } else { "s" }
    );
    Ok(())
}

#[derive(Serialize)]
struct AttrView {
    path: String,
    ino: u64,
    kind: String,
    replicas: u32,
    /// The fewest replicas a write may go on with.
    min_replicas: u32,
    tier: u32,
    size: u64,
    chunks: usize,
    /// Live replicas of each chunk of a file, in layout order.
    chunk_replicas: Vec<usize>,
}

pub async fn get_attr(cluster: Option<&str>, args: GetAttrArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let node = client
        .resolve_path(&args.path)
        .await
        .with_context(|| format!("cannot find {}", args.path))?;
    let ids: Vec<u64> = node.extents.iter().map(|e| e.chunk_id).collect();
    let locations = client.locate(&ids).await?;
    let view = AttrView {
        path: args.path.clone(),
        ino: node.ino,
        kind: format!("{:?}", node.kind).to_lowercase(),
        replicas: node.replicas,
        min_replicas: cairn_common::replicas::minimum(node.replicas, node.min_replicas),
        tier: node.tier,
        size: node.size,
        chunks: ids.len(),
        chunk_replicas: ids
            .iter()
            .map(|id| {
                locations
                    .iter()
                    .find(|l| l.chunk_id == *id)
                    .map_or(0, |l| l.replicas.len())
            })
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!(
        "{}: {} (inode {}), replicas {}:{}, tier {}",
        view.path, view.kind, view.ino, view.replicas, view.min_replicas, view.tier
    );
    if view.chunks > 0 {
        println!(
            "  {} in {} chunks; replicas listed per chunk: {:?}",
            format_size(view.size),
            view.chunks,
            view.chunk_replicas
        );
    }
    Ok(())
}

pub async fn wait_healthy(cluster: Option<&str>, args: WaitHealthyArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let mut progress = Progress::new(args.quiet || args.json);
    let mut worst = 0u64;
    let (stat, healthy) = client
        .wait_healthy(Duration::from_secs(args.timeout), POLL, |stat| {
            let bad = unhealthy(stat);
            worst = worst.max(bad);
            progress.show(worst - bad, worst, &summary(stat));
        })
        .await
        .context("cannot read the cluster's state")?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stat)?);
    } else if !args.quiet {
        println!(
            "{}: {}",
            if healthy { "healthy" } else { "not healthy" },
            summary(&stat)
        );
        for b in &stat.blocked {
            println!("  blocked chunk {}: {}", b.chunk_id, b.reason);
        }
    }
    if !healthy {
        bail!(
            "the cluster is not healthy after {} s ({} chunks to go)",
            args.timeout,
            unhealthy(&stat)
        );
    }
    Ok(())
}
