//! The front doors (S3 gateways, FUSE mounts) that report to this MDS, for
//! the client table of the stat reply. A door is what the wire and `cairn
//! stat` call a client (`ReportClient`, `ClientStat`): one process using
//! the client library; "door" is this crate's word for it.
//!
//! Reports are observations, not state: they live in memory on the leader
//! only (doors report where their client library finds the leader), each
//! door's latest report replaces its previous one, and a door silent for
//! [`FORGET_AFTER`] drops out. After a change of leader the table fills
//! again within one report interval.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use cairn_proto as pb;

/// A door silent this long is gone (it reports every 2 s).
pub const FORGET_AFTER: Duration = Duration::from_secs(30);

/// More doors than this are refused: the table is in memory, and the ids
/// come from the network.
pub const MAX_DOORS: usize = 4096;

#[derive(Debug, Default)]
pub struct DoorTable {
    doors: Mutex<HashMap<String, (Instant, pb::ClientStat)>>,
}

impl DoorTable {
    /// Takes a door's report; false when the table is full of other doors.
    pub fn report(&self, stat: pb::ClientStat, now: Instant) -> bool {
        let mut doors = self.lock();
        doors.retain(|_, (seen, _)| now.saturating_duration_since(*seen) < FORGET_AFTER);
        if doors.len() >= MAX_DOORS && !doors.contains_key(&stat.id) {
            return false;
        }
        doors.insert(stat.id.clone(), (now, stat));
        true
    }

    /// The doors heard from within [`FORGET_AFTER`], by kind then name, each
    /// with the age of its report.
    pub fn snapshot(&self, now: Instant) -> Vec<pb::ClientStat> {
        let doors = self.lock();
        let mut out: Vec<pb::ClientStat> = doors
            .values()
            .filter(|(seen, _)| now.saturating_duration_since(*seen) < FORGET_AFTER)
            .map(|(seen, stat)| {
                let mut stat = stat.clone();
                stat.last_report_ms_ago =
                    i64::try_from(now.saturating_duration_since(*seen).as_millis())
                        .unwrap_or(i64::MAX);
                stat
            })
            .collect();
        out.sort_by(|a, b| (&a.kind, &a.host, &a.name).cmp(&(&b.kind, &b.host, &b.name)));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, pb::ClientStat)>> {
        self.doors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(id: &str, kind: &str, reads: u64) -> pb::ClientStat {
        pb::ClientStat {
            id: id.into(),
            kind: kind.into(),
            name: id.into(),
            read_ops: reads,
            ..Default::default()
        }
    }

    #[test]
    fn the_latest_report_wins_and_silent_doors_drop_out() {
        let table = DoorTable::default();
        let t0 = Instant::now();
        assert!(table.report(door("m1", "mount", 1), t0));
        assert!(table.report(door("g1", "gateway", 1), t0));
        assert!(table.report(door("m1", "mount", 7), t0 + Duration::from_secs(20)));
        let later = t0 + Duration::from_secs(25);
        let seen = table.snapshot(later);
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].kind.as_str(), seen[0].read_ops), ("gateway", 1));
        assert_eq!(seen[0].last_report_ms_ago, 25_000);
        assert_eq!((seen[1].kind.as_str(), seen[1].read_ops), ("mount", 7));
        assert_eq!(seen[1].last_report_ms_ago, 5_000);
        // The gateway last spoke 31 s ago: gone.
        let seen = table.snapshot(t0 + Duration::from_secs(31));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].id, "m1");
    }

    #[test]
    fn a_full_table_refuses_new_doors_but_takes_known_ones() {
        let table = DoorTable::default();
        let now = Instant::now();
        for i in 0..MAX_DOORS {
            assert!(table.report(door(&format!("d{i}"), "mount", 0), now));
        }
        assert!(!table.report(door("one-more", "mount", 0), now));
        assert!(table.report(door("d0", "mount", 5), now));
    }
}
