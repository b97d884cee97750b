//! The `Join` service: the one RPC a peer without a node certificate may
//! call. A node that knows the cluster password gets the cluster's config
//! and a certificate for each role it asks for, signed by the cluster CA.

use cairn_common::node_cert::Role;

use super::*;

/// Join: the one service without a node certificate.
pub(crate) struct JoinService {
    state: Arc<State>,
}

impl JoinService {
    pub fn new(state: Arc<State>) -> JoinService {
        JoinService { state }
    }
}

#[tonic::async_trait]
impl Join for JoinService {
    async fn auth_node(&self, request: Request<pb::AuthNodeRequest>) -> Reply<pb::AuthNodeReply> {
        let r = request.into_inner();
        let _gate = self.state.join_gate.lock().await;
        let meta = &self.state.meta;
        let hash = meta.password_hash.clone();
        let password = r.password;
        let right = r.cluster_name == meta.name
            && tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .unwrap_or(false);
        if !right {
            tracing::warn!(cluster = %r.cluster_name, "auth-node refused: wrong cluster name or password");
            tokio::time::sleep(AUTH_FAILURE_DELAY).await;
            return Err(Status::permission_denied(format!(
                "wrong password for cluster {} (or this MDS serves another cluster)",
                r.cluster_name
            )));
        }
        let ca = crate::identity::authority(&self.state.dir)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let mut cert_pems = Vec::with_capacity(r.certs.len());
        for asked in &r.certs {
            let role = Role::parse(&asked.role).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "no role `{}`: ask for mds, cs or client",
                    asked.role
                ))
            })?;
            let pem = ca
                .issue_node(&meta.cluster_id, role, &asked.csr_pem)
                .map_err(|e| Status::invalid_argument(format!("bad certificate request: {e}")))?;
            cert_pems.push(pem);
        }
        tracing::info!(cluster = %meta.name, certs = cert_pems.len(), "auth-node accepted");
        Ok(Response::new(pb::AuthNodeReply {
            cluster_id: meta.cluster_id.clone(),
            mds_addrs: self.state.mds_addrs(),
            chunk_size: meta.chunk_size,
            ca_pem: ca.cert_pem().to_string(),
            cert_pems,
        }))
    }
}
