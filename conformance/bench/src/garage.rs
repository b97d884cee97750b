//! Garage, the S3 peer: three nodes on 127.0.0.1, replication factor 3,
//! started from the `garage` binary of crates.io (2.x) and configured with
//! its own CLI (layout assign + apply, an imported key, one bucket).
//!
//! Garage's defaults do not fsync data or metadata; `fsync` runs it with
//! `data_fsync = true` and `metadata_fsync = true`, which is what Cairn
//! promises on every acknowledged write.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};

use crate::{s3load::Target, sys};

const NODES: usize = 3;

/// The garage binary: `GARAGE_BIN`, else `garage` on PATH, else the one a
/// previous run installed in the user's cache; `install` allows a
/// `cargo install garage --locked` into that cache (slow: a long build).
pub fn find(install: bool) -> anyhow::Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("GARAGE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("GARAGE_BIN={} is not a file", p.display());
        }
        return Ok(Some(p));
    }
    if let Some(p) = sys::which("garage") {
        return Ok(Some(p));
    }
    let root = cache_root();
    let cached = root.join("bin").join("garage");
    if cached.is_file() {
        return Ok(Some(cached));
    }
    if !install {
        return Ok(None);
    }
    eprintln!(
        "cairn-bench: installing Garage from crates.io into {} (a long build, done once)",
        root.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    sys::run(
        Command::new(cargo)
            .args(["install", "garage", "--locked", "--root"])
            .arg(&root)
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit()),
    )
    .context("cargo install garage")?;
    Ok(Some(cached))
}

/// `$XDG_CACHE_HOME/cairn-bench/garage`, or under `~/.cache`.
fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cairn-bench").join("garage")
}

pub struct Garage {
    bin: PathBuf,
    configs: Vec<PathBuf>,
    nodes: Vec<Child>,
    pub s3: Target,
}

pub const BUCKET: &str = "bench";

impl Garage {
    /// Starts three nodes under `dir` and makes them one cluster with a
    /// bucket `bench` that `s3`'s key may read and write.
    pub async fn start(bin: &Path, dir: &Path, fsync: bool) -> anyhow::Result<Garage> {
        let secret = format!(
            "{:032x}{:032x}",
            crate::cluster::rand_u128(),
            crate::cluster::rand_u128()
        );
        let mut configs = Vec::new();
        let mut s3_port = 0;
        for i in 0..NODES {
            let node = dir.join(format!("node{i}"));
            std::fs::create_dir_all(node.join("meta"))?;
            std::fs::create_dir_all(node.join("data"))?;
            // Garage's config names its ports ahead: the kit's one
            // documented way to reserve them.
            let rpc = cairn_testkit::reserve_port();
            let s3 = cairn_testkit::reserve_port();
            if i == 0 {
                s3_port = s3;
            }
            let toml = format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "lmdb"
replication_factor = 3
metadata_fsync = {fsync}
data_fsync = {fsync}
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
"#,
                meta = node.join("meta").display(),
                data = node.join("data").display(),
            );
            let cfg = node.join("garage.toml");
            std::fs::write(&cfg, toml)?;
            configs.push(cfg);
        }
        let mut garage = Garage {
            bin: bin.to_path_buf(),
            configs,
            nodes: Vec::new(),
            s3: Target {
                name: if fsync {
                    "Garage (fsync)"
                } else {
                    "Garage (defaults)"
                }
                .into(),
                endpoint: format!("http://127.0.0.1:{s3_port}"),
                region: "us-east-1".into(),
                access_key: format!("GK{:024x}", crate::cluster::rand_u128() >> 32),
                secret_key: format!(
                    "{:032x}{:032x}",
                    crate::cluster::rand_u128(),
                    crate::cluster::rand_u128()
                ),
            },
        };
        for (i, cfg) in garage.configs.iter().enumerate() {
            let log = std::fs::File::create(dir.join(format!("garage{i}.log")))?;
            let child = Command::new(&garage.bin)
                .arg("-c")
                .arg(cfg)
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", garage.bin.display()))?;
            garage.nodes.push(child);
        }
        garage
            .configure()
            .await
            .with_context(|| format!("configuring Garage (logs in {})", dir.display()))?;
        Ok(garage)
    }

    /// `garage -c CONFIG_OF_NODE_0 ARGS`, retried while the node starts.
    async fn cli(&self, node: usize, args: &[&str], limit: Duration) -> anyhow::Result<String> {
        let what = format!("`garage {}` to succeed", args.join(" "));
        Ok(
            cairn_testkit::until(limit, Duration::from_millis(500), &what, || {
                let res = sys::run(
                    Command::new(&self.bin)
                        .arg("-c")
                        .arg(&self.configs[node])
                        .args(args)
                        .env("RUST_LOG", "warn"),
                )
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .map_err(|e| format!("{e:#}"));
                async move { res }
            })
            .await?,
        )
    }

    async fn configure(&mut self) -> anyhow::Result<()> {
        let limit = Duration::from_secs(30);
        let mut ids = Vec::new();
        for i in 0..NODES {
            let id = self.cli(i, &["node", "id", "-q"], limit).await?;
            let id = id.trim().to_string();
            if !id.contains('@') {
                bail!("`garage node id -q` printed {id:?}");
            }
            ids.push(id);
        }
        for id in &ids[1..] {
            self.cli(0, &["node", "connect", id], limit).await?;
        }
        for id in &ids {
            let hex = id.split('@').next().unwrap_or(id);
            self.cli(
                0,
                &["layout", "assign", "-z", "dc1", "-c", "20G", hex],
                limit,
            )
            .await?;
        }
        self.cli(0, &["layout", "apply", "--version", "1"], limit)
            .await?;
        let (key, secret) = (self.s3.access_key.clone(), self.s3.secret_key.clone());
        self.cli(
            0,
            &["key", "import", "--yes", "-n", "bench", &key, &secret],
            limit,
        )
        .await?;
        self.cli(0, &["bucket", "create", BUCKET], limit).await?;
        self.cli(
            0,
            &[
                "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", &key,
            ],
            limit,
        )
        .await?;

        // Ready when the bucket answers through S3 with that key.
        let client = self.s3.client();
        cairn_testkit::until(
            Duration::from_secs(60),
            Duration::from_millis(500),
            "Garage's S3 API to list the bucket",
            || async {
                client
                    .list_objects_v2()
                    .bucket(BUCKET)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("{e:?}"))
            },
        )
        .await?;
        Ok(())
    }

    pub async fn stop(mut self) {
        for c in &mut self.nodes {
            sys::terminate(c, Duration::from_secs(10)).await;
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
