//! A `cairn up` process for a benchmark: the real binary, on 127.0.0.1,
//! with a known S3 key and, if asked, the FUSE door mounted.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;
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
        let access_key = "CKBENCH0000000000000".to_string();
        let secret_key = format!("{:040x}", rand_u128());
        let log = std::fs::File::create(dir.join("cairn-up.log"))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["up", "--data"])
            .arg(&data)
            // The system picks the port; `cairn up` says which in its
            // listen file.
            .args(["--listen", "127.0.0.1:0"])
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
        let listen_file = dir.join("cairn-up.listen");
        cairn_testkit::listen_into(&mut cmd, &listen_file);
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "cannot start {}: build it with `cargo build --release -p cairn`",
                bin.display()
            )
        })?;
        let s3_addr =
            cairn_testkit::announced(&listen_file, "s3", &mut child, Duration::from_secs(60))
                .await
                .with_context(|| format!("see {}", dir.join("cairn-up.log").display()))?;
        let mut cluster = Embedded {
            child,
            etc: data.join("etc"),
            s3: Target {
                name: "Cairn".into(),
                endpoint: format!("http://{s3_addr}"),
                region: "us-east-1".into(),
                access_key,
                secret_key,
            },
            mount,
        };
        let log = dir.join("cairn-up.log");
        let (etc, mount, s3) = (
            cluster.etc.clone(),
            cluster.mount.clone(),
            cluster.s3.addr(),
        );
        let bin = &bin;
        let child = &mut cluster.child;
        cairn_testkit::until(
            Duration::from_secs(60),
            Duration::from_millis(200),
            "`cairn up` to have three active chunk servers",
            || {
                let exited = child.try_wait().ok().flatten();
                let (etc, mount, s3) = (etc.clone(), mount.clone(), s3.clone());
                async move {
                    match exited {
                        Some(status) => Ok(Err(status)),
                        None => ready(bin, &etc, mount.as_deref(), &s3).await.map(Ok),
                    }
                }
            },
        )
        .await
        .with_context(|| format!("see {}", log.display()))?
        .map_err(|status| {
            anyhow::anyhow!("`cairn up` exited with {status}: see {}", log.display())
        })?;
        Ok(cluster)
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        client_at(&self.etc)
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

fn client_at(etc: &Path) -> anyhow::Result<Client> {
    let cfg = ClusterConfig::load_from(etc, "local")?;
    Ok(Client::connect(&cfg, ClientOptions::default())?)
}

/// Whether the cluster of config `etc` serves: three active chunk servers,
/// the mount (if any) and the S3 port; `Err` says what is missing yet.
/// Asked through `bin stat --json`, so that a binary of another version
/// (`--baseline-cairn`, whose cluster this client library may not speak
/// to) is followed too.
async fn ready(bin: &Path, etc: &Path, mount: Option<&Path>, s3: &str) -> Result<(), String> {
    let out = tokio::process::Command::new(bin)
        .args(["stat", "--json"])
        .env("CAIRN_CONFIG_DIR", etc)
        .env("CAIRN_CLUSTER", "local")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let stat: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`cairn stat --json` answered no JSON: {e}"))?;
    let active = stat["chunk_servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["state"] == "active")
        .count();
    let mounted = mount.is_none_or(crate::sys::is_mountpoint);
    if active >= 3 && mounted && std::net::TcpStream::connect(s3).is_ok() {
        Ok(())
    } else {
        Err(format!("{active} active chunk servers, mounted: {mounted}"))
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
