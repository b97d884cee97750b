//! The `ClusterAdmin` service: what chunk servers call (registration,
//! heartbeats, replica reports, copies).

use super::*;

#[tonic::async_trait]
impl ClusterAdmin for MdsService {
    async fn register_cs(
        &self,
        request: Request<pb::RegisterCsRequest>,
    ) -> Reply<pb::RegisterCsReply> {
        let r = request.into_inner();
        let CsRegistered(cs_id) = self
            .state
            .submit_for(Command::RegisterCs {
                host: r.host.clone(),
                tier: r.tier,
                capacity: r.capacity,
                journal: r.journal,
                now_ns: now_ns(),
            })
            .await?;
        tracing::info!(cs_id, host = %r.host, tier = r.tier, "chunk server registered");
        Ok(Response::new(pb::RegisterCsReply {
            cs_id,
            cluster_id: self.state.meta.cluster_id.clone(),
        }))
    }

    async fn heartbeat(&self, request: Request<pb::HeartbeatRequest>) -> Reply<pb::HeartbeatReply> {
        let cert = PeerInfo::of_request(&request).and_then(|p| p.cert.clone());
        let r = request.into_inner();
        let reader = self.state.read().await?;
        let Some(info) = reader.chunk_server(r.cs_id)? else {
            return Err(ClusterError::NotFound(format!(
                "chunk server {} is not registered with cluster {}: register it again (make-cs)",
                r.cs_id, self.state.meta.name
            ))
            .into());
        };
        if info.state == CsState::Removed {
            return Err(ClusterError::NotFound(format!(
                "chunk server {} was removed from cluster {}: stop it; to use its disk again, \
                 empty the directory and run make-cs",
                r.cs_id, self.state.meta.name
            ))
            .into());
        }
        let pending = reader.has_pending_deletes(r.cs_id)?;
        drop(reader);
        let first_seen = self.state.registry.get(r.cs_id).is_none();
        self.state.registry.record(
            r.cs_id,
            Figures {
                addr: r.addr.clone(),
                capacity: r.capacity,
                used: r.used,
                free: r.free,
                replicas: r.replicas,
                read_bytes: r.read_bytes,
                write_bytes: r.write_bytes,
                read_ops: r.read_ops,
                write_ops: r.write_ops,
                latency_ms: finite_ms(r.latency_ms),
                latency_max_ms: finite_ms(r.latency_max_ms),
                queue_depth: r.queue_depth,
                cert,
            },
            Instant::now(),
        );
        if first_seen {
            tracing::info!(cs_id = r.cs_id, addr = %r.addr, "chunk server online");
        }
        if !r.addr.is_empty() && r.addr != info.addr {
            self.state
                .submit(Command::SetCsAddr {
                    cs_id: r.cs_id,
                    addr: r.addr.clone(),
                })
                .await?;
        }
        let command = if r.full_report {
            Some(Command::ReconcileReplicas {
                cs_id: r.cs_id,
                report: r
                    .replica_report
                    .iter()
                    .map(|x| ReplicaRef {
                        chunk_id: x.chunk_id,
                        version: x.version,
                        length: x.length,
                    })
                    .collect(),
            })
        } else if pending {
            Some(Command::TakeReplicaDeletes { cs_id: r.cs_id })
        } else {
            None
        };
        let (deletes, set_versions) = match command {
            None => (Vec::new(), Vec::new()),
            Some(c) => {
                let r: Reconciled = self.state.submit_for(c).await?;
                (r.deletes, r.set_versions)
            }
        };
        if !deletes.is_empty() {
            tracing::debug!(
                cs_id = r.cs_id,
                count = deletes.len(),
                "replicas handed out for deletion"
            );
        }
        let orders = self.state.heal.take_orders(r.cs_id);
        let replicate = if orders.is_empty() {
            Vec::new()
        } else {
            let servers = self.servers_by_id()?;
            orders
                .iter()
                .map(|o| pb::ReplicateOrder {
                    chunk_id: o.chunk_id,
                    version: o.version,
                    length: o.length,
                    sources: o
                        .sources
                        .iter()
                        .filter_map(|id| servers.get(id))
                        .map(|s| self.addr_of(s))
                        .collect(),
                    rate: o.rate,
                })
                .collect()
        };
        Ok(Response::new(pb::HeartbeatReply {
            delete: deletes
                .into_iter()
                .map(|d| pb::ReplicaInfo {
                    chunk_id: d.chunk_id,
                    version: d.version,
                    length: d.length,
                })
                .collect(),
            replicate,
            set_version: set_versions
                .into_iter()
                .map(|(chunk_id, old_version, new_version)| pb::SetVersionOrder {
                    chunk_id,
                    old_version,
                    new_version,
                })
                .collect(),
            revoked_serials: self.state.tls.revoked().serials(),
        }))
    }

    async fn report_copy(
        &self,
        request: Request<pb::ReportCopyRequest>,
    ) -> Reply<pb::ReportCopyReply> {
        let r = request.into_inner();
        let now = Instant::now();
        let finished = self.state.heal.finish(r.chunk_id, r.cs_id);
        if !r.ok {
            tracing::warn!(chunk = r.chunk_id, cs = r.cs_id, error = %r.error, "replica copy failed");
            self.state.heal.record_failure(r.chunk_id, now);
            return Ok(Response::new(pb::ReportCopyReply { keep: false }));
        }
        // A writer touched the chunk after the copy was ordered: the copy
        // may miss that write.
        let since = finished
            .as_ref()
            .map(|f| f.ordered_at)
            .unwrap_or_else(|| now.checked_sub(heal::WRITE_QUIET).unwrap_or(now));
        if self.state.heal.touched_after(r.chunk_id, since) {
            tracing::info!(
                chunk = r.chunk_id,
                cs = r.cs_id,
                "copy refused: the chunk was written meanwhile"
            );
            self.state.heal.record_failure(r.chunk_id, now);
            return Ok(Response::new(pb::ReportCopyReply { keep: false }));
        }
        let replaces = finished.as_ref().and_then(|f| f.order.replaces);
        let outcome = self
            .state
            .submit(Command::AddReplica {
                chunk_id: r.chunk_id,
                version: r.version,
                cs_id: r.cs_id,
                replaces,
            })
            .await;
        match outcome {
            Ok(_) => {
                self.state.heal.record_copied(r.length, now);
                tracing::info!(
                    chunk = r.chunk_id,
                    cs = r.cs_id,
                    bytes = r.length,
                    replaces = ?replaces,
                    "replica copied"
                );
                Ok(Response::new(pb::ReportCopyReply { keep: true }))
            }
            Err(e) => {
                tracing::info!(chunk = r.chunk_id, cs = r.cs_id, error = %e, "copy not needed any more");
                Ok(Response::new(pb::ReportCopyReply { keep: false }))
            }
        }
    }
}
