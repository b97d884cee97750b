//! Shared by the kernel-mount tests: mounting a backend on a temporary
//! directory, an in-process cluster (MDS + three chunk servers on
//! loopback), and the scenarios, each of which asserts through the real
//! kernel with plain `std::fs` calls.
#![allow(dead_code)]

pub mod cluster;
pub mod fsx;
pub mod scenarios;

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::Duration,
};

use std::sync::{Arc, Mutex};

use cairn_fs::{backend::Backend, mount_with, FsStats, MountError, MountOptions};
use tokio::{sync::oneshot, task::JoinHandle};

/// Logs of the code under test, on stderr (RUST_LOG, default warn).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Whether this machine can mount FUSE filesystems (root and /dev/fuse).
/// The CI machine can; elsewhere the kernel tests say why they skip.
pub fn can_mount() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && Path::new("/dev/fuse").exists();
    if !ok {
        eprintln!("SKIPPED: mounting needs root and /dev/fuse");
    }
    ok
}

/// Polls `check` until it gives a value or `limit` passes.
pub use cairn_testkit::eventually;

pub fn is_mounted(path: &Path) -> bool {
    let (Ok(me), Ok(up)) = (std::fs::metadata(path), std::fs::metadata(path.join(".."))) else {
        return false;
    };
    me.dev() != up.dev()
}

/// A backend mounted on a temporary directory; unmounted by `unmount`.
type StatsFn = Box<dyn Fn() -> FsStats + Send + Sync>;

pub struct Mounted {
    pub dir: tempfile::TempDir,
    stats: Arc<Mutex<Option<StatsFn>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), MountError>>>,
}

impl Mounted {
    pub async fn start<B: Backend>(backend: B) -> Mounted {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let (stop, stopped) = oneshot::channel::<()>();
        let opts = MountOptions {
            owner: "AKFSTEST".into(),
            timeout: Duration::from_secs(20),
            ..MountOptions::default()
        };
        let stats: Arc<Mutex<Option<StatsFn>>> = Arc::new(Mutex::new(None));
        let slot = stats.clone();
        let task = tokio::spawn(async move {
            mount_with(
                backend,
                &path,
                opts,
                async {
                    let _ = stopped.await;
                },
                move |fs| {
                    let f: StatsFn = Box::new(move || fs.stats());
                    *slot.lock().unwrap() = Some(f);
                },
            )
            .await
        });
        let path = dir.path().to_path_buf();
        let mounted = tokio::task::spawn_blocking(move || {
            eventually(Duration::from_secs(20), "the mount", || {
                is_mounted(&path).then_some(())
            })
        });
        let mut task = task;
        tokio::select! {
            r = mounted => r.expect("wait task"),
            r = &mut task => panic!("mount ended before it was up: {r:?}"),
        }
        Mounted {
            dir,
            stats,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The mount's counters.
    pub fn stats(&self) -> FsStats {
        self.stats
            .lock()
            .unwrap()
            .as_ref()
            .map(|f| f())
            .unwrap_or_default()
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Unmounts (as SIGTERM would) and checks that the mount went away
    /// cleanly.
    pub async fn unmount(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("unmount within 30s")
                .expect("mount task");
            assert!(r.is_ok(), "mount ended with {r:?}");
        }
        assert!(!is_mounted(self.dir.path()), "still mounted after shutdown");
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // A failed test: detach the mount so the temp dir can go.
        if self.task.is_some() && is_mounted(self.dir.path()) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Runs blocking filesystem code off the runtime (the runtime serves the
/// FUSE requests it causes).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}
