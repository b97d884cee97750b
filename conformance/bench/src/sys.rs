//! Small process and mount helpers shared by the benchmark's systems.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};

/// Whether `path` is a mount point (as listed in /proc/self/mountinfo).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}

/// Unmounts a FUSE mount if it is still there (lazily: a benchmark that
/// failed half-way must not leave a mount behind).
pub fn unmount(path: &Path) {
    if !is_mountpoint(path) {
        return;
    }
    let quiet = |mut c: Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut c = Command::new("fusermount3");
    c.arg("-u").arg(path);
    if quiet(c) {
        return;
    }
    let mut c = Command::new("umount");
    c.arg("-l").arg(path);
    quiet(c);
}

/// SIGTERM, then SIGKILL after `limit`.
pub async fn terminate(child: &mut Child, limit: Duration) {
    if let Ok(None) = child.try_wait() {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let exited = cairn_testkit::until(
        limit,
        Duration::from_millis(100),
        "the child to exit",
        || {
            let done = matches!(child.try_wait(), Ok(Some(_)));
            async move {
                if done {
                    Ok(())
                } else {
                    Err(String::new())
                }
            }
        },
    )
    .await;
    if exited.is_ok() {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs a command to completion; fails with its output when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let what = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Asks the kernel to forget the cached pages of `path`, so that a read
/// measures the storage system rather than the page cache.
pub fn drop_file_cache(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: a valid open descriptor; advice only.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

/// Whether this process runs as root (network namespaces and mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// An executable named `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// "N cores, M GiB of memory" of this machine, and its load average.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0);
    format!(
        "{cores} cores, {:.0} GiB of memory",
        mem_kib as f64 / (1024.0 * 1024.0)
    )
}

/// The 1-minute load average, as the kernel reports it.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Today's date (UTC), YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Runs `cmd` to its end within `bound`, its output into the file `log`
/// (the last lines of which a failure quotes); when the bound passes, its
/// process group is killed (fio's jobs, say, are processes of their own).
pub async fn run_bounded(
    mut cmd: tokio::process::Command,
    bound: Duration,
    what: &str,
    log: &Path,
) -> anyhow::Result<()> {
    let out = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let tail = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    };
    match tokio::time::timeout(bound, child.wait()).await {
        Ok(status) => {
            let status = status.with_context(|| format!("waiting for {what}"))?;
            anyhow::ensure!(status.success(), "{what} failed ({status}): {}", tail());
            Ok(())
        }
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: a signal to the process group made for our own
                // child above, which is not reaped yet.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.wait().await;
            bail!(
                "{what} did not finish within {} s (killed): {}",
                bound.as_secs(),
                tail()
            )
        }
    }
}

/// syncfs(2) of the filesystem holding `path`.
pub fn syncfs(path: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: a valid open descriptor.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("syncfs of {}", path.display()));
    }
    Ok(())
}

/// Drops the kernel's page cache, dentries and inodes (`echo 3 >
/// /proc/sys/vm/drop_caches`), so that reads reach the storage systems;
/// `false` when not root (nothing dropped).
pub fn drop_caches() -> anyhow::Result<bool> {
    if !is_root() {
        return Ok(false);
    }
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("echo 3 > /proc/sys/vm/drop_caches")?;
    Ok(true)
}
