//! The metrics HTTP listener: `/metrics` in the OpenMetrics text format,
//! plus whatever routes the daemon adds (the MDS's status page at `/`).

use std::future::Future;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};

use crate::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    #[error("the metrics HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render().await,
    )
}

/// Serves `/metrics` of `metrics`, and `extra`'s routes, on `listener`
/// until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MetricsServerError> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
        .merge(extra);
    tracing::info!(addr = ?listener.local_addr().ok(), "metrics listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
