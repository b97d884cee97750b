//! S3 lifecycle on the MDS: the runner that applies each bucket's
//! lifecycle rules (stored by the S3 door as the bucket setting
//! `lifecycle`, `cairn_common::lifecycle`).
//!
//! Rules (S3 user guide, "Lifecycle configuration elements" and
//! "Expiring objects"; API reference, LifecycleRule):
//! * only `Enabled` rules act, each on the objects its filter selects
//!   (prefix, tags, exclusive size bounds: `Rule::matches`);
//! * `Expiration` (`Days` after the last modification, or a `Date`)
//!   expires a current version: in a versioned bucket it becomes
//!   noncurrent behind a new delete marker, in an unversioned one it is
//!   deleted (a suspended bucket's null version is deleted too, as a
//!   DeleteObject would);
//! * `ExpiredObjectDeleteMarker` removes a delete marker that is the only
//!   version of its key;
//! * `NoncurrentVersionExpiration` removes a noncurrent version (or
//!   delete marker) `NoncurrentDays` after it became noncurrent
//!   (`noncurrent_since_ns`), keeping the `NewerNoncurrentVersions` newest
//!   noncurrent versions whatever their age;
//! * `AbortIncompleteMultipartUpload` aborts an upload
//!   `DaysAfterInitiation` after it began (`created_ns`);
//! * days end at midnight UTC (`due_after_days`); tests shorten the day
//!   (`MdsOptions::lifecycle_day`, `cairn mds --lifecycle-day-secs`).
//!
//! Invariants:
//! * a version under legal hold or unexpired retention is never expired
//!   nor removed: the planner skips it, and the command checks again at
//!   its own time (lifecycle never bypasses governance);
//! * what is due is decided by the pure planner (`crate::lifecycle_plan`)
//!   from a snapshot and the time;
//! * only the raft leader runs passes, and every change is a conditional
//!   [`Command::Lifecycle`] (`command::LifecycleAction`) chosen from a read
//!   snapshot: a change whose condition no longer holds is skipped, so a
//!   pass cut short by a crash or a leader change, then started again by
//!   the next leader, applies each change at most once;
//! * the time of every change comes from the runner (`now_ns` in the
//!   command), never from `apply`;
//! * the runner keeps no state that must survive: a new leader starts a
//!   new pass. What it did (this process's counts and each bucket's last
//!   pass, [`LifecycleStatus`]) is an observation shown by `cairn stat`,
//!   `cairn top`, `cairn lifecycle` and metrics, not state.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use cairn_common::{lifecycle as model, time::now_ns, ClusterError};

use crate::command::{Command, CommandReply, LifecycleAction, LifecycleOutcome};
use crate::lifecycle_plan::{self as plan, Clock};
use crate::state::State;

pub use crate::options::LIFECYCLE_ACTIONS_PER_SECOND as ACTIONS_PER_SECOND;

/// Keys read per snapshot: bounds the memory and the read transaction's
/// life, and lets a page's changes be made against a fresh read.
const KEYS_PER_PAGE: usize = 1000;

/// Passes start at most this often (a day allowing, see [`pass_every`]).
const MAX_PASS_EVERY: Duration = Duration::from_secs(3600);

/// Time between the starts of two passes: a 24th of a day (an hour with
/// real days: actions fall due at midnight, an hour late at most), at
/// least a second.
pub fn pass_every(day: Duration) -> Duration {
    (day / 24).clamp(Duration::from_secs(1), MAX_PASS_EVERY)
}

/// Spaces the changes of a pass: one every `1 / rate` seconds.
struct Pacer {
    every: Duration,
    next: tokio::time::Instant,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        Pacer {
            every: Duration::from_secs(1) / rate.max(1),
            next: tokio::time::Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let now = tokio::time::Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        self.next = self.next.max(now) + self.every;
    }
}

/// Why a pass stopped early.
enum Stop {
    /// Shutting down, or no longer the leader.
    Ended,
    Failed(ClusterError),
}

impl From<ClusterError> for Stop {
    fn from(e: ClusterError) -> Stop {
        Stop::Failed(e)
    }
}

/// The runner: a pass every [`pass_every`] while this MDS leads, until
/// `stop` says so.
pub(crate) async fn run(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(pass_every(state.options.lifecycle_day));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if !state.is_leader() {
            continue;
        }
        let mut runner = Runner {
            state: &state,
            stop: &stop,
            pacer: Pacer::new(state.options.lifecycle_rate),
        };
        match runner.pass().await {
            Ok(()) | Err(Stop::Ended) => {}
            Err(Stop::Failed(e)) => {
                tracing::warn!(error = %e, "lifecycle pass failed; the next pass starts over")
            }
        }
    }
}

struct Runner<'a> {
    state: &'a State,
    stop: &'a tokio::sync::watch::Receiver<bool>,
    pacer: Pacer,
}

impl Runner<'_> {
    fn clock(&self) -> Clock {
        Clock {
            now_ns: now_ns(),
            day_ns: i64::try_from(self.state.options.lifecycle_day.as_nanos())
                .unwrap_or(model::NANOS_PER_DAY)
                .max(1),
        }
    }

    /// One pass over every bucket with a configuration.
    async fn pass(&mut self) -> Result<(), Stop> {
        let buckets = self.state.reader()?.buckets()?;
        let mut configured = BTreeSet::new();
        for bucket in buckets {
            let name = bucket.name;
            let stored = match self.state.reader()?.bucket_setting(&name, model::SETTING) {
                Ok(s) => s,
                Err(ClusterError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(bytes) = stored else {
                continue;
            };
            configured.insert(name.clone());
            let status = &self.state.lifecycle;
            let config = match model::decode(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(bucket = %name, error = %e, "lifecycle configuration unreadable");
                    status.fail(&name, &e.to_string());
                    continue;
                }
            };
            status.begin(&name);
            match self.bucket(&name, &config.rules).await {
                Ok(()) => {}
                Err(Stop::Ended) => return Err(Stop::Ended),
                Err(Stop::Failed(e)) => {
                    tracing::warn!(bucket = %name, error = %e, "lifecycle pass of a bucket failed");
                    status.fail(&name, &e.to_string());
                }
            }
            status.finish(&name, &self.state.events);
        }
        self.state.lifecycle.keep_only(&configured);
        Ok(())
    }

    async fn bucket(&mut self, bucket: &str, rules: &[model::Rule]) -> Result<(), Stop> {
        if !rules.iter().any(model::Rule::is_enabled) {
            return Ok(());
        }
        let mut after: Vec<u8> = Vec::new();
        loop {
            let (page, more) =
                self.state
                    .reader()?
                    .lifecycle_keys(bucket, &after, KEYS_PER_PAGE)?;
            let clock = self.clock();
            for key in &page {
                for action in plan::plan_key(rules, key, clock) {
                    self.act(bucket, action).await?;
                }
            }
            match page.last() {
                Some(last) if more => after = last.key.clone(),
                _ => break,
            }
        }
        let uploads = self.state.reader()?.lifecycle_uploads(bucket)?;
        for action in plan::plan_uploads(rules, &uploads, self.clock()) {
            self.act(bucket, action).await?;
        }
        Ok(())
    }

    /// Makes one change, paced, while this MDS leads.
    async fn act(&mut self, bucket: &str, action: LifecycleAction) -> Result<(), Stop> {
        self.pacer.wait().await;
        if *self.stop.borrow() || !self.state.is_leader() {
            return Err(Stop::Ended);
        }
        let command = Command::Lifecycle {
            bucket: bucket.to_string(),
            action,
            now_ns: now_ns(),
        };
        match self.state.submit(command).await {
            Ok(CommandReply::Lifecycle(outcome)) => {
                if outcome != LifecycleOutcome::Skipped {
                    tracing::debug!(bucket, ?outcome, "lifecycle change");
                }
                self.state.lifecycle.record(bucket, outcome);
                Ok(())
            }
            Ok(other) => Err(Stop::Failed(ClusterError::Io(format!(
                "lifecycle command answered {other:?}"
            )))),
            Err(e @ ClusterError::Unavailable(_)) => Err(Stop::Failed(e)),
            Err(e) => {
                // One change refused (a race the condition did not foresee):
                // the pass goes on; the next one sees the new state.
                tracing::debug!(bucket, error = %e, "lifecycle change refused");
                self.state
                    .lifecycle
                    .record(bucket, LifecycleOutcome::Skipped);
                Ok(())
            }
        }
    }
}
