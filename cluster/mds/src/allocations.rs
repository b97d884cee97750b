//! How new chunks are being placed, as an operator needs to see it: whether
//! the cluster writes at the normal replica count or degraded (fewer hosts
//! than wanted, down to the minimum), and how many allocations were placed
//! short or refused. Fed by every chunk allocation of the leader; read by
//! the stat reply, the status page and metrics.
//!
//! An event marks each change of mode — writing degraded starts, writing
//! is refused, writing is back at the normal count — never each
//! allocation, so a cluster that writes thousands of chunks through a
//! lost host logs two lines, not thousands.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::events::{EventLog, Severity};

/// What one allocation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Every chunk got its normal replica count.
    Normal,
    /// Placed on fewer hosts than normal: why.
    Short(&'a str),
    /// Fewer hosts than the minimum: why.
    Refused(&'a str),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Normal,
    Short,
    Refused,
}

/// The figures since this MDS began to count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Empty while writing at the normal count; else the latest reason.
    pub writing_degraded: String,
    pub chunks_placed_short: u64,
    pub allocations_refused: u64,
}

/// How long the reason of the last allocation placed short or refused is
/// shown while no allocation follows: a cluster that stopped writing is
/// not writing degraded, whatever its last write was.
pub const SHOWN_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Inner {
    mode: Mode,
    figures: Figures,
    /// When the last allocation was recorded.
    last: Option<Instant>,
}

/// The allocation outcomes of one MDS.
#[derive(Debug, Default)]
pub struct Allocations {
    inner: Mutex<Inner>,
}

impl Allocations {
    /// Records the outcome of an allocation of `chunks` chunks, and pushes
    /// an event to `events` when the mode changes.
    pub fn record(&self, outcome: Outcome, chunks: u64, now: Instant, events: &EventLog) {
        let change = {
            let Ok(mut inner) = self.inner.lock() else {
                return;
            };
            let inner = &mut *inner;
            inner.last = Some(now);
            let (mode, reason) = match outcome {
                Outcome::Normal => (Mode::Normal, ""),
                Outcome::Short(why) => {
                    inner.figures.chunks_placed_short += chunks;
                    (Mode::Short, why)
                }
                Outcome::Refused(why) => {
                    inner.figures.allocations_refused += 1;
                    (Mode::Refused, why)
                }
            };
            inner.figures.writing_degraded = reason.to_string();
            let change = transition(inner.mode, mode, reason);
            inner.mode = mode;
            change
        };
        if let Some((severity, message)) = change {
            events.push("mds", severity, message);
        }
    }

    /// The figures at `now`: the reason of writing degraded only while
    /// the last allocation is at most [`SHOWN_FOR`] old.
    pub fn figures(&self, now: Instant) -> Figures {
        let Ok(inner) = self.inner.lock() else {
            return Figures::default();
        };
        let mut figures = inner.figures.clone();
        if inner
            .last
            .is_none_or(|last| now.saturating_duration_since(last) > SHOWN_FOR)
        {
            figures.writing_degraded.clear();
        }
        figures
    }
}

/// The event of a change from `from` to `to`, if it is one.
fn transition(from: Mode, to: Mode, reason: &str) -> Option<(Severity, String)> {
    match (from, to) {
        (a, b) if a == b => None,
        (_, Mode::Short) => Some((
            Severity::Warn,
            format!("writing degraded: new chunks get fewer replicas than normal ({reason})"),
        )),
        (_, Mode::Refused) => Some((
            Severity::Error,
            format!("writes refused: fewer hosts than the minimum replica count ({reason})"),
        )),
        (_, Mode::Normal) => Some((
            Severity::Info,
            "writing at the normal replica count again".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(events: &EventLog) -> Vec<String> {
        events.snapshot().into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn each_change_of_mode_is_one_event_and_the_counts_add_up() {
        let a = Allocations::default();
        let events = EventLog::default();
        let t = Instant::now();
        a.record(Outcome::Normal, 1, t, &events);
        assert!(
            messages(&events).is_empty(),
            "normal from the start: no event"
        );
        for _ in 0..5 {
            a.record(
                Outcome::Short("2 of 3 replicas placed: cs 3 offline"),
                4,
                t,
                &events,
            );
        }
        a.record(Outcome::Refused("need 2, 1 available"), 1, t, &events);
        a.record(Outcome::Refused("need 2, 1 available"), 1, t, &events);
        let f = a.figures(t);
        assert_eq!(f.chunks_placed_short, 20);
        assert_eq!(f.allocations_refused, 2);
        assert_eq!(f.writing_degraded, "need 2, 1 available");
        // No allocation since: after a while it no longer writes degraded.
        let later = a.figures(t + SHOWN_FOR + Duration::from_secs(1));
        assert_eq!(later.writing_degraded, "");
        assert_eq!(later.allocations_refused, 2, "counts stay");
        a.record(Outcome::Normal, 1, t, &events);
        assert_eq!(a.figures(t).writing_degraded, "");
        let got = messages(&events);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("writing degraded") && got[0].contains("cs 3 offline"));
        assert!(got[1].starts_with("writes refused") && got[1].contains("need 2"));
        assert_eq!(got[2], "writing at the normal replica count again");
        let severities: Vec<Severity> = events.snapshot().iter().map(|e| e.severity).collect();
        assert_eq!(
            severities,
            vec![Severity::Warn, Severity::Error, Severity::Info]
        );
    }
}
