//! Cluster daemons and membership: make-mds, auth-node, mds, make-cs, cs.

use std::{
    io::{BufRead, IsTerminal},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use anyhow::{bail, Context};
use cairn_client::{Client, ClientOptions};
use cairn_common::{
    join::join_channel,
    node_cert::{cert_file, key_file, Role},
    units::parse_size,
    ClusterConfig, MAX_CHUNK_SIZE,
};
use cairn_proto::{join_client::JoinClient, AuthNodeRequest};
use clap::Args;
use tokio::net::TcpListener;

use super::shutdown_signal;
use crate::{cluster_name, config_dir};

#[derive(Args)]
pub struct MakeMdsArgs {
    /// Create a new cluster (its id and secret) with this as its first MDS.
    #[arg(short = 'I', long = "init")]
    init: bool,
    /// The MDS's data directory.
    #[arg(short = 'r', long = "root")]
    dir: PathBuf,
    /// The address clients and chunk servers reach this MDS at (host:port).
    #[arg(short = 'a', long = "addr")]
    addr: String,
    /// The cluster password (asked for when not given; or CAIRN_PASSWORD).
    #[arg(long, env = "CAIRN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Largest chunk of the cluster, fixed at creation.
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    chunk_size: u64,
}

#[derive(Args)]
pub struct AuthNodeArgs {
    /// Address of any MDS of the cluster.
    #[arg(long)]
    mds: String,
    /// The cluster password (asked for when not given; or CAIRN_PASSWORD).
    #[arg(long, env = "CAIRN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The roles this host gets certificates for: cs, client, mds
    /// (repeat the flag; default cs and client).
    #[arg(long)]
    role: Vec<String>,
    /// The SHA-256 fingerprint of the cluster CA that `make-mds -I`
    /// printed: without it the CA the MDS shows is trusted on first use.
    #[arg(long)]
    ca_sha256: Option<String>,
}

#[derive(Args)]
pub struct MdsArgs {
    /// The MDS's data directory (made by make-mds).
    #[arg(short = 'r', long = "root")]
    dir: PathBuf,
    /// Where to listen; defaults to the address given to make-mds.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Seconds without a heartbeat after which a chunk server is offline.
    #[arg(long, default_value_t = 10)]
    offline_after: u64,
    /// Seconds without a heartbeat after which a chunk server's replicas
    /// are counted lost and restored elsewhere (the grace period).
    #[arg(long, default_value_t = 60)]
    lost_after: u64,
    /// Replica copies at once towards, and from, each chunk server.
    #[arg(long, default_value_t = 4)]
    max_copies_per_cs: usize,
    /// Fill difference, in percentage points, between the fullest and the
    /// emptiest chunk server of a tier that starts the balancer.
    #[arg(long, default_value_t = 5.0)]
    balance_threshold: f64,
    /// MB/s the balancing moves into, and out of, each chunk server copy
    /// at together.
    #[arg(long, default_value_t = 20.0)]
    balance_rate: f64,
    /// Seconds a released chunk stays readable before it is freed (readers
    /// holding the old layout finish).
    #[arg(long, default_value_t = 60)]
    release_grace: u64,
    /// Seconds after which a chunk allocated but never committed is
    /// collected. Mounts keep chunks allocated ahead for up to 30 s: keep
    /// this well above that.
    #[arg(long, default_value_t = 3600)]
    uncommitted_timeout: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics and the status page
    /// at http://ADDR/.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Raft log entries between two snapshots of the metadata state.
    #[arg(long, default_value_t = cairn_mds::SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// Raft log entries kept before the last snapshot (a follower further
    /// behind catches up from a snapshot).
    #[arg(long, default_value_t = cairn_mds::LOG_KEPT)]
    log_kept: u64,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
}

/// The S3 lifecycle runner's settings (`cairn mds`, `cairn up`).
#[derive(Args)]
pub struct LifecycleArgs {
    /// For tests only: the length of a lifecycle day in seconds, so that
    /// rules counted in days act within seconds. Keep the default (86400)
    /// anywhere else.
    #[arg(long, default_value_t = 86_400)]
    lifecycle_day_secs: u64,
    /// Lifecycle changes (expirations, removals, aborts) per second at most.
    #[arg(long, default_value_t = cairn_mds::LIFECYCLE_ACTIONS_PER_SECOND)]
    lifecycle_rate: u32,
}

impl LifecycleArgs {
    /// `options` with these settings.
    pub fn apply(&self, options: cairn_mds::MdsOptions) -> anyhow::Result<cairn_mds::MdsOptions> {
        if self.lifecycle_day_secs == 0 || self.lifecycle_rate == 0 {
            bail!("--lifecycle-day-secs and --lifecycle-rate must be positive");
        }
        Ok(cairn_mds::MdsOptions {
            lifecycle_day: Duration::from_secs(self.lifecycle_day_secs),
            lifecycle_rate: self.lifecycle_rate,
            ..options
        })
    }
}

#[derive(Args)]
pub struct MakeCsArgs {
    /// The disk directory the chunk server keeps its replicas in.
    #[arg(short = 'r', long = "root")]
    dir: PathBuf,
    /// A journal file on a fast device; synced writes are acknowledged
    /// from it.
    #[arg(short = 'j', long = "journal")]
    journal: Option<PathBuf>,
    /// Journal size in MiB.
    #[arg(short = 's', long = "journal-size", default_value_t = 1024)]
    journal_size_mb: u64,
    /// Failure-domain label; defaults to the machine's hostname.
    #[arg(long)]
    host: Option<String>,
    /// Storage tier (0 fastest).
    #[arg(long, default_value_t = 0)]
    tier: u32,
    /// Space this chunk server may use (e.g. 500G); defaults to the disk's.
    #[arg(long, value_parser = parse_size)]
    capacity: Option<u64>,
}

#[derive(Args)]
pub struct CsArgs {
    /// The chunk server's directory (made by make-cs).
    #[arg(short = 'r', long = "root")]
    dir: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The address others reach it at; defaults to the bound address.
    #[arg(long)]
    advertise: Option<String>,
    /// MB/s the scrubber re-reads replicas at (0: no scrubbing).
    #[arg(long, default_value_t = 8.0)]
    scrub_rate: f64,
    /// Seconds of rest before each scrub pass over every replica.
    #[arg(long, default_value_t = 3600)]
    scrub_interval: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The password from the flag or environment, else asked for.
fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        rpassword::prompt_password("Cluster password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!("the cluster password is empty: give one with --password, CAIRN_PASSWORD or at the prompt");
    }
    Ok(password)
}

pub async fn make_mds(cluster: Option<&str>, args: MakeMdsArgs) -> anyhow::Result<()> {
    let name = cluster_name(cluster)?;
    if !args.init {
        return join_mds(&name, &args).await;
    }
    if args.chunk_size < (1 << 20) || args.chunk_size > MAX_CHUNK_SIZE {
        bail!("--chunk-size must be between 1M and 64M");
    }
    let password = read_password(args.password)?;
    let config = cairn_mds::init_cluster(&args.dir, &name, &args.addr, &password, args.chunk_size)
        .with_context(|| format!("cannot create an MDS in {}", args.dir.display()))?;
    let path = config.save_to(&config_dir())?;
    // The cluster's own CA, beside the config (this host is an MDS host),
    // and this host's node certificates.
    super::certs::node_dir_from_mds(&args.dir, &config_dir().join(&name), &config.cluster_id)?;
    let ca = cairn_common::pki::Authority::load(&args.dir)?;
    let ca_der = cairn_common::pki::first_cert_der(ca.cert_pem()).unwrap_or_default();
    println!(
        "created cluster `{name}` (id {}); its config is at {}\nstart the MDS with: cairn mds -r {}\n\
         the cluster CA's SHA-256, for `auth-node --ca-sha256` on other hosts: {}",
        config.cluster_id,
        path.display(),
        args.dir.display(),
        cairn_common::join::fingerprint(&ca_der)
    );
    Ok(())
}

/// Adds an MDS to the running group of cluster `name`: the leader records
/// it as a learner and gives it an id; it becomes a voter once started and
/// caught up.
async fn join_mds(name: &str, args: &MakeMdsArgs) -> anyhow::Result<()> {
    let mut config = ClusterConfig::load_from(&config_dir(), name).with_context(|| {
        format!("no config for cluster `{name}` here: run `cairn -c {name} auth-node` first")
    })?;
    let reply = add_mds(&config, &args.addr).await?;
    let ca = cairn_common::pki::Authority::from_pems(&reply.ca_pem, &reply.ca_key_pem)?;
    cairn_mds::create_member(
        &args.dir,
        &reply.cluster_meta,
        &ca,
        reply.node_id,
        &args.addr,
    )
    .with_context(|| format!("cannot create an MDS in {}", args.dir.display()))?;
    config.mds_addrs = reply.mds_addrs;
    let path = config.save_to(&config_dir())?;
    println!(
        "MDS {} added to cluster `{name}` (config updated at {}); start it with: cairn mds -r {}\n\
         it joins as a learner and becomes a voter once it has caught up",
        reply.node_id,
        path.display(),
        args.dir.display()
    );
    Ok(())
}

/// Asks the group's leader to add an MDS at `addr` (as a learner).
pub(crate) async fn add_mds(
    config: &ClusterConfig,
    addr: &str,
) -> anyhow::Result<cairn_client::AddedMds> {
    membership_client(config)?
        .add_mds(addr)
        .await
        .context("cannot add the MDS to the cluster")
}

/// A client for membership changes: the client library finds the leader
/// and follows redirects; the timeout leaves an election and a snapshot
/// time to finish.
fn membership_client(config: &ClusterConfig) -> anyhow::Result<Client> {
    let options = ClientOptions {
        mds_timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    // Membership is for MDS hosts: their certificate of role mds.
    Client::connect_as(config, options, Role::Mds).with_context(|| {
        format!(
            "cannot reach cluster `{0}` as an MDS host: run `cairn -c {0} auth-node --role mds \
             --role cs --role client` on this host first",
            config.name
        )
    })
}

#[derive(Args)]
pub struct RmMdsArgs {
    /// The MDS's id (`cairn stat` lists them).
    id: u64,
}

/// Removes an MDS from the group (`cairn rm-mds ID`).
pub async fn rm_mds(cluster: Option<&str>, args: RmMdsArgs) -> anyhow::Result<()> {
    let name = cluster_name(cluster)?;
    let mut config = ClusterConfig::load_from(&config_dir(), &name)?;
    let id = args.id;
    membership_client(&config)?
        .remove_mds(id)
        .await
        .with_context(|| format!("cannot remove MDS {id}"))?;
    // The removed MDS's address leaves this host's config.
    if let Ok(client) = super::client_for(Some(&name)).await {
        if let Ok(stat) = client.stat().await {
            let addrs: Vec<String> = stat.mds.iter().map(|m| m.addr.clone()).collect();
            if !addrs.is_empty() {
                config.mds_addrs = addrs;
                config.save_to(&config_dir())?;
            }
        }
    }
    println!("MDS {id} removed from cluster `{name}`");
    Ok(())
}

pub async fn auth_node(cluster: Option<&str>, args: AuthNodeArgs) -> anyhow::Result<()> {
    let name = cluster_name(cluster)?;
    cairn_common::config::check_name(&name)?;
    let password = read_password(args.password)?;
    let roles = if args.role.is_empty() {
        vec![Role::Cs, Role::Client]
    } else {
        args.role
            .iter()
            .map(|r| {
                Role::parse(r).ok_or_else(|| anyhow::anyhow!("--role {r}: use cs, client or mds"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    // Each role's key is made here and never leaves this host.
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for role in &roles {
        let (key, csr_pem) = cairn_common::node_cert::node_request()?;
        keys.push(key);
        certs.push(cairn_proto::NodeCertRequest {
            role: role.as_str().to_string(),
            csr_pem,
        });
    }
    let endpoint = cairn_common::net::endpoint(&args.mds)
        .with_context(|| format!("`{}` is not an address", args.mds))?;
    let (channel, verifier) = join_channel(&endpoint, args.ca_sha256.clone())?;
    let reply = JoinClient::new(channel)
        .auth_node(AuthNodeRequest {
            cluster_name: name.clone(),
            password,
            certs,
        })
        .await
        .map_err(|s| {
            anyhow::anyhow!(
                "the MDS at {} refused to join this node: {}",
                args.mds,
                s.message()
            )
        })?
        .into_inner();
    // The CA the MDS sends must be the one it proved itself with.
    let seen = verifier.seen_ca().context("no TLS session with the MDS")?;
    use rustls_pki_types::pem::PemObject;
    let sent = rustls_pki_types::CertificateDer::pem_slice_iter(reply.ca_pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .context("the MDS sent no CA certificate")?;
    if sent.as_ref() != seen.as_slice() || reply.cert_pems.len() != roles.len() {
        bail!("the MDS's answer does not match the CA it showed: refusing it");
    }
    let config = ClusterConfig {
        name: name.clone(),
        cluster_id: reply.cluster_id,
        mds_addrs: reply.mds_addrs,
        chunk_size: reply.chunk_size,
        dir: None,
    };
    let path = config.save_to(&config_dir())?;
    let dir = config_dir().join(&name);
    cairn_common::pki::write_atomic(&dir.join(cairn_common::pki::CA_CERT), &reply.ca_pem, 0o644)?;
    for ((role, key), cert_pem) in roles.iter().zip(&keys).zip(&reply.cert_pems) {
        cairn_common::pki::write_pair(
            &cert_file(&dir, *role),
            cert_pem,
            &key_file(&dir, *role),
            &key.serialize_pem(),
        )?;
    }
    let fingerprint = cairn_common::join::fingerprint(&seen);
    if args.ca_sha256.is_none() {
        println!("trusted the cluster CA on first use: SHA-256 {fingerprint}");
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    println!(
        "this node is now part of cluster `{name}` (certificates for {}); config written to {}",
        names.join(", "),
        path.display()
    );
    Ok(())
}

pub async fn mds(args: MdsArgs) -> anyhow::Result<()> {
    if !(0.0..=100.0).contains(&args.balance_threshold) {
        bail!("--balance-threshold is in percentage points, 0 to 100");
    }
    if !(args.balance_rate > 0.0 && args.balance_rate.is_finite()) {
        bail!("--balance-rate must be a positive number of MB/s");
    }
    let offline_after = Duration::from_secs(args.offline_after.max(1));
    let options = cairn_mds::MdsOptions {
        offline_after,
        lost_after: Duration::from_secs(args.lost_after).max(offline_after),
        max_copies_per_cs: args.max_copies_per_cs.max(1),
        balance_threshold: args.balance_threshold / 100.0,
        balance_rate: (args.balance_rate * 1_000_000.0) as u64,
        release_grace: Duration::from_secs(args.release_grace),
        uncommitted_timeout: Duration::from_secs(args.uncommitted_timeout),
        snapshot_every: args.snapshot_every.max(1),
        log_kept: args.log_kept,
        ..args.lifecycle.apply(cairn_mds::MdsOptions::default())?
    };
    let mut mds = cairn_mds::Mds::open(&args.dir, options).await?;
    if let Some(addr) = args.metrics_listen {
        let metrics = cairn_metrics::Metrics::new();
        mds.attach_metrics(&metrics);
        let source = mds.status_source();
        source.sample_into(&metrics);
        super::observe::serve_metrics(addr, metrics, source.router()).await?;
    }
    let addr = match args.listen {
        Some(a) => a,
        None => {
            let own = mds.addr();
            own.parse().with_context(|| {
                format!("the MDS's recorded address `{own}` is not host:port; pass --listen")
            })?
        }
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is another MDS running there?"))?;
    tracing::info!(%addr, "MDS listening");
    super::announce::announce("mds", listener.local_addr()?);
    mds.serve(listener, shutdown_signal()).await?;
    Ok(())
}

pub async fn make_cs(cluster: Option<&str>, args: MakeCsArgs) -> anyhow::Result<()> {
    let name = cluster_name(cluster)?;
    let config = ClusterConfig::load_from(&config_dir(), &name)?;
    let options = cairn_cs::MakeCsOptions {
        dir: args.dir.clone(),
        journal: args.journal.map(|p| (p, args.journal_size_mb << 20)),
        host: args.host,
        tier: args.tier,
        capacity: args.capacity,
    };
    let identity = cairn_cs::make_cs(options, &config).await?;
    println!(
        "chunk server {} ready in {}; start it with: cairn -c {name} cs -r {}",
        identity.cs_id,
        args.dir.display(),
        args.dir.display()
    );
    Ok(())
}

pub async fn cs(cluster: Option<&str>, args: CsArgs) -> anyhow::Result<()> {
    let name = cluster_name(cluster)?;
    let config = ClusterConfig::load_from(&config_dir(), &name)?;
    if !(args.scrub_rate >= 0.0 && args.scrub_rate.is_finite()) {
        bail!("--scrub-rate is a number of MB/s, 0 to turn the scrubber off");
    }
    let mut server = cairn_cs::ChunkServer::open(&args.dir, config).await?;
    server.set_scrub_policy(cairn_cs::ScrubPolicy {
        rate: (args.scrub_rate * 1_000_000.0) as u64,
        pause: Duration::from_secs(args.scrub_interval),
    });
    if let Some(addr) = args.metrics_listen {
        let metrics = cairn_metrics::Metrics::new();
        server.attach_metrics(&metrics);
        super::observe::serve_metrics(addr, metrics, axum::Router::new()).await?;
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let advertise = args.advertise.unwrap_or_else(|| bound.to_string());
    tracing::info!(cs = server.cs_id(), %bound, "chunk server listening");
    super::announce::announce("cs", bound);
    server.serve(listener, advertise, shutdown_signal()).await?;
    Ok(())
}
