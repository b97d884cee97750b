//! The MDS's event log: a bounded ring of what an operator should see
//! (a chunk server went offline or came back, re-replication started or
//! finished, a replica failed its checksum), shown by `cairn top`'s event
//! pane and the status page through the stat reply.
//!
//! Events are observations, not state: they live in memory only, and the
//! newest [`CAPACITY`] are kept. A watcher ([`watch`]) turns changes of
//! liveness and of the copy queue into events once a second; handlers push
//! the events they see directly ([`EventLog::push`]).

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use cairn_proto as pb;

use crate::{heal, health::Liveness, schema::CsState, server::State};

/// Events kept: a screenful of `cairn top` several times over.
pub const CAPACITY: usize = 256;

/// How often the watcher compares the cluster with what it saw last.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub unix_ms: u64,
    pub part: String,
    pub severity: Severity,
    pub message: String,
}

/// The ring. Oldest first; never more than [`CAPACITY`] entries.
#[derive(Debug, Default)]
pub struct EventLog {
    ring: Mutex<VecDeque<Event>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventLog {
    /// Records an event (and logs it, so that it outlives the ring).
    pub fn push(&self, part: impl Into<String>, severity: Severity, message: impl Into<String>) {
        let event = Event {
            unix_ms: unix_ms(),
            part: part.into(),
            severity,
            message: message.into(),
        };
        match severity {
            Severity::Info => tracing::info!(part = %event.part, "{}", event.message),
            _ => tracing::warn!(part = %event.part, "{}", event.message),
        }
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == CAPACITY {
                ring.pop_front();
            }
            ring.push_back(event);
        }
    }

    /// Every event kept, oldest first.
    pub fn snapshot(&self) -> Vec<Event> {
        self.ring
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn to_proto(&self) -> Vec<pb::ClusterEvent> {
        self.snapshot()
            .into_iter()
            .map(|e| pb::ClusterEvent {
                unix_ms: e.unix_ms,
                part: e.part,
                severity: e.severity.name().to_string(),
                message: e.message,
            })
            .collect()
    }
}

/// What the watcher saw last.
#[derive(Default)]
struct Seen {
    liveness: BTreeMap<u32, Liveness>,
    copying: bool,
}

/// Compares the cluster with what was seen last and records the changes.
fn look(state: &State, seen: &mut Seen) {
    let servers = match state.reader().and_then(|r| r.chunk_servers()) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "event watcher cannot read the chunk servers");
            return;
        }
    };
    let now = Instant::now();
    let views = heal::views(state, &servers, now);
    let events = &state.events;
    for s in servers.iter().filter(|s| s.state != CsState::Removed) {
        let Some(view) = views.get(&s.id) else {
            continue;
        };
        let part = format!("cs{}", s.id);
        let before = seen.liveness.insert(s.id, view.liveness);
        match (before, view.liveness) {
            (None, Liveness::Online) => events.push(
                part,
                Severity::Info,
                format!("CS {} online ({})", s.id, s.host),
            ),
            (Some(Liveness::Online), Liveness::Offline) | (None, Liveness::Offline) => events.push(
                part,
                Severity::Warn,
                format!("CS {} offline: no heartbeat ({})", s.id, s.host),
            ),
            (Some(b), Liveness::Lost) if b != Liveness::Lost => events.push(
                part,
                Severity::Error,
                format!(
                    "CS {} lost: silent past the grace period; its replicas are restored elsewhere",
                    s.id
                ),
            ),
            (Some(b), Liveness::Online) if b != Liveness::Online => {
                events.push(part, Severity::Info, format!("CS {} back online", s.id))
            }
            _ => {}
        }
    }
    let flight = state.heal.figures(now);
    let copying = flight.copies > 0;
    if copying && !seen.copying {
        events.push(
            "mds",
            Severity::Warn,
            format!("re-replication started: {} copies in flight", flight.copies),
        );
    } else if !copying && seen.copying {
        events.push("mds", Severity::Info, "re-replication finished");
    }
    seen.copying = copying;
}

/// Watches the cluster until `stopped` turns true.
pub(crate) async fn watch(state: Arc<State>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut seen = Seen::default();
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        let s = state.clone();
        let mut moved = std::mem::take(&mut seen);
        // redb reads block: keep them off the async workers.
        match tokio::task::spawn_blocking(move || {
            look(&s, &mut moved);
            moved
        })
        .await
        {
            Ok(back) => seen = back,
            Err(e) => tracing::error!(error = %e, "the event watcher panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest() {
        let log = EventLog::default();
        for i in 0..CAPACITY + 10 {
            log.push("mds", Severity::Info, format!("e{i}"));
        }
        let all = log.snapshot();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].message, "e10");
        assert_eq!(
            all.last().map(|e| e.message.as_str()),
            Some(format!("e{}", CAPACITY + 9).as_str())
        );
    }
}
