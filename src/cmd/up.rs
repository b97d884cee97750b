//! `cairn up`: the embedded default. One process runs an MDS, three chunk
//! servers (hosts h1..h3) under one data directory and the S3 gateway, with
//! the cluster named `local` and its config in `DIR/etc`. A restart on the
//! same directory finds everything as it was.
//!
//! The first S3 access key comes from `CAIRN_ACCESS_KEY`/`CAIRN_SECRET_KEY`
//! or is generated, printed once and written with mode 0600 to
//! `DIR/s3-credentials`. It is an admin key: `cairn mb` gives it the
//! buckets it makes, and it stands in for the owner of buckets without one
//! (those a mount makes without `--owner`); other keys reach a bucket only
//! with a grant (`cairn bucket allow`).

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
    /// The region S3 signatures must name.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Domain for virtual-host-style S3 addressing (BUCKET.DOMAIN).
    #[arg(long)]
    domain: Option<String>,
    /// The first S3 access key's id, an admin key (set both or neither;
    /// generated when unset and written to DIR/s3-credentials). It owns the
    /// buckets `cairn mb` makes and reaches buckets without an owner; other
    /// keys need `cairn bucket allow`. Created on first start, or on a later
    /// start when no key of that id exists.
    #[arg(long, env = "CAIRN_ACCESS_KEY", value_name = "ID")]
    access_key: Option<String>,
    /// The first S3 access key's secret (prefer the variable: a flag shows
    /// in the process list).
    #[arg(
        long,
        env = "CAIRN_SECRET_KEY",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    secret_key: Option<String>,
    /// Also mount the namespace with FUSE here (buckets made by mkdir at
    /// its top belong to the first access key).
    #[arg(long)]
    mount: Option<PathBuf>,
    /// Where the MDS listens (on first start; later starts reuse it).
    /// Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    mds_listen: SocketAddr,
    /// Serve every part's Prometheus metrics at http://ADDR/metrics and the
    /// status page at http://ADDR/.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Metadata servers to run (a raft group; 3 survives the loss of one).
    /// Set on first start: more join a running cluster, never fewer.
    #[arg(long, default_value_t = 1)]
    mds_count: u32,
    /// Serve S3 over HTTPS with a certificate for 127.0.0.1/localhost signed
    /// by the cluster's CA (made under DIR/etc on first use); clients trust
    /// the CA file printed at start (`aws --ca-bundle FILE`).
    #[arg(long)]
    tls: bool,
    /// With --tls, also serve plain HTTP here (local clients only).
    #[arg(long, value_name = "ADDR", requires = "tls")]
    plain_listen: Option<SocketAddr>,
    /// Seconds a released chunk stays readable before it is freed.
    #[arg(long, default_value_t = 60)]
    release_grace: u64,
    #[command(flatten)]
    lifecycle: super::cluster::LifecycleArgs,
    #[command(flatten)]
    limits: super::gateway::DoorLimitArgs,
}

/// The listener of a new MDS, bound before its address is recorded (in
/// the cluster config and the raft group) and kept until the MDS serves
/// on it: with port 0 the system picks the port, and no other process can
/// take it between the choice and the serving.
async fn bind_new_mds(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for a new MDS"))
}

fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// Creates the cluster on first start, with the first MDS's listener
/// bound on `mds_listen`, or loads its config (the MDS binds the address
/// it recorded then).
async fn ensure_cluster(
    data: &Path,
    etc: &Path,
    mds_listen: SocketAddr,
) -> anyhow::Result<(ClusterConfig, Option<TcpListener>)> {
    let mds_dir = data.join("mds");
    match ClusterConfig::load_from(etc, LOCAL_CLUSTER) {
        Ok(cfg) => return Ok((cfg, None)),
        Err(cairn_common::config::ConfigError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let listener = bind_new_mds(mds_listen).await?;
    let addr = listener.local_addr()?;
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
    let cfg = ClusterConfig {
        dir: Some(etc.join(LOCAL_CLUSTER)),
        ..cfg
    };
    super::certs::node_dir_from_mds(&mds_dir, &etc.join(LOCAL_CLUSTER), &cfg.cluster_id)?;
    let pw_path = data.join("cluster-password");
    write_private(&pw_path, &format!("{password}\n"))?;
    Ok((cfg, Some(listener)))
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

/// Makes sure the first S3 key, an admin key, exists in the MDS. Returns
/// the key and secret when they were generated now (to be printed once).
async fn ensure_access_key(
    client: &cairn_client::Client,
    data: &Path,
    access_key: Option<&str>,
    secret_key: Option<&str>,
) -> anyhow::Result<Option<(String, String)>> {
    let creds = data.join("s3-credentials");
    // The MDS has just started: retry while it begins to answer.
    let mut attempt = 0;
    let existing = loop {
        match (access_key, client.list_access_keys().await) {
            (_, Ok(keys)) => break keys,
            (_, Err(e)) if attempt < 50 => {
                tracing::debug!(error = %e, "waiting for the MDS");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (_, Err(e)) => return Err(e).context("cannot read the access keys"),
        }
    };
    match (access_key, secret_key) {
        (Some(id), Some(secret)) => {
            match existing.iter().find(|k| k.key_id == id) {
                None => {
                    client
                        .create_access_key("admin", Some(id), Some(secret), true)
                        .await
                        .context("cannot store CAIRN_ACCESS_KEY")?;
                }
                // Made before keys had the admin flag: it keeps the buckets
                // it owns or was granted, but not those without an owner.
                Some(k) if !k.admin => tracing::warn!(
                    key = %id,
                    "CAIRN_ACCESS_KEY is not an admin key: buckets without an owner are closed to it (`cairn bucket allow` opens them)"
                ),
                Some(_) => {}
            }
            write_private(
                &creds,
                &format!("access_key = \"{id}\"\nsecret_key = \"{secret}\"\n"),
            )?;
            Ok(None)
        }
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("set both CAIRN_ACCESS_KEY and CAIRN_SECRET_KEY, or neither")
        }
        (None, None) if !existing.is_empty() && creds.exists() => Ok(None),
        (None, None) => {
            let key = client
                .create_access_key("admin", None, None, true)
                .await
                .context("cannot create the first access key")?;
            write_private(
                &creds,
                &format!(
                    "access_key = \"{}\"\nsecret_key = \"{}\"\n",
                    key.key_id, key.secret
                ),
            )?;
            Ok(Some((key.key_id, key.secret)))
        }
    }
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let data = data.canonicalize()?;
    let etc = data.join("etc");
    let (mut cfg, mut first_listener) = ensure_cluster(&data, &etc, args.mds_listen).await?;
    let stop = CancellationToken::new();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    // One registry for every part, served once the parts are attached.
    let metrics = args.metrics_listen.map(|_| cairn_metrics::Metrics::new());
    // The group's figures come from whichever MDS of it leads.
    let mut status = cairn_mds::StatusSource::default();
    let mut mds_addrs = Vec::new();
    for i in 1..=args.mds_count.max(1) {
        let dir = if i == 1 {
            data.join("mds")
        } else {
            data.join(format!("mds{i}"))
        };
        // A new MDS's listener, bound before its address is recorded.
        let mut new_listener = if i == 1 { first_listener.take() } else { None };
        if i > 1 && !dir.join(cairn_mds::DB_FILE).exists() {
            // A new member of the group: the leader (one of those already
            // serving) records it and gives it its id.
            let listener = bind_new_mds("127.0.0.1:0".parse()?).await?;
            let addr = listener.local_addr()?.to_string();
            new_listener = Some(listener);
            let reply = super::cluster::add_mds(&cfg, &addr).await?;
            let ca = cairn_common::pki::Authority::from_pems(&reply.ca_pem, &reply.ca_key_pem)?;
            cairn_mds::create_member(&dir, &reply.cluster_meta, &ca, reply.node_id, &addr)
                .with_context(|| format!("cannot create the MDS in {}", dir.display()))?;
        }
        let options = cairn_mds::MdsOptions {
            release_grace: Duration::from_secs(args.release_grace),
            ..args.lifecycle.apply(cairn_mds::MdsOptions::default())?
        };
        let mut mds = cairn_mds::Mds::open(&dir, options).await?;
        // The group's gRPC calls are counted together (part `mds`).
        if let Some(m) = metrics.as_ref() {
            mds.attach_metrics(m);
        }
        status.add(&mds);
        let mds_addr: SocketAddr = mds
            .addr()
            .parse()
            .with_context(|| format!("the MDS in {} has no address", dir.display()))?;
        let listener = match new_listener {
            Some(listener) => listener,
            None => TcpListener::bind(mds_addr)
                .await
                .with_context(|| format!("cannot listen on {mds_addr} for the MDS: is another `cairn up` running on this directory?"))?,
        };
        anyhow::ensure!(
            listener.local_addr()? == mds_addr,
            "the MDS in {} records {mds_addr} but listens on {}",
            dir.display(),
            listener.local_addr()?
        );
        super::announce::announce("mds", listener.local_addr()?);
        let token = stop.clone();
        tasks.spawn(async move {
            mds.serve(listener, token.cancelled_owned()).await?;
            Ok(())
        });
        mds_addrs.push(mds_addr.to_string());
    }
    if cfg.mds_addrs != mds_addrs {
        cfg.mds_addrs = mds_addrs.clone();
        cfg.save_to(&etc)?;
    }
    let mds_addr = mds_addrs.join(", ");

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
        let mut server = cairn_cs::ChunkServer::open(&dir, cfg.clone()).await?;
        if let Some(m) = &metrics {
            server.attach_metrics(m);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        super::announce::announce("cs", listener.local_addr()?);
        let advertise = listener.local_addr()?.to_string();
        let token = stop.clone();
        tasks.spawn(async move {
            server
                .serve(listener, advertise, token.cancelled_owned())
                .await?;
            Ok(())
        });
    }

    let client = cairn_client::Client::connect(&cfg, cairn_client::ClientOptions::default())?;
    let key = ensure_access_key(
        &client,
        &data,
        args.access_key.as_deref(),
        args.secret_key.as_deref(),
    )
    .await?;
    let mut ca_file = None;
    let mut tls = super::gateway::TlsArgs::default();
    if args.tls {
        let (ca, files) = super::certs::ensure_local_s3_cert(&etc.join(LOCAL_CLUSTER))?;
        ca_file = Some(ca);
        tls = super::gateway::TlsArgs {
            tls_cert: Some(files.cert),
            tls_key: Some(files.key),
            plain_listen: args.plain_listen,
        };
    }
    let gateway = super::gateway::GatewayArgs {
        listen: args.listen,
        region: args.region.clone(),
        domain: args.domain.clone(),
        metrics_listen: None,
        tls: tls.clone(),
        limits: args.limits.clone(),
    };
    super::gateway::raise_open_files_limit();
    let mut gateway_config = gateway.config();
    gateway_config.metrics = metrics.as_ref().map(|m| m.part("gateway"));
    gateway_config.tls = tls.reloader()?;
    let listeners = super::gateway::bind_all(args.listen, &tls, args.tls).await?;
    let s3_addr = listeners.main.local_addr()?;
    let plain_addr = listeners.plain.as_ref().and_then(|l| l.local_addr().ok());
    super::announce::announce("s3", s3_addr);
    if let Some(plain) = plain_addr {
        super::announce::announce("s3-plain", plain);
    }
    let token = stop.clone();
    tasks.spawn(async move {
        cairn_gateway::serve(client, gateway_config, listeners, token.cancelled_owned()).await?;
        Ok(())
    });

    if let Some(mountpoint) = args.mount.clone() {
        let client = cairn_client::Client::connect(&cfg, cairn_fs::client_options())?;
        cairn_fs::check_mountpoint(&mountpoint)?;
        if let Some(m) = &metrics {
            cairn_fs::metrics::attach_metrics(m);
        }
        let options = cairn_fs::MountOptions {
            // Buckets made by mkdir belong to the first key, as with `cairn mb`.
            owner: super::keys::bucket_owner(&client, None).await?,
            fs_name: format!("cairn:{LOCAL_CLUSTER}"),
            ..Default::default()
        };
        let token = stop.clone();
        println!("  FUSE: {}", mountpoint.display());
        tasks.spawn(async move {
            cairn_fs::mount(client, &mountpoint, options, token.cancelled_owned()).await?;
            Ok(())
        });
    }

    println!(
        "cairn: cluster `{LOCAL_CLUSTER}` is up in {}",
        data.display()
    );
    println!("  MDS: {mds_addr}");
    if let (Some(addr), Some(m)) = (args.metrics_listen, metrics) {
        status.sample_into(&m);
        let bound = super::observe::serve_metrics(addr, m, status.router()).await?;
        println!("  metrics: http://{bound}/metrics  status page: http://{bound}/");
    }
    match &ca_file {
        Some(ca) => {
            println!("  S3:  https://{s3_addr} (region {})", args.region);
            println!(
                "  S3 CA certificate: {}   (aws --ca-bundle {0})",
                ca.display()
            );
            if let Some(plain) = plain_addr {
                println!("  S3 (plain, local use): http://{plain}");
            }
        }
        None => println!("  S3:  http://{s3_addr} (region {})", args.region),
    }
    match key {
        Some((id, secret)) => {
            println!("  S3 access key: {id}");
            println!(
                "  S3 secret key: {secret}   (shown once; also in {})",
                data.join("s3-credentials").display()
            );
        }
        None => println!(
            "  S3 credentials: {}",
            data.join("s3-credentials").display()
        ),
    }
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
