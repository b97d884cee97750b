//! Self-healing after the loss of a disk, on real processes: four chunk
//! servers on hosts h1..h4, one of them `kill -9`ed and its directory
//! removed.
//!
//! Data: 256 MiB in 64 objects of 4 MiB. The figure is 1 GiB with
//! a 60 s bound; a quarter of it keeps the whole heal suite within a few
//! minutes on 2 shared cores, and the bound is kept at 60 s (detection
//! included: the MDS runs with `--offline-after 3 --lost-after 5`, so
//! re-replication starts about 5 s after the kill).

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::heal::*;

const MIB: usize = 1 << 20;
const OBJECTS: usize = 64;
const SIZE: usize = 4 * MIB;
/// From the kill to every chunk back at 3 live replicas on 3 hosts.
const RESTORE_BOUND: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_disk_is_re_replicated_while_every_object_reads_back() {
    let mut cluster = HealCluster::start(
        &["h1", "h2", "h3", "h4"],
        Opts::default().mds(&["--offline-after", "3", "--lost-after", "5"]),
    );
    let client = cluster.client();
    client.create_bucket("data", "").await.expect("bucket");
    put_objects(&client, "data", "obj", OBJECTS, SIZE, 1000, 4).await;
    wait_placements(
        &cluster,
        &client,
        &["data"],
        3,
        None,
        Duration::from_secs(30),
    )
    .await;

    // The victim holds about three quarters of the chunks.
    let victim = 0;
    let dead = cluster.cs_id(victim);
    let on_victim = placements(&client, "data")
        .await
        .iter()
        .filter(|p| p.replicas.contains(&dead))
        .count();
    assert!(on_victim > 0, "cs {dead} holds replicas");
    cluster.destroy(victim);
    let killed = Instant::now();

    // Readers go on through the whole repair: every read must succeed and
    // return the bytes written.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (client, stop, reads) = (client.clone(), stop.clone(), reads.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("obj{}", i % OBJECTS);
                let got = read_md5(&client, "data", &key).await?;
                let want = (SIZE as u64, pattern_md5(1000 + (i % OBJECTS) as u64, SIZE));
                if got != want {
                    return Err(format!("{key} read back wrong during the repair"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok::<(), String>(())
        })
    };

    // Until the MDS counts the dead CS lost (offline after 3 s, lost after
    // 5 s) it still lists its replicas as live: the repair starts then.
    common::eventually(RESTORE_BOUND, "the MDS to count the dead CS lost", || {
        let stat = cluster.try_stat()?;
        let state = servers(&stat).get(&u64::from(dead))?.0.clone();
        (state == "lost").then_some(())
    });
    let left = RESTORE_BOUND.saturating_sub(killed.elapsed());
    let took = wait_placements(&cluster, &client, &["data"], 3, None, left).await;
    let since_kill = killed.elapsed();
    stop.store(true, Ordering::Relaxed);
    reader
        .await
        .expect("reader task")
        .expect("reads during the repair");
    assert!(reads.load(Ordering::Relaxed) > 0, "reads ran meanwhile");
    eprintln!(
        "{on_victim} chunks ({} MiB) of cs {dead} restored {since_kill:?} after the kill \
         ({took:?} of polling); {} reads meanwhile",
        on_victim * SIZE / MIB,
        reads.load(Ordering::Relaxed)
    );
    assert!(since_kill <= RESTORE_BOUND);

    // The dead CS is lost, holds nothing, and the cluster says healthy.
    let stat = cluster.stat_json();
    let dead_row = stat["chunk_servers"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"].as_u64() == Some(u64::from(dead))))
        .cloned()
        .expect("the dead CS is still listed until removed");
    assert_eq!(dead_row["state"], "lost");
    assert_eq!(dead_row["replicas"].as_u64(), Some(0), "{dead_row}");
    assert!(stat["copied_bytes"].as_u64().unwrap_or(0) >= (on_victim * SIZE) as u64);
    common::eventually(Duration::from_secs(20), "stat to say healthy", || {
        cluster
            .try_stat()
            .filter(|s| s["healthy"] == true)
            .map(|_| ())
    });

    // Every object reads back after the repair.
    for i in 0..OBJECTS {
        let key = format!("obj{i}");
        assert_eq!(
            read_md5(&client, "data", &key).await.expect("read"),
            (SIZE as u64, pattern_md5(1000 + i as u64, SIZE)),
            "{key}"
        );
    }

    // The dead CS leaves by force: nothing depended on it any more.
    let out = cluster.cairn(&["rm-cs", &dead.to_string(), "--force", "--json"]);
    common::assert_success(&out, "rm-cs --force");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rm-cs --json");
    assert_eq!(v["state"], "removed");
    assert_eq!(v["chunks_lost"].as_u64(), Some(0));
    let stat = cluster.stat_json();
    assert!(!servers(&stat).contains_key(&u64::from(dead)));
}
