//! The scrubber finds a corrupted replica nobody reads, and the chunk is
//! restored to three good replicas, on real processes: three chunk servers
//! on hosts h1..h3, scrubbing every 2 s at 100 MB/s (`cairn cs
//! --scrub-interval 2 --scrub-rate 100`).
//!
//! Bound: within 60 s of the corruption, the replica is quarantined (its
//! file renamed `.damaged` by the scrubber: no client read it) and the
//! chunk has three replicas again, each of which reads back the bytes
//! written, directly from its chunk server.

mod common;

use std::time::{Duration, Instant};

use cairn_common::{net, node_cert::Role};
use cairn_proto::{chunk_service_client::ChunkServiceClient, ReadRequest};
use common::heal::*;

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(60);

/// Reads a whole replica from one chunk server.
async fn read_replica(
    cfg: &cairn_common::ClusterConfig,
    addr: &str,
    chunk_id: u64,
    version: u64,
) -> Result<Vec<u8>, String> {
    let tls = cfg.node_tls(Role::Client).map_err(|e| e.to_string())?;
    let endpoint = net::endpoint(addr).map_err(|e| e.to_string())?;
    let channel = net::connect(&endpoint, &tls)
        .await
        .map_err(|e| e.to_string())?;
    let mut cs = ChunkServiceClient::new(channel).max_decoding_message_size(16 << 20);
    let mut stream = cs
        .read(ReadRequest {
            chunk_id,
            version,
            offset: 0,
            length: 0,
        })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let mut out = Vec::new();
    while let Some(piece) = stream
        .message()
        .await
        .map_err(|s| s.message().to_string())?
    {
        out.extend_from_slice(&piece.data);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_replica_is_found_by_the_scrubber_and_replaced() {
    let cluster = HealCluster::start(
        &["h1", "h2", "h3"],
        Opts::default().cs(&["--scrub-interval", "2", "--scrub-rate", "100"]),
    );
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    let len = 3 * MIB + 4321;
    put_objects(&client, "b", "obj", 1, len, 3, 1).await;
    let placed = placements(&client, "b").await;
    assert_eq!(placed.len(), 1);
    let chunk_id = placed[0].chunk_id;

    // Corrupt the replica on the second chunk server, in the middle.
    let victim = 1;
    let victim_id = cluster.cs_id(victim);
    assert!(placed[0].replicas.contains(&victim_id));
    let files = common::replica_files(&cluster.cs[victim].dir);
    let file = files
        .iter()
        .find(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{chunk_id:016x}.")))
        })
        .cloned()
        .expect("the victim's replica file");
    corrupt(&file, (2 * MIB) as u64 + 100, 64);
    let corrupted = Instant::now();

    // The scrubber quarantines it (nobody reads the object).
    let mut damaged = file.clone().into_os_string();
    damaged.push(".damaged");
    let damaged = std::path::PathBuf::from(damaged);
    common::eventually(BOUND, "the scrubber to quarantine the replica", || {
        damaged.exists().then_some(())
    });
    let found = corrupted.elapsed();

    // The chunk is copied from a good replica (until the CS reports the
    // quarantine, the MDS still lists the bad one as live)...
    let remaining = BOUND.saturating_sub(corrupted.elapsed());
    common::eventually(
        remaining,
        "the chunk to be copied from a good replica",
        || {
            let stat = cluster.try_stat()?;
            (stat["copied_bytes"].as_u64()? >= len as u64).then_some(())
        },
    );
    // ...and back at three replicas on three hosts...
    let remaining = BOUND.saturating_sub(corrupted.elapsed());
    wait_placements(&cluster, &client, &["b"], 3, None, remaining).await;
    let restored = corrupted.elapsed();
    eprintln!("corruption found by the scrubber in {found:?}, chunk restored in {restored:?}");

    // ...each of which reads back the bytes written.
    let want = pattern_bytes(3, len);
    let loc = client.locate(&[chunk_id]).await.expect("locate");
    assert_eq!(loc[0].replicas.len(), 3);
    for r in &loc[0].replicas {
        let got = read_replica(&cluster.config(), &r.addr, chunk_id, loc[0].version)
            .await
            .unwrap_or_else(|e| panic!("replica on cs {}: {e}", r.cs_id));
        assert!(got == want, "replica on cs {} reads back wrong", r.cs_id);
    }
    let stat = cluster.stat_json();
    assert!(stat["copied_bytes"].as_u64().unwrap_or(0) >= len as u64);
}
