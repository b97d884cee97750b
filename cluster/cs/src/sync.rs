//! Group commit of syncs: concurrent requests to make files durable share
//! one disk flush.
//!
//! One thread owns the flushing. It takes every request waiting in its
//! queue, flushes once for all of them, answers them all, and starts again;
//! requests that arrive during a flush wait for the next one. So under load
//! the number of flushes follows the disk's speed, not the request rate: many
//! small objects never cost one flush each.
//!
//! What one flush does:
//! * one file waiting: `fdatasync` it, and `fsync` the directories whose
//!   entries changed (a created or renamed file);
//! * several files: one `syncfs(2)` of the filesystem that holds them, which
//!   writes back every dirty file and directory of it.
//!
//! Invariant: a request is answered `Ok` only after a flush that started
//! after the request was queued has completed, so everything written before
//! the request was made is on stable storage.

use std::{
    fs::File,
    io,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::{mpsc, oneshot};

struct SyncJob {
    file: Arc<File>,
    /// Directory whose entry for `file` must be durable too.
    dir: Option<PathBuf>,
    done: oneshot::Sender<io::Result<()>>,
}

/// Handle to the syncer thread; cloning shares the thread.
#[derive(Clone)]
pub struct Syncer {
    jobs: mpsc::UnboundedSender<SyncJob>,
    flushes: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    /// Held by the thread while it gathers and flushes a batch; tests hold
    /// it to make a batch deterministic.
    #[cfg_attr(not(test), allow(dead_code))]
    gate: Arc<Mutex<()>>,
}

impl Syncer {
    /// Starts the syncer for files on the filesystem of `fs_dir`. The thread
    /// ends when the last handle is dropped.
    pub fn start(fs_dir: &Path) -> io::Result<Syncer> {
        let fs_root = File::open(fs_dir)?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let flushes = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Mutex::new(()));
        let (counter, thread_gate) = (Arc::clone(&flushes), Arc::clone(&gate));
        std::thread::Builder::new()
            .name("cairn-cs-sync".into())
            .spawn(move || run(fs_root, queue, counter, thread_gate))?;
        Ok(Syncer {
            jobs,
            flushes,
            requests: Arc::new(AtomicU64::new(0)),
            gate,
        })
    }

    /// Waits until `file` (and `dir`'s entries, if given) are on stable
    /// storage.
    pub async fn sync(&self, file: Arc<File>, dir: Option<PathBuf>) -> io::Result<()> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(SyncJob { file, dir, done })
            .map_err(|_| io::Error::other("the syncer has stopped"))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        answer
            .await
            .map_err(|_| io::Error::other("the syncer stopped before answering"))?
    }

    /// Number of disk flushes done so far (each serves one or more syncs).
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Number of sync requests queued so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Holds the syncer between batches (tests only).
    #[cfg(test)]
    pub(crate) fn pause(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn run(
    fs_root: File,
    mut queue: mpsc::UnboundedReceiver<SyncJob>,
    flushes: Arc<AtomicU64>,
    gate: Arc<Mutex<()>>,
) {
    while let Some(first) = queue.blocking_recv() {
        let _batching = gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut batch = vec![first];
        while let Ok(job) = queue.try_recv() {
            batch.push(job);
        }
        let result = flush(&fs_root, &batch);
        flushes.fetch_add(1, Ordering::Relaxed);
        for job in batch {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(copy_error(e)),
            };
            // A requester that went away does not need its answer.
            let _ = job.done.send(answer);
        }
    }
}

fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

fn flush(fs_root: &File, batch: &[SyncJob]) -> io::Result<()> {
    let first = &batch[0].file;
    let one_file = batch.iter().all(|j| Arc::ptr_eq(&j.file, first));
    if !one_file {
        // SAFETY: syncfs only reads the descriptor, which `fs_root` keeps open.
        let rc = unsafe { libc::syncfs(fs_root.as_raw_fd()) };
        return if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
    }
    first.sync_data()?;
    let mut dirs: Vec<&PathBuf> = batch.iter().filter_map(|j| j.dir.as_ref()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes the entries of directory `dir` durable (an fsync of the directory
/// itself), at once and alone: for setup and recovery, not the data path.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), crate::error::CsError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| crate::error::CsError::io("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    // Holding the (std) gate across the waits below is the point: the
    // syncer thread must not gather a batch until every request is queued.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_queued_during_a_flush_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::start(dir.path()).unwrap();
        let paused = syncer.pause();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let f = Arc::new(File::create(dir.path().join(format!("f{i}"))).unwrap());
            let s = syncer.clone();
            tasks.push(tokio::spawn(async move { s.sync(f, None).await }));
        }
        // Every request is queued before the syncer may gather a batch.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while syncer.requests() < 64 {
            assert!(
                std::time::Instant::now() < deadline,
                "requests were not queued"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        drop(paused);
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(
            syncer.flushes() <= 2,
            "{} flushes for 64 syncs",
            syncer.flushes()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_syncs_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::start(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let path = dir.path().join(format!("f{i}"));
            let mut f = File::create(&path).unwrap();
            f.write_all(b"small object").unwrap();
            let f = Arc::new(f);
            let s = syncer.clone();
            let d = dir.path().to_path_buf();
            tasks.push(tokio::spawn(async move { s.sync(f, Some(d)).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let flushes = syncer.flushes();
        assert!(flushes >= 1);
        assert!(flushes < 64, "64 syncs took {flushes} flushes: no sharing");
    }

    #[tokio::test]
    async fn a_lone_sync_flushes_once() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::start(dir.path()).unwrap();
        let f = Arc::new(File::create(dir.path().join("f")).unwrap());
        syncer.sync(f, None).await.unwrap();
        assert_eq!(syncer.flushes(), 1);
    }
}
