//! Issue 25, "Keep writing when a host is gone", with real processes: three
//! hosts h1..h3, each a `cairn mds` (one raft group) and a `cairn cs` with
//! that host label, and a `cairn gateway` as a fourth process. Writers go
//! through S3 (aws-sdk-s3) while a host is cut off: SIGSTOP of its MDS and
//! its chunk server, as a cut cable (no TCP reset: nothing answers).
//!
//! Bounds this file states: after the cut, an S3 PUT sent after it is
//! acknowledged within [`RESUME_BOUND`]; with fewer hosts than a chunk's
//! minimum replicas a PUT is refused with 503 within [`REFUSE_BOUND`]; after
//! the host returns, every chunk written meanwhile reaches 3 replicas on 3
//! hosts within [`HEAL_BOUND`], with no manual step. The figures measured
//! (time to the first acknowledgement after the cut, largest gap between
//! acknowledgements) are printed.
//!
//! The tests of this file run one at a time ([`serial`]): each starts
//! seven processes, and their time bounds mean nothing on a machine that
//! also runs another such cluster.

#[path = "../common/mod.rs"]
mod common;
mod reads;
mod refused;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aws_sdk_s3::error::ProvideErrorMetadata;
use common::{
    eventually_async,
    heal::state_count,
    hosts::{HostCluster, HostOpts, HOSTS},
    pattern,
    s3::{error_status, md5_hex, REGION},
};
use futures::StreamExt;

/// Longest wait, after a host is cut, for a PUT sent after the cut to be
/// acknowledged.
const RESUME_BOUND: Duration = Duration::from_secs(10);
/// Longest wait, after two chunk servers of three stop, for a PUT refused
/// with 503.
const REFUSE_BOUND: Duration = Duration::from_secs(30);
/// Longest wait, after the host returns, for every chunk at 3 replicas.
const HEAL_BOUND: Duration = Duration::from_secs(90);
/// How long the host stays cut off while the writers go on.
const CUT_WRITES: Duration = Duration::from_secs(10);
/// Longest wait, once every chunk is healed, for a new object placed on 3
/// hosts.
const NORMAL_BOUND: Duration = Duration::from_secs(30);
/// Longest any one PUT or GET of a writer or a check may take.
const OP_BOUND: Duration = Duration::from_secs(60);
/// `cairn mds` flags: a silent chunk server is offline after 3 s (the
/// default is 10 s), so placement stops choosing it soon. The healer keeps
/// its defaults: it restores about 4 chunks a second (BENCHMARKS.md), which
/// is why the writers are paced ([`PACE`]).
const MDS_FLAGS: &[&str] = &["--offline-after", "3"];
const BUCKET: &str = "lost-host";
/// A writer's pause after each acknowledged PUT.
const PACE: Duration = Duration::from_millis(200);
const KIB: usize = 1024;
const MIB: usize = 1 << 20;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One test of this file at a time (a failed one does not poison the rest).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

fn start_cluster() -> HostCluster {
    tokio::task::block_in_place(|| HostCluster::start(HostOpts::default().mds(MDS_FLAGS)))
}

/// A cluster with the bucket, and writers (one small, two large) that have
/// had 20 PUTs acknowledged.
async fn cluster_with_writers() -> (HostCluster, aws_sdk_s3::Client, Writers) {
    let ha = start_cluster();
    let s3 = ha.s3();
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket");
    let writers = Writers::start(&s3, BUCKET, 1, 2);
    eventually_async(Duration::from_secs(60), "writes before the fault", || {
        writers.acked_count() >= 20
    })
    .await;
    (ha, s3, writers)
}

/// Size of the `i`th object of writer `w`: the small writers put 4 KiB,
/// the others 1, 2, 3 and 4 MiB in turn.
fn object_size(w: usize, i: u64, small_writers: usize) -> usize {
    if w < small_writers {
        4 * KIB
    } else {
        (1 + (i % 4) as usize) * MIB
    }
}

/// One object a writer put.
#[derive(Clone, Debug)]
struct Put {
    seed: u64,
    len: usize,
    sent: Instant,
    acked: Instant,
}

/// Writers that keep putting objects through S3 and record what was
/// acknowledged and what was attempted.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, Put>>>,
    attempted: Arc<Mutex<BTreeSet<String>>>,
    failures: Arc<AtomicU64>,
    last_error: Arc<Mutex<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    /// `small` writers of 4 KiB objects and `large` writers of 1-4 MiB ones.
    fn start(s3: &aws_sdk_s3::Client, bucket: &str, small: usize, large: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let attempted = Arc::new(Mutex::new(BTreeSet::new()));
        let failures = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(Mutex::new(String::new()));
        let tasks = (0..small + large)
            .map(|w| {
                let s3 = s3.clone();
                let bucket = bucket.to_string();
                let (stop, acked, attempted) = (stop.clone(), acked.clone(), attempted.clone());
                let (failures, last_error) = (failures.clone(), last_error.clone());
                tokio::spawn(async move {
                    // Bounded in count as well as by the stop flag.
                    for i in 0..100_000u64 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("w{w}/{i:06}");
                        let seed = (w as u64) << 32 | i;
                        let len = object_size(w, i, small);
                        attempted.lock().unwrap().insert(key.clone());
                        let sent = Instant::now();
                        let put = s3
                            .put_object()
                            .bucket(&bucket)
                            .key(&key)
                            .body(pattern(seed, len).into())
                            .send();
                        match tokio::time::timeout(OP_BOUND, put).await {
                            Ok(Ok(_)) => {
                                let acked_at = Instant::now();
                                acked.lock().unwrap().insert(
                                    key,
                                    Put {
                                        seed,
                                        len,
                                        sent,
                                        acked: acked_at,
                                    },
                                );
                                // Paced: what is written during a cut must
                                // be healed after it, within the test's time.
                                tokio::time::sleep(PACE).await;
                            }
                            other => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                *last_error.lock().unwrap() = match other {
                                    Ok(Err(e)) => format!(
                                        "{key}: {} {}",
                                        e.code().unwrap_or("?"),
                                        e.message().unwrap_or(&format!("{e:?}"))
                                    ),
                                    _ => format!("{key}: no answer within {OP_BOUND:?}"),
                                };
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Writers {
            stop,
            acked,
            attempted,
            failures,
            last_error,
            tasks,
        }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The first acknowledgement of a PUT sent after `t` (one sent before
    /// may have been all but done at `t`).
    fn first_ack_sent_after(&self, t: Instant) -> Option<Instant> {
        self.acked
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.sent > t)
            .map(|p| p.acked)
            .min()
    }

    /// What was acknowledged so far.
    fn snapshot(&self) -> BTreeMap<String, Put> {
        self.acked.lock().unwrap().clone()
    }

    async fn finish(self) -> (BTreeMap<String, Put>, BTreeSet<String>, u64, String) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer task");
        }
        let acked = self.acked.lock().unwrap().clone();
        let attempted = self.attempted.lock().unwrap().clone();
        let error = self.last_error.lock().unwrap().clone();
        (
            acked,
            attempted,
            self.failures.load(Ordering::Relaxed),
            error,
        )
    }
}

/// The largest gap between two consecutive acknowledgements within
/// `[from, to]`, counting `from` and `to` as marks: its length, and where
/// it began, from `from`.
fn largest_gap(acked: &BTreeMap<String, Put>, from: Instant, to: Instant) -> Gap {
    let mut times: Vec<Instant> = acked
        .values()
        .map(|p| p.acked)
        .filter(|t| *t >= from && *t <= to)
        .collect();
    times.push(from);
    times.push(to);
    times.sort();
    times
        .windows(2)
        .map(|w| Gap {
            len: w[1] - w[0],
            at: w[0] - from,
        })
        .max_by_key(|g| g.len)
        .unwrap_or_default()
}

/// A stretch without acknowledgements.
#[derive(Clone, Copy, Default)]
struct Gap {
    len: Duration,
    /// Its start, from the start of the window looked at.
    at: Duration,
}

impl std::fmt::Debug for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2?} (from {:.2?} on)", self.len, self.at)
    }
}

/// Every acknowledged object reads back through S3 with its exact bytes;
/// every key listed was attempted (is in `attempted` once listed).
/// Returns how long it took.
async fn verify_s3(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    acked: &BTreeMap<String, Put>,
    attempted: &Mutex<BTreeSet<String>>,
    when: &str,
) -> Duration {
    let started = Instant::now();
    let checks = futures::stream::iter(acked.iter())
        .map(|(key, put)| async move {
            let get = async {
                let got = s3.get_object().bucket(bucket).key(key).send().await?;
                let data = got.body.collect().await?.into_bytes();
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(data)
            };
            let data = tokio::time::timeout(OP_BOUND, get)
                .await
                .unwrap_or_else(|_| panic!("{when}: GET {key} gave no answer in {OP_BOUND:?}"))
                .unwrap_or_else(|e| panic!("{when}: acknowledged {key} does not read back: {e}"));
            assert_eq!(data.len(), put.len, "{when}: length of {key}");
            assert_eq!(
                md5_hex(&data),
                md5_hex(&pattern(put.seed, put.len)),
                "{when}: content of {key}"
            );
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>();
    checks.await;
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        for object in page.expect("list the bucket").contents() {
            keys.push(object.key().unwrap_or_default().to_string());
        }
    }
    // Writers may still run: a key is marked attempted before its PUT is
    // sent, so every key listed is in the set as it is now.
    let attempted = attempted.lock().unwrap().clone();
    for key in &keys {
        assert!(
            attempted.contains(key),
            "{when}: {key} exists but was never attempted"
        );
    }
    let listed = keys.len();
    assert!(
        listed >= acked.len(),
        "{when}: {listed} listed, {} acknowledged",
        acked.len()
    );
    started.elapsed()
}

/// What `cairn stat --json` showed while a host was gone.
#[derive(Debug)]
struct DegradedStat {
    /// Chunks in state "degraded".
    degraded: u64,
    /// New chunks placed below their normal replica count.
    placed_short: u64,
    /// Why new chunks are placed on fewer hosts.
    writing_degraded: String,
}

/// Polls `cairn stat --json` until it counts degraded chunks, new chunks
/// placed short of their normal count, and says why (`writing_degraded`).
async fn wait_degraded(ha: &HostCluster, limit: Duration) -> DegradedStat {
    let what = "`cairn stat --json` to count degraded chunks, chunks placed short and why";
    cairn_testkit::until(limit, Duration::from_millis(250), what, || async {
        let stat = tokio::task::block_in_place(|| ha.try_stat()).ok_or("no stat answered")?;
        let seen = DegradedStat {
            degraded: state_count(&stat, "degraded"),
            placed_short: stat["chunks_placed_short"].as_u64().unwrap_or(0),
            writing_degraded: stat["writing_degraded"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        if seen.degraded > 0 && seen.placed_short > 0 && !seen.writing_degraded.is_empty() {
            return Ok(seen);
        }
        Err(serde_json::json!({
            "chunk_states": stat["chunk_states"],
            "chunks_placed_short": stat["chunks_placed_short"],
            "writing_degraded": stat["writing_degraded"],
        })
        .to_string())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// After the host returned and every chunk is back at 3 replicas: new
/// objects get 3 replicas on 3 hosts again within [`NORMAL_BOUND`] (a
/// client avoids a chunk server it could not reach for a while after the
/// last failure: the data path's suspects), and then `cairn stat --json`
/// says new chunks are placed normally (`writing_degraded` empty). Returns
/// how long after the call each came.
async fn check_writing_normal(ha: &HostCluster, s3: &aws_sdk_s3::Client) -> (Duration, Duration) {
    let client = ha.client();
    let started = Instant::now();
    let mut last = Vec::new();
    for i in 0..1000u32 {
        let key = format!("after-heal/{i:04}");
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(pattern(7, 64 * KIB).into())
            .send()
            .await
            .expect("a PUT after the host returned");
        last = ha.replicas_of(&client, BUCKET, &key).await;
        let normal = last.iter().all(|replicas| {
            replicas
                .iter()
                .map(|(_, h)| h)
                .collect::<BTreeSet<_>>()
                .len()
                == 3
        });
        if normal {
            break;
        }
        assert!(
            started.elapsed() < NORMAL_BOUND,
            "objects put {NORMAL_BOUND:?} after every chunk was healed still get fewer than 3 hosts: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let placed_normally = started.elapsed();
    let what =
        format!("`writing_degraded` to empty after a new chunk was placed on 3 hosts {last:?}");
    cairn_testkit::until(
        Duration::from_secs(10),
        Duration::from_millis(250),
        &what,
        || async {
            let stat = tokio::task::block_in_place(|| ha.try_stat()).ok_or("no stat answered")?;
            match stat["writing_degraded"].as_str() {
                Some("") => Ok(()),
                other => Err(format!("still {other:?}")),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (placed_normally, started.elapsed())
}

/// Every chunk of an object whose PUT was sent after the cut and
/// acknowledged before the host returned lists at least 2 replicas (the
/// cluster's minimum of 3:2), on distinct hosts, none on the cut host: its
/// chunk server was stopped for the whole PUT, so a replica the MDS listed
/// there would be an acknowledged write that is not on stable storage.
async fn check_born_while_cut(
    ha: &HostCluster,
    acked: &BTreeMap<String, Put>,
    cut_at: Instant,
    cut_host: usize,
) -> usize {
    let client = ha.client();
    let cut_cs = ha.cs_id(cut_host);
    let mut checked = 0;
    for (key, put) in acked.iter().filter(|(_, p)| p.sent > cut_at) {
        for (n, replicas) in ha
            .replicas_of(&client, BUCKET, key)
            .await
            .iter()
            .enumerate()
        {
            assert!(
                replicas.len() >= 2,
                "chunk {n} of {key} (written while {} was cut off, {} bytes) has replicas {replicas:?}: fewer than the minimum 2",
                HOSTS[cut_host],
                put.len
            );
            assert!(
                replicas.iter().all(|(cs, _)| *cs != cut_cs),
                "chunk {n} of {key} (written while {} was cut off) lists a replica on its stopped chunk server {cut_cs}: {replicas:?}",
                HOSTS[cut_host]
            );
            let hosts: BTreeSet<&String> = replicas.iter().map(|(_, h)| h).collect();
            assert_eq!(
                hosts.len(),
                replicas.len(),
                "chunk {n} of {key}: two replicas on one host: {replicas:?}"
            );
            checked += 1;
        }
    }
    checked
}

/// The body of the cut tests: writers on, host `pick(leader)` cut off for
/// [`CUT_WRITES`], reads during the cut, the host back, healing, reads
/// after.
async fn writes_go_on_while_a_host_is_cut(cut_leader: bool) {
    let _serial = serial().await;
    let (ha, s3, writers) = cluster_with_writers().await;

    let leader = tokio::task::block_in_place(|| ha.leader());
    let host = if cut_leader { leader } else { (leader + 1) % 3 };
    let before = writers.acked_count();
    let cut = ha.cut(host);
    let cut_at = cut.at;
    eprintln!(
        "cut host {} (MDS {} of the group, leader: {}) after {before} acknowledged PUTs",
        HOSTS[host],
        host + 1,
        HOSTS[leader]
    );

    eventually_async(
        RESUME_BOUND,
        &format!(
            "an S3 PUT sent after {} was cut to be acknowledged",
            HOSTS[host]
        ),
        || writers.first_ack_sent_after(cut_at).is_some(),
    )
    .await;
    let resumed = writers.first_ack_sent_after(cut_at).unwrap() - cut_at;
    eprintln!("first PUT sent after the cut acknowledged {resumed:?} after the cut");

    let degraded = wait_degraded(&ha, Duration::from_secs(30)).await;
    eprintln!(
        "`cairn stat --json` {:?} after the cut: {degraded:?}",
        cut_at.elapsed()
    );
    if let Some(rest) = CUT_WRITES.checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let during = writers.snapshot();
    let snapshot_at = Instant::now();
    let acked_in_cut = during.values().filter(|p| p.sent > cut_at).count();
    assert!(
        acked_in_cut >= 5,
        "only {acked_in_cut} PUTs sent after the cut were acknowledged in {:?}",
        cut_at.elapsed()
    );
    // While the host is still cut: every acknowledged object reads back,
    // and the chunks written meanwhile are on the two live hosts.
    let read_during = verify_s3(&s3, BUCKET, &during, &writers.attempted, "during the cut").await;
    let born = check_born_while_cut(&ha, &during, cut_at, host).await;
    let gap_in_cut = largest_gap(&during, cut_at, snapshot_at);
    let held = cut.resume();
    let returned_at = Instant::now();
    eprintln!(
        "host {} returned after {held:?}; {} objects read back during the cut in {read_during:?}; {born} chunks written during the cut checked",
        HOSTS[host],
        during.len()
    );

    eventually_async(
        Duration::from_secs(30),
        "a PUT acknowledged after the host returned",
        || writers.first_ack_sent_after(returned_at).is_some(),
    )
    .await;
    let (acked, attempted, failures, last_error) = writers.finish().await;
    let client = ha.client();
    let healed = ha.wait_placements(&client, &[BUCKET], 3, HEAL_BOUND).await;
    let read_after = verify_s3(
        &s3,
        BUCKET,
        &acked,
        &Mutex::new(attempted.clone()),
        "after the return",
    )
    .await;
    let (placed_normally, status_normal) = check_writing_normal(&ha, &s3).await;
    eprintln!(
        "FIGURES cut {} (leader's host: {cut_leader}): first acknowledged PUT sent after the cut {resumed:?} after it; largest gap between acknowledgements while cut {gap_in_cut:?}; {acked_in_cut} PUTs sent during the cut acknowledged by {:?}; {} acknowledged of {} attempted in all, {failures} failed (last: {last_error}); every chunk at 3 replicas on 3 hosts {healed:?} after the return (new objects on 3 hosts {placed_normally:?} after that, `writing_degraded` empty {status_normal:?} after it); {} objects read back after in {read_after:?}",
        HOSTS[host],
        CUT_WRITES,
        acked.len(),
        attempted.len(),
        acked.len()
    );
    assert!(
        resumed <= RESUME_BOUND,
        "first acknowledgement {resumed:?} after the cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_writes_go_on_while_a_host_is_cut_off() {
    writes_go_on_while_a_host_is_cut(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_writes_go_on_while_the_mds_leaders_host_is_cut_off() {
    writes_go_on_while_a_host_is_cut(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_writes_go_on_when_a_chunk_server_is_killed() {
    let _serial = serial().await;
    let (mut ha, s3, writers) = cluster_with_writers().await;
    // The chunk server of the MDS leader's host: connections to it are
    // refused from now on.
    let host = tokio::task::block_in_place(|| ha.leader());
    ha.kill_cs(host);
    let killed_at = Instant::now();
    eventually_async(
        RESUME_BOUND,
        "an S3 PUT sent after the kill to be acknowledged",
        || writers.first_ack_sent_after(killed_at).is_some(),
    )
    .await;
    let resumed = writers.first_ack_sent_after(killed_at).unwrap() - killed_at;
    let degraded = wait_degraded(&ha, Duration::from_secs(30)).await;
    if let Some(rest) = CUT_WRITES.checked_sub(killed_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let during = writers.snapshot();
    let snapshot_at = Instant::now();
    let acked_after_kill = during.values().filter(|p| p.sent > killed_at).count();
    assert!(
        acked_after_kill >= 5,
        "only {acked_after_kill} PUTs sent after the kill were acknowledged"
    );
    verify_s3(
        &s3,
        BUCKET,
        &during,
        &writers.attempted,
        "with a chunk server dead",
    )
    .await;
    check_born_while_cut(&ha, &during, killed_at, host).await;
    let gap = largest_gap(&during, killed_at, snapshot_at);
    tokio::task::block_in_place(|| ha.restart_cs(host));
    let (acked, attempted, failures, last_error) = writers.finish().await;
    let client = ha.client();
    let healed = ha.wait_placements(&client, &[BUCKET], 3, HEAL_BOUND).await;
    verify_s3(
        &s3,
        BUCKET,
        &acked,
        &Mutex::new(attempted.clone()),
        "after the restart",
    )
    .await;
    eprintln!(
        "FIGURES kill -9 of the chunk server of {}: first acknowledged PUT sent after the kill {resumed:?} after it; largest gap between acknowledgements {gap:?}; stat while it was dead: {degraded:?}; {acked_after_kill} PUTs sent after the kill acknowledged; {} acknowledged of {} attempted, {failures} failed (last: {last_error}); 3 replicas everywhere {healed:?} after the restart",
        HOSTS[host],
        acked.len(),
        attempted.len()
    );
}
