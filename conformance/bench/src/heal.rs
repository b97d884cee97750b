//! Healing figures (issue 6) on real processes: one `cairn mds` and four
//! `cairn cs` on hosts h1..h4, made with the `cairn` admin commands.
//!
//! 1. Restore: with every chunk at 3 replicas, `kill -9` of one chunk
//!    server and removal of its directory (a dead disk); timed until the
//!    cluster is healthy again (every chunk back at 3 live replicas on 3
//!    hosts). The MDS runs with `--offline-after 3 --lost-after 5`, so the
//!    copies start about 5 s after the kill (the default grace is 60 s);
//!    the copy phase alone is timed too, and its rate is compared with the
//!    disk's sequential write bandwidth.
//! 2. Level: the dead server removed (`rm-cs --force`), three full chunk
//!    servers remain; an empty one (host h5) is added and timed until the
//!    fill percentages of the four differ by less than 5 points, with the
//!    balancer's default rate limit.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use cairn_client::{Client, ClientOptions, ObjectMeta, PutConditions};
use cairn_common::ClusterConfig;
use serde_json::Value;

use crate::sys;

const CLUSTER: &str = "bench";

#[derive(Clone, Debug)]
pub struct Sizes {
    /// Bytes of data written (3 replicas of each).
    pub data: u64,
    /// Size of each object.
    pub object: u64,
    /// Capacity given to each chunk server (so that fill means something).
    pub capacity: &'static str,
    /// Bound of each wait.
    pub limit: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Bytes of replicas the dead chunk server held.
    pub lost_bytes: u64,
    /// From the kill to healthy.
    pub restore_s: f64,
    /// From the first copy seen to healthy.
    pub copy_s: f64,
    /// lost_bytes / copy_s, MiB/s.
    pub copy_mb_s: f64,
    /// From the empty chunk server's start to a fill spread under 5 points.
    pub level_s: f64,
    /// Bytes the new chunk server held when level.
    pub leveled_bytes: u64,
    /// Fill of each active chunk server at the end, percent.
    pub fills: Vec<f64>,
}

struct Proc {
    dir: PathBuf,
    child: Option<Child>,
}

struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    etc: PathBuf,
    mds: Option<Child>,
    cs: Vec<Proc>,
}

impl Cluster {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("CAIRN_CONFIG_DIR", &self.etc)
            .env("CAIRN_CLUSTER", CLUSTER)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    fn spawn(&self, args: &[&str], log: &str) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.root.join(log))?;
        self.command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))
    }

    fn add_cs(&mut self, host: &str, capacity: &str) -> anyhow::Result<()> {
        let dir = self.root.join(format!("cs-{host}"));
        let d = dir.to_string_lossy().into_owned();
        sys::run(self.command().args([
            "make-cs",
            "-r",
            &d,
            "--host",
            host,
            "--capacity",
            capacity,
        ]))?;
        let child = self.spawn(&["cs", "-r", &d], &format!("cs-{host}.log"))?;
        self.cs.push(Proc {
            dir,
            child: Some(child),
        });
        Ok(())
    }

    /// `cairn stat --json`: what an operator's script sees.
    fn stat(&self) -> anyhow::Result<Value> {
        let out = sys::run(self.command().args(["stat", "--json"]))?;
        serde_json::from_slice(&out.stdout).context("`cairn stat --json` printed no JSON")
    }

    fn client(&self) -> anyhow::Result<Client> {
        let cfg = ClusterConfig::load_from(&self.etc, CLUSTER)?;
        Ok(Client::connect(&cfg, ClientOptions::default())?)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.cs.iter_mut().filter_map(|p| p.child.as_mut()) {
            let _ = p.kill();
            let _ = p.wait();
        }
        if let Some(m) = self.mds.as_mut() {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

/// The chunk servers of a `stat --json` sample.
fn servers(stat: &Value) -> Vec<Value> {
    stat["chunk_servers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn u64_of(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}

async fn wait_active(c: &Cluster, n: usize, limit: Duration) -> anyhow::Result<()> {
    let what = format!("{n} chunk servers active");
    cairn_testkit::until(limit, Duration::from_millis(200), &what, || async {
        let stat = c.stat().map_err(|e| e.to_string())?;
        let active = servers(&stat)
            .iter()
            .filter(|c| c["state"] == "active")
            .count();
        if active >= n {
            Ok(())
        } else {
            Err(format!("{active} active"))
        }
    })
    .await?;
    Ok(())
}

fn spread(stat: &Value) -> (f64, Vec<f64>) {
    let fills: Vec<f64> = servers(stat)
        .iter()
        .filter(|c| c["state"] == "active")
        .filter_map(|c| c["fill"].as_f64())
        .map(|f| f * 100.0)
        .collect();
    let max = fills.iter().copied().fold(f64::MIN, f64::max);
    let min = fills.iter().copied().fold(f64::MAX, f64::min);
    (max - min, fills)
}

pub async fn run(cairn: &Path, dir: &Path, sizes: &Sizes) -> anyhow::Result<Figures> {
    let mut c = Cluster {
        bin: cairn.to_path_buf(),
        root: dir.to_path_buf(),
        etc: dir.join("etc"),
        mds: None,
        cs: Vec::new(),
    };
    let mds_dir = dir.join("mds").to_string_lossy().into_owned();
    // An MDS's address goes into the cluster config before it starts.
    let mds_addr = format!("127.0.0.1:{}", cairn_testkit::reserve_port());
    let password = format!("{:032x}", crate::cluster::rand_u128());
    sys::run(c.command().args([
        "make-mds",
        "-I",
        "-r",
        &mds_dir,
        "-a",
        &mds_addr,
        "--password",
        &password,
    ]))?;
    c.mds = Some(c.spawn(
        &[
            "mds",
            "-r",
            &mds_dir,
            "--offline-after",
            "3",
            "--lost-after",
            "5",
        ],
        "mds.log",
    )?);
    cairn_testkit::until(
        Duration::from_secs(20),
        Duration::from_millis(100),
        &format!("the MDS to listen on {mds_addr}"),
        || {
            let up = std::net::TcpStream::connect(&mds_addr).map_err(|e| e.to_string());
            async move { up.map(drop) }
        },
    )
    .await?;
    for h in ["h1", "h2", "h3", "h4"] {
        c.add_cs(h, sizes.capacity)?;
    }
    let client = c.client()?;
    wait_active(&c, 4, Duration::from_secs(30)).await?;

    // The data: objects of `object` bytes, 3 replicas each.
    client
        .create_bucket("heal", "")
        .await
        .context("create bucket")?;
    let count = sizes.data.div_ceil(sizes.object);
    let blocks_per_object = sizes.object.div_ceil(1 << 20);
    let blocks: Vec<bytes::Bytes> = (0..8)
        .map(|i| crate::s3load::payload(900 + i, 1 << 20))
        .collect();
    for i in 0..count {
        let blocks = blocks.clone();
        let body = futures::stream::iter(
            (0..blocks_per_object)
                .map(move |b| Ok::<_, std::io::Error>(blocks[((i + b) % 8) as usize].clone())),
        );
        client
            .put_object(
                "heal",
                format!("obj{i}").as_bytes(),
                body,
                ObjectMeta::default(),
                PutConditions::default(),
            )
            .await
            .with_context(|| format!("write obj{i}"))?;
    }
    sys::run(c.command().args([
        "wait-healthy",
        "--quiet",
        "--timeout",
        &sizes.limit.as_secs().to_string(),
    ]))
    .context("the cluster is not healthy after writing")?;

    // 1. Restore after the loss of h1's chunk server.
    let before = c.stat()?;
    let victim = servers(&before)
        .into_iter()
        .find(|s| s["host"] == "h1")
        .context("no chunk server on h1")?;
    let (victim_id, lost_bytes) = (u64_of(&victim, "id"), u64_of(&victim, "used"));
    let copied_before = u64_of(&before, "copied_bytes");
    {
        let p = &mut c.cs[0];
        if let Some(mut ch) = p.child.take() {
            ch.kill()?; // SIGKILL: kill -9
            ch.wait()?;
        }
        std::fs::remove_dir_all(&p.dir)?;
    }
    let killed = Instant::now();
    let mut first_copy: Option<Instant> = None;
    // Ok(Ok(when)): restored; Ok(Err(states)): not yet; Err: no stat.
    let mut restored_at = || -> anyhow::Result<Result<Instant, String>> {
        let stat = c.stat()?;
        if first_copy.is_none()
            && (u64_of(&stat, "copied_bytes") > copied_before
                || u64_of(&stat, "copies_in_flight") > 0)
        {
            first_copy = Some(Instant::now());
        }
        let dead = servers(&stat)
            .into_iter()
            .find(|s| u64_of(s, "id") == victim_id);
        let dead_empty = dead.is_none_or(|d| d["state"] == "lost" && u64_of(&d, "replicas") == 0);
        if stat["healthy"] == true && dead_empty && first_copy.is_some() {
            return Ok(Ok(Instant::now()));
        }
        Ok(Err(stat["chunk_states"].to_string()))
    };
    let restored = cairn_testkit::until(
        sizes.limit,
        Duration::from_millis(100),
        "the killed chunk server's data restored",
        || {
            let step = restored_at();
            async move {
                match step {
                    Ok(Err(not_yet)) => Err(not_yet),
                    Ok(Ok(at)) => Ok(Ok(at)),
                    Err(e) => Ok(Err(e)),
                }
            }
        },
    )
    .await??;
    let restore_s = (restored - killed).as_secs_f64();
    let copy_s = first_copy.map_or(restore_s, |f| (restored - f).as_secs_f64());
    eprintln!(
        "  heal: {} MiB of cs {victim_id} restored {restore_s:.1} s after the kill ({copy_s:.1} s of copies)",
        lost_bytes >> 20
    );

    // 2. Level: the dead one leaves, an empty one joins three full ones.
    sys::run(
        c.command()
            .args(["rm-cs", &victim_id.to_string(), "--force", "--json"]),
    )?;
    c.add_cs("h5", sizes.capacity)?;
    let added = Instant::now();
    let (level_s, leveled_bytes, fills) = cairn_testkit::until(
        sizes.limit,
        Duration::from_millis(200),
        "the fill level after adding an empty chunk server",
        || {
            // Ok(Ok(..)): level; Err(fills): not yet; Ok(Err): no stat.
            let step = c.stat().map(|stat| {
                let (s, fills) = spread(&stat);
                let new = servers(&stat).into_iter().find(|c| c["host"] == "h5");
                let new_used = new.as_ref().map_or(0, |n| u64_of(n, "used"));
                if fills.len() == 4 && s < 5.0 && new_used > 0 {
                    Ok((added.elapsed().as_secs_f64(), new_used, fills))
                } else {
                    Err(format!("fills {fills:?}"))
                }
            });
            async move {
                match step {
                    Ok(Err(not_yet)) => Err(not_yet),
                    Ok(Ok(level)) => Ok(Ok(level)),
                    Err(e) => Ok(Err(e)),
                }
            }
        },
    )
    .await??;
    eprintln!(
        "  heal: an empty chunk server leveled in {level_s:.1} s ({} MiB moved in; fills {fills:.1?})",
        leveled_bytes >> 20
    );

    // Stop the processes (SIGTERM first).
    for p in c.cs.iter_mut().filter_map(|p| p.child.as_mut()) {
        sys::terminate(p, Duration::from_secs(10)).await;
    }
    if let Some(m) = c.mds.as_mut() {
        sys::terminate(m, Duration::from_secs(10)).await;
    }
    Ok(Figures {
        lost_bytes,
        restore_s,
        copy_s,
        copy_mb_s: crate::mb_per_s(lost_bytes, copy_s),
        level_s,
        leveled_bytes,
        fills,
    })
}
