//! A replica's durability and identity: sync to stable storage, a new
//! version (the rename after a dropped replica), deletion. Each keeps the
//! journal and the directory in step as the module invariants say.

use super::*;

impl Store {
    /// Makes the replica durable: everything written to it before the call
    /// is on stable storage when this returns `Ok`.
    pub async fn sync(&self, chunk_id: u64, version: u64) -> Result<(), ReplicaError> {
        let started = std::time::Instant::now();
        let _op = self.stats.begin();
        let result = self.sync_inner(chunk_id, version).await;
        if result.is_ok() {
            self.stats.record_sync(started.elapsed());
        }
        result
    }

    pub(super) async fn sync_inner(&self, chunk_id: u64, version: u64) -> Result<(), ReplicaError> {
        let io_err = |e| ReplicaError::io(self.cs_id, chunk_id, "sync", e);
        if let Some(j) = &self.journal {
            // Every write to the replica is in the journal already.
            self.length(chunk_id, version)?;
            return j.sync().await.map_err(io_err);
        }
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let (file, dir) = {
            let mut state = replica.lock();
            self.check_version(&state, chunk_id, version)?;
            let file = Arc::clone(self.open_file(&mut state, chunk_id)?.file());
            let dir = state.dir_dirty.then(|| {
                replica_path(&self.chunks_dir, chunk_id, version)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| self.chunks_dir.clone())
            });
            (file, dir)
        };
        let had_dir = dir.is_some();
        self.syncer.sync(file, dir).await.map_err(io_err)?;
        if had_dir {
            replica.lock().dir_dirty = false;
        }
        Ok(())
    }

    /// Renames the replica from `old` to `new` version, durably. Done
    /// already (the replica is at `new`) is success.
    pub fn set_version(&self, chunk_id: u64, old: u64, new: u64) -> Result<(), ReplicaError> {
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, old))?;
        let mut state = replica.lock();
        if state.on_disk && !state.deleted && state.version == new {
            return Ok(());
        }
        self.check_version(&state, chunk_id, old)?;
        if new < old {
            return Err(ReplicaError::Invalid(format!(
                "chunk versions only grow: cannot go from {old} to {new}"
            )));
        }
        let io = |what, e| ReplicaError::io(self.cs_id, chunk_id, what, e);
        let file = self.open_file(&mut state, chunk_id)?;
        // Writes journaled under the old name are retired by the rename:
        // they must be in the file on disk first.
        file.file().sync_data().map_err(|e| io("sync", e))?;
        let from = replica_path(&self.chunks_dir, chunk_id, old);
        let to = replica_path(&self.chunks_dir, chunk_id, new);
        fs::rename(&from, &to).map_err(|e| io("rename", e))?;
        if let Some(dir) = to.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("sync the directory of", e))?;
        }
        // The name is the authority; a header left behind is repaired on open.
        if let Err(f) = file.set_version(new) {
            tracing::warn!(chunk_id, new, error = ?f, "could not update the replica header after renaming it");
        }
        state.version = new;
        state.dir_dirty = false;
        if let Some(j) = &self.journal {
            j.append_event(RecordKind::SetVersion, chunk_id, old, new)
                .map_err(|e| io("journal the version change of", e))?;
        }
        Ok(())
    }

    /// Deletes the replica of `chunk_id` if it is at `version` (0: any).
    /// Deleting a replica that is not there succeeds; one at another
    /// version is an error.
    pub fn delete(&self, chunk_id: u64, version: u64) -> Result<(), ReplicaError> {
        let Some(replica) = self.lookup(chunk_id) else {
            return Ok(());
        };
        let mut state = replica.lock();
        if state.deleted || !state.on_disk {
            return Ok(());
        }
        if version != 0 && state.version != version {
            return Err(ReplicaError::VersionMismatch {
                cs_id: self.cs_id,
                chunk_id,
                have: state.version,
                want: version,
            });
        }
        let io = |what, e| ReplicaError::io(self.cs_id, chunk_id, what, e);
        if let Some(j) = &self.journal {
            j.append_event(RecordKind::Delete, chunk_id, state.version, 0)
                .map_err(|e| io("journal the deletion of", e))?;
        }
        let path = replica_path(&self.chunks_dir, chunk_id, state.version);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("delete", e)),
        }
        if state.file.take().is_some() {
            self.open_files.fetch_sub(1, Ordering::Relaxed);
        }
        state.deleted = true;
        self.release(HEADER_SIZE + state.length);
        drop(state);
        self.forget(chunk_id, &replica);
        Ok(())
    }
}
