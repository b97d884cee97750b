//! What the lifecycle runner did, since this MDS started: totals and each
//! bucket's last pass, shown by `cairn stat` and the status page. An
//! observation in memory, not replicated state.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use cairn_common::time::now_ns;
use cairn_proto as pb;

use crate::command::LifecycleOutcome;
use crate::events::{EventLog, Severity};

/// What lifecycle did: counts of changes made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Current versions deleted (unversioned buckets, suspended null).
    pub current_deleted: u64,
    /// Current versions expired behind a new delete marker.
    pub markers_added: u64,
    pub noncurrent_removed: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
}

impl Figures {
    fn add(&mut self, outcome: LifecycleOutcome) {
        match outcome {
            LifecycleOutcome::Skipped => {}
            LifecycleOutcome::CurrentDeleted => self.current_deleted += 1,
            LifecycleOutcome::MarkerAdded => self.markers_added += 1,
            LifecycleOutcome::NoncurrentRemoved => self.noncurrent_removed += 1,
            LifecycleOutcome::MarkerRemoved => self.markers_removed += 1,
            LifecycleOutcome::UploadAborted => self.uploads_aborted += 1,
        }
    }

    fn total(&self) -> u64 {
        self.current_deleted
            + self.markers_added
            + self.noncurrent_removed
            + self.markers_removed
            + self.uploads_aborted
    }

    /// "3 current versions expired, 1 upload aborted" (only what happened).
    fn describe(&self) -> String {
        let parts = [
            (self.current_deleted, "current versions deleted"),
            (
                self.markers_added,
                "current versions expired (delete markers added)",
            ),
            (self.noncurrent_removed, "noncurrent versions removed"),
            (self.markers_removed, "delete markers removed"),
            (self.uploads_aborted, "incomplete uploads aborted"),
        ];
        parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One bucket's passes, as this MDS ran them while leading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketRun {
    pub passes: u64,
    pub started_unix_ms: u64,
    /// 0 while a pass runs.
    pub finished_unix_ms: u64,
    /// The changes of the last (or running) pass.
    pub done: Figures,
    /// Changes chosen whose condition no longer held when applied.
    pub skipped: u64,
    /// Empty when the last pass met no error.
    pub last_error: String,
}

#[derive(Debug, Default)]
struct Inner {
    totals: Figures,
    buckets: BTreeMap<String, BucketRun>,
}

/// What the runner did, since this MDS started.
#[derive(Debug, Default)]
pub struct LifecycleStatus {
    inner: Mutex<Inner>,
}

fn unix_ms() -> u64 {
    u64::try_from(now_ns() / 1_000_000).unwrap_or(0)
}

impl LifecycleStatus {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut i| f(&mut i))
    }

    pub(crate) fn begin(&self, bucket: &str) {
        self.with(|i| {
            let run = i.buckets.entry(bucket.to_string()).or_default();
            run.passes += 1;
            run.started_unix_ms = unix_ms();
            run.finished_unix_ms = 0;
            run.done = Figures::default();
            run.skipped = 0;
            run.last_error.clear();
        });
    }

    pub(crate) fn record(&self, bucket: &str, outcome: LifecycleOutcome) {
        self.with(|i| {
            i.totals.add(outcome);
            let run = i.buckets.entry(bucket.to_string()).or_default();
            run.done.add(outcome);
            if outcome == LifecycleOutcome::Skipped {
                run.skipped += 1;
            }
        });
    }

    pub(crate) fn fail(&self, bucket: &str, error: &str) {
        self.with(|i| {
            let run = i.buckets.entry(bucket.to_string()).or_default();
            run.last_error = error.to_string();
        });
    }

    /// Ends a bucket's pass; an event says what it did, if anything.
    pub(crate) fn finish(&self, bucket: &str, events: &EventLog) {
        let done = self.with(|i| {
            let run = i.buckets.entry(bucket.to_string()).or_default();
            run.finished_unix_ms = unix_ms();
            run.done.clone()
        });
        if let Some(done) = done.filter(|d| d.total() > 0) {
            events.push(
                "mds",
                Severity::Info,
                format!("lifecycle of bucket {bucket}: {}", done.describe()),
            );
        }
    }

    /// Forgets buckets that no longer have a configuration.
    pub(crate) fn keep_only(&self, buckets: &BTreeSet<String>) {
        self.with(|i| i.buckets.retain(|b, _| buckets.contains(b)));
    }

    pub fn totals(&self) -> Figures {
        self.with(|i| i.totals.clone()).unwrap_or_default()
    }

    pub fn buckets(&self) -> BTreeMap<String, BucketRun> {
        self.with(|i| i.buckets.clone()).unwrap_or_default()
    }

    /// The per-bucket status for the stat reply.
    pub fn to_proto(&self) -> Vec<pb::LifecycleBucketStatus> {
        self.buckets()
            .into_iter()
            .map(|(bucket, r)| pb::LifecycleBucketStatus {
                bucket,
                passes: r.passes,
                started_unix_ms: r.started_unix_ms,
                finished_unix_ms: r.finished_unix_ms,
                current_deleted: r.done.current_deleted,
                markers_added: r.done.markers_added,
                noncurrent_removed: r.done.noncurrent_removed,
                markers_removed: r.done.markers_removed,
                uploads_aborted: r.done.uploads_aborted,
                skipped: r.skipped,
                last_error: r.last_error,
            })
            .collect()
    }
}
