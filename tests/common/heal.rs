//! Helpers of the healing tests (`tests/heal_*.rs`): a cluster whose MDS
//! and chunk servers run with extra flags (short grace periods, a fast
//! scrubber), chunk servers wiped and replaced, and checks of where every
//! chunk's replicas are, through the client library and `cairn stat`.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::{Deref, DerefMut},
    path::Path,
    time::{Duration, Instant},
};

use cairn_client::Client;

use super::{assert_success, eventually, path_str, reserve_port, ChunkServerProc, TestCluster};

/// Extra flags of a healing test cluster.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// `make-mds` flags (e.g. `--chunk-size 1M`).
    pub make_mds: Vec<String>,
    /// `mds` flags (e.g. `--lost-after 5`).
    pub mds: Vec<String>,
    /// `make-cs` flags for every chunk server (e.g. `--capacity 1G`).
    pub make_cs: Vec<String>,
    /// `cs` flags for every chunk server (e.g. `--scrub-interval 2`).
    pub cs: Vec<String>,
}

impl Opts {
    pub fn mds(mut self, args: &[&str]) -> Opts {
        self.mds.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn make_mds(mut self, args: &[&str]) -> Opts {
        self.make_mds.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn make_cs(mut self, args: &[&str]) -> Opts {
        self.make_cs.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn cs(mut self, args: &[&str]) -> Opts {
        self.cs.extend(args.iter().map(|s| s.to_string()));
        self
    }
}

/// A [`TestCluster`] whose processes run with [`Opts`].
pub struct HealCluster {
    pub c: TestCluster,
    pub opts: Opts,
    /// How many chunk server directories were made (names stay unique).
    made: usize,
}

impl Deref for HealCluster {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.c
    }
}

impl DerefMut for HealCluster {
    fn deref_mut(&mut self) -> &mut TestCluster {
        &mut self.c
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl HealCluster {
    /// An MDS and a chunk server on each of `hosts`, all active.
    pub fn start(hosts: &[&str], opts: Opts) -> HealCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let c = TestCluster {
            etc: root.path().join("etc"),
            mds_dir: root.path().join("mds"),
            mds_addr: format!("127.0.0.1:{}", reserve_port()),
            mds: None,
            cs: Vec::new(),
            root,
        };
        let mut cluster = HealCluster { c, opts, made: 0 };
        let mut args = vec![
            "make-mds".to_string(),
            "-I".into(),
            "-r".into(),
            path_str(&cluster.mds_dir).to_string(),
            "-a".into(),
            cluster.mds_addr.clone(),
            "--password".into(),
            super::PASSWORD.into(),
        ];
        args.extend(cluster.opts.make_mds.clone());
        let out = cluster.cairn(&strs(&args));
        assert_success(&out, "make-mds");
        cluster.start_mds();
        for host in hosts {
            cluster.add(host, &[]);
        }
        cluster.wait_active(hosts.len());
        cluster
    }

    /// Starts (or restarts) the MDS with its flags.
    pub fn start_mds(&mut self) {
        let mut args = vec!["mds".to_string(), "-r".into()];
        args.push(path_str(&self.mds_dir).to_string());
        args.extend(self.opts.mds.clone());
        let child = self.c.spawn(&strs(&args), "mds.log");
        self.c.mds = Some(child);
        let addr = self.mds_addr.clone();
        eventually(Duration::from_secs(20), "the MDS to listen", || {
            std::net::TcpStream::connect(&addr).ok()
        });
    }

    /// Makes and starts a chunk server on `host` (with the cluster's
    /// `make-cs` flags and `extra`); returns its index.
    pub fn add(&mut self, host: &str, extra: &[&str]) -> usize {
        self.made += 1;
        let dir = self.root.path().join(format!("cs{}", self.made));
        let mut args: Vec<String> = vec![
            "make-cs".into(),
            "-r".into(),
            path_str(&dir).to_string(),
            "--host".into(),
            host.into(),
        ];
        args.extend(self.opts.make_cs.clone());
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = self.cairn(&strs(&args));
        assert_success(&out, "make-cs");
        self.c.cs.push(ChunkServerProc {
            dir,
            host: host.to_string(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        });
        let idx = self.c.cs.len() - 1;
        self.run_cs(idx);
        idx
    }

    /// Starts (or restarts) chunk server `idx` with the cluster's `cs` flags.
    pub fn run_cs(&mut self, idx: usize) {
        let dir = self.c.cs[idx].dir.clone();
        let mut args = vec!["cs".to_string(), "-r".into(), path_str(&dir).to_string()];
        args.extend(self.opts.cs.clone());
        let log = format!(
            "cs-{}.log",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        );
        let child = self.c.spawn(&strs(&args), &log);
        self.c.cs[idx].child = Some(child);
    }

    /// `kill -9` of chunk server `idx` and removal of its directory (a dead
    /// disk).
    pub fn destroy(&mut self, idx: usize) {
        self.kill_cs(idx);
        let dir = self.c.cs[idx].dir.clone();
        std::fs::remove_dir_all(&dir).expect("remove the chunk server's directory");
    }

    /// Whether chunk server `idx` runs.
    pub fn running(&self, idx: usize) -> bool {
        self.c.cs[idx].child.is_some()
    }

    /// The id chunk server `idx` registered with.
    pub fn cs_id(&self, idx: usize) -> u32 {
        cairn_cs::CsIdentity::load(&self.c.cs[idx].dir)
            .expect("cs.toml of a chunk server")
            .cs_id
    }

    /// `cairn stat --json`, or None if the command failed.
    pub fn try_stat(&self) -> Option<serde_json::Value> {
        let out = self.cairn(&["stat", "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Samples `cairn stat --json` every `every` until `check` returns
    /// `Ok`, for at most `limit`. `check` sees every sample (assertions on
    /// each belong there) and says with `Err` what it is still waiting
    /// for: the panic at the limit shows the last such word.
    pub async fn sample_stat<T>(
        &self,
        limit: Duration,
        every: Duration,
        mut check: impl FnMut(&serde_json::Value) -> Result<T, String>,
    ) -> T {
        cairn_testkit::until(limit, every, "the stat samples", || {
            let verdict = match self.try_stat() {
                Some(stat) => check(&stat),
                None => Err("no stat answered".to_string()),
            };
            async move { verdict }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Chunk servers of a stat sample by id: (state, host, tier).
pub fn servers(stat: &serde_json::Value) -> BTreeMap<u64, (String, String, u64)> {
    stat["chunk_servers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some((
                        c["id"].as_u64()?,
                        (
                            c["state"].as_str()?.to_string(),
                            c["host"].as_str()?.to_string(),
                            c["tier"].as_u64()?,
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A chunk count of a state in a stat sample.
pub fn state_count(stat: &serde_json::Value, state: &str) -> u64 {
    stat["chunk_states"][state].as_u64().unwrap_or(0)
}

/// Chunks a stat sample shows below their wanted live count.
pub fn below_wanted(stat: &serde_json::Value) -> u64 {
    state_count(stat, "degraded") + state_count(stat, "urgent") + state_count(stat, "blocked")
}

/// One chunk of one object and the chunk servers the MDS lists for it.
#[derive(Clone, Debug)]
pub struct Placed {
    pub bucket: String,
    pub key: Vec<u8>,
    pub chunk_id: u64,
    pub replicas: Vec<u32>,
}

/// Every chunk of every object of `bucket`, with its replicas.
pub async fn placements(client: &Client, bucket: &str) -> Vec<Placed> {
    let mut out = Vec::new();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (entries, truncated) = client
            .list_objects(bucket, b"", &after, 1000)
            .await
            .expect("list objects");
        if let Some((k, _)) = entries.last() {
            after = k.clone();
        }
        let ids: Vec<u64> = entries
            .iter()
            .flat_map(|(_, n)| n.extents.iter().map(|e| e.chunk_id))
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect();
        let mut locs = BTreeMap::new();
        for batch in ids.chunks(500) {
            for l in client.locate(batch).await.expect("locate chunks") {
                locs.insert(l.chunk_id, l);
            }
        }
        for (key, node) in &entries {
            let distinct: BTreeSet<u64> = node.extents.iter().map(|e| e.chunk_id).collect();
            for chunk_id in distinct {
                let replicas = locs
                    .get(&chunk_id)
                    .map(|l| l.replicas.iter().map(|r| r.cs_id).collect())
                    .unwrap_or_default();
                out.push(Placed {
                    bucket: bucket.to_string(),
                    key: key.clone(),
                    chunk_id,
                    replicas,
                });
            }
        }
        if !truncated {
            break;
        }
    }
    out
}

/// Why the placements break "`want` replicas, each on an active chunk
/// server, on distinct hosts" (with `tiers`, only on those tiers), if they
/// do.
pub fn check_placements(
    placed: &[Placed],
    stat: &serde_json::Value,
    want: usize,
    tiers: Option<&[u64]>,
) -> Result<(), String> {
    let servers = servers(stat);
    for p in placed {
        let what = format!(
            "chunk {} of {}/{}",
            p.chunk_id,
            p.bucket,
            String::from_utf8_lossy(&p.key)
        );
        if p.replicas.len() != want {
            return Err(format!(
                "{what}: {} replicas {:?}, want {want}",
                p.replicas.len(),
                p.replicas
            ));
        }
        let mut hosts = BTreeSet::new();
        for r in &p.replicas {
            let Some((state, host, tier)) = servers.get(&u64::from(*r)) else {
                return Err(format!("{what}: on cs {r}, which is not in the cluster"));
            };
            if state != "active" {
                return Err(format!("{what}: on cs {r}, which is {state}"));
            }
            if let Some(allowed) = tiers {
                if !allowed.contains(tier) {
                    return Err(format!("{what}: on cs {r} of tier {tier}, not {allowed:?}"));
                }
            }
            if !hosts.insert(host.clone()) {
                return Err(format!("{what}: two replicas on host {host}"));
            }
        }
    }
    Ok(())
}

/// Polls the placements of `buckets` until they pass [`check_placements`]
/// or `limit` passes; returns how long it took.
pub async fn wait_placements(
    cluster: &HealCluster,
    client: &Client,
    buckets: &[&str],
    want: usize,
    tiers: Option<&[u64]>,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    cairn_testkit::until(
        limit,
        Duration::from_millis(250),
        "placements right",
        || async {
            let stat = cluster.try_stat().ok_or("no stat answered")?;
            let mut placed = Vec::new();
            for b in buckets {
                placed.extend(placements(client, b).await);
            }
            check_placements(&placed, &stat, want, tiers)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    started.elapsed()
}

/// Overwrites `len` bytes at data offset `at` of a replica file.
pub fn corrupt(file: &Path, at: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .expect("open a replica file");
    f.seek(SeekFrom::Start(8192 + at)).expect("seek");
    f.write_all(&vec![0xA5; len]).expect("write");
    f.sync_all().expect("sync");
}

const MIB: usize = 1 << 20;

/// A stream of `len` pattern bytes in 1 MiB pieces, made as it is read.
pub fn pattern_stream(
    seed: u64,
    len: usize,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    use futures::StreamExt;
    let pieces = len.div_ceil(MIB);
    futures::stream::iter(0..pieces).map(move |i| {
        let n = MIB.min(len - i * MIB);
        Ok(bytes::Bytes::from(super::pattern(
            seed.wrapping_add(i as u64),
            n,
        )))
    })
}

/// The bytes [`pattern_stream`] yields, at once.
pub fn pattern_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while out.len() < len {
        let n = MIB.min(len - out.len());
        out.extend_from_slice(&super::pattern(seed.wrapping_add(i), n));
        i += 1;
    }
    out
}

/// MD5 (hex) of [`pattern_stream`]`(seed, len)`.
pub fn pattern_md5(seed: u64, len: usize) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    let mut i = 0;
    while i * MIB < len {
        let n = MIB.min(len - i * MIB);
        h.update(super::pattern(seed.wrapping_add(i as u64), n));
        i += 1;
    }
    hex::encode(h.finalize())
}

/// Reads a whole object: (length, hex MD5), or the error.
pub async fn read_md5(client: &Client, bucket: &str, key: &str) -> Result<(u64, String), String> {
    use futures::StreamExt;
    use md5::{Digest, Md5};
    let node = client
        .head_object(bucket, key.as_bytes())
        .await
        .map_err(|e| format!("head {bucket}/{key}: {e}"))?;
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut h = Md5::new();
    let mut n = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| format!("read {bucket}/{key}: {e}"))?;
        n += piece.len() as u64;
        h.update(&piece);
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Reads a whole object into memory.
pub async fn read_all(client: &Client, bucket: &str, key: &[u8]) -> Result<Vec<u8>, String> {
    use futures::StreamExt;
    let node = client
        .head_object(bucket, key)
        .await
        .map_err(|e| format!("head: {e}"))?;
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut out = Vec::with_capacity(node.size as usize);
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.map_err(|e| format!("read: {e}"))?);
    }
    Ok(out)
}

/// Puts `count` objects `{prefix}{i}` of `size` pattern bytes (seed
/// `seed + i`), `parallel` at a time.
pub async fn put_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    count: usize,
    size: usize,
    seed: u64,
    parallel: usize,
) {
    use futures::StreamExt;
    futures::stream::iter(0..count)
        .map(|i| {
            let key = format!("{prefix}{i}");
            async move {
                client
                    .put_object(
                        bucket,
                        key.as_bytes(),
                        pattern_stream(seed + i as u64, size),
                        cairn_client::ObjectMeta::default(),
                        cairn_client::PutConditions::default(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e}"));
            }
        })
        .buffer_unordered(parallel)
        .collect::<Vec<()>>()
        .await;
}
