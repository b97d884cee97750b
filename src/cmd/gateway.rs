//! `cairn gateway`: a stateless S3 front door for a cluster; several may
//! serve one cluster behind a load balancer.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
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
        config
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
