//! A `cairn up` process for a benchmark: the real binary, on 127.0.0.1.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;

pub struct Embedded {
    child: Child,
    etc: PathBuf,
}

fn default_cairn() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("cairn")))
        .unwrap_or_else(|| PathBuf::from("cairn"))
}

impl Embedded {
    pub async fn start(dir: &Path, cairn: Option<PathBuf>) -> anyhow::Result<Embedded> {
        let bin = cairn.unwrap_or_else(default_cairn);
        let data = dir.join("cairn");
        let s3 = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(&bin)
            .args(["up", "--data"])
            .arg(&data)
            .args(["--listen", &s3.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {}: build it with `cargo build --release`",
                    bin.display()
                )
            })?;
        let cluster = Embedded {
            child,
            etc: data.join("etc"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(client) = cluster.client() {
                if let Ok(stat) = client.stat().await {
                    if stat
                        .chunk_servers
                        .iter()
                        .filter(|c| c.state == "active")
                        .count()
                        >= 3
                    {
                        return Ok(cluster);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("`cairn up` did not come up within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        let cfg = ClusterConfig::load_from(&self.etc, "local")?;
        Ok(Client::connect(&cfg, ClientOptions::default())?)
    }

    pub async fn stop(mut self) {
        // SIGTERM lets it stop cleanly; SIGKILL if it does not.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: sending a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
