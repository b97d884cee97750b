//! Rebuilding the index when the store opens: the scan of the replica
//! files, then the replay of the journal over them. Both run before the
//! store serves anything, so no replica lock is contended here.

use super::*;

impl Store {
    /// Builds the index from the replica files on disk.
    pub(super) fn scan(&self) -> Result<(), CsError> {
        let mut found: HashMap<u64, (u64, u64)> = HashMap::new();
        for i in 0..=255u8 {
            let sub = self.chunks_dir.join(format!("{i:02x}"));
            let entries = fs::read_dir(&sub).map_err(|e| CsError::io("list", &sub, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| CsError::io("list", &sub, e))?;
                let name = entry.file_name();
                let Some((chunk_id, version)) = name.to_str().and_then(parse_replica_name) else {
                    tracing::debug!(file = ?entry.path(), "ignoring a file that is not a replica");
                    continue;
                };
                let size = entry
                    .metadata()
                    .map_err(|e| CsError::io("stat", entry.path(), e))?
                    .len();
                let length = size.saturating_sub(HEADER_SIZE);
                let stale = match found.get(&chunk_id) {
                    Some(&(have, _)) if have > version => Some(version),
                    Some(&(have, _)) => {
                        found.insert(chunk_id, (version, length));
                        Some(have)
                    }
                    None => {
                        found.insert(chunk_id, (version, length));
                        None
                    }
                };
                if let Some(old) = stale {
                    // Versions only grow: the older file is a leftover.
                    let path = replica_path(&self.chunks_dir, chunk_id, old);
                    tracing::warn!(path = %path.display(), "removing a replica superseded by a newer version");
                    fs::remove_file(&path).map_err(|e| CsError::io("remove", &path, e))?;
                }
            }
        }
        let mut index = self.index();
        let mut used = 0;
        for (chunk_id, (version, length)) in found {
            used += HEADER_SIZE + length;
            index.insert(
                chunk_id,
                Arc::new(Replica {
                    state: Mutex::new(ReplicaState {
                        version,
                        length,
                        file: None,
                        on_disk: true,
                        deleted: false,
                        dir_dirty: false,
                    }),
                }),
            );
        }
        self.used.store(used, Ordering::Relaxed);
        Ok(())
    }

    /// Applies the journal's records to the replicas, then checkpoints.
    pub(super) fn replay(&self) -> Result<(), CsError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let jerr = |e: std::io::Error| CsError::io("replay journal", journal.path(), e);
        let records = journal.records().map_err(jerr)?;
        // Index of the last set-version or delete of each replica: writes to
        // it before that are durable already or moot.
        let mut retired: HashMap<(u64, u64), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if matches!(r.kind, RecordKind::SetVersion | RecordKind::Delete) {
                retired.insert((r.chunk_id, r.version), i);
            }
        }
        let mut applied = 0usize;
        let mut damaged: Vec<u64> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if damaged.contains(&r.chunk_id) {
                continue;
            }
            let create = match r.kind {
                RecordKind::Write => false,
                RecordKind::CreateWrite => true,
                RecordKind::SetVersion | RecordKind::Delete => continue,
            };
            if retired
                .get(&(r.chunk_id, r.version))
                .is_some_and(|&at| at > i)
            {
                continue;
            }
            let current = self.lookup(r.chunk_id).map(|rep| rep.lock().version);
            match current {
                Some(v) if v == r.version => {}
                None if create => {}
                _ => continue,
            }
            let data = journal.record_data(r).map_err(jerr)?;
            match self.write_inner(r.chunk_id, r.version, r.arg, &[data], create, false) {
                Ok(_) => applied += 1,
                Err(e) => {
                    // Its synced writes cannot be restored: it must not be
                    // served as if they were there. Out of the index and
                    // out of the full report, the MDS re-replicates it.
                    tracing::error!(error = %e, "journal replay failed for a replica: quarantining it");
                    self.quarantine(r.chunk_id, r.version)?;
                    damaged.push(r.chunk_id);
                }
            }
        }
        journal.checkpoint().map_err(jerr)?;
        if applied > 0 {
            tracing::info!(journal = %journal.path().display(), applied, "journal replayed");
        }
        Ok(())
    }
}
