//! The balancer levels a new, empty chunk server with the others, on real
//! processes.
//!
//! Three chunk servers on hosts h1..h3, 1 GiB of capacity each, hold
//! 256 MiB of objects (64 of 4 MiB: 768 MiB of replicas, each CS 25% full;
//! the figure is 1 GiB of data, a quarter keeps the suite within a
//! few minutes on 2 cores). An empty fourth on h4 is added: within 120 s
//! the fill percentages differ by less than 5 points, no chunk has two
//! replicas on one host, and new chunks went to the new CS first.

mod common;

use std::time::{Duration, Instant};

use common::heal::*;

const MIB: usize = 1 << 20;
const LEVEL_BOUND: Duration = Duration::from_secs(120);

fn fills(stat: &serde_json::Value) -> Vec<(u64, f64)> {
    stat["chunk_servers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|c| c["state"] == "active")
                .filter_map(|c| Some((c["id"].as_u64()?, c["fill"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn spread(fills: &[(u64, f64)]) -> f64 {
    let max = fills.iter().map(|f| f.1).fold(f64::MIN, f64::max);
    let min = fills.iter().map(|f| f.1).fold(f64::MAX, f64::min);
    (max - min) * 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_empty_chunk_server_fills_to_the_level_of_the_others() {
    let mut cluster = HealCluster::start(
        &["h1", "h2", "h3"],
        Opts::default().make_cs(&["--capacity", "1G"]),
    );
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    put_objects(&client, "b", "obj", 64, 4 * MIB, 77, 4).await;
    // Fill comes from the heartbeats: wait for the ones after the writes.
    cluster
        .sample_stat(
            Duration::from_secs(15),
            Duration::from_millis(200),
            |stat| {
                let before = fills(stat);
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

    let last = cluster
        .sample_stat(LEVEL_BOUND, Duration::from_millis(500), |stat| {
            let fills = fills(stat);
            if fills.len() == 4 && spread(&fills) < 5.0 {
                Ok(fills)
            } else {
                Err(format!("fill not level: {fills:?}"))
            }
        })
        .await;
    let took = added.elapsed();
    eprintln!(
        "an empty CS leveled in {took:?}: fills {:?}",
        last.iter()
            .map(|(id, f)| format!("cs {id} {:.1}%", f * 100.0))
            .collect::<Vec<_>>()
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
            (4 * MIB as u64, pattern_md5(77 + i, 4 * MIB)),
            "{key}"
        );
    }
}
