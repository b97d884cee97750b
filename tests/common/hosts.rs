//! A cluster of three "hosts" for the lost-host tests (`tests/lost_host.rs`):
//! host `hN` is a `cairn mds` (the three form one raft group) and a `cairn
//! cs` with host label `hN`, all real processes on 127.0.0.1, plus one
//! `cairn gateway`. A host is cut off by SIGSTOP of both its processes (a
//! cut cable: no TCP reset, nothing answers) and returns on SIGCONT.
//!
//! Every stop is undone by a guard ([`Stopped`]) and by the cluster's drop,
//! so a failed test never leaves a stopped process behind.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use cairn_client::{Client, ClientOptions};

use super::{
    assert_success, eventually, heal, path_str, reserve_port, s3::Gateway, TestCluster, PASSWORD,
};

/// The host labels, in host index order.
pub const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

/// Extra flags of a host cluster's processes.
#[derive(Clone, Debug, Default)]
pub struct HostOpts {
    /// `make-mds -I` flags (e.g. `--chunk-size 1M`).
    pub make_mds: Vec<String>,
    /// `mds` flags of every MDS (e.g. `--offline-after 3`).
    pub mds: Vec<String>,
}

impl HostOpts {
    pub fn make_mds(mut self, args: &[&str]) -> HostOpts {
        self.make_mds.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn mds(mut self, args: &[&str]) -> HostOpts {
        self.mds.extend(args.iter().map(|s| s.to_string()));
        self
    }
}

pub struct HostMds {
    pub dir: PathBuf,
    pub addr: String,
    pub child: Option<Child>,
    pub log: String,
}

/// Three hosts (an MDS and a chunk server each) and a gateway.
pub struct HostCluster {
    /// The chunk servers: `inner.cs[i]` is on host `HOSTS[i]`.
    pub inner: TestCluster,
    /// The metadata servers: `mds[i]` is on host `HOSTS[i]`.
    pub mds: Vec<HostMds>,
    pub opts: HostOpts,
    pub gateway: Option<Gateway>,
}

/// Sends `sig` (as `kill` names it: `-STOP`, `-CONT`, `-9`) to `pid`.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Processes stopped with SIGSTOP, resumed on [`Stopped::resume`] or when
/// dropped (a failing test resumes them too).
pub struct Stopped {
    pub pids: Vec<u32>,
    /// What was stopped, for messages.
    pub what: String,
    /// When the last SIGSTOP was sent.
    pub at: Instant,
}

impl Stopped {
    pub fn stop(pids: Vec<u32>, what: String) -> Stopped {
        for pid in &pids {
            assert!(signal(*pid, "-STOP"), "SIGSTOP {pid} ({what})");
        }
        Stopped {
            pids,
            what,
            at: Instant::now(),
        }
    }

    /// SIGCONT to every process; returns how long they were stopped.
    pub fn resume(mut self) -> Duration {
        let held = self.at.elapsed();
        for pid in std::mem::take(&mut self.pids) {
            signal(pid, "-CONT");
        }
        held
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for pid in &self.pids {
            signal(*pid, "-CONT");
        }
    }
}

impl HostCluster {
    /// Three MDS (one raft group, every voter caught up), a chunk server on
    /// each of h1..h3 (all active) and a gateway with a key of its own.
    pub fn start(opts: HostOpts) -> HostCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let inner = TestCluster {
            etc: root.path().join("etc"),
            mds_dir: root.path().join("mds1"),
            mds_addr: format!("127.0.0.1:{}", reserve_port()),
            mds: None,
            cs: Vec::new(),
            root,
        };
        let mut c = HostCluster {
            inner,
            mds: Vec::new(),
            opts,
            gateway: None,
        };
        let first = c.inner.mds_addr.clone();
        let dir = c.inner.mds_dir.clone();
        let mut args = vec![
            "make-mds",
            "-I",
            "-r",
            path_str(&dir),
            "-a",
            &first,
            "--password",
            PASSWORD,
        ];
        let make_mds = c.opts.make_mds.clone();
        args.extend(make_mds.iter().map(String::as_str));
        assert_success(&c.inner.cairn(&args), "make-mds -I");
        c.mds.push(HostMds {
            dir,
            addr: first,
            child: None,
            log: "mds-h1.log".into(),
        });
        c.start_mds(0);
        for n in 2..=3 {
            let dir = c.inner.root.path().join(format!("mds{n}"));
            let addr = format!("127.0.0.1:{}", reserve_port());
            let out = c
                .inner
                .cairn(&["make-mds", "-r", path_str(&dir), "-a", &addr]);
            assert_success(&out, "make-mds (join)");
            c.mds.push(HostMds {
                dir,
                addr,
                child: None,
                log: format!("mds-h{n}.log"),
            });
            c.start_mds(n - 1);
        }
        c.wait_voters(3);
        for (i, host) in HOSTS.iter().enumerate() {
            c.inner.add_cs(&format!("cs-{host}"), host, &[]);
            assert_eq!(c.inner.cs.len(), i + 1);
        }
        c.inner.wait_active(3);
        c.gateway = Some(c.inner.start_gateway("lost-host"));
        c
    }

    /// Starts (or restarts) MDS `idx` with the cluster's MDS flags.
    pub fn start_mds(&mut self, idx: usize) {
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
        args.extend(self.opts.mds.iter().cloned());
        let child = self
            .inner
            .command()
            .env(
                "RUST_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn mds");
        self.mds[idx].child = Some(child);
        let addr = self.mds[idx].addr.clone();
        eventually(Duration::from_secs(20), "an MDS to listen", || {
            std::net::TcpStream::connect(&addr).ok()
        });
    }

    /// The S3 client of the gateway.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.gateway.as_ref().expect("a gateway").client.clone()
    }

    /// host:port of the gateway.
    pub fn gateway_addr(&self) -> String {
        self.gateway.as_ref().expect("a gateway").addr.clone()
    }

    /// A client of the cluster library that waits long for an MDS leader.
    pub fn client(&self) -> Client {
        let options = ClientOptions {
            mds_timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        };
        Client::connect(&self.inner.config(), options).expect("client")
    }

    /// `cairn ARGS`.
    pub fn cairn(&self, args: &[&str]) -> std::process::Output {
        self.inner.cairn(args)
    }

    /// `cairn stat --json`, or None if it failed (no leader answered).
    pub fn try_stat(&self) -> Option<serde_json::Value> {
        let out = self.inner.cairn(&["stat", "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until `n` MDS are voters with no lag.
    pub fn wait_voters(&self, n: usize) {
        eventually(Duration::from_secs(60), &format!("{n} MDS voters"), || {
            let stat = self.try_stat()?;
            let caught_up = stat["mds"]
                .as_array()?
                .iter()
                .filter(|m| {
                    matches!(m["role"].as_str(), Some("leader" | "follower"))
                        && m["lag"].as_u64() == Some(0)
                })
                .count();
            (caught_up >= n).then_some(())
        });
    }

    /// Index of the host whose MDS leads now.
    pub fn leader(&self) -> usize {
        eventually(Duration::from_secs(30), "an MDS leader", || {
            let stat = self.try_stat()?;
            let addr = stat["mds"]
                .as_array()?
                .iter()
                .find(|m| m["role"] == "leader")?["addr"]
                .as_str()?
                .to_string();
            self.mds.iter().position(|m| m.addr == addr)
        })
    }

    pub fn mds_pid(&self, host: usize) -> u32 {
        self.mds[host].child.as_ref().expect("a running MDS").id()
    }

    pub fn cs_pid(&self, host: usize) -> u32 {
        self.inner.cs[host]
            .child
            .as_ref()
            .expect("a running chunk server")
            .id()
    }

    /// The id chunk server `host` registered with.
    pub fn cs_id(&self, host: usize) -> u32 {
        cairn_cs::CsIdentity::load(&self.inner.cs[host].dir)
            .expect("cs.toml of a chunk server")
            .cs_id
    }

    /// Index of the host of chunk server `cs_id`.
    pub fn host_of_cs(&self, cs_id: u32) -> Option<usize> {
        (0..self.inner.cs.len()).find(|h| self.cs_id(*h) == cs_id)
    }

    /// Cuts host `host` off: SIGSTOP of its MDS and its chunk server.
    pub fn cut(&self, host: usize) -> Stopped {
        Stopped::stop(
            vec![self.mds_pid(host), self.cs_pid(host)],
            format!("host {}", HOSTS[host]),
        )
    }

    /// SIGSTOP of the chunk server of `host` only.
    pub fn stop_cs(&self, host: usize) -> Stopped {
        Stopped::stop(
            vec![self.cs_pid(host)],
            format!("chunk server of {}", HOSTS[host]),
        )
    }

    /// `kill -9` of the chunk server of `host` (connections are refused).
    pub fn kill_cs(&mut self, host: usize) {
        self.inner.kill_cs(host);
    }

    /// Starts the chunk server of `host` again (after [`Self::kill_cs`]).
    pub fn restart_cs(&mut self, host: usize) {
        self.inner.start_cs(host);
    }

    /// Polls the placements of every object of `buckets` until each chunk
    /// has `want` replicas on active chunk servers of distinct hosts, for
    /// at most `limit`; returns how long it took.
    pub async fn wait_placements(
        &self,
        client: &Client,
        buckets: &[&str],
        want: usize,
        limit: Duration,
    ) -> Duration {
        let started = Instant::now();
        cairn_testkit::until(
            limit,
            Duration::from_millis(500),
            "placements right",
            || async {
                let stat =
                    tokio::task::block_in_place(|| self.try_stat()).ok_or("no stat answered")?;
                let mut placed = Vec::new();
                for b in buckets {
                    placed.extend(heal::placements(client, b).await);
                }
                heal::check_placements(&placed, &stat, want, None)
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        started.elapsed()
    }

    /// The chunk servers (by id) of every replica of the chunks of
    /// `bucket/key`, chunk by chunk, with the host label of each.
    pub async fn replicas_of(
        &self,
        client: &Client,
        bucket: &str,
        key: &str,
    ) -> Vec<Vec<(u32, String)>> {
        let node = client
            .head_object(bucket, key.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e}"));
        let ids: Vec<u64> = node
            .extents
            .iter()
            .map(|e| e.chunk_id)
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect();
        let locs = client.locate(&ids).await.expect("locate chunks");
        ids.iter()
            .map(|id| {
                locs.iter()
                    .find(|l| l.chunk_id == *id)
                    .map(|l| {
                        l.replicas
                            .iter()
                            .map(|r| (r.cs_id, r.host.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for HostCluster {
    fn drop(&mut self) {
        drop(self.gateway.take());
        // A stopped process is resumed before it is killed, so that no test
        // leaves one behind whatever state it failed in.
        let mut pids: Vec<u32> = self
            .mds
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect();
        pids.extend(
            self.inner
                .cs
                .iter()
                .filter_map(|c| c.child.as_ref().map(Child::id)),
        );
        for pid in pids {
            signal(pid, "-CONT");
        }
        for m in &mut self.mds {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // The chunk servers go with `inner`, which prints the logs' tails
        // if the test failed.
    }
}
