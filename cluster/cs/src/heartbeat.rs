//! The heartbeat loop: once a second the CS tells the MDS where it listens,
//! its space and its counters, and deletes the replicas the MDS lists in
//! its answer.
//!
//! Invariants:
//! * Until one heartbeat with the full replica report has been answered,
//!   every heartbeat carries the full report (`full_report = true`): the MDS
//!   reconciles its chunk map with what this CS really holds. The same
//!   after a replica was quarantined (found corrupt), so that the MDS
//!   learns it is gone.
//! * An unreachable MDS never stops the CS: it serves data regardless,
//!   retries every second, and warns at most every [`WARN_EVERY`].

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use cairn_common::{auth::ClientAuth, ClusterConfig};
use cairn_proto::{
    cluster_admin_client::ClusterAdminClient, HeartbeatReply, HeartbeatRequest, ReplicaInfo,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{error::error_chain, service::data_endpoint, store::Store};

/// Time between heartbeats.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Least time between two warnings about an unreachable MDS.
pub const WARN_EVERY: Duration = Duration::from_secs(30);
/// A heartbeat that takes longer has failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

type AdminClient = ClusterAdminClient<InterceptedService<Channel, ClientAuth>>;

/// Builds this beat's request (blocking: it lists the replicas).
fn request(store: &Store, cs_id: u32, addr: &str, full_report: bool) -> HeartbeatRequest {
    let space = store.space();
    let stats = &store.stats;
    let replica_report = if full_report {
        store
            .list()
            .into_iter()
            .map(|r| ReplicaInfo {
                chunk_id: r.chunk_id,
                version: r.version,
                length: r.length,
            })
            .collect()
    } else {
        Vec::new()
    };
    HeartbeatRequest {
        cs_id,
        addr: addr.to_string(),
        capacity: space.capacity,
        used: space.used,
        free: space.free,
        replicas: store.replica_count(),
        read_bytes: stats.read_bytes.load(Ordering::Relaxed),
        write_bytes: stats.write_bytes.load(Ordering::Relaxed),
        read_ops: stats.read_ops.load(Ordering::Relaxed),
        write_ops: stats.write_ops.load(Ordering::Relaxed),
        replica_report,
        full_report,
    }
}

/// Clients to each MDS, tried from the one that answered last.
struct Mds {
    addrs: Vec<String>,
    clients: Vec<Option<AdminClient>>,
    current: usize,
    cfg: ClusterConfig,
}

impl Mds {
    fn client(&mut self, i: usize) -> Result<AdminClient, String> {
        if let Some(c) = &self.clients[i] {
            return Ok(c.clone());
        }
        let addr = &self.addrs[i];
        let channel = data_endpoint(addr)
            .map_err(|e| format!("bad MDS address {addr}: {e}"))?
            .timeout(CALL_TIMEOUT)
            .connect_lazy();
        let client = ClusterAdminClient::with_interceptor(channel, ClientAuth(self.cfg.auth()));
        self.clients[i] = Some(client.clone());
        Ok(client)
    }

    async fn beat(&mut self, req: HeartbeatRequest) -> Result<HeartbeatReply, String> {
        let mut errors = Vec::new();
        for k in 0..self.addrs.len() {
            let i = (self.current + k) % self.addrs.len();
            let mut client = match self.client(i) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match client.heartbeat(req.clone()).await {
                Ok(reply) => {
                    self.current = i;
                    return Ok(reply.into_inner());
                }
                Err(status) => errors.push(format!("{}: {}", self.addrs[i], error_chain(&status))),
            }
        }
        Err(errors.join("; "))
    }
}

/// Runs until the task is aborted.
pub async fn run(store: Arc<Store>, cfg: ClusterConfig, advertise_addr: String) {
    let cs_id = store.cs_id();
    let mut mds = Mds {
        addrs: cfg.mds_addrs.clone(),
        clients: vec![None; cfg.mds_addrs.len()],
        current: 0,
        cfg,
    };
    if mds.addrs.is_empty() {
        tracing::warn!("the cluster config names no MDS: no heartbeats will be sent");
        return;
    }
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = false;
    let mut failures: u64 = 0;
    let mut last_warning: Option<Instant> = None;
    loop {
        ticks.tick().await;
        let s = Arc::clone(&store);
        let addr = advertise_addr.clone();
        // A replica quarantined since the last report: report all again.
        if store.take_report_needed() {
            reported = false;
        }
        let full = !reported;
        let req = match tokio::task::spawn_blocking(move || request(&s, cs_id, &addr, full)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "building a heartbeat failed");
                continue;
            }
        };
        match mds.beat(req).await {
            Ok(reply) => {
                if failures > 0 {
                    tracing::info!(failures, "MDS answers heartbeats again");
                }
                failures = 0;
                last_warning = None;
                reported = true;
                if !reply.delete.is_empty() {
                    let s = Arc::clone(&store);
                    let doomed = reply.delete;
                    let _ = tokio::task::spawn_blocking(move || delete(&s, doomed)).await;
                }
            }
            Err(why) => {
                failures += 1;
                if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(
                        cs_id,
                        failures,
                        error = %why,
                        "MDS does not answer heartbeats: is `cairn mds` running? retrying every second"
                    );
                }
            }
        }
    }
}

/// Deletes the replicas the MDS no longer wants, if still at that version.
fn delete(store: &Store, doomed: Vec<ReplicaInfo>) {
    for r in doomed {
        match store.delete(r.chunk_id, r.version) {
            Ok(()) => tracing::debug!(chunk = r.chunk_id, version = r.version, "replica deleted"),
            Err(e) => tracing::warn!(error = %e, "the MDS asked to delete a replica and it failed"),
        }
    }
}
