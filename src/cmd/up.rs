//! `cairn up`: the embedded default. One process runs an MDS and three chunk
//! servers (hosts h1..h3) under one data directory, with the cluster named
//! `local` and its config in `DIR/etc`. A restart on the same directory
//! finds everything as it was.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use cairn_common::{ClusterConfig, MAX_CHUNK_SIZE};
use clap::Args;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::shutdown_signal;

/// The embedded cluster's name.
pub const LOCAL_CLUSTER: &str = "local";

/// Chunk servers `cairn up` runs, each on its own host label.
const CHUNK_SERVERS: u32 = 3;

#[derive(Args)]
pub struct UpArgs {
    /// Where the cluster keeps everything: mds/, cs1..cs3/, etc/.
    #[arg(long, default_value = "cairn-data")]
    data: PathBuf,
    /// Where the S3 endpoint listens.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Where the MDS listens (on first start; later starts reuse it).
    /// Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    mds_listen: SocketAddr,
}

/// A free port on `addr`'s interface when `addr` has port 0.
fn concrete_addr(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = std::net::TcpListener::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    Ok(probe.local_addr()?)
}

fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// Creates the cluster on first start, or loads its config.
fn ensure_cluster(
    data: &Path,
    etc: &Path,
    mds_listen: SocketAddr,
) -> anyhow::Result<ClusterConfig> {
    let mds_dir = data.join("mds");
    match ClusterConfig::load_from(etc, LOCAL_CLUSTER) {
        Ok(cfg) => return Ok(cfg),
        Err(cairn_common::config::ConfigError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let addr = concrete_addr(mds_listen)?;
    let password = random_hex(16);
    let cfg = cairn_mds::init_cluster(
        &mds_dir,
        LOCAL_CLUSTER,
        &addr.to_string(),
        &password,
        MAX_CHUNK_SIZE,
    )
    .with_context(|| format!("cannot create the MDS in {}", mds_dir.display()))?;
    cfg.save_to(etc)?;
    let pw_path = data.join("cluster-password");
    write_private(&pw_path, &format!("{password}\n"))?;
    Ok(cfg)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let data = data.canonicalize()?;
    let etc = data.join("etc");
    let cfg = ensure_cluster(&data, &etc, args.mds_listen)?;
    let stop = CancellationToken::new();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    let mds = cairn_mds::Mds::open(&data.join("mds"), cairn_mds::MdsOptions::default()).await?;
    let mds_addr: SocketAddr = cfg
        .mds_addrs
        .first()
        .and_then(|a| a.parse().ok())
        .context("the local cluster's config names no MDS address")?;
    let listener = TcpListener::bind(mds_addr)
        .await
        .with_context(|| format!("cannot listen on {mds_addr} for the MDS: is another `cairn up` running on this directory?"))?;
    let token = stop.clone();
    tasks.spawn(async move {
        mds.serve(listener, token.cancelled_owned()).await?;
        Ok(())
    });

    for i in 1..=CHUNK_SERVERS {
        let dir = data.join(format!("cs{i}"));
        if !dir.join("cs.toml").exists() {
            let options = cairn_cs::MakeCsOptions {
                dir: dir.clone(),
                journal: None,
                host: Some(format!("h{i}")),
                tier: 0,
                capacity: None,
            };
            // The MDS has just started: give it a moment to accept.
            let mut attempt = 0;
            loop {
                match cairn_cs::make_cs(options.clone(), &cfg).await {
                    Ok(_) => break,
                    Err(e) if attempt < 20 => {
                        tracing::debug!(error = %e, "waiting for the MDS");
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot make chunk server {}", dir.display()))
                    }
                }
            }
        }
        let server = cairn_cs::ChunkServer::open(&dir, cfg.clone()).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let advertise = listener.local_addr()?.to_string();
        let token = stop.clone();
        tasks.spawn(async move {
            server
                .serve(listener, advertise, token.cancelled_owned())
                .await?;
            Ok(())
        });
    }

    println!(
        "cairn: cluster `{LOCAL_CLUSTER}` is up in {}",
        data.display()
    );
    println!("  MDS: {mds_addr}");
    println!(
        "  from another shell: CAIRN_CONFIG_DIR={} CAIRN_CLUSTER={LOCAL_CLUSTER} cairn stat",
        etc.display()
    );

    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("stopping");
        }
        Some(res) = tasks.join_next() => {
            stop.cancel();
            match res {
                Ok(Ok(())) => anyhow::bail!("a part of the cluster stopped unexpectedly"),
                Ok(Err(e)) => return Err(e.context("a part of the cluster failed")),
                Err(e) => anyhow::bail!("a part of the cluster panicked: {e}"),
            }
        }
    }
    stop.cancel();
    while let Some(res) = tasks.join_next().await {
        if let Ok(Err(e)) = res {
            tracing::warn!(error = %e, "while stopping");
        }
    }
    Ok(())
}
