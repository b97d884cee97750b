//! What a front door has served, as it reports itself to the MDS for the
//! client table of `cairn top`, `cairn stat` and the status page.
//!
//! A door counts its requests in a [`DoorCounters`] and hands it to
//! [`Client::report_door`], which sends the totals to the MDS every
//! [`REPORT_EVERY`]. The MDS keeps only the latest report of each door, in
//! memory: a door that stops reporting drops out of the table.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use cairn_proto as pb;
use tokio::task::JoinHandle;

use crate::{retry::Retry, Client};

/// How often a door reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);

/// Totals of a door since it started, and the latency of the requests
/// since the last report. Shared by the door's request handlers.
#[derive(Debug, Default)]
pub struct DoorCounters {
    read_bytes: AtomicU64,
    write_bytes: AtomicU64,
    read_ops: AtomicU64,
    write_ops: AtomicU64,
    fsyncs: AtomicU64,
    errors: AtomicU64,
    /// Requests, their summed and their longest latency (microseconds)
    /// since the last report: atomics, so that a request never waits on
    /// another to count itself.
    timed: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
}

/// A door request, as the counters sort it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorOp {
    Read,
    Write,
    Fsync,
}

/// A copy of a door's totals since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DoorTotals {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
    pub fsyncs: u64,
    pub errors: u64,
}

impl DoorCounters {
    /// Counts one request of `op` that moved `bytes` in `took`.
    pub fn record(&self, op: DoorOp, bytes: u64, took: Duration, ok: bool) {
        let (ops, moved) = match op {
            DoorOp::Read => (&self.read_ops, Some(&self.read_bytes)),
            DoorOp::Write => (&self.write_ops, Some(&self.write_bytes)),
            DoorOp::Fsync => (&self.fsyncs, None),
        };
        ops.fetch_add(1, Ordering::Relaxed);
        if let Some(moved) = moved {
            moved.fetch_add(bytes, Ordering::Relaxed);
        }
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.timed.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn totals(&self) -> DoorTotals {
        DoorTotals {
            read_bytes: self.read_bytes.load(Ordering::Relaxed),
            write_bytes: self.write_bytes.load(Ordering::Relaxed),
            read_ops: self.read_ops.load(Ordering::Relaxed),
            write_ops: self.write_ops.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// The latencies since the last call: (average, max) in milliseconds.
    /// A request counted while this runs may land in either interval.
    fn take_latency(&self) -> (f64, f64) {
        let count = self.timed.swap(0, Ordering::Relaxed);
        let total_us = self.total_us.swap(0, Ordering::Relaxed);
        let max_us = self.max_us.swap(0, Ordering::Relaxed);
        let avg = if count == 0 {
            0.0
        } else {
            total_us as f64 / 1e3 / count as f64
        };
        (avg, max_us as f64 / 1e3)
    }
}

impl Client {
    /// Reports `counters` to the MDS as a door of `kind` (`gateway`,
    /// `mount`) named `name` (its listen address or mount point), every
    /// [`REPORT_EVERY`], until the returned task is aborted. A report the
    /// MDS does not take is dropped: the next one carries the totals.
    pub fn report_door(
        &self,
        kind: &str,
        name: &str,
        counters: Arc<DoorCounters>,
    ) -> JoinHandle<()> {
        let client = self.clone();
        let started = Instant::now();
        let id = format!(
            "{kind}@{}:{}:{}",
            self.inner.host,
            std::process::id(),
            cairn_common::time::now_ns()
        );
        let (kind, name) = (kind.to_string(), name.to_string());
        tokio::spawn(async move {
            // A long-lived door follows its certificate's files (rotation)
            // and, through its reports, the cluster's revocation list.
            let _watch = AbortOnDrop(client.inner.tls.watch());
            let mut every = tokio::time::interval(REPORT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let t = counters.totals();
                let (latency_ms, latency_max_ms) = counters.take_latency();
                let report = pb::ClientStat {
                    id: id.clone(),
                    kind: kind.clone(),
                    host: client.inner.host.clone(),
                    name: name.clone(),
                    read_bytes: t.read_bytes,
                    write_bytes: t.write_bytes,
                    read_ops: t.read_ops,
                    write_ops: t.write_ops,
                    fsyncs: t.fsyncs,
                    errors: t.errors,
                    latency_ms,
                    latency_max_ms,
                    uptime_secs: started.elapsed().as_secs(),
                    ..Default::default()
                };
                let sent = client
                    .inner
                    .mds
                    .metadata(Retry::Idempotent, report, |mut m, r| async move {
                        m.report_client(r).await
                    })
                    .await;
                match sent {
                    Ok(reply) => {
                        if client.inner.tls.revoked().replace(reply.revoked_serials) {
                            tracing::info!(
                                revoked = client.inner.tls.revoked().len(),
                                "the cluster's revocation list changed"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the MDS did not take this door's report")
                    }
                }
            }
        })
    }
}

/// Aborts a task when dropped (with the task that owns it).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sort_requests_and_reset_the_latency_window() {
        let c = DoorCounters::default();
        c.record(DoorOp::Read, 100, Duration::from_millis(2), true);
        c.record(DoorOp::Write, 50, Duration::from_millis(6), false);
        c.record(DoorOp::Fsync, 0, Duration::from_millis(10), true);
        assert_eq!(
            c.totals(),
            DoorTotals {
                read_bytes: 100,
                write_bytes: 50,
                read_ops: 1,
                write_ops: 1,
                fsyncs: 1,
                errors: 1,
            }
        );
        let (avg, max) = c.take_latency();
        assert!((avg - 6.0).abs() < 1e-9, "avg {avg}");
        assert!((max - 10.0).abs() < 1e-9, "max {max}");
        assert_eq!(c.take_latency(), (0.0, 0.0));
    }
}
