//! Two mounts of one cluster, each its own process as if on its own host:
//! the mount of `cairn up --mount A`, and a `cairn mount B`.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use super::{eventually, Daemon, Unmount, Up};

pub struct TwoMounts {
    /// Holds the cluster (and mount a) up; killed when dropped.
    _up: Up,
    pub a: PathBuf,
    pub b: PathBuf,
    pub bucket: String,
    pub b_mount: Option<Daemon>,
    _unmount: (Unmount, Unmount),
}

fn is_mountpoint(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), p.parent().map(std::fs::metadata)) {
        (Ok(me), Some(Ok(up))) => me.dev() != up.dev(),
        _ => false,
    }
}

/// `cairn up --mount A` and a second mount process on B, with bucket
/// `bucket` made through A.
pub fn two_mounts(bucket: &str) -> TwoMounts {
    let root = tempfile::tempdir().expect("temp dir");
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir(&a).expect("mount point a");
    std::fs::create_dir(&b).expect("mount point b");
    let unmount = (Unmount(a.clone()), Unmount(b.clone()));
    let up = Up::start(&["--mount", a.to_str().expect("a UTF-8 temp path")]);
    let log = File::create(up.dir().join("mount-b.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_CONFIG_DIR", up.etc())
        .env("CAIRN_CLUSTER", "local")
        .env("RUST_LOG", "info")
        .arg("mount")
        .arg(&b)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cairn mount");
    let b_mount = Daemon(child);
    eventually(Duration::from_secs(60), "both mounts", || {
        (is_mountpoint(&a) && is_mountpoint(&b)).then_some(())
    });
    std::fs::create_dir(a.join(bucket)).expect("bucket through mount a");
    eventually(Duration::from_secs(10), "the bucket on mount b", || {
        b.join(bucket).is_dir().then_some(())
    });
    // The temp dir lives as long as `up`'s own.
    std::mem::forget(root);
    TwoMounts {
        _up: up,
        a,
        b,
        bucket: bucket.to_owned(),
        b_mount: Some(b_mount),
        _unmount: unmount,
    }
}
