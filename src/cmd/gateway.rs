//! `cairn gateway`: a stateless S3 front door for a cluster; several may
//! serve one cluster behind a load balancer.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use cairn_gateway::door_limits as limits;
use clap::Args;
use tokio::net::TcpListener;

use super::{client_for, shutdown_signal};

#[derive(Args)]
pub struct GatewayArgs {
    /// Where the S3 endpoint listens (HTTPS with --tls-cert).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The region signatures must name.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Domain for virtual-host-style addressing (BUCKET.DOMAIN).
    #[arg(long)]
    pub domain: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub limits: DoorLimitArgs,
}

/// The limits the S3 door puts on every client (docs/operating.md,
/// "Limits at the doors"); `cairn up` takes the same.
#[derive(Args, Clone)]
pub struct DoorLimitArgs {
    /// The largest request head (request line and headers), in bytes; a
    /// larger one is answered 431 (at least 8192).
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Connections one client address (IPv6: one /64) may hold open; more
    /// from it are refused, other addresses are still served.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: usize,
    /// Seconds a connection may stay idle between requests.
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,
    /// Seconds a client has to send a whole request head from its first
    /// byte (against slowloris).
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    pub header_read_timeout: u64,
    /// The slowest request body accepted, in bytes per second over
    /// --body-rate-window; a slower one gets RequestTimeout. 0: no minimum.
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MIN_BODY_RATE)]
    pub min_body_rate: u64,
    /// Seconds of waiting for a client over which its body rate is measured.
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_BODY_RATE_WINDOW.as_secs())]
    pub body_rate_window: u64,
    /// Failed authentications one address may make in a burst before its
    /// requests are slowed down.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_AUTH_FAILURE_BURST)]
    pub auth_failure_burst: u32,
    /// Failed authentications per second forgiven after a burst.
    #[arg(long, value_name = "RATE", default_value_t = limits::DEFAULT_AUTH_FAILURES_PER_SECOND)]
    pub auth_failures_per_second: f64,
    /// The longest wait, in seconds, put on a request of a slowed address.
    #[arg(long, value_name = "SECS", default_value_t = limits::DEFAULT_AUTH_FAILURE_MAX_DELAY.as_secs())]
    pub auth_failure_max_delay: u64,
}

impl DoorLimitArgs {
    pub fn limits(&self) -> cairn_gateway::DoorLimits {
        cairn_gateway::DoorLimits {
            max_header_bytes: self.max_header_bytes,
            max_connections_per_address: self.max_connections_per_address,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            min_body_rate: self.min_body_rate,
            body_rate_window: Duration::from_secs(self.body_rate_window),
            auth_failure_burst: self.auth_failure_burst,
            auth_failures_per_second: self.auth_failures_per_second,
            auth_failure_max_delay: Duration::from_secs(self.auth_failure_max_delay),
        }
    }
}

/// HTTPS for the S3 endpoint.
#[derive(Args, Clone, Default)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first). Reloaded
    /// on SIGHUP and when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With TLS, also serve plain HTTP here (for local clients only).
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub plain_listen: Option<SocketAddr>,
}

impl TlsArgs {
    /// The certificate, loaded and checked now; None without --tls-cert.
    pub fn reloader(&self) -> anyhow::Result<Option<std::sync::Arc<cairn_gateway::CertReloader>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let files = cairn_gateway::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let reloader = cairn_gateway::CertReloader::new(files)
            .context("cannot serve HTTPS: check --tls-cert and --tls-key")?;
        Ok(Some(reloader))
    }
}

impl GatewayArgs {
    pub fn config(&self) -> cairn_gateway::GatewayConfig {
        let mut config = cairn_gateway::GatewayConfig::new(self.listen);
        config.region = self.region.clone();
        config.domain = self.domain.clone();
        config.limits = self.limits.limits();
        config
    }
}

/// Raises this process's soft limit of open files to its hard limit: every
/// S3 connection is a descriptor, and the usual soft limit (1024) is less
/// than the connections a door holds under load or under attack.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::debug!("cannot read the open files limit");
        return;
    }
    if limit.rlim_cur >= limit.rlim_max {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct it is given; raising the soft
    // limit up to the hard one is always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        tracing::warn!(soft = limit.rlim_cur, "cannot raise the open files limit");
    } else {
        tracing::debug!(
            from = limit.rlim_cur,
            to = limit.rlim_max,
            "open files limit raised"
        );
    }
}

/// Binds the S3 listener with a message that says what to do when taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for S3: is another gateway or `cairn up` running? pass --listen"))
}

/// Binds the S3 listeners (the main one, and the plain one of a TLS
/// gateway) and announces them (`s3`, `s3-plain`).
pub async fn bind_all(
    listen: SocketAddr,
    tls: &TlsArgs,
    https: bool,
) -> anyhow::Result<cairn_gateway::Listeners> {
    let main = bind(listen).await?;
    super::announce::announce("s3", main.local_addr()?);
    let plain = match tls.plain_listen {
        Some(addr) if https => {
            let plain = bind(addr).await?;
            super::announce::announce("s3-plain", plain.local_addr()?);
            Some(plain)
        }
        _ => None,
    };
    Ok(cairn_gateway::Listeners { main, plain })
}

pub async fn gateway(cluster: Option<&str>, args: GatewayArgs) -> anyhow::Result<()> {
    raise_open_files_limit();
    let client = client_for(cluster).await?;
    let mut config = args.config();
    config.tls = args.tls.reloader()?;
    let https = config.tls.is_some();
    let listeners = bind_all(args.listen, &args.tls, https).await?;
    let scheme = if https { "https" } else { "http" };
    println!(
        "cairn: S3 gateway on {scheme}://{}",
        listeners.main.local_addr()?
    );
    if let Some(plain) = &listeners.plain {
        println!("cairn: S3 gateway also on http://{}", plain.local_addr()?);
    }
    if let Some(addr) = args.metrics_listen {
        let metrics = cairn_metrics::Metrics::new();
        config.metrics = Some(metrics.part("gateway"));
        super::observe::serve_metrics(addr, metrics, axum::Router::new()).await?;
    }
    cairn_gateway::serve(client, config, listeners, shutdown_signal()).await?;
    Ok(())
}
