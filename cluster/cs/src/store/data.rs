//! The data path of the store: writes (with their capacity reservation)
//! and reads of one replica, each under that replica's lock.

use super::*;

impl Store {
    /// Reserves `growth` bytes of the capacity and of the disk.
    pub(super) fn reserve(&self, growth: u64) -> Result<(), ReplicaError> {
        if growth == 0 {
            return Ok(());
        }
        let full = |detail: String| ReplicaError::Full {
            cs_id: self.cs_id,
            detail,
        };
        let before = self.used.fetch_add(growth, Ordering::Relaxed);
        if self.capacity > 0 && before + growth > self.capacity {
            self.used.fetch_sub(growth, Ordering::Relaxed);
            return Err(full(format!(
                "storing {} more would exceed its capacity of {} ({} used); add chunk servers \
                 or raise its capacity",
                format_size(growth),
                format_size(self.capacity),
                format_size(before)
            )));
        }
        match disk_space(&self.chunks_dir) {
            Ok((_, available)) if available < growth => {
                self.used.fetch_sub(growth, Ordering::Relaxed);
                Err(full(format!(
                    "its disk has {} free and this write needs {} more; free space on it or add \
                     chunk servers",
                    format_size(available),
                    format_size(growth)
                )))
            }
            // A failing statvfs is no reason to refuse: ENOSPC still is.
            _ => Ok(()),
        }
    }

    pub(super) fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Writes `pieces` (contiguous) at `offset` into the replica of
    /// `chunk_id` at `version`, creating it if `create` and it does not
    /// exist. Returns the replica's new length.
    pub fn write(
        &self,
        chunk_id: u64,
        version: u64,
        offset: u64,
        pieces: &[Bytes],
        create: bool,
    ) -> Result<u64, ReplicaError> {
        let _op = self.stats.begin();
        let len = self.write_inner(chunk_id, version, offset, pieces, create, true)?;
        let bytes: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        self.stats.write_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(len)
    }

    /// Counts one write call (a Write RPC may write in several batches).
    pub fn count_write_op(&self) {
        self.stats.write_ops.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn entry_for_write(
        &self,
        chunk_id: u64,
        version: u64,
        create: bool,
    ) -> Option<Arc<Replica>> {
        let mut index = self.index();
        if let Some(r) = index.get(&chunk_id) {
            return Some(Arc::clone(r));
        }
        if !create {
            return None;
        }
        let r = Arc::new(Replica {
            state: Mutex::new(ReplicaState {
                version,
                length: 0,
                file: None,
                on_disk: false,
                deleted: false,
                dir_dirty: false,
            }),
        });
        index.insert(chunk_id, Arc::clone(&r));
        Some(r)
    }

    pub(super) fn forget(&self, chunk_id: u64, replica: &Arc<Replica>) {
        let mut index = self.index();
        if index
            .get(&chunk_id)
            .is_some_and(|r| Arc::ptr_eq(r, replica))
        {
            index.remove(&chunk_id);
        }
    }

    pub(super) fn write_inner(
        &self,
        chunk_id: u64,
        version: u64,
        offset: u64,
        pieces: &[Bytes],
        create: bool,
        journal: bool,
    ) -> Result<u64, ReplicaError> {
        // An entry deleted under our feet is retried once: a creating write
        // then makes a new replica.
        for _ in 0..2 {
            let replica = self
                .entry_for_write(chunk_id, version, create)
                .ok_or_else(|| self.not_found(chunk_id, version))?;
            let mut state = replica.lock();
            if state.deleted {
                drop(state);
                self.forget(chunk_id, &replica);
                continue;
            }
            let mut created = false;
            if !state.on_disk {
                let path = replica_path(&self.chunks_dir, chunk_id, version);
                if let Err(e) = self.reserve(HEADER_SIZE) {
                    state.deleted = true;
                    drop(state);
                    self.forget(chunk_id, &replica);
                    return Err(e);
                }
                match ReplicaFile::create(&path, chunk_id, version) {
                    Ok(file) => {
                        state.file = Some(file);
                        // A new replica counts against the limit like a
                        // reopened one: many small objects must not pile
                        // up descriptors until the process runs out.
                        if self.open_files.fetch_add(1, Ordering::Relaxed) + 1 > MAX_OPEN_FILES {
                            self.close_idle_files();
                        }
                        state.on_disk = true;
                        state.dir_dirty = true;
                        created = true;
                    }
                    Err(f) => {
                        self.release(HEADER_SIZE);
                        state.deleted = true;
                        drop(state);
                        self.forget(chunk_id, &replica);
                        return Err(self.fault(chunk_id, version, f));
                    }
                }
            }
            self.check_version(&state, chunk_id, version)?;
            let old_len = {
                let file = self.open_file(&mut state, chunk_id)?;
                file.length()
            };
            let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            let growth = offset.saturating_add(total).saturating_sub(old_len);
            let growth = if total == 0 { 0 } else { growth };
            self.reserve(growth)?;
            let file = self.open_file(&mut state, chunk_id)?;
            // Replay (no journaling) may find the bytes on disk already:
            // it verifies whole blocks rather than patch their CRCs.
            let new_len = match file.write_at(offset, pieces, !journal) {
                Ok(l) => l,
                Err(f) => {
                    self.release(growth);
                    return Err(self.fault(chunk_id, version, f));
                }
            };
            state.length = new_len;
            // A call that only checked the replica changed nothing.
            if journal && (created || total > 0) {
                if let Some(j) = &self.journal {
                    j.append_write(created, chunk_id, version, offset, pieces)
                        .map_err(|e| {
                            ReplicaError::io(self.cs_id, chunk_id, "journal write to", e)
                        })?;
                }
            }
            return Ok(new_len);
        }
        Err(self.not_found(chunk_id, version))
    }

    /// Reads up to `len` bytes at `offset`, verified; only bytes that exist
    /// are returned.
    pub fn read(
        &self,
        chunk_id: u64,
        version: u64,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ReplicaError> {
        let _op = self.stats.begin();
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let mut state = replica.lock();
        self.check_version(&state, chunk_id, version)?;
        let file = self.open_file(&mut state, chunk_id)?;
        let data = file
            .read_at(offset, len)
            .map_err(|f| self.fault(chunk_id, version, f))?;
        self.stats
            .read_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data)
    }

    /// Verifies up to `len` bytes at `offset` of the replica against their
    /// CRCs (for the scrubber: not counted as client reads). Returns how
    /// many bytes were checked; 0 at the end of the data.
    pub fn verify(
        &self,
        chunk_id: u64,
        version: u64,
        offset: u64,
        len: u64,
    ) -> Result<u64, ReplicaError> {
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let mut state = replica.lock();
        self.check_version(&state, chunk_id, version)?;
        let file = self.open_file(&mut state, chunk_id)?;
        let data = file
            .read_at(offset, len)
            .map_err(|f| self.fault(chunk_id, version, f))?;
        Ok(data.len() as u64)
    }

    /// Reads up to `len` bytes at `offset` for a replica copy, verified,
    /// with the stored CRC32C of each 64 KiB block returned. `offset` and
    /// `len` are multiples of the block size, so the data starts on a block
    /// and ends on one or at the end of the replica: the CRCs describe it
    /// exactly.
    pub fn read_for_copy(
        &self,
        chunk_id: u64,
        version: u64,
        offset: u64,
        len: u64,
    ) -> Result<(Bytes, Vec<u32>), ReplicaError> {
        if !offset.is_multiple_of(BLOCK) || !len.is_multiple_of(BLOCK) {
            return Err(ReplicaError::Invalid(format!(
                "a copy reads whole {BLOCK}-byte blocks: offset {offset}, length {len}"
            )));
        }
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let mut state = replica.lock();
        self.check_version(&state, chunk_id, version)?;
        let file = self.open_file(&mut state, chunk_id)?;
        let data = file
            .read_at(offset, len)
            .map_err(|f| self.fault(chunk_id, version, f))?;
        let first = (offset / BLOCK) as usize;
        let crcs = file.header().crcs[first..first + block_count(data.len() as u64)].to_vec();
        self.stats
            .read_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok((data, crcs))
    }

    /// The stored CRC32C of every block of a replica.
    pub fn block_crcs(&self, chunk_id: u64, version: u64) -> Result<Vec<u32>, ReplicaError> {
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let mut state = replica.lock();
        self.check_version(&state, chunk_id, version)?;
        let file = self.open_file(&mut state, chunk_id)?;
        Ok(file.header().crcs[..block_count(file.length())].to_vec())
    }

    /// The version of the replica of `chunk_id` held, if any.
    pub fn version_of(&self, chunk_id: u64) -> Option<u64> {
        let replica = self.lookup(chunk_id)?;
        let state = replica.lock();
        (state.on_disk && !state.deleted).then_some(state.version)
    }

    /// Counts one read call.
    pub fn count_read_op(&self) {
        self.stats.read_ops.fetch_add(1, Ordering::Relaxed);
    }

    /// The length of the replica at `version`.
    pub fn length(&self, chunk_id: u64, version: u64) -> Result<u64, ReplicaError> {
        let replica = self
            .lookup(chunk_id)
            .ok_or_else(|| self.not_found(chunk_id, version))?;
        let mut state = replica.lock();
        self.check_version(&state, chunk_id, version)?;
        Ok(self.open_file(&mut state, chunk_id)?.length())
    }
}
