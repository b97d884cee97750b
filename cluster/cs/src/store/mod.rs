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
    fs::{self, File},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use bytes::Bytes;
use cairn_common::units::format_size;

mod data;
mod lifecycle;
mod recovery;

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
    let mut file =
        cairn_common::host::open_lock_file(&path).map_err(|e| CsError::io("open", &path, e))?;
    match cairn_common::host::try_lock_exclusive(&file) {
        Ok(true) => {}
        Ok(false) => {
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
        Err(err) => return Err(CsError::io("lock", &path, err)),
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
    // SAFETY: statvfs is plain old data, for which all-zero bytes are a
    // valid value.
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
mod tests;
