//! The balancer levels a new, empty chunk server with the others, on real
//! processes.
//!
//! Three chunk servers on hosts h1..h3, 1 GiB of capacity each, hold
//! 256 MiB of objects (64 of 4 MiB: 768 MiB of replicas, each CS 25% full;
//! the figure is 1 GiB of data, a quarter keeps the suite within a
//! few minutes on 2 cores). An empty fourth on h4 is added: within 120 s
//! the fill percentages of the chunk map differ by less than 5 points with
//! no copy in flight, and those of the disks follow within 30 s more; no
//! chunk has two replicas on one host, and new chunks went to the new CS
//! first.

mod common;

use std::time::{Duration, Instant};

use common::heal::*;

const MIB: usize = 1 << 20;
/// Every object is one chunk of this size.
const CHUNK: usize = 4 * MIB;
/// After the chunk map is level, the time the disks get to catch up: the
/// moved replicas are deleted at their servers' next heartbeats.
const SETTLE_BOUND: Duration = Duration::from_secs(30);
const LEVEL_BOUND: Duration = Duration::from_secs(120);

/// Fill of each active CS as its heartbeats report it: bytes on its disk.
fn disk_fills(stat: &serde_json::Value) -> Vec<(u64, f64)> {
    active(stat)
        .filter_map(|c| Some((c["id"].as_u64()?, c["fill"].as_f64()?)))
        .collect()
}

/// Fill of each active CS as the chunk map has it (what the balancer
/// levels): its replicas, all of `CHUNK` bytes here, over its capacity.
fn map_fills(stat: &serde_json::Value) -> Vec<(u64, f64)> {
    active(stat)
        .filter_map(|c| {
            let capacity = c["capacity"].as_u64().filter(|c| *c > 0)?;
            let bytes = c["replicas"].as_u64()? * CHUNK as u64;
            Some((c["id"].as_u64()?, bytes as f64 / capacity as f64))
        })
        .collect()
}

/// Copies in flight towards or from any CS.
fn copies_in_flight(stat: &serde_json::Value) -> u64 {
    active(stat)
        .map(|c| c["copies_in"].as_u64().unwrap_or(0) + c["copies_out"].as_u64().unwrap_or(0))
        .sum()
}

fn active(stat: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    stat["chunk_servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["state"] == "active")
}

/// Largest difference of fill, in percentage points.
fn spread(fills: &[(u64, f64)]) -> f64 {
    let max = fills.iter().map(|f| f.1).fold(f64::MIN, f64::max);
    let min = fills.iter().map(|f| f.1).fold(f64::MAX, f64::min);
    (max - min) * 100.0
}

fn percents(fills: &[(u64, f64)]) -> Vec<String> {
    fills
        .iter()
        .map(|(id, f)| format!("cs {id} {:.1}%", f * 100.0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_empty_chunk_server_fills_to_the_level_of_the_others() {
    let mut cluster = HealCluster::start(
        &["h1", "h2", "h3"],
        Opts::default().make_cs(&["--capacity", "1G"]),
    );
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    put_objects(&client, "b", "obj", 64, CHUNK, 77, 4).await;
    // Fill comes from the heartbeats: wait for the ones after the writes.
    cluster
        .sample_stat(
            Duration::from_secs(15),
            Duration::from_millis(200),
            |stat| {
                let before = disk_fills(stat);
                if before.len() == 3 && before.iter().all(|f| f.1 > 0.2 && f.1 < 0.3) {
                    Ok(())
                } else {
                    Err(format!("three CS about 25% full: {before:?}"))
                }
            },
        )
        .await;

    let new = cluster.add("h4", &[]);
    cluster.wait_active(4);
    let new_id = cluster.cs_id(new);
    let added = Instant::now();

    // A new object meanwhile: its chunk goes to the emptiest CS first.
    client
        .put_object(
            "b",
            b"fresh",
            pattern_stream(9, MIB),
            cairn_client::ObjectMeta::default(),
            cairn_client::PutConditions::default(),
        )
        .await
        .expect("put");
    let fresh = placements(&client, "b")
        .await
        .into_iter()
        .find(|p| p.key == b"fresh")
        .expect("fresh object");
    assert!(
        fresh.replicas.contains(&new_id),
        "a new chunk goes to the empty CS: {:?}",
        fresh.replicas
    );

    // The balancer levels the chunk map (within half its threshold of
    // 5 points) and stops; the disks follow once the moved replicas are
    // deleted.
    let level = cluster
        .sample_stat(LEVEL_BOUND, Duration::from_millis(500), |stat| {
            let fills = map_fills(stat);
            let copies = copies_in_flight(stat);
            if fills.len() == 4 && spread(&fills) < 5.0 && copies == 0 {
                Ok(fills)
            } else {
                Err(format!(
                    "chunk map not level: {:?} with {copies} copies in flight; disks {:?}",
                    percents(&fills),
                    percents(&disk_fills(stat))
                ))
            }
        })
        .await;
    let took = added.elapsed();
    let last = cluster
        .sample_stat(SETTLE_BOUND, Duration::from_millis(500), |stat| {
            let fills = disk_fills(stat);
            if fills.len() == 4 && spread(&fills) < 5.0 {
                Ok(fills)
            } else {
                Err(format!(
                    "disks not level: {:?}; chunk map {:?}",
                    percents(&fills),
                    percents(&map_fills(stat))
                ))
            }
        })
        .await;
    eprintln!(
        "an empty CS leveled in {took:?}: chunk map {:?}, disks {:?}",
        percents(&level),
        percents(&last)
    );
    let new_fill = last.iter().find(|f| f.0 == u64::from(new_id)).map(|f| f.1);
    assert!(
        new_fill.is_some_and(|f| f > 0.1),
        "the new CS took data: {last:?}"
    );

    // Moves never put two replicas of a chunk on one host, and every
    // object reads back.
    wait_placements(&cluster, &client, &["b"], 3, None, Duration::from_secs(30)).await;
    for i in 0..64 {
        let key = format!("obj{i}");
        assert_eq!(
            read_md5(&client, "b", &key).await.expect("read"),
            (CHUNK as u64, pattern_md5(77 + i, CHUNK)),
            "{key}"
        );
    }
}
