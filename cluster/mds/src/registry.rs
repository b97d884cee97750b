//! Live figures of chunk servers, from their heartbeats. In memory only: a
//! restarted MDS knows every CS as offline until it hears from it again.
//!
//! A CS is online while its last heartbeat is younger than `offline_after`.
//! Being offline only keeps new chunks away and sends its replicas to the end
//! of read locations; its replicas are not dropped (healing decides that).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// What a heartbeat says about a CS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub addr: String,
    pub capacity: u64,
    pub used: u64,
    pub free: u64,
    pub replicas: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
    /// Moving average of its write and sync latency.
    pub latency_ms: f64,
    /// The longest sync and the most operations at once over its last
    /// heartbeat interval.
    pub latency_max_ms: f64,
    pub queue_depth: u64,
    /// The certificate it showed (serial, subject, end): what `cairn cert
    /// revoke csN` revokes and `cairn stat` shows the end of.
    pub cert: Option<cairn_common::tls::CertId>,
}

/// A CS's figures and when they arrived.
#[derive(Clone, Debug)]
pub struct Live {
    pub figures: Figures,
    pub last_seen: Instant,
}

/// Where a chunk server's data path listens: the address its heartbeats
/// give (it may have moved since it registered), else the registered one;
/// empty when it never said.
pub fn data_addr(registered: &str, live: Option<&Live>) -> String {
    live.map(|l| l.figures.addr.as_str())
        .filter(|a| !a.is_empty())
        .unwrap_or(registered)
        .to_string()
}

pub struct Registry {
    offline_after: Duration,
    live: Mutex<HashMap<u32, Live>>,
}

impl Registry {
    pub fn new(offline_after: Duration) -> Registry {
        Registry {
            offline_after,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Records a heartbeat received at `now`.
    pub fn record(&self, cs_id: u32, figures: Figures, now: Instant) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.insert(
            cs_id,
            Live {
                figures,
                last_seen: now,
            },
        );
    }

    /// The last heartbeat of a CS, if any since this MDS started.
    pub fn get(&self, cs_id: u32) -> Option<Live> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(&cs_id).cloned()
    }

    /// Every CS heard from, at one instant.
    pub fn snapshot(&self) -> HashMap<u32, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a CS last seen as `live` is online at `now`.
    pub fn is_online(&self, live: Option<&Live>, now: Instant) -> bool {
        live.is_some_and(|l| now.saturating_duration_since(l.last_seen) <= self.offline_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_cs_goes_offline() {
        let reg = Registry::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(
            !reg.is_online(reg.get(1).as_ref(), t0),
            "never heard: offline"
        );
        reg.record(1, Figures::default(), t0);
        assert!(reg.is_online(reg.get(1).as_ref(), t0 + Duration::from_secs(9)));
        assert!(!reg.is_online(reg.get(1).as_ref(), t0 + Duration::from_secs(11)));
        reg.record(1, Figures::default(), t0 + Duration::from_secs(11));
        assert!(reg.is_online(reg.get(1).as_ref(), t0 + Duration::from_secs(12)));
    }
}
