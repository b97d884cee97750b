//! The mount's Prometheus figures (part `mount`): every call to the
//! cluster, by FUSE operation (`lookup`, `read`, `fsync`, ...), is counted
//! and timed where it is bounded in time ([`crate::timed::timed`]); reads,
//! writes and their bytes are read from the filesystem's counters at every
//! scrape (`crate::fs::watch_metrics`: this module knows no filesystem). Answers the mount gives from its caches make no cluster call
//! and are not counted.
//!
//! A process runs at most one mount, so the handle is process-wide: set
//! once by [`attach_metrics`] before mounting.

use std::sync::OnceLock;

use cairn_metrics::{Metrics, PartMetrics};

static PART: OnceLock<PartMetrics> = OnceLock::new();

/// Counts this process's mount in `metrics` (the first call wins).
pub fn attach_metrics(metrics: &Metrics) {
    let _ = PART.set(metrics.part("mount"));
}

pub(crate) fn part() -> Option<&'static PartMetrics> {
    PART.get()
}
