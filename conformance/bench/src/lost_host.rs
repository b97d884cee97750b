//! Writes while a host is gone (issue 25), on real processes: three hosts
//! h1..h3, each a `cairn mds` (one raft group) and a `cairn cs` with that
//! host label, and a `cairn gateway`, made with the `cairn` admin commands.
//!
//! S3 PUTs of 1 MiB objects at a fixed concurrency (aws-sdk-s3 with its
//! default retries, as any client):
//! 1. every host up, for one phase;
//! 2. for each cut (the full run: a host that does not hold the MDS
//!    leader, then the leader's host; `--quick`: the leader's host only),
//!    the load starts, the host is cut off half a second later (SIGSTOP of
//!    its MDS and its chunk server: a cut cable, nothing answers, no TCP
//!    reset), the load goes on until a PUT sent after the cut is
//!    acknowledged and for one phase more; then the host returns (SIGCONT)
//!    and the cluster is timed until healthy again (every chunk at 3
//!    replicas).
//!
//! For each cut: the time from the SIGSTOP to the first acknowledgement of
//! a PUT sent after it, the largest gap between two acknowledgements, the
//! throughput from that first acknowledgement on, and the PUTs that failed
//! (after the SDK's retries).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use serde_json::Value;

use crate::{s3load::Target, sys};

const CLUSTER: &str = "bench";
const BUCKET: &str = "lost-host";
const OBJECT: usize = 1 << 20;
/// Longest one PUT may take before it counts as failed.
const PUT_BOUND: Duration = Duration::from_secs(60);
/// Longest the load waits, after a cut, for a PUT sent after it to be
/// acknowledged.
const STALL_CAP: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Sizes {
    /// PUTs in flight at once.
    pub concurrency: usize,
    /// Length of each phase: every host up; after the cut, from the first
    /// acknowledgement of a PUT sent after it.
    pub phase: Duration,
    /// The cuts, in order: false for a host without the MDS leader, true
    /// for the leader's host.
    pub cuts: Vec<bool>,
    /// Bound of the wait for healthy after a host returns.
    pub heal_limit: Duration,
    /// `cairn mds --offline-after`: seconds of silence after which the MDS
    /// counts a chunk server offline (the product's default is 10).
    pub offline_after: u64,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                concurrency: 16,
                phase: Duration::from_secs(1),
                cuts: vec![true],
                heal_limit: Duration::from_secs(120),
                offline_after: 10,
            }
        } else {
            Sizes {
                concurrency: 16,
                phase: Duration::from_secs(10),
                cuts: vec![false, true],
                heal_limit: Duration::from_secs(900),
                offline_after: 10,
            }
        }
    }
}

/// One phase with a host cut off.
#[derive(Clone, Debug, Default)]
pub struct Cut {
    /// Which host, and whether it held the MDS leader.
    pub host: String,
    pub leader: bool,
    /// From the SIGSTOP to the first acknowledgement of a PUT sent after
    /// it; None if none came within the phase.
    pub first_ack_s: Option<f64>,
    /// Largest gap between two acknowledgements (the SIGSTOP counts as
    /// one) from the cut to the end of the load.
    pub largest_gap_s: f64,
    /// MiB/s from the first acknowledgement after the cut to the end of
    /// the load.
    pub put_mib_s: f64,
    /// PUTs acknowledged after the cut, and PUTs failed in the phase.
    pub acked: usize,
    pub failed: usize,
    /// From the SIGCONT to a healthy cluster.
    pub healthy_s: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// MiB/s with every host up.
    pub put_all_mib_s: f64,
    pub acked_all: usize,
    pub cuts: Vec<Cut>,
}

struct Host {
    mds_dir: PathBuf,
    mds_addr: String,
    mds: Option<Child>,
    cs: Option<Child>,
}

struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    etc: PathBuf,
    hosts: Vec<Host>,
    gateway: Option<Child>,
    offline_after: u64,
}

fn signal(child: &Option<Child>, sig: i32) {
    if let Some(pid) = child.as_ref().and_then(|c| i32::try_from(c.id()).ok()) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(pid, sig) };
    }
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
        self.spawn_listening(args, log, None)
    }

    /// As `spawn`, telling where it listens in `listen_file` (see
    /// `cairn_testkit::listen`).
    fn spawn_listening(
        &self,
        args: &[&str],
        log: &str,
        listen_file: Option<&Path>,
    ) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.root.join(log))?;
        let mut cmd = self.command();
        cmd.args(args).stdout(Stdio::null()).stderr(log);
        if let Some(file) = listen_file {
            cairn_testkit::listen_into(&mut cmd, file);
        }
        cmd.spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))
    }

    async fn start_mds(&mut self, i: usize) -> anyhow::Result<()> {
        let dir = self.hosts[i].mds_dir.to_string_lossy().into_owned();
        let offline = self.offline_after.to_string();
        let listen_file = self.root.join(format!("mds-h{}.listen", i + 1));
        let mut child = self.spawn_listening(
            &["mds", "-r", &dir, "--offline-after", &offline],
            &format!("mds-h{}.log", i + 1),
            Some(&listen_file),
        )?;
        // The MDS itself bound its reserved address (not another process).
        let bound =
            cairn_testkit::announced(&listen_file, "mds", &mut child, Duration::from_secs(20))
                .await;
        self.hosts[i].mds = Some(child);
        let bound = bound?.to_string();
        if bound != self.hosts[i].mds_addr {
            bail!(
                "the MDS listens on {bound}, not on {}",
                self.hosts[i].mds_addr
            );
        }
        Ok(())
    }

    /// `cairn stat --json`.
    fn stat(&self) -> anyhow::Result<Value> {
        let out = sys::run(self.command().args(["stat", "--json"]))?;
        serde_json::from_slice(&out.stdout).context("`cairn stat --json` printed no JSON")
    }

    /// Index of the host whose MDS leads.
    fn leader(&self) -> Option<usize> {
        let stat = self.stat().ok()?;
        let addr = stat["mds"]
            .as_array()?
            .iter()
            .find(|m| m["role"] == "leader")?["addr"]
            .as_str()?
            .to_string();
        self.hosts.iter().position(|h| h.mds_addr == addr)
    }

    fn cut(&self, i: usize) {
        signal(&self.hosts[i].mds, libc::SIGSTOP);
        signal(&self.hosts[i].cs, libc::SIGSTOP);
    }

    fn resume(&self, i: usize) {
        signal(&self.hosts[i].mds, libc::SIGCONT);
        signal(&self.hosts[i].cs, libc::SIGCONT);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Resumed first: a stopped process must not outlive the benchmark.
        for i in 0..self.hosts.len() {
            self.resume(i);
        }
        let children = self.gateway.iter_mut().chain(
            self.hosts
                .iter_mut()
                .flat_map(|h| h.cs.iter_mut().chain(h.mds.iter_mut())),
        );
        for c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The kit's poller (`cairn_testkit::until`) over a synchronous check,
/// every 200 ms until it gives a value or `limit` passes.
async fn poll<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let every = Duration::from_millis(200);
    Ok(cairn_testkit::until(limit, every, what, || {
        let v = check().ok_or_else(String::new);
        async move { v }
    })
    .await?)
}

/// Three hosts and a gateway, every MDS a caught-up voter, every chunk
/// server active; returns the cluster and the gateway's S3 endpoint.
async fn start(bin: &Path, dir: &Path, offline_after: u64) -> anyhow::Result<(Cluster, Target)> {
    let mut c = Cluster {
        bin: bin.to_path_buf(),
        root: dir.to_path_buf(),
        etc: dir.join("etc"),
        hosts: Vec::new(),
        gateway: None,
        offline_after,
    };
    let password = format!("{:032x}", crate::cluster::rand_u128());
    for i in 0..3 {
        let mds_dir = dir.join(format!("mds-h{}", i + 1));
        // An MDS's address goes into the cluster config before it starts.
        let mds_addr = format!("127.0.0.1:{}", cairn_testkit::reserve_port());
        let d = mds_dir.to_string_lossy().into_owned();
        let mut args = vec!["make-mds", "-r", &d, "-a", &mds_addr];
        if i == 0 {
            args.extend(["-I", "--password", &password]);
        }
        sys::run(c.command().args(&args))?;
        c.hosts.push(Host {
            mds_dir,
            mds_addr,
            mds: None,
            cs: None,
        });
        c.start_mds(i).await?;
    }
    poll(Duration::from_secs(60), "three MDS voters", || {
        let stat = c.stat().ok()?;
        let voters = stat["mds"]
            .as_array()?
            .iter()
            .filter(|m| {
                matches!(m["role"].as_str(), Some("leader" | "follower"))
                    && m["lag"].as_u64() == Some(0)
            })
            .count();
        (voters == 3).then_some(())
    })
    .await?;
    for i in 0..3 {
        let host = format!("h{}", i + 1);
        let cs_dir = dir.join(format!("cs-{host}"));
        let d = cs_dir.to_string_lossy().into_owned();
        sys::run(c.command().args(["make-cs", "-r", &d, "--host", &host]))?;
        c.hosts[i].cs = Some(c.spawn(&["cs", "-r", &d], &format!("cs-{host}.log"))?);
    }
    poll(
        Duration::from_secs(30),
        "three active chunk servers",
        || {
            let stat = c.stat().ok()?;
            let active = stat["chunk_servers"]
                .as_array()?
                .iter()
                .filter(|s| s["state"] == "active")
                .count();
            (active == 3).then_some(())
        },
    )
    .await?;
    let out = sys::run(c.command().args(["key", "create", "bench", "--json"]))?;
    let key: Value = serde_json::from_slice(&out.stdout).context("key create --json")?;
    let listen_file = c.root.join("gateway.listen");
    let mut gateway = c.spawn_listening(
        &["gateway", "--listen", "127.0.0.1:0"],
        "gateway.log",
        Some(&listen_file),
    )?;
    let addr =
        cairn_testkit::announced(&listen_file, "s3", &mut gateway, Duration::from_secs(20)).await;
    c.gateway = Some(gateway);
    let addr = addr?;
    let target = Target {
        name: "Cairn".into(),
        endpoint: format!("http://{addr}"),
        region: "us-east-1".into(),
        access_key: key["access_key"].as_str().context("access_key")?.into(),
        secret_key: key["secret_key"].as_str().context("secret_key")?.into(),
    };
    Ok((c, target))
}

/// What one load phase saw: (sent, acknowledged) of every PUT that was
/// acknowledged, and how many failed.
#[derive(Default)]
struct Load {
    acks: Vec<(Instant, Instant)>,
    failed: usize,
}

/// PUTs of 1 MiB objects at a fixed concurrency, each bounded by
/// [`PUT_BOUND`], until stopped (or past `cap`).
struct Running {
    seen: Arc<Mutex<Load>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(s3: &aws_sdk_s3::Client, prefix: &str, concurrency: usize, cap: Instant) -> Running {
        let seen = Arc::new(Mutex::new(Load::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            (0..16)
                .map(|i| crate::s3load::payload(2500 + i, OBJECT))
                .collect(),
        );
        let tasks = (0..concurrency)
            .map(|w| {
                let (s3, seen, stop, bodies) =
                    (s3.clone(), seen.clone(), stop.clone(), bodies.clone());
                let prefix = prefix.to_string();
                tokio::spawn(async move {
                    // Bounded by count and by time.
                    for i in 0..1_000_000usize {
                        if stop.load(Ordering::Relaxed) || Instant::now() >= cap {
                            break;
                        }
                        let sent = Instant::now();
                        let put = s3
                            .put_object()
                            .bucket(BUCKET)
                            .key(format!("{prefix}/{w:02}/{i:07}"))
                            .body(ByteStream::from(bodies[(w + i) % bodies.len()].clone()))
                            .send();
                        let ok = matches!(tokio::time::timeout(PUT_BOUND, put).await, Ok(Ok(_)));
                        if ok {
                            seen.lock().unwrap().acks.push((sent, Instant::now()));
                        } else {
                            seen.lock().unwrap().failed += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Running { seen, stop, tasks }
    }

    /// The first acknowledgement of a PUT sent after `t`.
    fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .acks
            .iter()
            .filter(|(sent, _)| *sent > t)
            .map(|(_, acked)| *acked)
            .min()
    }

    /// Stops sending, waits for the PUTs in flight; returns what was seen
    /// and when the last one ended.
    async fn finish(self) -> (Load, Instant) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let end = Instant::now();
        let load = std::mem::take(&mut *self.seen.lock().unwrap());
        (load, end)
    }
}

fn mib_s(objects: usize, secs: f64) -> f64 {
    crate::mb_per_s((objects * OBJECT) as u64, secs)
}

/// One phase with host `host` cut off: the load starts, the host is cut a
/// moment later (PUTs are in flight through it), the load goes on until a
/// PUT sent after the cut is acknowledged and for a phase after that
/// (at most [`STALL_CAP`] without one), then the host returns.
async fn cut_phase(
    c: &Cluster,
    s3: &aws_sdk_s3::Client,
    host: usize,
    leader: bool,
    sizes: &Sizes,
) -> anyhow::Result<Cut> {
    let name = format!("h{}", host + 1);
    let cap = Instant::now() + STALL_CAP + sizes.phase + Duration::from_secs(1);
    let run = Running::start(s3, &format!("cut-{name}"), sizes.concurrency, cap);
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.cut(host);
    let cut_at = Instant::now();
    // No acknowledgement within the cap is a result (a stall), not a failure.
    let first = cairn_testkit::until(
        STALL_CAP,
        Duration::from_millis(20),
        "the first acknowledgement after the cut",
        || {
            let f = run.first_ack_after(cut_at);
            async move { f.ok_or_else(String::new) }
        },
    )
    .await
    .ok();
    let measure_from = first.unwrap_or(cut_at);
    if let Some(rest) = (measure_from + sizes.phase).checked_duration_since(Instant::now()) {
        tokio::time::sleep(rest).await;
    }
    let (seen, end) = run.finish().await;
    c.resume(host);
    let resumed = Instant::now();
    let mut marks: Vec<Instant> = seen
        .acks
        .iter()
        .map(|(_, a)| *a)
        .filter(|a| *a >= cut_at)
        .collect();
    marks.push(cut_at);
    marks.push(end);
    marks.sort();
    let largest_gap_s = marks
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .fold(0.0, f64::max);
    let put_mib_s = match first {
        Some(f) => {
            let n = seen.acks.iter().filter(|(_, a)| *a >= f).count();
            mib_s(n, (end - f).as_secs_f64())
        }
        None => 0.0,
    };
    let healthy = sys::run(c.command().args([
        "wait-healthy",
        "--quiet",
        "--timeout",
        &sizes.heal_limit.as_secs().to_string(),
    ]));
    let healthy_s = resumed.elapsed().as_secs_f64();
    healthy.with_context(|| format!("after {name} returned"))?;
    let cut = Cut {
        host: name,
        leader,
        first_ack_s: first.map(|f| (f - cut_at).as_secs_f64()),
        largest_gap_s,
        put_mib_s,
        acked: seen.acks.iter().filter(|(_, a)| *a >= cut_at).count(),
        failed: seen.failed,
        healthy_s,
    };
    eprintln!("  lost host: {cut:?}");
    Ok(cut)
}

/// The whole benchmark in a fresh cluster under `dir`.
pub async fn run(cairn: &Path, dir: &Path, sizes: &Sizes) -> anyhow::Result<Figures> {
    let (c, target) = start(cairn, dir, sizes.offline_after).await?;
    let s3 = target.client();
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .context("CreateBucket")?;

    let t = Instant::now();
    let run = Running::start(&s3, "all", sizes.concurrency, t + sizes.phase);
    tokio::time::sleep(sizes.phase).await;
    let (all, end) = run.finish().await;
    let secs = (end - t).as_secs_f64();
    if all.acks.is_empty() {
        bail!("no PUT acknowledged with every host up");
    }
    let mut f = Figures {
        put_all_mib_s: mib_s(all.acks.len(), secs),
        acked_all: all.acks.len(),
        cuts: Vec::new(),
    };
    eprintln!(
        "  lost host: every host up: {:.1} MiB/s ({} PUTs, {} failed)",
        f.put_all_mib_s,
        all.acks.len(),
        all.failed
    );
    for &leader in &sizes.cuts {
        let lead = poll(Duration::from_secs(30), "an MDS leader", || c.leader()).await?;
        let host = if leader { lead } else { (lead + 1) % 3 };
        f.cuts.push(cut_phase(&c, &s3, host, leader, sizes).await?);
    }
    drop(c);
    Ok(f)
}

/// The figures as a Markdown table.
pub fn table(f: &Figures, sizes: &Sizes) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| figure | every host up | {} |",
        f.cuts
            .iter()
            .map(|c| format!(
                "{} cut off ({})",
                c.host,
                if c.leader {
                    "held the MDS leader"
                } else {
                    "a follower MDS"
                }
            ))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(f.cuts.len()));
    let row = |s: &mut String, name: &str, all: String, pick: &dyn Fn(&Cut) -> String| {
        let cells: Vec<String> = f.cuts.iter().map(pick).collect();
        let _ = writeln!(s, "| {name} | {all} | {} |", cells.join(" | "));
    };
    row(
        &mut s,
        &format!(
            "S3 PUT of 1 MiB objects, concurrency {} (MiB/s)",
            sizes.concurrency
        ),
        format!("{:.1}", f.put_all_mib_s),
        &|c| {
            format!(
                "{:.1} ({:.2} of every host up)",
                c.put_mib_s,
                c.put_mib_s / f.put_all_mib_s.max(1e-9)
            )
        },
    );
    row(
        &mut s,
        "from the cut to the first acknowledged PUT sent after it (s)",
        "".into(),
        &|c| c.first_ack_s.map_or("none".into(), |v| format!("{v:.2}")),
    );
    row(
        &mut s,
        "largest gap between two acknowledgements (s)",
        "".into(),
        &|c| format!("{:.2}", c.largest_gap_s),
    );
    row(
        &mut s,
        "PUTs acknowledged (after the cut) / failed",
        format!("{} / 0", f.acked_all),
        &|c| format!("{} / {}", c.acked, c.failed),
    );
    row(
        &mut s,
        "from the host's return to healthy (every chunk at 3 replicas) (s)",
        "".into(),
        &|c| format!("{:.1}", c.healthy_s),
    );
    s
}

/// `cairn-bench lost-host`: the benchmark alone, its table on stdout.
pub async fn main(
    quick: bool,
    offline_after: Option<u64>,
    dir: Option<PathBuf>,
    cairn: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut sizes = Sizes::new(quick);
    if let Some(o) = offline_after {
        sizes.offline_after = o;
    }
    let tmp = tempfile::Builder::new()
        .prefix("cairn-bench-lost-host-")
        .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let bin = crate::cluster::cairn_bin(cairn);
    anyhow::ensure!(
        bin.is_file(),
        "no cairn binary at {}: build it (cargo build --release -p cairn) or set CAIRN_BIN",
        bin.display()
    );
    let f = run(&bin, tmp.path(), &sizes).await?;
    println!(
        "cairn-bench lost-host: three hosts (an MDS and a chunk server each) and a gateway; phases of {} s; `cairn mds --offline-after {}`; MiB/s with a host cut off counted from the first acknowledgement after the cut",
        sizes.phase.as_secs(),
        sizes.offline_after
    );
    print!("{}", table(&f, &sizes));
    Ok(())
}
