//! `--metrics-listen`: the HTTP listener every daemon can open for
//! Prometheus (`/metrics`) and, on the MDS, the status page (`/`).

use std::net::SocketAddr;

use anyhow::Context;
use cairn_metrics::Metrics;

/// Binds `addr` and serves `metrics` (and `extra`'s routes) there for the
/// rest of the process's life. Fails at once when the address is taken.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    extra: axum::Router,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for metrics: is another daemon using it? pass another --metrics-listen")
    })?;
    let bound = listener.local_addr()?;
    super::announce::announce("metrics", bound);
    tokio::spawn(async move {
        if let Err(e) = cairn_metrics::serve(listener, metrics, extra, std::future::pending()).await
        {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(bound)
}
