//! `cairn mount`: the FUSE front door on a cluster's namespace. Buckets are
//! the top-level directories; a file is the object whose key is its path.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use cairn_common::units::parse_size;
use clap::Args;

use super::{client_with, shutdown_signal};

#[derive(Args, Clone)]
pub struct MountArgs {
    /// Where to mount (an existing, empty directory).
    pub mountpoint: PathBuf,
    /// Keep recently read blocks in this directory on a local fast disk.
    #[arg(long)]
    pub read_cache: Option<PathBuf>,
    /// How much the read cache may hold (e.g. 10G).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub read_cache_size: u64,
    /// Seconds a call to the cluster may take before the caller gets EIO.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The S3 access key that owns buckets made by mkdir at the top level
    /// (other keys need `cairn bucket allow`). Without it they have no
    /// owner, and only admin keys reach them through S3. The mount itself
    /// is not subject to S3 keys: it is a trusted local door.
    #[arg(long, default_value = "", value_name = "KEY")]
    pub owner: String,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

impl MountArgs {
    pub fn options(&self, cluster: &str) -> cairn_fs::MountOptions {
        cairn_fs::MountOptions {
            owner: self.owner.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            fs_name: format!("cairn:{cluster}"),
            read_cache: self
                .read_cache
                .clone()
                .map(|dir| cairn_fs::ReadCacheOptions {
                    dir,
                    size: self.read_cache_size,
                }),
            ..Default::default()
        }
    }
}

pub async fn mount(cluster: Option<&str>, args: MountArgs) -> anyhow::Result<()> {
    let name = crate::cluster_name(cluster)?;
    let client = client_with(cluster, cairn_fs::client_options()).await?;
    if !args.owner.is_empty() {
        // A misspelt owner would make buckets no key reaches.
        super::keys::bucket_owner(&client, Some(&args.owner)).await?;
    }
    if let Some(addr) = args.metrics_listen {
        let metrics = cairn_metrics::Metrics::new();
        cairn_fs::metrics::attach_metrics(&metrics);
        super::observe::serve_metrics(addr, metrics, axum::Router::new()).await?;
    }
    eprintln!(
        "cairn: mounting cluster `{name}` on {}",
        args.mountpoint.display()
    );
    cairn_fs::mount(
        client,
        &args.mountpoint,
        args.options(&name),
        shutdown_signal(),
    )
    .await
    .with_context(|| format!("cannot mount on {}", args.mountpoint.display()))?;
    Ok(())
}
