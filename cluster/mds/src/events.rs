//! The MDS's event log: a bounded ring of what an operator should see
//! (a chunk server went offline or came back, re-replication started or
//! finished, a replica failed its checksum), shown by `cairn top`'s event
//! pane and the status page through the stat reply.
//!
//! Events are observations, not state: they live in memory only, and the
//! newest [`CAPACITY`] are kept. A watcher (`event_watch`) turns changes of
//! liveness and of the copy queue into events once a second; handlers push
//! the events they see directly ([`EventLog::push`]).

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use cairn_proto as pb;

/// Events kept: a screenful of `cairn top` several times over.
pub const CAPACITY: usize = 256;

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
