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
