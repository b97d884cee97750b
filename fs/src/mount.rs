//! Mounting: check the mount point, mount with fuser, serve until the
//! shutdown future completes (SIGINT/SIGTERM in the binary) or the
//! filesystem is unmounted from outside, then unmount and send what open
//! files still buffer.

use std::{
    future::Future,
    io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use cairn_client::{Client, ClientOptions, DoorCounters, Persist};
use fuser::{Config, MountOption, Session, SessionACL};
use thiserror::Error;

use crate::{
    backend::Backend,
    cached::Cached,
    fs::{Fs, FsOptions},
    fuse::FuseAdapter,
    open_file::Limits,
    readcache::ReadCache,
};

/// The options of the cluster client a mount uses: its namespace changes
/// are answered once on the MDS's OS, as POSIX and MooseFS answer them, and
/// fsync makes them durable (see [`cairn_client::Persist`]).
pub fn client_options() -> ClientOptions {
    ClientOptions {
        persist: Persist::Os,
        ..ClientOptions::default()
    }
}

/// How long the FUSE loop gets to wind down after the unmount.
const WIND_DOWN: Duration = Duration::from_secs(5);

/// Options of `cairn mount`.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Access key id that owns the buckets made by mkdir at the top level.
    pub owner: String,
    /// Longest wait for one call to the cluster before the caller gets EIO.
    pub timeout: Duration,
    /// Let every user reach the mount (permissions are checked by the
    /// kernel with `default_permissions`). Off: only the mounting user.
    pub allow_other: bool,
    /// Threads reading requests from the kernel (they only hand requests
    /// to the runtime).
    pub threads: usize,
    /// The source name shown by `mount` and `df` (e.g. `cairn:CLUSTER`).
    pub fs_name: String,
    /// `--read-cache DIR --read-cache-size SIZE`: keep recently read
    /// blocks on a local disk.
    pub read_cache: Option<ReadCacheOptions>,
    /// Counts what the mount serves; [`mount`] reports it to the MDS.
    pub door: Arc<DoorCounters>,
}

/// The local-disk read cache of a mount.
#[derive(Debug, Clone)]
pub struct ReadCacheOptions {
    pub dir: PathBuf,
    /// Bytes the cache may hold.
    pub size: u64,
}

/// How often the read cache's hit rate is reported in the log.
const CACHE_REPORT: Duration = Duration::from_secs(60);

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            owner: String::new(),
            timeout: Duration::from_secs(30),
            allow_other: true,
            threads: 2,
            fs_name: "cairn".into(),
            read_cache: None,
            door: Arc::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum MountError {
    #[error("mount point {} does not exist: create it first (mkdir -p {})", .0.display(), .0.display())]
    MissingMountpoint(PathBuf),
    #[error("mount point {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("mount point {} is busy: something is already mounted there (see `findmnt {}`; unmount it with `umount {}`)", .0.display(), .0.display(), .0.display())]
    Busy(PathBuf),
    #[error("mount point {}: {source}", path.display())]
    Inaccessible { path: PathBuf, source: io::Error },
    #[error("cannot reach the cluster to mount it: {0}")]
    Cluster(crate::Error),
    #[error("mounting {} failed: {source} (is /dev/fuse there, and are we root or is fusermount3 installed?)", path.display())]
    Mount { path: PathBuf, source: io::Error },
    #[error("the FUSE session of {} failed: {source}", path.display())]
    Session { path: PathBuf, source: io::Error },
    #[error("read cache directory {}: {source}", path.display())]
    ReadCache { path: PathBuf, source: io::Error },
}

/// Refuses a mount point that is missing, not a directory, or already a
/// mount point (a live one, or a dead FUSE mount that answers ENOTCONN).
pub fn check_mountpoint(path: &Path) -> Result<(), MountError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MountError::MissingMountpoint(path.to_path_buf()))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(MountError::Busy(path.to_path_buf()))
        }
        Err(source) => {
            return Err(MountError::Inaccessible {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_dir() {
        return Err(MountError::NotADirectory(path.to_path_buf()));
    }
    let parent = path.join("..");
    if let Ok(up) = std::fs::metadata(&parent) {
        let is_mount = up.dev() != meta.dev() || up.ino() == meta.ino();
        if is_mount {
            return Err(MountError::Busy(path.to_path_buf()));
        }
    }
    Ok(())
}

/// Mounts the cluster of `client` at `mountpoint` and serves it until
/// `shutdown` completes or the filesystem is unmounted from outside.
pub async fn mount(
    client: Client,
    mountpoint: &Path,
    options: MountOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MountError> {
    let door = client.report_door(
        "mount",
        &mountpoint.display().to_string(),
        options.door.clone(),
    );
    let mounted = mount_client(client, mountpoint, options, shutdown).await;
    door.abort();
    mounted
}

/// [`mount`], through the read cache when the options ask for one.
async fn mount_client(
    client: Client,
    mountpoint: &Path,
    options: MountOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MountError> {
    let Some(rc) = options.read_cache.clone() else {
        return mount_backend(client, mountpoint, options, shutdown).await;
    };
    let cache =
        Arc::new(
            ReadCache::open(&rc.dir, rc.size).map_err(|source| MountError::ReadCache {
                path: rc.dir.clone(),
                source,
            })?,
        );
    tracing::info!(dir = %rc.dir.display(), size = rc.size, "read cache on");
    let reporter = tokio::spawn(report_cache(cache.clone()));
    let result = mount_backend(
        Cached::new(client, cache.clone()),
        mountpoint,
        options,
        shutdown,
    )
    .await;
    reporter.abort();
    log_cache(&cache);
    result
}

fn log_cache(cache: &ReadCache) {
    let s = cache.stats();
    tracing::info!(
        hits = s.hits,
        misses = s.misses,
        corrupt = s.corrupt,
        used = s.used,
        capacity = s.capacity,
        hit_rate = format!("{:.1}%", s.hit_rate() * 100.0),
        "read cache"
    );
}

async fn report_cache(cache: Arc<ReadCache>) {
    let mut every = tokio::time::interval(CACHE_REPORT);
    every.tick().await;
    loop {
        every.tick().await;
        log_cache(&cache);
    }
}

/// [`mount`] over any [`Backend`] (the tests mount the test backend).
pub async fn mount_backend<B: Backend>(
    backend: B,
    mountpoint: &Path,
    options: MountOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MountError> {
    mount_with(backend, mountpoint, options, shutdown, |_| {}).await
}

/// [`mount_backend`], handing the filesystem to `mounted` once the kernel
/// mount is up (for metrics and tests).
pub async fn mount_with<B: Backend>(
    backend: B,
    mountpoint: &Path,
    options: MountOptions,
    shutdown: impl Future<Output = ()>,
    mounted: impl FnOnce(Arc<Fs<B>>),
) -> Result<(), MountError> {
    check_mountpoint(mountpoint)?;
    let fs = Arc::new(Fs::new(
        backend,
        FsOptions {
            owner: options.owner.clone(),
            limits: Limits {
                timeout: options.timeout,
                ..Limits::default()
            },
            door: options.door.clone(),
            entry_ttl: crate::attr::TTL,
        },
    ));
    // A cluster that cannot be reached is a clear error now, not an EIO
    // on the first `ls`.
    fs.getattr(cairn_common::ROOT_INO)
        .await
        .map_err(MountError::Cluster)?;

    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(options.fs_name.clone()),
        MountOption::Subtype("cairn".into()),
        MountOption::DefaultPermissions,
        // Device nodes work as on a local disk when root mounts (a
        // container's root filesystem needs its /dev/null); for anyone
        // else the kernel refuses them anyway (fusermount's nodev).
        if running_as_root() {
            MountOption::Dev
        } else {
            MountOption::NoDev
        },
        MountOption::NoSuid,
    ];
    config.acl = if options.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config.n_threads = Some(options.threads.max(1));
    let adapter = FuseAdapter::new(fs.clone(), tokio::runtime::Handle::current());
    let path = mountpoint.to_path_buf();
    let mp = path.clone();
    let mut session = tokio::task::spawn_blocking(move || Session::new(adapter, &mp, &config))
        .await
        .map_err(|e| MountError::Mount {
            path: path.clone(),
            source: io::Error::other(e.to_string()),
        })?
        .map_err(|source| MountError::Mount {
            path: path.clone(),
            source,
        })?;
    tracing::info!(mountpoint = %path.display(), "mounted");
    let notifier = session.notifier();
    fs.follow_changes(move |stale: crate::fs::Stale| {
        let ino = fuser::INodeNo(stale.ino);
        // The size first (see `Stale`); ENOENT: the kernel has nothing of
        // that inode cached.
        if let Some((at, byte)) = stale.tail {
            if let Err(e) = notifier.store(ino, at, &[byte]) {
                tracing::trace!(ino = stale.ino, error = %e, "new size not stored");
            }
        }
        if let Err(e) = notifier.inval_inode(ino, 0, 0) {
            tracing::trace!(ino = stale.ino, error = %e, "cache invalidation not taken");
        }
    });
    crate::fs::watch_metrics(&fs);
    mounted(fs.clone());
    let mut unmounter = session.unmount_callable();
    let mut run = tokio::task::spawn_blocking(move || session.run());

    let ended_outside = tokio::select! {
        r = &mut run => Some(r),
        () = shutdown => None,
    };
    let result = match ended_outside {
        Some(r) => {
            tracing::info!(mountpoint = %path.display(), "unmounted from outside");
            r
        }
        None => {
            tracing::info!(mountpoint = %path.display(), "unmounting");
            if let Err(e) = unmounter.unmount() {
                tracing::warn!(error = %e, "unmount refused (busy?); detaching the mount");
                detach(&path);
            }
            match tokio::time::timeout(WIND_DOWN, &mut run).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("the FUSE loop did not end after the unmount; leaving it");
                    Ok(Ok(()))
                }
            }
        }
    };
    fs.shutdown().await;
    let st = fs.stats();
    tracing::info!(
        reads = st.reads,
        read_bytes = st.read_bytes,
        writes = st.writes,
        write_bytes = st.write_bytes,
        max_write = st.max_write,
        "mount statistics"
    );
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(MountError::Session { path, source }),
        Err(e) => Err(MountError::Session {
            path,
            source: io::Error::other(e.to_string()),
        }),
    }
}

/// Lazy unmount: the mount disappears from the namespace now and goes
/// away when its last user leaves.
fn detach(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "lazy unmount failed");
    }
}

/// Whether this process runs as root.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_checks_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = check_mountpoint(&missing).unwrap_err();
        assert!(matches!(e, MountError::MissingMountpoint(_)));
        assert!(e.to_string().contains("mkdir -p"));
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            check_mountpoint(&file).unwrap_err(),
            MountError::NotADirectory(_)
        ));
        assert!(check_mountpoint(dir.path()).is_ok());
        // `/` and `/proc` are mount points.
        assert!(matches!(
            check_mountpoint(Path::new("/proc")).unwrap_err(),
            MountError::Busy(_)
        ));
    }
}
