//! `cairn`: one binary for every Cairn process and admin command. This file
//! is the CLI wiring only; each command lives in `cmd/`.

mod cmd;
mod config_file;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Cairn: a replicated, self-healing storage cluster with an S3 gateway and a
/// FUSE filesystem.
#[derive(Parser)]
#[command(name = "cairn", version, about, long_about = None)]
#[command(
    after_help = "Example: start a local cluster with `cairn up --data /tmp/cairn`, then \
    `CAIRN_CONFIG_DIR=/tmp/cairn/etc cairn -c local stat` from another shell."
)]
struct Cli {
    /// The cluster to act on (its config lives in $CAIRN_CONFIG_DIR/NAME).
    #[arg(short = 'c', long = "cluster", env = "CAIRN_CLUSTER", global = true)]
    cluster: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a metadata server; with -I, a new cluster.
    ///
    /// Example: cairn -c prod make-mds -I -r /var/lib/cairn/mds -a 10.0.0.1:9100
    MakeMds(cmd::cluster::MakeMdsArgs),
    /// Remove a metadata server from the cluster's group.
    ///
    /// Example: cairn -c prod rm-mds 3
    RmMds(cmd::cluster::RmMdsArgs),
    /// Join this host to a cluster: asks for the cluster password and writes
    /// the cluster's config here.
    ///
    /// Example: cairn -c prod auth-node --mds 10.0.0.1:9100
    AuthNode(cmd::cluster::AuthNodeArgs),
    /// Run a metadata server.
    ///
    /// Example: cairn mds -r /var/lib/cairn/mds
    Mds(cmd::cluster::MdsArgs),
    /// Prepare a disk directory as a chunk server and register it.
    ///
    /// Example: cairn -c prod make-cs -r /disks/sdb/cs --tier 1
    MakeCs(cmd::cluster::MakeCsArgs),
    /// Run a chunk server.
    ///
    /// Example: cairn -c prod cs -r /disks/sdb/cs --listen 10.0.0.2:9200
    Cs(cmd::cluster::CsArgs),
    /// Run a whole cluster in one process: an MDS, three chunk servers
    /// (hosts h1..h3) under DIR, and the S3 gateway.
    ///
    /// The first S3 access key is an admin key: set CAIRN_ACCESS_KEY and
    /// CAIRN_SECRET_KEY to choose it, else one is generated, printed once
    /// and kept in DIR/s3-credentials. Buckets are closed by default: other
    /// keys need `cairn bucket allow`.
    ///
    /// Example: cairn up --data /tmp/cairn
    Up(cmd::up::UpArgs),
    /// Run an S3 gateway for the cluster.
    ///
    /// Example: cairn -c prod gateway --listen 0.0.0.0:9000
    Gateway(cmd::gateway::GatewayArgs),
    /// Mount the cluster's namespace with FUSE (buckets are the top-level
    /// directories); Ctrl-C or SIGTERM unmounts.
    ///
    /// Example: cairn -c prod mount /mnt/cairn --read-cache /ssd/cairn-cache --read-cache-size 20G
    Mount(cmd::mount::MountArgs),
    /// Manage S3 access keys.
    ///
    /// Example: cairn -c prod key create backup-robot
    Key(cmd::keys::KeyArgs),
    /// Node certificates of the cluster's mutual TLS: list (with their
    /// ends), revoke, rotate.
    ///
    /// Example: cairn -c prod cert rotate
    Cert(cmd::node_certs::CertArgs),
    /// Manage bucket permissions: allow, revoke, list.
    ///
    /// Example: cairn -c prod bucket allow CK2GH6... photos --read --write
    Bucket(cmd::keys::BucketArgs),
    /// Upload a local file (or - for standard input) as BUCKET/KEY.
    ///
    /// Example: cairn -c prod put ./backup.tar photos/2026/backup.tar
    Put(cmd::objects::PutArgs),
    /// Download BUCKET/KEY to a local file (or - for standard output).
    ///
    /// Example: cairn -c prod get photos/2026/backup.tar ./backup.tar
    Get(cmd::objects::GetArgs),
    /// List the versions and delete markers of BUCKET[/PREFIX].
    ///
    /// Example: cairn -c prod versions backups/db/
    Versions(cmd::versions::VersionsArgs),
    /// Set or show the retention and legal hold of a version of BUCKET/KEY.
    ///
    /// Example: cairn -c prod lock backups/db.tar --mode COMPLIANCE --until 30d
    Lock(cmd::versions::LockArgs),
    /// List buckets, or the keys of BUCKET[/PREFIX].
    ///
    /// Example: cairn -c prod ls photos/2026/
    Ls(cmd::objects::LsArgs),
    /// Remove BUCKET/KEY.
    ///
    /// Example: cairn -c prod rm photos/2026/backup.tar
    Rm(cmd::objects::RmArgs),
    /// Make a bucket, owned by an S3 access key.
    ///
    /// Example: cairn -c prod mb photos --owner CK2GH6...
    Mb(cmd::objects::MbArgs),
    /// Remove an empty bucket.
    ///
    /// Example: cairn -c prod rb photos
    Rb(cmd::objects::BucketArgs),
    /// Show the cluster: chunk servers, chunks by live replicas.
    ///
    /// Example: cairn -c prod stat --json
    Stat(cmd::stat::StatArgs),
    /// Show the chunks of BUCKET/KEY with their replicas.
    ///
    /// Example: cairn -c prod chunks photos/2026/backup.tar --json
    Chunks(cmd::stat::ChunksArgs),
    /// Show a bucket's S3 lifecycle rules and what the lifecycle runner
    /// last did there.
    ///
    /// Example: cairn -c prod lifecycle photos
    Lifecycle(cmd::lifecycle::LifecycleArgs),
    /// A live view of the cluster, refreshed every second: status, space,
    /// chunks, MDS and chunk-server tables, events. Keys: c chunk servers,
    /// m MDS, i clients, e events, a all, v verbose, s sort, q quit.
    ///
    /// Example: cairn -c prod top
    Top(cmd::top::TopArgs),
    /// Remove a chunk server: drain it (copies first), or with --force drop
    /// it at once and let re-replication restore the counts.
    ///
    /// Example: cairn -c prod rm-cs 4
    RmCs(cmd::heal::RmCsArgs),
    /// Set the replica counts (normal:minimum) and/or tier of a bucket,
    /// directory or object, or of `/` for the cluster's default
    /// (inherited by what is created below; -R: everything below too).
    ///
    /// Example: cairn -c prod set-attr photos --replicas 3:2 -R
    SetAttr(cmd::heal::SetAttrArgs),
    /// Show the replica count and tier of a bucket, directory or object.
    ///
    /// Example: cairn -c prod get-attr photos/2026/backup.tar
    GetAttr(cmd::heal::GetAttrArgs),
    /// Wait until every chunk has its wanted live replicas (exit 1 on
    /// timeout).
    ///
    /// Example: cairn -c prod wait-healthy --timeout 300
    WaitHealthy(cmd::heal::WaitHealthyArgs),
}

/// What is logged without `RUST_LOG`: warnings from everything, and the
/// one-line milestones (`info`) of Cairn's own crates; the chatter of
/// openraft, tonic and hyper only when `RUST_LOG` asks for it. `cairn up`
/// prints what a user needs on stdout, so it logs warnings only.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::Up(_) => "warn",
        _ => {
            "warn,cairn=info,cairn_mds=info,cairn_cs=info,cairn_client=info,\
             cairn_gateway=info,cairn_fs=info,cairn_metrics=info"
        }
    }
}

fn init_logging(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The cluster named on the command line, or an error that says how to name one.
pub(crate) fn cluster_name(cli: Option<&str>) -> anyhow::Result<String> {
    cli.map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no cluster named: pass -c CLUSTER or set CAIRN_CLUSTER"))
}

pub(crate) fn config_dir() -> PathBuf {
    cairn_common::config::config_dir()
}

fn main() -> std::process::ExitCode {
    let command = config_file::prepare(Cli::command());
    let args = match config_file::expand(std::env::args_os().collect(), &command) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("cairn: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = match Cli::from_arg_matches(&command.get_matches_from(args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.log_json, default_log_filter(&cli.command));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cluster = cli.cluster.as_deref();
    let result = runtime.block_on(async {
        match cli.command {
            Command::MakeMds(a) => cmd::cluster::make_mds(cluster, a).await,
            Command::RmMds(a) => cmd::cluster::rm_mds(cluster, a).await,
            Command::AuthNode(a) => cmd::cluster::auth_node(cluster, a).await,
            Command::Mds(a) => cmd::cluster::mds(a).await,
            Command::MakeCs(a) => cmd::cluster::make_cs(cluster, a).await,
            Command::Cs(a) => cmd::cluster::cs(cluster, a).await,
            Command::Up(a) => cmd::up::up(a).await,
            Command::Gateway(a) => cmd::gateway::gateway(cluster, a).await,
            Command::Mount(a) => cmd::mount::mount(cluster, a).await,
            Command::Key(a) => cmd::keys::key(cluster, a).await,
            Command::Bucket(a) => cmd::keys::bucket(cluster, a).await,
            Command::Cert(a) => cmd::node_certs::cert(cluster, a).await,
            Command::Put(a) => cmd::objects::put(cluster, a).await,
            Command::Get(a) => cmd::objects::get(cluster, a).await,
            Command::Ls(a) => cmd::objects::ls(cluster, a).await,
            Command::Versions(a) => cmd::versions::versions(cluster, a).await,
            Command::Lock(a) => cmd::versions::lock(cluster, a).await,
            Command::Rm(a) => cmd::objects::rm(cluster, a).await,
            Command::Mb(a) => cmd::objects::mb(cluster, a).await,
            Command::Rb(a) => cmd::objects::rb(cluster, a).await,
            Command::Stat(a) => cmd::stat::stat(cluster, a).await,
            Command::Chunks(a) => cmd::stat::chunks(cluster, a).await,
            Command::Lifecycle(a) => cmd::lifecycle::lifecycle(cluster, a).await,
            Command::Top(a) => cmd::top::top(cluster, a).await,
            Command::RmCs(a) => cmd::heal::rm_cs(cluster, a).await,
            Command::SetAttr(a) => cmd::heal::set_attr(cluster, a).await,
            Command::GetAttr(a) => cmd::heal::get_attr(cluster, a).await,
            Command::WaitHealthy(a) => cmd::heal::wait_healthy(cluster, a).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
