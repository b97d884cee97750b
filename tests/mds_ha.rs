//! Metadata high availability with real processes: three `cairn mds` in
//! one raft group, three chunk servers and an S3 gateway; writers go
//! through S3 (aws-sdk-s3 against `cairn gateway`) or through the client
//! library (what both doors use) while metadata servers are killed,
//! stopped, wiped and re-added.
//!
//! Bounds this file states: after `kill -9` of the leader, a write is
//! acknowledged again within [`RESUME_BOUND`] (the goal is under 5 s; the
//! figure measured is printed); with two of three MDS stopped a write fails
//! within [`MINORITY_BOUND`].

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::{Child, Command},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_client::{Client, ClientOptions, ObjectMeta, PutConditions};

use common::*;
use futures::StreamExt;
use md5::{Digest, Md5};

/// Longest wait, after the leader is killed, for the next acknowledged write.
const RESUME_BOUND: Duration = Duration::from_secs(10);
/// Longest wait for a write to fail while a majority is stopped.
const MINORITY_BOUND: Duration = Duration::from_secs(40);
const OBJECT: usize = 4096;
const BUCKET: &str = "ha-test";

struct MdsProc {
    dir: PathBuf,
    addr: String,
    child: Option<Child>,
    log: String,
}

/// Three MDS, three chunk servers (hosts h1..h3).
struct HaCluster {
    inner: TestCluster,
    mds: Vec<MdsProc>,
    extra: Vec<String>,
    gateway: Option<common::s3::Gateway>,
}

impl HaCluster {
    fn start(extra: &[&str]) -> HaCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let etc = root.path().join("etc");
        let inner = TestCluster {
            etc,
            mds_dir: root.path().join("mds1"),
            mds_addr: format!("127.0.0.1:{}", reserve_port()),
            mds: None,
            cs: Vec::new(),
            root,
        };
        let mut ha = HaCluster {
            mds: Vec::new(),
            inner,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            gateway: None,
        };
        let first = ha.inner.mds_addr.clone();
        let out = ha.inner.cairn(&[
            "make-mds",
            "-I",
            "-r",
            path_str(&ha.inner.mds_dir.clone()),
            "-a",
            &first,
            "--password",
            PASSWORD,
        ]);
        assert_success(&out, "make-mds -I");
        ha.mds.push(MdsProc {
            dir: ha.inner.mds_dir.clone(),
            addr: first,
            child: None,
            log: "mds1.log".into(),
        });
        ha.start_mds(0);
        for i in 2..=3 {
            ha.join_mds(i);
        }
        ha.wait_voters(3);
        for (i, host) in ["h1", "h2", "h3"].iter().enumerate() {
            ha.inner.add_cs(&format!("cs{}", i + 1), host, &[]);
        }
        ha.inner.wait_active(3);
        ha
    }

    /// `make-mds` without -I: a new MDS in directory `mds{n}`, started.
    fn join_mds(&mut self, n: usize) -> usize {
        let dir = self.inner.root.path().join(format!("mds{n}"));
        let addr = format!("127.0.0.1:{}", reserve_port());
        let out = self
            .inner
            .cairn(&["make-mds", "-r", path_str(&dir), "-a", &addr]);
        assert_success(&out, "make-mds (join)");
        self.mds.push(MdsProc {
            dir,
            addr,
            child: None,
            log: format!("mds{n}.log"),
        });
        let idx = self.mds.len() - 1;
        self.start_mds(idx);
        idx
    }

    fn start_mds(&mut self, idx: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.inner.root.path().join(&self.mds[idx].log))
            .expect("log file");
        let mut args = vec![
            "mds".to_string(),
            "-r".into(),
            path_str(&self.mds[idx].dir).into(),
        ];
        args.extend(self.extra.iter().cloned());
        let child = self
            .inner
            .command()
            .env("RUST_LOG", "info")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn mds");
        self.mds[idx].child = Some(child);
        let addr = self.mds[idx].addr.clone();
        eventually(Duration::from_secs(20), "an MDS to listen", || {
            std::net::TcpStream::connect(&addr).ok()
        });
    }

    fn kill_mds(&mut self, idx: usize) {
        if let Some(mut c) = self.mds[idx].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, idx: usize, sig: &str) {
        let pid = self.mds[idx].child.as_ref().expect("running MDS").id();
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// The MDS entries of `cairn stat --json`, when a leader answers.
    fn mds_stat(&self) -> Option<Vec<serde_json::Value>> {
        let out = self.inner.cairn(&["stat", "--json"]);
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["mds"].as_array().cloned()
    }

    /// Waits until `n` MDS are voters (leader or follower) with no lag.
    fn wait_voters(&self, n: usize) {
        eventually(Duration::from_secs(60), &format!("{n} MDS voters"), || {
            let mds = self.mds_stat()?;
            let caught_up = mds
                .iter()
                .filter(|m| {
                    matches!(m["role"].as_str(), Some("leader" | "follower"))
                        && m["lag"].as_u64() == Some(0)
                })
                .count();
            (caught_up >= n).then_some(())
        });
    }

    /// Index (in `self.mds`) of the current leader.
    fn leader(&self) -> usize {
        eventually(Duration::from_secs(30), "an MDS leader", || {
            let mds = self.mds_stat()?;
            let addr = mds.iter().find(|m| m["role"] == "leader")?["addr"]
                .as_str()?
                .to_string();
            self.mds.iter().position(|m| m.addr == addr)
        })
    }

    /// Starts `cairn gateway` and gives an S3 client with a new key.
    fn start_gateway(&mut self) -> aws_sdk_s3::Client {
        let gateway = self.inner.start_gateway(BUCKET);
        let client = gateway.client.clone();
        self.gateway = Some(gateway);
        client
    }

    fn client(&self) -> Client {
        let options = ClientOptions {
            mds_timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        };
        Client::connect(&self.inner.config(), options).expect("client")
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        drop(self.gateway.take());
        for i in 0..self.mds.len() {
            // A stopped process must be resumed to die of SIGKILL cleanly.
            if self.mds[i].child.is_some() {
                let _ = Command::new("kill")
                    .args([
                        "-CONT",
                        &self.mds[i]
                            .child
                            .as_ref()
                            .map(|c| c.id())
                            .unwrap_or(0)
                            .to_string(),
                    ])
                    .status();
            }
            self.kill_mds(i);
        }
    }
}

fn body(seed: u64) -> Vec<u8> {
    pattern(seed, OBJECT)
}

fn md5_hex(data: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(data);
    hex_lower(&h.finalize())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn put(client: &Client, key: &str, seed: u64) -> Result<(), cairn_common::ClusterError> {
    let data = Bytes::from(body(seed));
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(data)]);
    client
        .put_object(
            BUCKET,
            key.as_bytes(),
            stream,
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .map(|_| ())
}

async fn read_all(client: &Client, key: &str) -> Result<Vec<u8>, cairn_common::ClusterError> {
    let node = client.head_object(BUCKET, key.as_bytes()).await?;
    let mut out = Vec::new();
    let mut s = std::pin::pin!(client.read(&node, 0, node.size));
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

/// An S3 PUT of the object `seed` makes.
async fn put_s3(s3: &aws_sdk_s3::Client, key: &str, seed: u64) -> bool {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body(seed).into())
        .send()
        .await
        .is_ok()
}

/// A PUT acknowledged: (seed, when it was sent, when it was acknowledged).
type Acked = (u64, Instant, Instant);

/// Writers that keep putting small objects through S3; they record what was
/// acknowledged and what was attempted.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, Acked>>>,
    attempted: Arc<Mutex<BTreeSet<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(s3: &aws_sdk_s3::Client, n: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let attempted = Arc::new(Mutex::new(BTreeSet::new()));
        let tasks = (0..n)
            .map(|w| {
                let (s3, stop, acked, attempted) =
                    (s3.clone(), stop.clone(), acked.clone(), attempted.clone());
                tokio::spawn(async move {
                    // Bounded in count as well as by the stop flag.
                    for i in 0..20_000u64 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("w{w}/{i:06}");
                        let seed = (w as u64) << 32 | i;
                        attempted.lock().unwrap().insert(key.clone());
                        let sent = Instant::now();
                        if put_s3(&s3, &key, seed).await {
                            acked
                                .lock()
                                .unwrap()
                                .insert(key, (seed, sent, Instant::now()));
                        } else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Writers {
            stop,
            acked,
            attempted,
            tasks,
        }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The first acknowledgement of a PUT sent after `t`, if any (one
    /// sent before may have committed before `t`).
    fn acked_after(&self, t: Instant) -> Option<Instant> {
        self.acked
            .lock()
            .unwrap()
            .values()
            .filter(|(_, sent, _)| *sent > t)
            .map(|(_, _, at)| *at)
            .min()
    }

    async fn finish(self) -> (BTreeMap<String, u64>, BTreeSet<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer task");
        }
        let acked = self
            .acked
            .lock()
            .unwrap()
            .iter()
            .map(|(k, (seed, _, _))| (k.clone(), *seed))
            .collect();
        let attempted = self.attempted.lock().unwrap().clone();
        (acked, attempted)
    }
}

/// Every acknowledged object reads back with its content; every object
/// listed was attempted.
async fn verify(client: &Client, acked: &BTreeMap<String, u64>, attempted: &BTreeSet<String>) {
    for (key, seed) in acked {
        let got = read_all(client, key)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} does not read back: {e}"));
        assert_eq!(md5_hex(&got), md5_hex(&body(*seed)), "content of {key}");
        let node = client.head_object(BUCKET, key.as_bytes()).await.unwrap();
        assert_eq!(node.etag, md5_hex(&body(*seed)), "ETag of {key}");
    }
    let listed = client
        .list_objects(BUCKET, b"", b"", 100_000)
        .await
        .expect("list the bucket");
    for entry in listed.0 {
        let key = String::from_utf8_lossy(&entry.0).into_owned();
        assert!(
            attempted.contains(&key),
            "{key} exists but was never attempted"
        );
    }
}

/// As [`verify`], through S3: every acknowledged object reads back with
/// its content and its ETag; every key listed was attempted.
async fn verify_s3(
    s3: &aws_sdk_s3::Client,
    acked: &BTreeMap<String, u64>,
    attempted: &BTreeSet<String>,
) {
    for (key, seed) in acked {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} does not read back: {e:?}"));
        let expected = md5_hex(&body(*seed));
        assert_eq!(
            got.e_tag(),
            Some(format!("\"{expected}\"").as_str()),
            "ETag of {key}"
        );
        let data = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(md5_hex(&data), expected, "content of {key}");
    }
    let mut listed = 0;
    let mut pages = s3.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page.expect("list the bucket").contents() {
            let key = object.key().unwrap_or_default();
            assert!(
                attempted.contains(key),
                "{key} exists but was never attempted"
            );
            listed += 1;
        }
    }
    assert!(
        listed >= acked.len(),
        "{listed} listed, {} acknowledged",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_three_times_loses_no_acknowledged_write() {
    let mut ha = tokio::task::block_in_place(|| HaCluster::start(&[]));
    let s3 = tokio::task::block_in_place(|| ha.start_gateway());
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let writers = Writers::start(&s3, 8);
    let mut resumes = Vec::new();
    for round in 0..3 {
        let before = writers.acked_count();
        eventually_async(Duration::from_secs(60), "writes before the kill", || {
            writers.acked_count() >= before + 50
        })
        .await;
        let leader = tokio::task::block_in_place(|| ha.leader());
        let killed_at = Instant::now();
        ha.kill_mds(leader);
        eventually_async(
            RESUME_BOUND,
            "a write acknowledged after the leader's kill",
            || writers.acked_after(killed_at).is_some(),
        )
        .await;
        let resumed = writers.acked_after(killed_at).unwrap() - killed_at;
        eprintln!(
            "round {round}: killed MDS {} (leader); writes resumed after {resumed:?}",
            leader + 1
        );
        resumes.push(resumed);
        tokio::task::block_in_place(|| {
            ha.start_mds(leader);
            ha.wait_voters(3);
        });
    }
    let (acked, attempted) = writers.finish().await;
    eprintln!(
        "{} objects acknowledged of {} attempted; resume times {resumes:?}",
        acked.len(),
        attempted.len()
    );
    assert!(acked.len() >= 150);
    verify_s3(&s3, &acked, &attempted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn minority_cannot_commit_and_a_stopped_mds_catches_up() {
    let ha = tokio::task::block_in_place(|| HaCluster::start(&[]));
    let client = ha.client();
    client.create_bucket(BUCKET, "").await.expect("bucket");
    let mut acked = BTreeMap::new();
    let mut attempted = BTreeSet::new();

    // One follower stopped: the other two commit; it catches up on SIGCONT.
    let leader = tokio::task::block_in_place(|| ha.leader());
    let follower = (leader + 1) % 3;
    ha.signal(follower, "-STOP");
    for i in 0..40u64 {
        let key = format!("one-stopped/{i:03}");
        attempted.insert(key.clone());
        put(&client, &key, i)
            .await
            .expect("write with one MDS stopped");
        acked.insert(key, i);
    }
    ha.signal(follower, "-CONT");
    tokio::task::block_in_place(|| ha.wait_voters(3));

    // Two of three stopped: a write fails (clearly, within the bound).
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for i in &others {
        ha.signal(*i, "-STOP");
    }
    let started = Instant::now();
    let key = "minority/never".to_string();
    attempted.insert(key.clone());
    let result = tokio::time::timeout(MINORITY_BOUND, put(&client, &key, 999)).await;
    let waited = started.elapsed();
    match result {
        Ok(Err(e)) => eprintln!("with a minority, the write failed after {waited:?}: {e}"),
        Ok(Ok(())) => panic!("a write was acknowledged by a minority of the MDS"),
        Err(_) => {
            panic!("a write with a minority neither failed nor succeeded in {MINORITY_BOUND:?}")
        }
    }
    for i in &others {
        ha.signal(*i, "-CONT");
    }
    tokio::task::block_in_place(|| ha.wait_voters(3));
    // Leadership may have moved: a new leader places chunks once the chunk
    // servers' next heartbeats reach it, so the first write may wait.
    let deadline = Instant::now() + RESUME_BOUND;
    for i in 0..10u64 {
        let key = format!("after/{i:03}");
        attempted.insert(key.clone());
        let left = deadline.saturating_duration_since(Instant::now());
        cairn_testkit::until(
            left,
            Duration::from_millis(200),
            "a write after the majority returns",
            || async {
                put(&client, &key, 100 + i).await.map_err(|e| {
                    eprintln!("write after the majority returned, retried: {e}");
                    e.to_string()
                })
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        acked.insert(key, 100 + i);
    }
    verify(&client, &acked, &attempted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_mds_rejoins_from_a_snapshot_after_compaction() {
    // Small snapshots so that the log is compacted within the test.
    let mut ha = tokio::task::block_in_place(|| {
        HaCluster::start(&["--snapshot-every", "100", "--log-kept", "10"])
    });
    let client = ha.client();
    client.create_bucket(BUCKET, "").await.expect("bucket");
    let mut acked = BTreeMap::new();
    let attempted_keys: Vec<String> = (0..150u64).map(|i| format!("early/{i:04}")).collect();
    for (i, key) in attempted_keys.iter().enumerate() {
        put(&client, key, i as u64).await.expect("write");
        acked.insert(key.clone(), i as u64);
    }
    // A follower is lost with its disk: removed, wiped, added again.
    let leader = tokio::task::block_in_place(|| ha.leader());
    let victim = (leader + 1) % 3;
    ha.kill_mds(victim);
    let victim_id = {
        let mds = tokio::task::block_in_place(|| ha.mds_stat()).expect("stat");
        mds.iter()
            .find(|m| m["addr"] == ha.mds[victim].addr.as_str())
            .and_then(|m| m["id"].as_u64())
            .expect("the victim's id")
    };
    let out = ha.inner.cairn(&["rm-mds", &victim_id.to_string()]);
    assert_success(&out, "rm-mds");
    std::fs::remove_dir_all(&ha.mds[victim].dir).expect("wipe the MDS directory");
    // More writes while it is gone: the log moves past another snapshot.
    for i in 150..300u64 {
        let key = format!("later/{i:04}");
        put(&client, &key, i).await.expect("write with two MDS");
        acked.insert(key, i);
    }
    let fresh = tokio::task::block_in_place(|| {
        let n = ha.mds.len() + 1;
        ha.join_mds(n)
    });
    tokio::task::block_in_place(|| ha.wait_voters(3));
    let log = ha.inner.log(&ha.mds[fresh].log);
    assert!(
        log.contains("snapshot installed"),
        "the new MDS caught up without a snapshot:\n{log}"
    );
    // The new MDS holds the state: with the old leader gone, the group
    // (new MDS included) still serves every object.
    let leader = tokio::task::block_in_place(|| ha.leader());
    ha.kill_mds(leader);
    // A client with the updated config (make-mds wrote the new address):
    // the old one knows only the addresses it started with.
    let client = ha.client();
    let attempted: BTreeSet<String> = acked.keys().cloned().collect();
    verify(&client, &acked, &attempted).await;
}
