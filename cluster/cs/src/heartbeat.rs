//! The heartbeat loop: once a second the CS tells the MDS where it listens,
//! its space, its counters and its latency, and does what the answer says,
//! in this order: deletes the replicas the MDS lists, renames the ones it
//! lists to their chunk's version, and starts the copies it orders (see
//! [`crate::copy`]), each reported back with `ReportCopy` when done. Each
//! answer also carries the cluster's revoked certificates, which this CS's
//! server and its connections refuse from then on.
//!
//! Invariants:
//! * Until one heartbeat with the full replica report has been answered,
//!   every heartbeat carries the full report (`full_report = true`): the MDS
//!   reconciles its chunk map with what this CS really holds. The same
//!   after a replica was quarantined (found corrupt), so that the MDS
//!   learns it is gone.
//! * An unreachable MDS never stops the CS: it serves data regardless,
//!   retries every second, and warns at most every [`WARN_EVERY`].
//! * A replica being copied here is never deleted by a delete order (a full
//!   report sent meanwhile lists the partial copy, which the MDS does not
//!   know yet): the copy deletes it itself if the MDS does not keep it.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use cairn_common::{net, tls::NodeTls, ClusterConfig};
use cairn_proto::{
    cluster_admin_client::ClusterAdminClient, HeartbeatReply, HeartbeatRequest, ReplicaInfo,
    ReplicateOrder, ReportCopyRequest, SetVersionOrder,
};
use tonic::transport::Channel;

use crate::{copy::Copier, error::error_chain, store::Store};

/// Time between heartbeats.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Least time between two warnings about an unreachable MDS.
pub const WARN_EVERY: Duration = Duration::from_secs(30);
/// A call to the MDS that takes longer has failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A heartbeat without a replica report that takes longer has failed, and
/// the next MDS is tried: after a leader's host vanishes, the new leader
/// counts this CS online only once a beat reaches it, and until two do it
/// can place no chunk. A beat is one small transaction at most; one second
/// a beat leaves room for a loaded MDS.
const BEAT_TIMEOUT: Duration = Duration::from_secs(2);

type AdminClient = ClusterAdminClient<Channel>;

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
        latency_ms: stats.latency_ms(),
        latency_max_ms: stats.take_latency_max_ms(),
        queue_depth: stats.take_queue_depth(),
    }
}

/// Clients to each MDS, tried from the one that answered last. Shared by
/// the heartbeat loop and the copy tasks.
struct Mds {
    addrs: Vec<String>,
    /// Err: an address that is not one (reported on every call).
    clients: Vec<Result<AdminClient, String>>,
    current: AtomicUsize,
}

impl Mds {
    fn new(cfg: &ClusterConfig, tls: &NodeTls) -> Mds {
        let clients = cfg
            .mds_addrs
            .iter()
            .map(|addr| {
                let endpoint = net::endpoint(addr)
                    .map_err(|e| format!("bad MDS address {addr}: {e}"))?
                    .timeout(CALL_TIMEOUT);
                Ok(ClusterAdminClient::new(net::lazy(&endpoint, tls)))
            })
            .collect();
        Mds {
            addrs: cfg.mds_addrs.clone(),
            clients,
            current: AtomicUsize::new(0),
        }
    }

    /// Runs `call` on each MDS in turn, from the last that answered.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, String>
    where
        F: Fn(AdminClient) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut errors = Vec::new();
        let current = self.current.load(Ordering::Relaxed);
        for k in 0..self.addrs.len() {
            let i = (current + k) % self.addrs.len();
            let client = match &self.clients[i] {
                Ok(c) => c.clone(),
                Err(e) => {
                    errors.push(e.clone());
                    continue;
                }
            };
            match call(client).await {
                Ok(reply) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(reply.into_inner());
                }
                Err(status) => errors.push(format!("{}: {}", self.addrs[i], error_chain(&status))),
            }
        }
        Err(errors.join("; "))
    }

    async fn beat(&self, req: HeartbeatRequest) -> Result<HeartbeatReply, String> {
        let timeout = if req.full_report {
            CALL_TIMEOUT
        } else {
            BEAT_TIMEOUT
        };
        self.call(|mut c| {
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(timeout);
            async move { c.heartbeat(r).await }
        })
        .await
    }
}

/// Attempts at reporting a finished copy before giving it up (and deleting
/// it): the MDS may be restarting.
const REPORT_ATTEMPTS: u32 = 5;

/// Makes one ordered copy and reports it; deletes it if the MDS does not
/// keep it.
async fn copy_and_report(
    copier: Arc<Copier>,
    mds: Arc<Mds>,
    store: Arc<Store>,
    order: ReplicateOrder,
) {
    let cs_id = store.cs_id();
    let (chunk_id, version) = (order.chunk_id, order.version);
    let outcome = copier.copy(&order).await;
    if let Err(crate::copy::CopyError::Busy { .. }) = outcome {
        // The same order again (an MDS that restarted): the running copy
        // reports.
        return;
    }
    let req = match &outcome {
        Ok(length) => ReportCopyRequest {
            cs_id,
            chunk_id,
            version,
            length: *length,
            ok: true,
            error: String::new(),
        },
        Err(e) => ReportCopyRequest {
            cs_id,
            chunk_id,
            version,
            length: 0,
            ok: false,
            error: e.to_string(),
        },
    };
    match &outcome {
        Ok(length) => tracing::info!(chunk = chunk_id, version, length, "replica copied"),
        Err(e) => tracing::warn!(chunk = chunk_id, version, error = %e, "replica copy failed"),
    }
    let mut keep = false;
    for attempt in 1..=REPORT_ATTEMPTS {
        let sent = mds
            .call(|mut c| {
                let r = req.clone();
                async move { c.report_copy(r).await }
            })
            .await;
        match sent {
            Ok(reply) => {
                keep = reply.keep;
                break;
            }
            Err(why) => {
                tracing::warn!(chunk = chunk_id, attempt, error = %why, "cannot report a copy to the MDS");
                tokio::time::sleep(INTERVAL * attempt).await;
            }
        }
    }
    if outcome.is_ok() && !keep {
        tracing::info!(
            chunk = chunk_id,
            version,
            "copy not kept by the MDS: deleting it"
        );
        let s = Arc::clone(&store);
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = s.delete(chunk_id, version) {
                tracing::warn!(error = %e, "deleting a copy the MDS did not keep failed");
            }
        })
        .await;
    }
}

/// Renames replicas to their chunk's version, as the MDS orders.
fn set_versions(store: &Store, orders: Vec<SetVersionOrder>) {
    for o in orders {
        match store.set_version(o.chunk_id, o.old_version, o.new_version) {
            Ok(()) => tracing::info!(
                chunk = o.chunk_id,
                from = o.old_version,
                to = o.new_version,
                "replica brought to its chunk's version"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the MDS asked to set a replica's version and it failed")
            }
        }
    }
}

/// Runs until the task is aborted.
pub async fn run(store: Arc<Store>, cfg: ClusterConfig, tls: NodeTls, advertise_addr: String) {
    let cs_id = store.cs_id();
    let mds = Arc::new(Mds::new(&cfg, &tls));
    // Shared with this CS's server: each reply's list is what it refuses.
    let revoked = tls.revoked().clone();
    let copier = Arc::new(Copier::new(Arc::clone(&store), tls));
    let mut copies = tokio::task::JoinSet::new();
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
                if revoked.replace(reply.revoked_serials) {
                    tracing::info!(
                        revoked = revoked.len(),
                        "the cluster's revocation list changed"
                    );
                }
                let doomed: Vec<ReplicaInfo> = reply
                    .delete
                    .into_iter()
                    .filter(|r| !copier.is_copying(r.chunk_id))
                    .collect();
                if !doomed.is_empty() {
                    let s = Arc::clone(&store);
                    let _ = tokio::task::spawn_blocking(move || delete(&s, doomed)).await;
                }
                if !reply.set_version.is_empty() {
                    let s = Arc::clone(&store);
                    let orders = reply.set_version;
                    let _ = tokio::task::spawn_blocking(move || set_versions(&s, orders)).await;
                }
                // Reap finished copies; the set aborts the running ones when
                // this loop is dropped (the CS stops).
                while copies.try_join_next().is_some() {}
                for order in reply.replicate {
                    copies.spawn(copy_and_report(
                        Arc::clone(&copier),
                        Arc::clone(&mds),
                        Arc::clone(&store),
                        order,
                    ));
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
