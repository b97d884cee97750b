//! Turns changes of chunk server liveness and of the copy queue, and node
//! certificates near their end, into events, once a second (the events
//! themselves: `events`).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::events::Severity;
use crate::health::Liveness;
use crate::schema::CsState;
use crate::state::State;

/// How often the watcher compares the cluster with what it saw last.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What the watcher saw last.
#[derive(Default)]
struct Seen {
    liveness: BTreeMap<u32, Liveness>,
    copying: bool,
    /// Certificates already warned about (`cert_expiry`).
    certs_warned: crate::cert_expiry::Warned,
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
    let views = state.views(&servers, now);
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
    crate::cert_expiry::warn(state, &mut seen.certs_warned, now);
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
