//! The MDS's part in cluster mutual TLS: every MDS holds the cluster CA
//! (`ca.pem`, `ca.key` with mode 0600, in its directory), signs the node
//! certificates that `auth-node` asks for, and issues its own.
//!
//! Invariants:
//! * An MDS never serves with a certificate within
//!   [`pki::RENEW_BEFORE_SECS`] of its end: it issues itself a new one at
//!   start and checks daily; the files are swapped atomically, key first,
//!   and its listener picks them up without a restart.
//! * The CA signs only public keys: the names and role in a node
//!   certificate are the MDS's ([`Authority::issue_node`]).

use std::{path::Path, time::Duration};

use cairn_common::{
    node_cert::Role,
    pki::{self, Authority},
    tls::{node::role_files, NodeTls},
};

use crate::error::MdsError;

/// How often a running MDS checks its own certificate's age.
pub const RENEW_CHECK: Duration = Duration::from_secs(86_400);

/// The cluster CA this MDS signs with.
pub fn authority(dir: &Path) -> Result<Authority, MdsError> {
    Ok(Authority::load(dir)?)
}

/// Issues this MDS a certificate when it has none or its one ends within
/// [`pki::RENEW_BEFORE_SECS`]; returns whether it did.
pub fn renew_own(dir: &Path, cluster_id: &str) -> Result<bool, MdsError> {
    let files = role_files(dir, Role::Mds);
    if files.key.is_file() && !pki::needs_renewal(&files.cert) {
        return Ok(false);
    }
    let issued = authority(dir)?.issue_node_here(cluster_id, Role::Mds)?;
    pki::write_pair(&files.cert, &issued.cert_pem, &files.key, &issued.key_pem)?;
    tracing::info!(cert = %files.cert.display(), "this MDS issued itself a node certificate");
    Ok(true)
}

/// Issues this MDS a new certificate and key now, whatever the age of the
/// one it has (`cairn cert rotate --mds-dir`); returns the chain. A running
/// MDS picks the files up within seconds.
pub fn rotate_own_cert(dir: &Path, cluster_id: &str) -> Result<String, MdsError> {
    let files = role_files(dir, Role::Mds);
    let issued = authority(dir)?.issue_node_here(cluster_id, Role::Mds)?;
    pki::write_pair(&files.cert, &issued.cert_pem, &files.key, &issued.key_pem)?;
    tracing::info!(cert = %files.cert.display(), "renewed this MDS's node certificate");
    Ok(issued.cert_pem)
}

/// This MDS's identity, its certificate renewed first when due.
pub fn own_tls(dir: &Path, cluster_id: &str) -> Result<NodeTls, MdsError> {
    renew_own(dir, cluster_id)?;
    Ok(NodeTls::load(dir, cluster_id, Role::Mds)?)
}

/// Renews this MDS's certificate when due, daily, until aborted; the
/// listener's reloader sees the new files.
pub async fn keep_renewed(dir: std::path::PathBuf, cluster_id: String) {
    let mut tick = tokio::time::interval(RENEW_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = renew_own(&dir, &cluster_id) {
            tracing::error!(error = %e, "cannot renew this MDS's certificate");
        }
    }
}
