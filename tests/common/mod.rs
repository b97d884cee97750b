//! A real cluster for end-to-end tests: `cairn mds` and `cairn cs` processes
//! on 127.0.0.1 ports over real directories, driven by the `cairn` binary
//! and by the client library. Every process is killed when the cluster is
//! dropped.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;

pub mod heal;
pub mod hosts;
pub mod s3;
pub mod tls;

pub const CLUSTER: &str = "test";
pub const PASSWORD: &str = "test-password";

#[allow(unused_imports, reason = "each test binary uses a part of the kit")]
pub use cairn_testkit::{cairn_bin, eventually, eventually_async, given_seed, reserve_port, Seed};

pub struct ChunkServerProc {
    pub dir: PathBuf,
    pub host: String,
    pub child: Option<Child>,
    pub extra: Vec<String>,
}

pub struct TestCluster {
    pub root: tempfile::TempDir,
    pub etc: PathBuf,
    pub mds_dir: PathBuf,
    pub mds_addr: String,
    pub mds: Option<Child>,
    pub cs: Vec<ChunkServerProc>,
}

impl TestCluster {
    /// Creates a cluster with one MDS and a chunk server on each of `hosts`.
    pub fn start(hosts: &[&str]) -> TestCluster {
        Self::start_with(hosts, &[])
    }

    /// As `start`, with extra `make-cs` arguments for every chunk server.
    pub fn start_with(hosts: &[&str], make_cs_args: &[&str]) -> TestCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let etc = root.path().join("etc");
        let mds_dir = root.path().join("mds");
        let mds_addr = format!("127.0.0.1:{}", reserve_port());
        let mut cluster = TestCluster {
            etc,
            mds_dir,
            mds_addr,
            mds: None,
            cs: Vec::new(),
            root,
        };
        let out = cluster.cairn(&[
            "make-mds",
            "-I",
            "-r",
            path_str(&cluster.mds_dir),
            "-a",
            &cluster.mds_addr.clone(),
            "--password",
            PASSWORD,
        ]);
        assert_success(&out, "make-mds");
        cluster.start_mds();
        for (i, host) in hosts.iter().enumerate() {
            cluster.add_cs(&format!("cs{}", i + 1), host, make_cs_args);
        }
        cluster.wait_active(hosts.len());
        cluster
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(cairn_bin());
        cmd.env("CAIRN_CONFIG_DIR", &self.etc)
            .env("CAIRN_CLUSTER", CLUSTER)
            .env(
                "RUST_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `cairn ARGS` to completion.
    pub fn cairn(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("run the cairn binary")
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

    pub fn start_mds(&mut self) {
        self.start_mds_with(&[]);
    }

    /// Starts the MDS with `extra` flags after its data directory.
    pub fn start_mds_with(&mut self, extra: &[&str]) {
        let mut args = vec!["mds", "-r", path_str(&self.mds_dir)];
        args.extend_from_slice(extra);
        let child = self.spawn(&args, "mds.log");
        self.mds = Some(child);
        let addr = self.mds_addr.clone();
        eventually(Duration::from_secs(20), "the MDS to listen", || {
            std::net::TcpStream::connect(&addr).ok()
        });
    }

    pub fn kill_mds(&mut self) {
        if let Some(mut c) = self.mds.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts the MDS with `extra` flags (a metrics listener, shorter
    /// timeouts) and waits until the chunk servers are active again.
    pub fn restart_mds(&mut self, extra: &[&str]) {
        self.kill_mds();
        self.start_mds_with(extra);
        self.wait_active(self.cs.len());
    }

    /// Prepares and starts a chunk server in `name` with host label `host`.
    pub fn add_cs(&mut self, name: &str, host: &str, extra: &[&str]) -> usize {
        let dir = self.root.path().join(name);
        let mut args = vec!["make-cs", "-r", path_str(&dir), "--host", host];
        args.extend_from_slice(extra);
        let out = self.cairn(&args);
        assert_success(&out, "make-cs");
        self.cs.push(ChunkServerProc {
            dir,
            host: host.to_string(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        });
        let idx = self.cs.len() - 1;
        self.start_cs(idx);
        idx
    }

    pub fn start_cs(&mut self, idx: usize) {
        let dir = self.cs[idx].dir.clone();
        let child = self.spawn(&["cs", "-r", path_str(&dir)], &format!("cs{}.log", idx + 1));
        self.cs[idx].child = Some(child);
    }

    /// `kill -9` of chunk server `idx`.
    pub fn kill_cs(&mut self, idx: usize) {
        if let Some(mut c) = self.cs[idx].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn config(&self) -> ClusterConfig {
        ClusterConfig::load_from(&self.etc, CLUSTER).expect("cluster config")
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.config(), ClientOptions::default()).expect("client")
    }

    pub fn stat_json(&self) -> serde_json::Value {
        let out = self.cairn(&["stat", "--json"]);
        assert_success(&out, "stat --json");
        serde_json::from_slice(&out.stdout).expect("stat --json prints JSON")
    }

    /// Waits until `n` chunk servers are active.
    pub fn wait_active(&self, n: usize) {
        eventually(
            Duration::from_secs(30),
            &format!("{n} active chunk servers"),
            || {
                let out = self.cairn(&["stat", "--json"]);
                if !out.status.success() {
                    return None;
                }
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let active = v["chunk_servers"]
                    .as_array()?
                    .iter()
                    .filter(|c| c["state"] == "active")
                    .count();
                (active >= n).then_some(())
            },
        );
    }

    /// `cairn chunks BUCKET/KEY --json`.
    pub fn chunks_json(&self, target: &str) -> Vec<serde_json::Value> {
        let out = self.cairn(&["chunks", target, "--json"]);
        assert_success(&out, "chunks --json");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .expect("chunks --json prints JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.path().join(name)).unwrap_or_default()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for cs in &mut self.cs {
            if let Some(mut c) = cs.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.kill_mds();
        if std::thread::panicking() {
            print_log_tails(self.root.path());
        }
    }
}

/// Lines of each daemon log a failed test prints.
const LOG_TAIL_LINES: usize = 60;

/// Prints the end of every daemon log under `dir`: a test that fails in CI
/// shows what the processes said before its directory is removed.
fn print_log_tails(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        eprintln!(
            "---- {} (last {} lines) ----",
            log.display(),
            lines.len() - from
        );
        for line in &lines[from..] {
            eprintln!("{line}");
        }
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`cairn {what}` failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deterministic pseudo-random bytes (xorshift), so that a failure replays.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` pattern bytes to `path` without holding them all at once.
pub fn write_pattern_file(path: &Path, seed: u64, len: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create file"));
    let block = 8 << 20;
    let mut done = 0;
    let mut i = 0;
    while done < len {
        let n = block.min(len - done);
        f.write_all(&pattern(seed.wrapping_add(i), n))
            .expect("write file");
        done += n;
        i += 1;
    }
    f.flush().expect("flush file");
}

/// MD5 of a file, hex.
pub fn md5_file(path: &Path) -> String {
    use md5::{Digest, Md5};
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open file");
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read file");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Every replica file under a chunk server directory.
pub fn replica_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .parent()
                .and_then(|x| x.parent())
                .and_then(|x| x.file_name())
                == Some("chunks".as_ref())
            {
                out.push(p);
            }
        }
    }
    out
}
