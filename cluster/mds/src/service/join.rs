//! The `Join` service: the one RPC without the cluster credential.

use super::*;

/// Join: the one service without the cluster credential.
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
        tracing::info!(cluster = %meta.name, "auth-node accepted");
        Ok(Response::new(pb::AuthNodeReply {
            cluster_id: meta.cluster_id.clone(),
            secret: meta.secret.clone(),
            mds_addrs: self.state.mds_addrs(),
            chunk_size: meta.chunk_size,
        }))
    }
}
