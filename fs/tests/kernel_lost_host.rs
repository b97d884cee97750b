//! Issue 25 through the mount: two kernel mounts (this process, as
//! `kernel_cluster.rs` mounts) of one cluster of real processes: three
//! hosts h1..h3, each a `cairn mds` (one raft group) and a `cairn cs` with
//! that host label, 1 MiB chunks. A host is cut off (SIGSTOP of its MDS
//! and its chunk server: nothing answers, no TCP reset); a file written
//! through mount A is fsynced within [`FSYNC_BOUND`] and reads back
//! byte-exact through mount B; after the host returns (SIGCONT) every chunk
//! of the file reaches 3 replicas on 3 hosts within [`HEAL_BOUND`].
//!
//! The processes are the `cairn` binary of this build: `CAIRN_BIN`, else
//! the one beside this test's directory (`cargo build --workspace
//! --all-targets` makes both; `cargo build --bin cairn` makes it alone).

mod common;

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;
use cairn_testkit::{cairn_bin, reserve_port};
use common::{blocking, can_mount, scenarios, Mounted};
use md5::{Digest, Md5};

/// Longest write + fsync of the file through mount A with a host cut off.
const FSYNC_BOUND: Duration = Duration::from_secs(20);
/// Longest wait, after the host returns, for 3 replicas of every chunk.
const HEAL_BOUND: Duration = Duration::from_secs(90);
const CLUSTER: &str = "lost-host";
const HOSTS: [&str; 3] = ["h1", "h2", "h3"];
/// Bytes of the file: several 1 MiB chunks and a tail.
const FILE_LEN: usize = (5 << 20) + 12345;

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Processes stopped with SIGSTOP; SIGCONT when dropped, so that a failed
/// test never leaves a stopped process behind.
struct Stopped(Vec<u32>);

impl Drop for Stopped {
    fn drop(&mut self) {
        for pid in &self.0 {
            signal(*pid, "-CONT");
        }
    }
}

struct Procs {
    root: tempfile::TempDir,
    bin: PathBuf,
    /// (address, process) of the MDS of each host.
    mds: Vec<(String, Child)>,
    cs: Vec<Child>,
}

impl Procs {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("CAIRN_CONFIG_DIR", self.root.path().join("etc"))
            .env("CAIRN_CLUSTER", CLUSTER)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) {
        let out = self.command().args(args).output().expect("run cairn");
        assert!(
            out.status.success(),
            "cairn {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&self, args: &[&str], log: &str) -> Child {
        let log = std::fs::File::create(self.root.path().join(log)).expect("log file");
        self.command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn")
    }

    /// Three MDS and three chunk servers, started with the cairn binary.
    fn start() -> Procs {
        let mut p = Procs {
            root: tempfile::tempdir().expect("temp dir"),
            bin: cairn_bin(),
            mds: Vec::new(),
            cs: Vec::new(),
        };
        for (i, host) in HOSTS.iter().enumerate() {
            let dir = p.root.path().join(format!("mds-{host}"));
            let d = dir.to_str().expect("UTF-8 path").to_string();
            let addr = format!("127.0.0.1:{}", reserve_port());
            let mut args = vec!["make-mds", "-r", &d, "-a", &addr];
            if i == 0 {
                args.extend(["-I", "--password", "pw", "--chunk-size", "1M"]);
            }
            p.run(&args);
            let child = p.spawn(
                &["mds", "-r", &d, "--offline-after", "3"],
                &format!("mds-{host}.log"),
            );
            common::eventually(Duration::from_secs(20), "an MDS to listen", || {
                std::net::TcpStream::connect(&addr).ok()
            });
            p.mds.push((addr, child));
        }
        for host in HOSTS {
            let dir = p.root.path().join(format!("cs-{host}"));
            let d = dir.to_str().expect("UTF-8 path").to_string();
            p.run(&["make-cs", "-r", &d, "--host", host]);
            let child = p.spawn(&["cs", "-r", &d], &format!("cs-{host}.log"));
            p.cs.push(child);
        }
        p
    }

    fn config(&self) -> ClusterConfig {
        ClusterConfig::load_from(&self.root.path().join("etc"), CLUSTER).expect("cluster config")
    }

    /// A mount's client: the fs door's options, a host of its own.
    fn client(&self, name: &str) -> Client {
        Client::connect(
            &self.config(),
            ClientOptions {
                host: Some(name.into()),
                mds_timeout: Duration::from_secs(30),
                ..cairn_fs::client_options()
            },
        )
        .expect("client")
    }

    fn cut(&self, host: usize) -> Stopped {
        let pids = vec![self.mds[host].1.id(), self.cs[host].id()];
        for pid in &pids {
            signal(*pid, "-STOP");
        }
        Stopped(pids)
    }

    fn print_logs(&self) {
        for entry in std::fs::read_dir(self.root.path()).into_iter().flatten() {
            let path = entry.map(|e| e.path()).unwrap_or_default();
            if path.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("---- {} ----", path.display());
                for l in &lines[lines.len().saturating_sub(40)..] {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        for c in self
            .cs
            .iter_mut()
            .chain(self.mds.iter_mut().map(|(_, c)| c))
        {
            signal(c.id(), "-CONT");
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls the cluster until three MDS are caught-up voters and three chunk
/// servers active; returns the index of the host whose MDS leads.
async fn wait_ready(client: &Client, procs: &Procs) -> usize {
    cairn_testkit::until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "three caught-up MDS voters, one leading, and three active chunk servers",
        || async {
            let stat = client.stat().await.map_err(|e| e.to_string())?;
            let voters = stat
                .mds
                .iter()
                .filter(|m| (m.role == "leader" || m.role == "follower") && m.lag == 0)
                .count();
            let active = stat
                .chunk_servers
                .iter()
                .filter(|c| {
                    c.status == cairn_common::summary::CsStatus::Active && !c.addr.is_empty()
                })
                .count();
            let leader = stat
                .mds
                .iter()
                .find(|m| m.role == "leader")
                .and_then(|m| procs.mds.iter().position(|(a, _)| *a == m.addr));
            match (voters, active, leader) {
                (3, 3, Some(leader)) => Ok(leader),
                _ => Err(format!(
                    "{voters} voters, {active} active, leader {leader:?}"
                )),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Why the chunks of `bucket/key` are not at 3 replicas on 3 hosts, if
/// they are not.
async fn short_of_three(client: &Client, bucket: &str, key: &str) -> Option<String> {
    let node = match client.head_object(bucket, key.as_bytes()).await {
        Ok(n) => n,
        Err(e) => return Some(format!("head: {e}")),
    };
    let ids: Vec<u64> = node
        .extents
        .iter()
        .map(|e| e.chunk_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let locs = match client.locate(&ids).await {
        Ok(l) => l,
        Err(e) => return Some(format!("locate: {e}")),
    };
    let active: BTreeSet<u32> = match client.stat().await {
        Ok(s) => s
            .chunk_servers
            .iter()
            .filter(|c| c.status == cairn_common::summary::CsStatus::Active)
            .map(|c| c.id)
            .collect(),
        Err(e) => return Some(format!("stat: {e}")),
    };
    for id in &ids {
        let Some(l) = locs.iter().find(|l| l.chunk_id == *id) else {
            return Some(format!("chunk {id} not located"));
        };
        let hosts: BTreeSet<&str> = l.replicas.iter().map(|r| r.host.as_str()).collect();
        let live = l.replicas.iter().all(|r| active.contains(&r.cs_id));
        if l.replicas.len() != 3 || hosts.len() != 3 || !live {
            let reps: Vec<(u32, &str)> = l
                .replicas
                .iter()
                .map(|r| (r.cs_id, r.host.as_str()))
                .collect();
            return Some(format!("chunk {id}: replicas {reps:?}"));
        }
    }
    None
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_fsyncs_and_reads_back_through_another_mount_while_a_host_is_cut_off() {
    fsync_while_a_host_is_cut(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_fsyncs_and_reads_back_while_the_mds_leaders_host_is_cut_off() {
    fsync_while_a_host_is_cut(true).await;
}

/// The body of both tests: `cut_leader` picks the host of the MDS leader,
/// else another one. One at a time: each runs seven processes and two
/// mounts, and its bounds mean nothing beside another.
async fn fsync_while_a_host_is_cut(cut_leader: bool) {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let procs = Procs::start();
    let admin = procs.client("admin-host");
    let leader = wait_ready(&admin, &procs).await;
    let a = Mounted::start(procs.client("mount-a")).await;
    let b = Mounted::start(procs.client("mount-b")).await;
    let (root_a, root_b) = (a.path(), b.path());

    // Both mounts work with every host up.
    let r = root_a.clone();
    blocking(move || {
        let dir = scenarios::bucket(&r, "lost");
        std::fs::write(dir.join("before"), scenarios::pattern(1, 300_000)).unwrap();
    })
    .await;
    let r = root_b.clone();
    let before = blocking(move || {
        common::eventually(Duration::from_secs(5), "the first file in mount B", || {
            std::fs::read(r.join("lost/before")).ok()
        })
    })
    .await;
    assert!(before == scenarios::pattern(1, 300_000), "first file");

    let host = if cut_leader { leader } else { (leader + 1) % 3 };
    let cut = procs.cut(host);
    let cut_at = Instant::now();
    eprintln!("cut {} (leader on {})", HOSTS[host], HOSTS[leader]);
    let data = scenarios::pattern(25, FILE_LEN);
    let d = data.clone();
    let r = root_a.clone();
    let (wrote, synced) = blocking(move || {
        use std::io::Write;
        let started = Instant::now();
        let mut f = std::fs::File::create(r.join("lost/during")).expect("create through mount A");
        for piece in d.chunks(256 << 10) {
            f.write_all(piece).expect("write through mount A");
        }
        let wrote = started.elapsed();
        f.sync_all()
            .expect("fsync through mount A with a host cut off");
        (wrote, started.elapsed())
    })
    .await;
    eprintln!(
        "FIGURES cut {} (the MDS leader's host: {cut_leader}): mount A: {FILE_LEN} bytes written in {wrote:?}, fsynced {synced:?} after the first write ({:?} after the cut)",
        HOSTS[host],
        cut_at.elapsed()
    );
    assert!(
        synced <= FSYNC_BOUND,
        "write + fsync took {synced:?} with a host cut off"
    );
    let r = root_b.clone();
    let got = blocking(move || {
        common::eventually(Duration::from_secs(5), "the file in mount B", || {
            std::fs::read(r.join("lost/during"))
                .ok()
                .filter(|g| g.len() == FILE_LEN)
        })
    })
    .await;
    assert!(got == data, "mount B reads other bytes than mount A wrote");
    let head = admin
        .head_object("lost", b"during")
        .await
        .expect("the file as an object");
    assert_eq!(head.etag, hex::encode(Md5::digest(&data)));
    let read_at = cut_at.elapsed();

    drop(cut);
    let returned = Instant::now();
    let what = format!(
        "every chunk at 3 replicas on 3 hosts after {} returned",
        HOSTS[host]
    );
    cairn_testkit::until(HEAL_BOUND, Duration::from_millis(500), &what, || async {
        match short_of_three(&admin, "lost", "during").await {
            None => Ok(()),
            Some(why) => Err(why),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "FIGURES read back through mount B {read_at:?} after the cut; every chunk at 3 replicas on 3 hosts {:?} after the return",
        returned.elapsed()
    );
    a.unmount().await;
    b.unmount().await;
}
