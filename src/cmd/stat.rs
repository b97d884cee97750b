//! `cairn stat` and `cairn chunks`: the cluster's figures, once.

use anyhow::Context;
use cairn_common::units::format_size;
use clap::Args;
use serde::Serialize;

use super::{client_for, objects::split_path};

#[derive(Args)]
pub struct StatArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ChunksArgs {
    /// BUCKET/KEY of the file.
    target: String,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

pub async fn stat(cluster: Option<&str>, args: StatArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let stat = client
        .stat()
        .await
        .context("cannot read the cluster's state")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stat)?);
        return Ok(());
    }
    println!("cluster {} ({})", stat.cluster_name, stat.cluster_id);
    println!(
        "{} buckets, {} inodes, {} chunks, {} of data",
        stat.buckets,
        stat.inodes,
        stat.chunks,
        format_size(stat.logical_bytes)
    );
    let space = &stat.space;
    println!(
        "space: {} allocatable of {} ({} free on the disks of the chunk servers taking new chunks, over {} replicas)",
        format_size(space.allocatable),
        format_size(space.total),
        format_size(space.raw_free),
        space.replicas
    );
    for (replicas, count) in &stat.chunks_by_replicas {
        println!("  chunks with {replicas} live replicas: {count}");
    }
    let states = stat.chunk_summary();
    println!(
        "chunks: {}; {}",
        if states.is_empty() { "none" } else { &states },
        if stat.healthy {
            "healthy"
        } else {
            "not healthy"
        }
    );
    if stat.copies_in_flight + stat.moves_in_flight > 0 || stat.copy_bytes_per_sec > 0.0 {
        println!(
            "replication: {} copies and {} moves running, {}/s ({} copied since the MDS started)",
            stat.copies_in_flight,
            stat.moves_in_flight,
            format_size(stat.copy_bytes_per_sec as u64),
            format_size(stat.copied_bytes)
        );
    }
    if !stat.writing_degraded.is_empty() {
        println!(
            "writing degraded: new chunks get fewer replicas than normal and are restored when hosts return: {}",
            stat.writing_degraded
        );
    }
    let l = &stat.lifecycle;
    if l.current_deleted
        + l.markers_added
        + l.noncurrent_removed
        + l.markers_removed
        + l.uploads_aborted
        > 0
    {
        println!(
            "lifecycle: {} current versions deleted, {} expired behind delete markers, {} noncurrent versions removed, {} delete markers removed, {} uploads aborted",
            l.current_deleted, l.markers_added, l.noncurrent_removed, l.markers_removed, l.uploads_aborted
        );
    }
    if stat.chunks_placed_short + stat.allocations_refused > 0 {
        println!(
            "since the MDS leads: {} chunks placed below their normal replica count, {} allocations refused",
            stat.chunks_placed_short, stat.allocations_refused
        );
    }
    for b in &stat.blocked {
        println!(
            "  chunk {} cannot be restored yet: {}",
            b.chunk_id, b.reason
        );
    }
    println!(
        "{:>4} {:<10} {:<22} {:>6} {:>10} {:>10} {:>8}",
        "MDS", "ROLE", "ADDR", "TERM", "LOG", "APPLIED", "LAG"
    );
    for m in &stat.mds {
        println!(
            "{:>4} {:<10} {:<22} {:>6} {:>10} {:>10} {:>8}",
            m.id, m.role, m.addr, m.term, m.last_log_index, m.applied_index, m.lag
        );
    }
    println!(
        "{:>4} {:<10} {:<22} {:<12} {:>4} {:>9} {:>9} {:>9} {:>9} {:>5} {:>5} {:>6}",
        "CS",
        "STATE",
        "ADDR",
        "HOST",
        "TIER",
        "CAPACITY",
        "USED",
        "FREE",
        "REPLICAS",
        "FILL",
        "COST",
        "COPIES"
    );
    for cs in &stat.chunk_servers {
        println!(
            "{:>4} {:<10} {:<22} {:<12} {:>4} {:>9} {:>9} {:>9} {:>9} {:>4.0}% {:>5.2} {:>6}",
            cs.id,
            cairn_common::summary::cs_status_name(cs.status),
            cs.addr,
            cs.host,
            cs.tier,
            format_size(cs.capacity),
            format_size(cs.used),
            format_size(cs.free),
            cs.replicas,
            cs.fill * 100.0,
            cs.cost,
            format!("{}/{}", cs.copies_in, cs.copies_out)
        );
    }
    if stat.clients.is_empty() {
        println!("no gateway or mount has reported to the MDS lately");
    } else {
        println!(
            "{:<8} {:<24} {:<12} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7}",
            "CLIENT",
            "NAME",
            "HOST",
            "READ",
            "WRITTEN",
            "RD OPS",
            "WR OPS",
            "FSYNCS",
            "LAT ms",
            "ERRORS"
        );
    }
    for d in &stat.clients {
        println!(
            "{:<8} {:<24} {:<12} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7.1} {:>7}",
            d.kind,
            d.name,
            d.host,
            format_size(d.totals.read_bytes),
            format_size(d.totals.write_bytes),
            d.totals.read_ops,
            d.totals.write_ops,
            d.totals.fsyncs,
            d.latency_ms,
            d.totals.errors
        );
    }
    super::node_certs::print_ends(&stat.certs);
    Ok(())
}

#[derive(Serialize)]
struct ReplicaView {
    cs_id: u32,
    host: String,
    addr: String,
}

#[derive(Serialize)]
struct ChunkView {
    id: u64,
    version: u64,
    length: u64,
    file_offset: u64,
    replicas: Vec<ReplicaView>,
}

pub async fn chunks(cluster: Option<&str>, args: ChunksArgs) -> anyhow::Result<()> {
    let (bucket, key) = split_path(&args.target, false)?;
    let client = client_for(cluster).await?;
    let node = client
        .head_object(bucket, key.as_bytes())
        .await
        .with_context(|| format!("cannot find {}", args.target))?;
    let ids: Vec<u64> = node.extents.iter().map(|e| e.chunk_id).collect();
    let locations = client.locate(&ids).await?;
    let views: Vec<ChunkView> = node
        .extents
        .iter()
        .map(|e| {
            let loc = locations.iter().find(|l| l.chunk_id == e.chunk_id);
            ChunkView {
                id: e.chunk_id,
                version: loc.map_or(0, |l| l.version),
                length: loc.map_or(0, |l| l.length),
                file_offset: e.file_offset,
                replicas: loc
                    .map(|l| {
                        l.replicas
                            .iter()
                            .map(|r| ReplicaView {
                                cs_id: r.cs_id,
                                host: r.host.clone(),
                                addr: r.addr.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    for c in &views {
        let reps: Vec<String> = c
            .replicas
            .iter()
            .map(|r| format!("cs{}@{}", r.cs_id, r.host))
            .collect();
        println!(
            "chunk {:>8} v{} offset {:>12} length {:>10} replicas {}",
            c.id,
            c.version,
            c.file_offset,
            c.length,
            reps.join(",")
        );
    }
    Ok(())
}
