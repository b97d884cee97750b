//! The scrubber: re-reads every replica at a bounded rate and takes the
//! ones that fail their checksums out of service.
//!
//! A corrupt replica is quarantined ([`Store::quarantine`]): renamed aside,
//! out of the index, and the next heartbeat carries a full replica report
//! without it, so the MDS sees one copy fewer and re-replicates the chunk
//! from a good one. Clients never get its bytes meanwhile (reads verify
//! too); the scrubber finds the replicas nobody reads.
//!
//! Invariant: the scrubber reads at most `rate` bytes a second on average,
//! so clients keep the disk's bandwidth; it pauses between passes.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{error::ReplicaError, service::READ_PIECE, store::Store};

/// How fast and how often the scrubber reads.
#[derive(Debug, Clone, Copy)]
pub struct ScrubPolicy {
    /// Bytes per second, on average; 0 disables the scrubber.
    pub rate: u64,
    /// Rest between two passes over every replica.
    pub pause: Duration,
}

impl Default for ScrubPolicy {
    /// 8 MiB/s is a few percent of a disk's bandwidth: a 4 TB disk is
    /// checked in about a week, and clients do not notice.
    fn default() -> Self {
        ScrubPolicy {
            rate: 8 << 20,
            pause: Duration::from_secs(3600),
        }
    }
}

/// What one pass found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub replicas: u64,
    pub bytes: u64,
    pub quarantined: u64,
}

/// Checks every replica once, at `rate` bytes a second.
pub async fn pass(store: &Arc<Store>, rate: u64) -> PassReport {
    let mut report = PassReport::default();
    let started = Instant::now();
    let s = Arc::clone(store);
    let replicas = match tokio::task::spawn_blocking(move || s.list()).await {
        Ok(r) => r,
        Err(_) => return report,
    };
    for r in replicas {
        let mut offset = 0;
        loop {
            let s = Arc::clone(store);
            let checked = tokio::task::spawn_blocking(move || {
                s.verify(r.chunk_id, r.version, offset, READ_PIECE)
            })
            .await;
            match checked {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    offset += n;
                    report.bytes += n;
                }
                Ok(Err(ReplicaError::Corrupt { detail, .. })) => {
                    tracing::error!(
                        chunk = r.chunk_id,
                        version = r.version,
                        %detail,
                        "scrub found a corrupt replica: quarantining it"
                    );
                    let s = Arc::clone(store);
                    let quarantined =
                        tokio::task::spawn_blocking(move || s.quarantine(r.chunk_id, r.version))
                            .await;
                    match quarantined {
                        Ok(Ok(())) => report.quarantined += 1,
                        Ok(Err(e)) => tracing::error!(error = %e, "quarantine failed"),
                        Err(e) => tracing::error!(error = %e, "quarantine task failed"),
                    }
                    break;
                }
                // Deleted, renamed or rewritten meanwhile: not our concern.
                Ok(Err(_)) | Err(_) => break,
            }
            if rate > 0 {
                // Sleep until the bytes read so far fit the rate.
                let due = Duration::from_secs_f64(report.bytes as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(ahead).await;
                }
            }
        }
        report.replicas += 1;
    }
    report
}

/// Runs passes forever (until the task is aborted).
pub async fn run(store: Arc<Store>, policy: ScrubPolicy) {
    if policy.rate == 0 {
        return;
    }
    loop {
        tokio::time::sleep(policy.pause).await;
        let report = pass(&store, policy.rate).await;
        tracing::info!(
            replicas = report.replicas,
            bytes = report.bytes,
            quarantined = report.quarantined,
            "scrub pass done"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{write_identity, CsIdentity, CHUNKS_DIR};
    use crate::store::replica_path;
    use bytes::Bytes;

    #[tokio::test]
    async fn a_pass_quarantines_corrupt_replicas_and_asks_for_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let id = CsIdentity {
            cluster_name: "c".into(),
            cluster_id: "id".into(),
            cs_id: 1,
            host: "h".into(),
            tier: 0,
            capacity: 0,
            journal: None,
        };
        write_identity(dir.path(), &id).unwrap();
        let store = Arc::new(Store::open(dir.path(), &id).unwrap());
        let data = Bytes::from(vec![9u8; 3 << 20]);
        for chunk in [1, 2] {
            store
                .write(chunk, 1, 0, std::slice::from_ref(&data), true)
                .unwrap();
        }
        assert!(!store.take_report_needed());
        let clean = pass(&store, 0).await;
        assert_eq!(
            clean,
            PassReport {
                replicas: 2,
                bytes: 6 << 20,
                quarantined: 0
            }
        );
        // Flip a byte deep inside replica 2.
        let path = replica_path(&dir.path().join(CHUNKS_DIR), 2, 1);
        let mut raw = std::fs::read(&path).unwrap();
        raw[8192 + (2 << 20) + 5] ^= 1;
        std::fs::write(&path, raw).unwrap();
        let found = pass(&store, 0).await;
        assert_eq!(found.quarantined, 1);
        assert!(store.take_report_needed());
        let left: Vec<u64> = store.list().iter().map(|r| r.chunk_id).collect();
        assert_eq!(left, [1]);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_pass_keeps_to_its_rate() {
        let dir = tempfile::tempdir().unwrap();
        let id = CsIdentity {
            cluster_name: "c".into(),
            cluster_id: "id".into(),
            cs_id: 1,
            host: "h".into(),
            tier: 0,
            capacity: 0,
            journal: None,
        };
        write_identity(dir.path(), &id).unwrap();
        let store = Arc::new(Store::open(dir.path(), &id).unwrap());
        store
            .write(1, 1, 0, &[Bytes::from(vec![1u8; 4 << 20])], true)
            .unwrap();
        let started = Instant::now();
        // 4 MiB at 16 MiB/s: at least a quarter of a second.
        let report = pass(&store, 16 << 20).await;
        assert_eq!(report.bytes, 4 << 20);
        assert!(
            started.elapsed() >= Duration::from_millis(240),
            "{:?}",
            started.elapsed()
        );
    }
}
