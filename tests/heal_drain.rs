//! `cairn rm-cs` drains a chunk server under a running writer, on real
//! processes: four chunk servers on hosts h1..h4.
//!
//! Data: 64 MiB in 32 objects of 2 MiB before the drain, and 1 MiB objects
//! written all along it. `cairn stat --json` is sampled throughout: at no
//! sample is any committed chunk below its wanted three live replicas
//! (degraded, urgent or blocked). The drain must end, the CS gone from the
//! cluster, within 120 s.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::heal::*;

const MIB: usize = 1 << 20;
const DRAIN_BOUND: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rm_cs_drains_without_any_chunk_below_three_replicas() {
    let cluster = HealCluster::start(&["h1", "h2", "h3", "h4"], Opts::default());
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    put_objects(&client, "b", "before", 32, 2 * MIB, 10, 4).await;
    wait_placements(&cluster, &client, &["b"], 3, None, Duration::from_secs(30)).await;
    let leaving = cluster.cs_id(2);

    // A writer runs through the whole drain.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (client, stop, written) = (client.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("during{i}");
                client
                    .put_object(
                        "b",
                        key.as_bytes(),
                        pattern_stream(5000 + i as u64, MIB),
                        cairn_client::ObjectMeta::default(),
                        cairn_client::PutConditions::default(),
                    )
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
            Ok::<usize, String>(i)
        })
    };
    common::eventually(Duration::from_secs(30), "the writer to start", || {
        (written.load(Ordering::Relaxed) >= 2).then_some(())
    });

    // rm-cs waits for the drain; stat is sampled meanwhile.
    let rm = cluster
        .command()
        .args([
            "rm-cs",
            &leaving.to_string(),
            "--quiet",
            "--timeout",
            &DRAIN_BOUND.as_secs().to_string(),
        ])
        .spawn()
        .expect("run rm-cs");
    let started = Instant::now();
    let mut rm = Some(rm);
    let mut samples = 0;
    let mut saw_draining = false;
    cluster
        .sample_stat(DRAIN_BOUND, Duration::from_millis(250), |stat| {
            samples += 1;
            assert_eq!(
                below_wanted(stat),
                0,
                "sample {samples}: a chunk below its wanted replicas during the drain: {}",
                stat["chunk_states"]
            );
            let state = servers(stat).get(&u64::from(leaving)).map(|s| s.0.clone());
            saw_draining |= state.as_deref() == Some("draining");
            match state {
                None => Ok(()),
                Some(s) => Err(format!("cs {leaving} still in the cluster ({s})")),
            }
        })
        .await;
    let drained_in = started.elapsed();
    let status = tokio::task::spawn_blocking(move || rm.take().map(|mut c| c.wait()))
        .await
        .expect("join")
        .expect("rm-cs ran")
        .expect("wait for rm-cs");
    assert!(status.success(), "rm-cs exits 0 once the CS is gone");
    assert!(saw_draining, "the CS was seen draining");
    assert!(samples >= 3, "stat sampled through the drain ({samples})");

    stop.store(true, Ordering::Relaxed);
    let during = writer
        .await
        .expect("writer task")
        .expect("writes during the drain");
    eprintln!("cs {leaving} drained in {drained_in:?} over {samples} samples; {during} objects written meanwhile");

    // Everything is on the three others, and reads back.
    let placed = placements(&client, "b").await;
    assert!(placed.iter().all(|p| !p.replicas.contains(&leaving)));
    wait_placements(&cluster, &client, &["b"], 3, None, Duration::from_secs(30)).await;
    for i in 0..32 {
        let key = format!("before{i}");
        assert_eq!(
            read_md5(&client, "b", &key).await.expect("read"),
            (2 * MIB as u64, pattern_md5(10 + i, 2 * MIB)),
            "{key}"
        );
    }
    for i in 0..during {
        let key = format!("during{i}");
        assert_eq!(
            read_md5(&client, "b", &key).await.expect("read"),
            (MIB as u64, pattern_md5(5000 + i as u64, MIB)),
            "{key}"
        );
    }
    // A second rm-cs of the same CS says it is gone.
    let out = cluster.cairn(&["rm-cs", &leaving.to_string(), "--json"]);
    common::assert_success(&out, "rm-cs again");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["state"], "removed");
}
