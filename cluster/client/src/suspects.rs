//! Chunk servers this client could not reach lately.
//!
//! A chunk server whose call timed out, whose connection was refused or
//! lost, or that a chain hop reported unreachable, is a suspect for
//! [`SUSPECT_FOR`]: new chunks are allocated avoiding it, new chunk writes
//! leave it out of their chain when enough other replicas remain, reads try
//! it last. Only the first caller to meet a vanished server pays for the
//! timeout; the others go around it until the MDS notices it is gone.
//!
//! Invariant: a suspect stops being one at its first successful call, or
//! `SUSPECT_FOR` after it was last marked, whichever comes first. Being a
//! suspect never makes a write go on with fewer replicas than its minimum:
//! it only picks which ones to try first.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long a chunk server stays a suspect. The MDS marks a chunk server
/// offline after 10 s without a heartbeat (`cairn mds`'s default), and
/// places nothing on it from then on: fifteen seconds covers the time until
/// it does, with room for a heartbeat in flight, and is short enough that a
/// server that was only restarted is back in chains soon.
pub(crate) const SUSPECT_FOR: Duration = Duration::from_secs(15);

/// The suspects, by chunk server id, with when each stops being one.
#[derive(Debug, Default)]
pub(crate) struct Suspects {
    until: Mutex<HashMap<u32, Instant>>,
}

impl Suspects {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Instant>> {
        // The map holds plain values: a panic elsewhere cannot have left
        // it half-changed.
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `cs_id` could not be reached at `now`.
    pub(crate) fn mark(&self, cs_id: u32, now: Instant) {
        self.map().insert(cs_id, now + SUSPECT_FOR);
    }

    /// `cs_id` answered: it is no longer a suspect.
    pub(crate) fn clear(&self, cs_id: u32) {
        let mut map = self.map();
        if !map.is_empty() {
            map.remove(&cs_id);
        }
    }

    pub(crate) fn is_suspect(&self, cs_id: u32, now: Instant) -> bool {
        self.map().get(&cs_id).is_some_and(|until| *until > now)
    }

    /// Every suspect at `now`, in id order; those whose time is up are
    /// forgotten.
    pub(crate) fn list(&self, now: Instant) -> Vec<u32> {
        let mut map = self.map();
        map.retain(|_, until| *until > now);
        let mut ids: Vec<u32> = map.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspect_expires_after_its_time_and_clears_on_success() {
        let s = Suspects::default();
        let t0 = Instant::now();
        s.mark(7, t0);
        s.mark(3, t0 + Duration::from_secs(5));
        assert!(s.is_suspect(7, t0));
        assert!(s.is_suspect(7, t0 + SUSPECT_FOR - Duration::from_millis(1)));
        assert!(!s.is_suspect(7, t0 + SUSPECT_FOR));
        assert!(!s.is_suspect(9, t0));
        assert_eq!(s.list(t0 + Duration::from_secs(1)), [3, 7]);
        // 7's time is up, 3's is not (marked 5 s later).
        assert_eq!(s.list(t0 + SUSPECT_FOR + Duration::from_secs(1)), [3]);
        // Marking again restarts the time.
        s.mark(7, t0 + SUSPECT_FOR + Duration::from_secs(2));
        assert!(s.is_suspect(7, t0 + SUSPECT_FOR + Duration::from_secs(3)));
        s.clear(7);
        assert!(!s.is_suspect(7, t0 + SUSPECT_FOR + Duration::from_secs(3)));
        assert_eq!(s.list(t0 + SUSPECT_FOR + Duration::from_secs(3)), [3]);
    }
}
