//! `cairn gateway`: a stateless S3 front door for a cluster; several may
//! serve one cluster behind a load balancer.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::{client_for, shutdown_signal};

#[derive(Args)]
pub struct GatewayArgs {
    /// Where the S3 endpoint listens.
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

pub async fn gateway(cluster: Option<&str>, args: GatewayArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let listener = bind(args.listen).await?;
    println!("cairn: S3 gateway on http://{}", listener.local_addr()?);
    super::announce::announce("s3", listener.local_addr()?);
    let mut config = args.config();
    if let Some(addr) = args.metrics_listen {
        let metrics = cairn_metrics::Metrics::new();
        config.metrics = Some(metrics.part("gateway"));
        super::observe::serve_metrics(addr, metrics, axum::Router::new()).await?;
    }
    cairn_gateway::serve(client, config, listener, shutdown_signal()).await?;
    Ok(())
}
