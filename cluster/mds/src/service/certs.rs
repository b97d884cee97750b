//! Node certificates after joining: revocation (`cairn cert revoke`, the
//! list every process refuses) and renewal (`cairn cert rotate`).
//!
//! Invariants:
//! * A revocation reaches this MDS's own checks before the call answers;
//!   the other MDS read it from their state within [`REVOKED_REFRESH`],
//!   chunk servers with their next heartbeat and doors with their next
//!   report (every 2 s).
//! * A renewal signs only the caller's public key, for the role of the
//!   certificate it presented in this session: a node can renew itself,
//!   never gain a role.

use std::time::Duration;

use cairn_common::{
    node_cert::peer_node,
    pki::{self, LEAF_DAYS},
    tls::{cert_id, serial_hex},
};

use super::*;

/// How often every MDS reloads the revocation list from its state.
pub const REVOKED_REFRESH: Duration = Duration::from_secs(2);

impl MdsService {
    pub(super) async fn revoke(&self, request: Request<pb::RevokeCertRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        let now = now_ns();
        let (serial, subject, not_after) = if !r.cert_pem.is_empty() {
            let der = pki::first_cert_der(&r.cert_pem).ok_or_else(|| {
                Status::invalid_argument("no PEM certificate in the revocation request")
            })?;
            let id = cert_id(&der)
                .ok_or_else(|| Status::invalid_argument("the certificate does not parse"))?;
            match peer_node(&der) {
                Ok((cluster, _)) if cluster == self.state.meta.cluster_id => {}
                _ => {
                    return Err(Status::invalid_argument(
                        "that is not a node certificate of this cluster",
                    ))
                }
            }
            (id.serial, id.subject, id.not_after)
        } else if r.cs_id != 0 {
            let live = self.state.registry.get(r.cs_id).ok_or_else(|| {
                Status::not_found(format!(
                    "chunk server {} has not reported to this MDS since it started: \
                     revoke its certificate file or serial instead",
                    r.cs_id
                ))
            })?;
            let id = live.figures.cert.ok_or_else(|| {
                Status::not_found(format!("chunk server {} showed no certificate", r.cs_id))
            })?;
            (id.serial, id.subject, id.not_after)
        } else if !r.serial.is_empty() {
            // The end is unknown: no certificate lives longer than a new one.
            let not_after = now.div_euclid(1_000_000_000) + LEAF_DAYS * 86_400;
            (r.serial, String::new(), not_after)
        } else {
            return Err(Status::invalid_argument(
                "name the certificate to revoke: its PEM, its serial or a chunk server id",
            ));
        };
        tracing::warn!(serial = %serial_hex(&serial), subject = %subject, "revoking a node certificate");
        self.state
            .submit(Command::RevokeCert {
                serial,
                subject,
                not_after,
                now_ns: now,
            })
            .await?;
        refresh_revoked(&self.state)?;
        Ok(Response::new(pb::Empty {}))
    }

    pub(super) async fn revoked_list(&self) -> Reply<pb::RevokedCertsReply> {
        let certs = self
            .state
            .read()
            .await?
            .revoked_certs()?
            .into_iter()
            .map(|(serial, row)| pb::RevokedCert {
                serial,
                subject: row.subject,
                not_after: row.not_after,
                revoked_ns: row.revoked_ns,
            })
            .collect();
        Ok(Response::new(pb::RevokedCertsReply { certs }))
    }

    pub(super) async fn renew(
        &self,
        request: Request<pb::RenewCertRequest>,
    ) -> Reply<pb::RenewCertReply> {
        let Some((role, _)) = PeerInfo::of_request(&request).and_then(|p| p.node.clone()) else {
            return Err(Status::unauthenticated(
                "a renewal needs the node certificate it renews",
            ));
        };
        let r = request.into_inner();
        let ca = crate::identity::authority(&self.state.dir)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let cert_pem = ca
            .issue_node(&self.state.meta.cluster_id, role, &r.csr_pem)
            .map_err(|e| Status::invalid_argument(format!("bad certificate request: {e}")))?;
        tracing::info!(role = role.as_str(), "renewed a node certificate");
        Ok(Response::new(pb::RenewCertReply {
            cert_pem,
            ca_pem: ca.cert_pem().to_string(),
        }))
    }
}

/// Loads the revocation list of this MDS's state into its TLS checks.
pub(crate) fn refresh_revoked(state: &State) -> Result<(), ClusterError> {
    let serials = state
        .reader()?
        .revoked_certs()?
        .into_iter()
        .map(|(serial, _)| serial);
    if state.tls.revoked().replace(serials) {
        tracing::info!(
            revoked = state.tls.revoked().len(),
            "the cluster's revocation list changed"
        );
    }
    Ok(())
}

/// Keeps this MDS's revocation list in step with its state (a follower
/// applies revocations it did not serve), until `stop` turns true.
pub(crate) async fn keep_revoked(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(REVOKED_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = refresh_revoked(&state) {
            tracing::error!(error = %e, "cannot read the revocation list");
        }
    }
}
