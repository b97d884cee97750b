//! The commands of the `cairn` binary.

pub mod announce;
pub mod certs;
pub mod cluster;
pub mod gateway;
pub mod heal;
pub mod keys;
pub mod lifecycle;
pub mod mount;
pub mod node_certs;
pub mod objects;
pub mod observe;
pub mod stat;
pub mod top;
pub mod up;
pub mod versions;

use anyhow::Context;
use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;

/// Loads the named cluster's config and makes a client for it.
pub async fn client_for(cluster: Option<&str>) -> anyhow::Result<Client> {
    client_with(cluster, ClientOptions::default()).await
}

/// As [`client_for`], with `options`.
pub async fn client_with(cluster: Option<&str>, options: ClientOptions) -> anyhow::Result<Client> {
    let name = crate::cluster_name(cluster)?;
    let config = ClusterConfig::load_from(&crate::config_dir(), &name)?;
    Client::connect(&config, options).with_context(|| format!("cannot reach cluster `{name}`"))
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
