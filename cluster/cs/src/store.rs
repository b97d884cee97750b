//! The replicas of one chunk server: an index of what is on disk, the
//! operations on replicas, capacity accounting, durability.
//!
//! # Invariants
//!
//! * At most one replica per chunk id: a replica of a chunk at another
//!   version is an error for writes and reads, never silently replaced.
//! * One operation at a time per replica (each replica's state sits behind
//!   its own mutex); operations on different replicas run in parallel. The
//!   index's lock is never held while a replica's lock is awaited.
//! * `used` is the sum over replicas of header + data length. A write that
//!   grows a replica reserves its growth first; when the capacity or the
//!   disk's free space cannot take it, nothing is written.
//! * With a journal, every write, set-version and delete is appended to it
//!   while the replica's lock is held (see [`crate::journal`]).
//! * Creation and set-version are durable in the directory when they are
//!   acknowledged as synced (directory fsync or syncfs); a delete is not
//!   flushed at once: a replica that reappears after a crash is in the full
//!   report of the next start, and the MDS orders it deleted again.
//!
//! Methods without `async` block on disk I/O: call them from
//! `spawn_blocking`.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{Read, Seek, Write},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use bytes::Bytes;
use cairn_common::units::format_size;

use crate::{
    error::{CsError, ReplicaError},
    identity::{create_chunk_dirs, CsIdentity, CHUNKS_DIR, LOCK_FILE},
    journal::{Journal, RecordKind},
    replica::{block_count, Fault, ReplicaFile, BLOCK, HEADER_SIZE},
    sync::Syncer,
};

/// Replica files kept open at most; beyond it idle ones are closed.
const MAX_OPEN_FILES: usize = 1024;

/// A replica as the index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaInfo {
    pub chunk_id: u64,
    pub version: u64,
    pub length: u64,
}

/// Counters since start, for heartbeats.
#[derive(Debug, Default)]
pub struct Stats {
    pub read_bytes: AtomicU64,
    pub write_bytes: AtomicU64,
    pub read_ops: AtomicU64,
    pub write_ops: AtomicU64,
    /// Moving average of sync latency in microseconds (see
    /// [`Stats::record_sync`]).
    sync_latency_us: AtomicU64,
    /// The longest sync since the last heartbeat took it, in microseconds.
    sync_latency_max_us: AtomicU64,
    /// Store operations in progress, and the most since the last heartbeat.
    in_flight: AtomicU64,
    in_flight_peak: AtomicU64,
}

/// One store operation in progress: counted in the queue depth while it lives.
pub struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Weight of the newest sample in the sync latency average: about the last
/// ten syncs count, so a disk that slows down shows within seconds.
const LATENCY_WEIGHT: f64 = 0.1;

impl Stats {
    /// Folds one sync's duration into the moving average.
    pub fn record_sync(&self, took: std::time::Duration) {
        let sample = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.sync_latency_max_us
            .fetch_max(sample, Ordering::Relaxed);
        let _ = self
            .sync_latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old as f64 * (1.0 - LATENCY_WEIGHT) + sample as f64 * LATENCY_WEIGHT) as u64
                })
            });
    }

    /// The moving average of sync latency, in milliseconds (0: no sync yet).
    pub fn latency_ms(&self) -> f64 {
        self.sync_latency_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The longest sync since the last call, in milliseconds.
    pub fn take_latency_max_ms(&self) -> f64 {
        self.sync_latency_max_us.swap(0, Ordering::Relaxed) as f64 / 1000.0
    }

    /// Counts a store operation until the guard drops.
    pub fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.in_flight_peak.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// The most operations in progress at once since the last call.
    pub fn take_queue_depth(&self) -> u64 {
        let now = self.in_flight.load(Ordering::Relaxed);
        self.in_flight_peak.swap(now, Ordering::Relaxed).max(now)
    }
}

/// Space figures for heartbeats.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    pub capacity: u64,
    pub used: u64,
    pub free: u64,
}

struct ReplicaState {
    version: u64,
    length: u64,
    /// Open lazily; closed again when too many are open.
    file: Option<ReplicaFile>,
    /// The file does not exist yet (an entry made by a creating write).
    on_disk: bool,
    /// Removed from the index: the operation that holds this must not use it.
    deleted: bool,
    /// Created since the last sync: its directory entry needs a flush too.
    dir_dirty: bool,
}

struct Replica {
    state: Mutex<ReplicaState>,
}

impl Replica {
    fn lock(&self) -> MutexGuard<'_, ReplicaState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// All replicas of one chunk server.
pub struct Store {
    cs_id: u32,
    chunks_dir: PathBuf,
    capacity: u64,
    replicas: Mutex<HashMap<u64, Arc<Replica>>>,
    used: AtomicU64,
    open_files: AtomicUsize,
    syncer: Syncer,
    journal: Option<Journal>,
    pub stats: Stats,
    /// A replica left the index other than by a delete order (quarantine):
    /// the MDS needs a full report again.
    report_needed: AtomicBool,
    /// Holds the directory's `flock` for as long as the store lives.
    _lock: File,
}

/// Where the replica of `chunk_id` at `version` lives under `chunks_dir`.
pub fn replica_path(chunks_dir: &Path, chunk_id: u64, version: u64) -> PathBuf {
    chunks_dir
        .join(format!("{:02x}", chunk_id % 256))
        .join(format!("{chunk_id:016x}.{version}"))
}

/// Parses a replica file name `<16 hex>.<decimal>`.
fn parse_replica_name(name: &str) -> Option<(u64, u64)> {
    let (id, version) = name.split_once('.')?;
    if id.len() != 16 || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u64::from_str_radix(id, 16).ok()?, version.parse().ok()?))
}

/// Takes the directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, CsError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| CsError::io("open", &path, e))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(CsError::InUse {
                dir: dir.to_path_buf(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            });
        }
        return Err(CsError::io("lock", &path, err));
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| CsError::io("write", &path, e))?;
    Ok(file)
}

fn statvfs(path: &Path) -> std::io::Result<libc::statvfs> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("path has a NUL byte"))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

/// (total, available to this process) bytes of the filesystem of `path`.
fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = statvfs(path)?;
    let frsize = st.f_frsize as u64;
    Ok((
        (st.f_blocks as u64).saturating_mul(frsize),
        (st.f_bavail as u64).saturating_mul(frsize),
    ))
}

impl Store {
    /// Opens the replicas of the CS directory `dir` (blocking): takes the
    /// directory's lock, indexes the replica files, replays the journal.
    pub fn open(dir: &Path, identity: &CsIdentity) -> Result<Store, CsError> {
        let lock = lock_dir(dir)?;
        create_chunk_dirs(dir)?;
        let chunks_dir = dir.join(CHUNKS_DIR);
        let syncer =
            Syncer::start(&chunks_dir).map_err(|e| CsError::io("start the syncer of", dir, e))?;
        let journal = match &identity.journal {
            Some(j) => Some(Journal::open(&j.path, &chunks_dir)?),
            None => None,
        };
        let store = Store {
            cs_id: identity.cs_id,
            chunks_dir,
            capacity: identity.capacity,
            replicas: Mutex::new(HashMap::new()),
            used: AtomicU64::new(0),
            open_files: AtomicUsize::new(0),
            syncer,
            journal,
            stats: Stats::default(),
            report_needed: AtomicBool::new(false),
            _lock: lock,
        };
        store.scan()?;
        if store.journal.is_some() {
            store.replay()?;
        }
        Ok(store)
    }

    pub fn cs_id(&self) -> u32 {
        self.cs_id
    }

    pub fn has_journal(&self) -> bool {
        self.journal.is_some()
    }

    /// Disk flushes of replica files so far (each may serve many syncs).
    pub fn flushes(&self) -> u64 {
        self.syncer.flushes()
    }

    /// Journal flushes so far (0 without a journal).
    pub fn journal_flushes(&self) -> u64 {
        self.journal.as_ref().map_or(0, Journal::flushes)
    }

    fn index(&self) -> MutexGuard<'_, HashMap<u64, Arc<Replica>>> {
        self.replicas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Builds the index from the replica files on disk.
    fn scan(&self) -> Result<(), CsError> {
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
    fn replay(&self) -> Result<(), CsError> {
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

    /// Whether the MDS should get a full replica report (and clears it).
    pub fn take_report_needed(&self) -> bool {
        self.report_needed.swap(false, Ordering::Relaxed)
    }

    /// Takes a replica out of service: renamed to `<name>.damaged`, which
    /// the index ignores, kept for an operator to inspect. The next
    /// heartbeat carries a full report without it.
    pub fn quarantine(&self, chunk_id: u64, version: u64) -> Result<(), CsError> {
        self.report_needed.store(true, Ordering::Relaxed);
        if let Some(replica) = self.lookup(chunk_id) {
            let mut state = replica.lock();
            if state.file.take().is_some() {
                self.open_files.fetch_sub(1, Ordering::Relaxed);
            }
            state.deleted = true;
            self.release(HEADER_SIZE + state.length);
            drop(state);
            self.forget(chunk_id, &replica);
        }
        let path = replica_path(&self.chunks_dir, chunk_id, version);
        let mut aside = path.clone().into_os_string();
        aside.push(".damaged");
        match fs::rename(&path, &aside) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CsError::io("quarantine", path, e)),
        }
    }

    fn lookup(&self, chunk_id: u64) -> Option<Arc<Replica>> {
        self.index().get(&chunk_id).cloned()
    }

    fn not_found(&self, chunk_id: u64, version: u64) -> ReplicaError {
        ReplicaError::NotFound {
            cs_id: self.cs_id,
            chunk_id,
            version,
        }
    }

    fn fault(&self, chunk_id: u64, version: u64, fault: Fault) -> ReplicaError {
        match fault {
            Fault::Io(what, source) => ReplicaError::io(self.cs_id, chunk_id, what, source),
            Fault::Corrupt(detail) => ReplicaError::Corrupt {
                cs_id: self.cs_id,
                chunk_id,
                version,
                detail,
            },
            Fault::Invalid(msg) => ReplicaError::Invalid(msg),
        }
    }

    /// Checks that `state` is the live replica at `version`.
    fn check_version(
        &self,
        state: &ReplicaState,
        chunk_id: u64,
        version: u64,
    ) -> Result<(), ReplicaError> {
        if state.deleted || !state.on_disk {
            return Err(self.not_found(chunk_id, version));
        }
        if state.version != version {
            return Err(ReplicaError::VersionMismatch {
                cs_id: self.cs_id,
                chunk_id,
                have: state.version,
                want: version,
            });
        }
        Ok(())
    }

    /// The open file of a replica, opening it if needed.
    fn open_file<'a>(
        &self,
        state: &'a mut ReplicaState,
        chunk_id: u64,
    ) -> Result<&'a mut ReplicaFile, ReplicaError> {
        if state.file.is_none() {
            let path = replica_path(&self.chunks_dir, chunk_id, state.version);
            let file = ReplicaFile::open(&path, chunk_id, state.version)
                .map_err(|f| self.fault(chunk_id, state.version, f))?;
            state.length = file.length();
            state.file = Some(file);
            if self.open_files.fetch_add(1, Ordering::Relaxed) + 1 > MAX_OPEN_FILES {
                self.close_idle_files();
            }
        }
        state
            .file
            .as_mut()
            .ok_or_else(|| ReplicaError::Invalid("replica file vanished".into()))
    }

    /// Closes the files of replicas nobody is using, down to 3/4 of the
    /// limit. Headers are written with every change, so closing loses
    /// nothing; a pending sync keeps its own handle on the file.
    fn close_idle_files(&self) {
        let index = self.index();
        for replica in index.values() {
            if self.open_files.load(Ordering::Relaxed) <= MAX_OPEN_FILES * 3 / 4 {
                break;
            }
            if let Ok(mut state) = replica.state.try_lock() {
                if state.file.take().is_some() {
                    self.open_files.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Reserves `growth` bytes of the capacity and of the disk.
    fn reserve(&self, growth: u64) -> Result<(), ReplicaError> {
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

    fn release(&self, bytes: u64) {
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

    fn entry_for_write(&self, chunk_id: u64, version: u64, create: bool) -> Option<Arc<Replica>> {
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

    fn forget(&self, chunk_id: u64, replica: &Arc<Replica>) {
        let mut index = self.index();
        if index
            .get(&chunk_id)
            .is_some_and(|r| Arc::ptr_eq(r, replica))
        {
            index.remove(&chunk_id);
        }
    }

    fn write_inner(
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
            let new_len = match file.write_at(offset, pieces) {
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

    async fn sync_inner(&self, chunk_id: u64, version: u64) -> Result<(), ReplicaError> {
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

    /// Every replica held, for the full report to the MDS.
    pub fn list(&self) -> Vec<ReplicaInfo> {
        let replicas: Vec<(u64, Arc<Replica>)> = self
            .index()
            .iter()
            .map(|(&id, r)| (id, Arc::clone(r)))
            .collect();
        replicas
            .into_iter()
            .filter_map(|(chunk_id, r)| {
                let s = r.lock();
                (s.on_disk && !s.deleted).then_some(ReplicaInfo {
                    chunk_id,
                    version: s.version,
                    length: s.length,
                })
            })
            .collect()
    }

    pub fn replica_count(&self) -> u64 {
        self.index().len() as u64
    }

    /// Capacity, use and free space as the MDS should see them.
    pub fn space(&self) -> Space {
        let used = self.used.load(Ordering::Relaxed);
        let (total, available) = disk_space(&self.chunks_dir).unwrap_or((0, 0));
        let capacity = if self.capacity > 0 {
            self.capacity
        } else {
            total
        };
        let free = if self.capacity > 0 {
            available.min(self.capacity.saturating_sub(used))
        } else {
            available
        };
        Space {
            capacity,
            used,
            free,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::write_identity;

    #[test]
    fn queue_depth_is_the_peak_since_the_last_heartbeat_and_max_latency_resets() {
        let stats = Stats::default();
        {
            let _a = stats.begin();
            let _b = stats.begin();
            let _c = stats.begin();
        }
        let _held = stats.begin();
        assert_eq!(stats.take_queue_depth(), 3);
        // The next interval starts from what is still in progress.
        assert_eq!(stats.take_queue_depth(), 1);
        stats.record_sync(std::time::Duration::from_millis(30));
        stats.record_sync(std::time::Duration::from_millis(10));
        assert!((stats.take_latency_max_ms() - 30.0).abs() < 1e-9);
        assert_eq!(stats.take_latency_max_ms(), 0.0);
    }

    fn identity(capacity: u64) -> CsIdentity {
        CsIdentity {
            cluster_name: "c".into(),
            cluster_id: "id".into(),
            cs_id: 3,
            host: "h".into(),
            tier: 0,
            capacity,
            journal: None,
        }
    }

    fn open(dir: &Path, id: &CsIdentity) -> Store {
        if CsIdentity::load(dir).is_err() {
            write_identity(dir, id).unwrap();
        }
        Store::open(dir, id).unwrap()
    }

    /// Creating many more replicas than the open-file limit keeps the
    /// descriptors bounded, and every replica still reads back.
    #[test]
    fn creating_many_replicas_keeps_open_files_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &identity(0));
        let n = (MAX_OPEN_FILES * 2) as u64;
        for chunk in 1..=n {
            store
                .write(
                    chunk,
                    1,
                    0,
                    &[Bytes::from(chunk.to_le_bytes().to_vec())],
                    true,
                )
                .unwrap();
            assert!(
                store.open_files.load(Ordering::Relaxed) <= MAX_OPEN_FILES,
                "{} replica files open after {chunk} creations",
                store.open_files.load(Ordering::Relaxed)
            );
        }
        for chunk in [1, n / 2, n] {
            let got = store.read(chunk, 1, 0, 8).unwrap();
            assert_eq!(&got[..], &chunk.to_le_bytes());
        }
    }

    /// Random operations against a model (chunk -> version, bytes), with
    /// reopens along the way, with and without a journal. Prints its seed;
    /// `CAIRN_SEED=<seed>` replays a run.
    #[test]
    fn random_operations_match_a_model() {
        use rand::{Rng, SeedableRng};
        let seed: u64 = std::env::var("CAIRN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| rand::rng().random());
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for with_journal in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (csdir, id) = if with_journal {
                journaled(dir.path())
            } else {
                (dir.path().to_path_buf(), identity(0))
            };
            let mut store = Some(open(&csdir, &id));
            let mut model: HashMap<u64, (u64, Vec<u8>)> = HashMap::new();
            for step in 0..400 {
                let st = store.as_ref().unwrap();
                let chunk = rng.random_range(0..6u64);
                let ctx = format!("seed {seed} journal {with_journal} step {step} chunk {chunk}");
                match rng.random_range(0..10) {
                    0..=4 => {
                        let version = match model.get(&chunk) {
                            Some((v, _)) if rng.random_bool(0.9) => *v,
                            _ => rng.random_range(1..4),
                        };
                        let create = rng.random_bool(0.5);
                        let offset = rng.random_range(0..300_000u64);
                        let len = rng.random_range(0..150_000usize);
                        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                        let got =
                            st.write(chunk, version, offset, &[Bytes::from(data.clone())], create);
                        match model.get_mut(&chunk) {
                            Some((v, bytes)) if *v == version => {
                                let new_len = got.expect(&ctx);
                                if len > 0 {
                                    let end = offset as usize + len;
                                    if bytes.len() < end {
                                        bytes.resize(end, 0);
                                    }
                                    bytes[offset as usize..end].copy_from_slice(&data);
                                }
                                assert_eq!(new_len, bytes.len() as u64, "{ctx}");
                            }
                            Some(_) => assert!(
                                matches!(got, Err(ReplicaError::VersionMismatch { .. })),
                                "{ctx}: {got:?}"
                            ),
                            None if create => {
                                got.expect(&ctx);
                                let mut bytes = Vec::new();
                                if len > 0 {
                                    bytes.resize(offset as usize + len, 0);
                                    bytes[offset as usize..].copy_from_slice(&data);
                                }
                                model.insert(chunk, (version, bytes));
                            }
                            None => assert!(
                                matches!(got, Err(ReplicaError::NotFound { .. })),
                                "{ctx}: {got:?}"
                            ),
                        }
                    }
                    5 => {
                        let got = st.delete(chunk, 0);
                        assert!(got.is_ok(), "{ctx}: {got:?}");
                        model.remove(&chunk);
                    }
                    6 => {
                        if let Some((v, _)) = model.get_mut(&chunk) {
                            let new = *v + rng.random_range(1..3);
                            st.set_version(chunk, *v, new).expect(&ctx);
                            *v = new;
                        }
                    }
                    7 => {
                        // A crash-free restart: everything must come back.
                        drop(store.take());
                        store = Some(open(&csdir, &id));
                    }
                    _ => {
                        let version = model.get(&chunk).map_or(1, |(v, _)| *v);
                        let offset = rng.random_range(0..400_000u64);
                        let len = rng.random_range(0..200_000u64);
                        let got = st.read(chunk, version, offset, len);
                        match model.get(&chunk) {
                            Some((_, bytes)) => {
                                let from = (offset as usize).min(bytes.len());
                                let to = ((offset + len) as usize).min(bytes.len());
                                assert!(got.expect(&ctx)[..] == bytes[from..to], "{ctx}");
                            }
                            None => assert!(got.is_err(), "{ctx}"),
                        }
                    }
                }
                let st = store.as_ref().unwrap();
                let mut listed: Vec<(u64, u64, u64)> = st
                    .list()
                    .iter()
                    .map(|r| (r.chunk_id, r.version, r.length))
                    .collect();
                listed.sort();
                let mut expected: Vec<(u64, u64, u64)> = model
                    .iter()
                    .map(|(&c, (v, b))| (c, *v, b.len() as u64))
                    .collect();
                expected.sort();
                assert_eq!(listed, expected, "{ctx}");
                let used: u64 = expected.iter().map(|e| HEADER_SIZE + e.2).sum();
                assert_eq!(st.space().used, used, "{ctx}");
            }
        }
    }

    #[test]
    fn create_write_read_rename_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &identity(0));
        let b = |s: &'static [u8]| [Bytes::from_static(s)];
        assert!(matches!(
            store.write(9, 1, 0, &b(b"x"), false),
            Err(ReplicaError::NotFound { .. })
        ));
        assert_eq!(store.write(9, 1, 0, &b(b"hello"), true).unwrap(), 5);
        assert!(matches!(
            store.write(9, 2, 0, &b(b"x"), true),
            Err(ReplicaError::VersionMismatch { have: 1, .. })
        ));
        store.set_version(9, 1, 2).unwrap();
        store.set_version(9, 1, 2).unwrap(); // idempotent
        assert!(matches!(
            store.read(9, 1, 0, 5),
            Err(ReplicaError::VersionMismatch { .. })
        ));
        assert_eq!(store.read(9, 2, 0, 100).unwrap().as_ref(), b"hello");
        assert!(replica_path(&dir.path().join(CHUNKS_DIR), 9, 2).exists());
        assert_eq!(
            store.list(),
            [ReplicaInfo {
                chunk_id: 9,
                version: 2,
                length: 5
            }]
        );
        drop(store);

        // The index is rebuilt from disk.
        let store = open(dir.path(), &identity(0));
        assert_eq!(store.read(9, 2, 1, 3).unwrap().as_ref(), b"ell");
        store.delete(9, 2).unwrap();
        store.delete(9, 2).unwrap();
        assert!(store.list().is_empty());
        assert!(!replica_path(&dir.path().join(CHUNKS_DIR), 9, 2).exists());
    }

    #[test]
    fn a_second_open_of_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(dir.path(), &identity(0));
        match Store::open(dir.path(), &identity(0)) {
            Err(CsError::InUse { holder, .. }) => {
                assert!(holder.contains(&std::process::id().to_string()))
            }
            Err(e) => panic!("expected InUse, got {e}"),
            Ok(_) => panic!("expected InUse, got a second store"),
        }
    }

    #[test]
    fn capacity_refuses_growth_and_keeps_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &identity(HEADER_SIZE + 1000));
        store
            .write(1, 1, 0, &[Bytes::from(vec![1u8; 900])], true)
            .unwrap();
        let err = store
            .write(1, 1, 900, &[Bytes::from(vec![2u8; 200])], false)
            .unwrap_err();
        assert!(matches!(err, ReplicaError::Full { cs_id: 3, .. }), "{err}");
        assert!(
            err.to_string().starts_with("chunk server 3 is full"),
            "{err}"
        );
        // Overwriting inside the replica needs no space and still works.
        store
            .write(1, 1, 0, &[Bytes::from(vec![3u8; 10])], false)
            .unwrap();
        let data = store.read(1, 1, 0, 2000).unwrap();
        assert_eq!(data.len(), 900);
        assert_eq!(&data[..10], &[3u8; 10]);
        assert!(data[10..].iter().all(|&b| b == 1));
        // A new replica does not fit either.
        assert!(matches!(
            store.write(2, 1, 0, &[Bytes::from(vec![1u8; 200])], true),
            Err(ReplicaError::Full { .. })
        ));
        assert_eq!(store.list().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_synced_writes_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(dir.path(), &identity(0)));
        let writes = (0..64u64).map(|i| {
            let store = Arc::clone(&store);
            async move {
                let s = Arc::clone(&store);
                tokio::task::spawn_blocking(move || {
                    s.write(i, 1, 0, &[Bytes::from(format!("object {i}"))], true)
                })
                .await
                .unwrap()?;
                store.sync(i, 1).await
            }
        });
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
        let flushes = store.flushes();
        assert!(
            (1..64).contains(&flushes),
            "64 synced writes took {flushes} flushes"
        );
        for i in 0..64u64 {
            assert_eq!(
                store.read(i, 1, 0, 100).unwrap(),
                Bytes::from(format!("object {i}"))
            );
        }
    }

    /// A CS directory `cs` with a journal, beside it in `dir`.
    fn journaled(dir: &Path) -> (PathBuf, CsIdentity) {
        let jpath = dir.join("journal");
        Journal::create(&jpath, crate::journal::MIN_SIZE).unwrap();
        let mut id = identity(0);
        id.journal = Some(crate::identity::JournalConfig {
            path: jpath,
            size: crate::journal::MIN_SIZE,
        });
        let csdir = dir.join("cs");
        fs::create_dir(&csdir).unwrap();
        (csdir, id)
    }

    #[tokio::test]
    async fn with_a_journal_synced_writes_flush_the_journal_not_the_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let (csdir, id) = journaled(dir.path());
        let store = open(&csdir, &id);
        for i in 0..5 {
            store
                .write(i, 1, 0, &[Bytes::from_static(b"data")], true)
                .unwrap();
            store.sync(i, 1).await.unwrap();
        }
        assert_eq!(store.flushes(), 0);
        assert_eq!(store.journal_flushes(), 5);
    }

    #[test]
    fn a_replica_that_cannot_be_replayed_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let (csdir, id) = journaled(dir.path());
        let store = open(&csdir, &id);
        store
            .write(1, 1, 0, &[Bytes::from_static(b"precious")], true)
            .unwrap();
        store
            .write(2, 1, 0, &[Bytes::from_static(b"fine")], true)
            .unwrap();
        drop(store);
        let path = replica_path(&csdir.join(CHUNKS_DIR), 1, 1);
        let mut raw = fs::read(&path).unwrap();
        raw[100] ^= 0xff; // the header's CRC table
        fs::write(&path, raw).unwrap();
        let store = open(&csdir, &id);
        assert!(matches!(
            store.read(1, 1, 0, 10),
            Err(ReplicaError::NotFound { .. })
        ));
        assert!(csdir
            .join(CHUNKS_DIR)
            .join("01")
            .join("0000000000000001.1.damaged")
            .exists());
        assert_eq!(store.read(2, 1, 0, 10).unwrap().as_ref(), b"fine");
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn journal_replay_restores_unsynced_replica_content() {
        let dir = tempfile::tempdir().unwrap();
        let (csdir, id) = journaled(dir.path());
        let store = open(&csdir, &id);
        store
            .write(1, 1, 0, &[Bytes::from_static(b"journaled data")], true)
            .unwrap();
        store
            .write(2, 1, 0, &[Bytes::from_static(b"gone")], true)
            .unwrap();
        store.delete(2, 1).unwrap();
        store
            .write(3, 1, 0, &[Bytes::from_static(b"renamed")], true)
            .unwrap();
        store.set_version(3, 1, 2).unwrap();
        drop(store);
        // Simulate a crash that lost replica 1's file (created after the
        // last checkpoint, never synced): the journal brings it back whole.
        fs::remove_file(replica_path(&csdir.join(CHUNKS_DIR), 1, 1)).unwrap();
        let store = open(&csdir, &id);
        assert_eq!(
            store.read(1, 1, 0, 100).unwrap().as_ref(),
            b"journaled data"
        );
        assert!(
            store.read(2, 1, 0, 100).is_err(),
            "a deleted replica stays deleted"
        );
        assert_eq!(store.read(3, 2, 0, 100).unwrap().as_ref(), b"renamed");
        assert!(!replica_path(&csdir.join(CHUNKS_DIR), 3, 1).exists());
    }
}
