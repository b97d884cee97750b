//! The mount's Prometheus figures (part `mount`): every call to the
//! cluster, by FUSE operation (`lookup`, `read`, `fsync`, ...), is counted
//! and timed where it is bounded in time ([`crate::timed::timed`]); reads,
//! writes and their bytes are read from the filesystem's counters at every
//! scrape. Answers the mount gives from its caches make no cluster call
//! and are not counted.
//!
//! A process runs at most one mount, so the handle is process-wide: set
//! once by [`attach_metrics`] before mounting.

use std::sync::{Arc, OnceLock};

use cairn_metrics::{Metrics, PartMetrics};

use crate::{backend::Backend, fs::Fs};

static PART: OnceLock<PartMetrics> = OnceLock::new();

/// Counts this process's mount in `metrics` (the first call wins).
pub fn attach_metrics(metrics: &Metrics) {
    let _ = PART.set(metrics.part("mount"));
}

pub(crate) fn part() -> Option<&'static PartMetrics> {
    PART.get()
}

/// Samples `fs`'s counters at every scrape while it lives.
pub(crate) fn watch<B: Backend>(fs: &Arc<Fs<B>>) {
    let Some(part) = part() else {
        return;
    };
    let weak = Arc::downgrade(fs);
    part.metrics().on_scrape(move || {
        if let Some(fs) = weak.upgrade() {
            let s = fs.stats();
            part.set_bytes_totals(s.write_bytes, s.read_bytes);
            part.set_event_total("fuse_reads", s.reads);
            part.set_event_total("fuse_writes", s.writes);
            part.set_event_total("unlinks_queued", s.queued_unlinks);
            part.set_event_total("unlinks_refused", s.refused_unlinks);
        }
        async {}
    });
}
