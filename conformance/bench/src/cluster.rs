//! A `cairn up` process for a benchmark: the real binary, on 127.0.0.1,
//! with a known S3 key and, if asked, the FUSE door mounted.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;

use crate::s3load::Target;

pub struct Embedded {
    child: Child,
    etc: PathBuf,
    /// The S3 endpoint and the key `cairn up` was started with.
    pub s3: Target,
    pub mount: Option<PathBuf>,
}

/// The cairn binary: `CAIRN_BIN`/`--cairn`, else the one next to this
/// benchmark (both are built by `cargo build --release -p cairn -p cairn-bench`).
pub fn cairn_bin(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("cairn")))
            .unwrap_or_else(|| PathBuf::from("cairn"))
    })
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Embedded {
    /// Starts `cairn up --data DIR/cairn` and waits until three chunk
    /// servers are active (and the mount is there, with `mount`).
    pub async fn start(
        dir: &Path,
        cairn: Option<PathBuf>,
        mount: Option<PathBuf>,
    ) -> anyhow::Result<Embedded> {
        Embedded::start_with(dir, cairn, mount, &[]).await
    }

    /// As `start`, with extra `cairn up` arguments.
    pub async fn start_with(
        dir: &Path,
        cairn: Option<PathBuf>,
        mount: Option<PathBuf>,
        extra: &[&str],
    ) -> anyhow::Result<Embedded> {
        let bin = cairn_bin(cairn);
        let data = dir.join("cairn");
        let port = free_port()?;
        let access_key = "CKBENCH0000000000000".to_string();
        let secret_key = format!("{:040x}", rand_u128());
        let log = std::fs::File::create(dir.join("cairn-up.log"))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["up", "--data"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("CAIRN_ACCESS_KEY", &access_key)
            .env("CAIRN_SECRET_KEY", &secret_key)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(m) = &mount {
            std::fs::create_dir_all(m)?;
            cmd.arg("--mount").arg(m);
        }
        let child = cmd.spawn().with_context(|| {
            format!(
                "cannot start {}: build it with `cargo build --release -p cairn`",
                bin.display()
            )
        })?;
        let mut cluster = Embedded {
            child,
            etc: data.join("etc"),
            s3: Target {
                name: "Cairn".into(),
                endpoint: format!("http://127.0.0.1:{port}"),
                region: "us-east-1".into(),
                access_key,
                secret_key,
            },
            mount,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = cluster.child.try_wait() {
                bail!(
                    "`cairn up` exited with {status}: see {}",
                    dir.join("cairn-up.log").display()
                );
            }
            if cluster.ready().await {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                bail!("`cairn up` did not come up within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ready(&self) -> bool {
        let Ok(client) = self.client() else {
            return false;
        };
        let Ok(stat) = client.stat().await else {
            return false;
        };
        let active = stat
            .chunk_servers
            .iter()
            .filter(|c| c.status == cairn_common::summary::CsStatus::Active)
            .count();
        let mounted = match &self.mount {
            Some(m) => crate::sys::is_mountpoint(m),
            None => true,
        };
        active >= 3 && mounted && std::net::TcpStream::connect(self.s3.addr()).is_ok()
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        let cfg = ClusterConfig::load_from(&self.etc, "local")?;
        Ok(Client::connect(&cfg, ClientOptions::default())?)
    }

    pub async fn stop(mut self) {
        // SIGTERM lets it stop cleanly (and unmount); SIGKILL if it does not.
        crate::sys::terminate(&mut self.child, Duration::from_secs(20)).await;
        if let Some(m) = &self.mount {
            crate::sys::unmount(m);
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(m) = &self.mount {
            crate::sys::unmount(m);
        }
    }
}

/// 128 random bits from the kernel, for secrets that only this run knows.
pub fn rand_u128() -> u128 {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    u128::from_le_bytes(buf) ^ t
}
