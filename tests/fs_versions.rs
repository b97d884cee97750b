//! The FUSE door in versioned buckets, across both doors of one `cairn up
//! --mount`: a file rewritten through the mount leaves its content before
//! as a version that S3 reads back (one version per close or fsync, not one
//! per write); a delete through S3 takes the name from the mount and leaves
//! the version readable under `BUCKET/.versions/KEY/VERSION_ID`, a tree
//! that refuses changes with EROFS; a file under legal hold or retention
//! refuses rm, writes, truncation and rename over it with EPERM, shows no
//! write bit, and stays intact.

mod common;
mod ops_support;

use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockRetention,
    ObjectLockRetentionMode, VersioningConfiguration,
};
use common::{path_str, s3::sdk_client};
use ops_support::{eventually, Unmount, Up};

struct Doors {
    up: Up,
    s3: aws_sdk_s3::Client,
    mnt: PathBuf,
    _unmount: Unmount,
    _root: tempfile::TempDir,
}

fn start() -> Doors {
    let root = tempfile::tempdir().expect("temp dir");
    let mnt = root.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    let unmount = Unmount(mnt.clone());
    let up = Up::start(&["--mount", path_str(&mnt)]);
    let out = up.cairn(&["key", "create", "versions", "--json"]);
    common::assert_success(&out, "key create");
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    let s3 = sdk_client(
        &format!("http://{}", up.s3_addr),
        key["access_key"].as_str().expect("access_key"),
        key["secret_key"].as_str().expect("secret_key"),
    );
    Doors {
        up,
        s3,
        mnt,
        _unmount: unmount,
        _root: root,
    }
}

async fn versioned_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("a version id")
        .to_string()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .expect("get");
    out.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// (version id, is latest) of every version of `key`, newest first; delete
/// markers left out.
async fn versions(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, bool)> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_string(),
                v.is_latest().unwrap_or(false),
            )
        })
        .collect()
}

/// Runs blocking file work on the mount off the runtime.
async fn on_mount<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("mount task")
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewrite_through_the_mount_keeps_the_version_before() {
    let d = start();
    versioned_bucket(&d.s3, "rewrites").await;
    let first = put(&d.s3, "rewrites", "doc.txt", b"one").await;

    // A truncating rewrite and its close: one version, not an empty one
    // for the truncate and another for the write.
    let file = d.mnt.join("rewrites").join("doc.txt");
    let path = file.clone();
    on_mount(move || std::fs::write(&path, b"two, longer"))
        .await
        .expect("rewrite");
    let listed = versions(&d.s3, "rewrites", "doc.txt").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1].0, first, "{listed:?}");
    assert!(listed[0].1 && !listed[1].1, "{listed:?}");
    assert_eq!(
        get(&d.s3, "rewrites", "doc.txt", Some(&first)).await,
        b"one"
    );
    assert_eq!(
        get(&d.s3, "rewrites", "doc.txt", None).await,
        b"two, longer"
    );

    // An fsync ends a version: the writes after it make the next one.
    let path = file.clone();
    on_mount(move || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)?;
        f.write_all(b"a")?;
        f.sync_all()?;
        f.write_all(b"b")?;
        Ok(())
    })
    .await
    .expect("write, fsync, write, close");
    let listed = versions(&d.s3, "rewrites", "doc.txt").await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(
        get(&d.s3, "rewrites", "doc.txt", Some(&listed[1].0)).await,
        b"a"
    );
    assert_eq!(get(&d.s3, "rewrites", "doc.txt", None).await, b"ab");
    assert_eq!(
        get(&d.s3, "rewrites", "doc.txt", Some(&first)).await,
        b"one"
    );

    // A file made through the mount: its create and its writes are one
    // version.
    let path = d.mnt.join("rewrites").join("new.bin");
    let body = common::pattern(3, 300_000);
    let written = body.clone();
    on_mount(move || std::fs::write(&path, &written))
        .await
        .expect("new file");
    assert_eq!(versions(&d.s3, "rewrites", "new.bin").await.len(), 1);
    assert_eq!(get(&d.s3, "rewrites", "new.bin", None).await, body);

    // An overwrite through S3 of a file the mount made: the mount's
    // content stays as a version.
    put(&d.s3, "rewrites", "new.bin", b"from s3").await;
    let listed = versions(&d.s3, "rewrites", "new.bin").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        get(&d.s3, "rewrites", "new.bin", Some(&listed[1].0)).await,
        body
    );
    drop(d.up);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_through_s3_leaves_the_version_under_dot_versions() {
    let d = start();
    versioned_bucket(&d.s3, "deletes").await;
    let kept = put(&d.s3, "deletes", "dir/gone.txt", b"keep me").await;
    put(&d.s3, "deletes", "stays.txt", b"here").await;
    let gone = d.mnt.join("deletes").join("dir").join("gone.txt");
    let path = gone.clone();
    assert_eq!(
        on_mount(move || std::fs::read(&path))
            .await
            .expect("read through the mount"),
        b"keep me"
    );
    d.s3.delete_object()
        .bucket("deletes")
        .key("dir/gone.txt")
        .send()
        .await
        .expect("delete");

    // The name goes (within the attribute cache's second)...
    let path = gone.clone();
    on_mount(move || {
        eventually(
            Duration::from_secs(10),
            "the name gone from the mount",
            || (!path.exists()).then_some(()),
        )
    })
    .await;
    // ... and the version is a read-only file of the hidden tree.
    let tree = d.mnt.join("deletes").join(".versions");
    let old = tree.join("dir").join("gone.txt").join(&kept);
    let path = old.clone();
    assert_eq!(
        on_mount(move || std::fs::read(&path))
            .await
            .expect("read the kept version"),
        b"keep me"
    );
    let names = |dir: PathBuf| async move {
        on_mount(move || {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .expect("list")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        })
        .await
    };
    assert_eq!(
        names(tree.join("dir").join("gone.txt")).await,
        vec![kept.clone()]
    );
    assert_eq!(names(tree.clone()).await, vec!["dir", "stays.txt"]);
    assert_eq!(names(tree.join("dir")).await, vec!["gone.txt"]);
    // Hidden: the bucket's listing does not show it (nor `dir`, an
    // implicit directory gone with its last key).
    let bucket_names = names(d.mnt.join("deletes")).await;
    assert_eq!(bucket_names, vec!["stays.txt"]);

    // Read-only, whatever is tried.
    let path = old.clone();
    let refused = on_mount(move || std::fs::OpenOptions::new().write(true).open(&path))
        .await
        .expect_err("write open of a version");
    assert_eq!(errno(&refused), libc::EROFS, "{refused}");
    let path = tree.join("dir").join("new.txt");
    let refused = on_mount(move || std::fs::write(&path, b"x"))
        .await
        .expect_err("create in the tree");
    assert_eq!(errno(&refused), libc::EROFS, "{refused}");
    let path = old.clone();
    let refused = on_mount(move || std::fs::remove_file(&path))
        .await
        .expect_err("unlink in the tree");
    assert_eq!(errno(&refused), libc::EROFS, "{refused}");
    let mode = on_mount(move || std::fs::metadata(&old))
        .await
        .expect("stat a version")
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");
    drop(d.up);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_file_refuses_changes_through_the_mount() {
    let d = start();
    d.s3.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with object lock");
    let body = b"evidence".to_vec();
    put(&d.s3, "locked", "held.txt", &body).await;
    d.s3.put_object_legal_hold()
        .bucket("locked")
        .key("held.txt")
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .expect("legal hold");
    put(&d.s3, "locked", "retained.txt", &body).await;
    let until = aws_sdk_s3::primitives::DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            + 86_400,
    );
    d.s3.put_object_retention()
        .bucket("locked")
        .key("retained.txt")
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(until)
                .build(),
        )
        .send()
        .await
        .expect("retention");
    put(&d.s3, "locked", "free.txt", b"free").await;

    let dir = d.mnt.join("locked");
    for name in ["held.txt", "retained.txt"] {
        let file = dir.join(name);
        let refusals = on_mount({
            let (file, dir) = (file.clone(), dir.clone());
            move || refusals(&file, &dir)
        })
        .await;
        assert_eq!(refusals, vec![libc::EPERM; 5], "{name}: {refusals:?}");
        let mode = on_mount(move || std::fs::metadata(&file))
            .await
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "{name}: mode {mode:o}");
        assert_eq!(get(&d.s3, "locked", name, None).await, body, "{name}");
    }
    // A file without a lock in the same bucket is written as usual.
    let path = dir.join("free.txt");
    on_mount(move || std::fs::write(&path, b"changed"))
        .await
        .expect("write");
    assert_eq!(get(&d.s3, "locked", "free.txt", None).await, b"changed");
    drop(d.up);
}

/// The errno of each change tried on `file`: unlink, a write open, a
/// truncating open, truncate(2), and a rename over it.
fn refusals(file: &Path, dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    out.push(std::fs::remove_file(file).err().map_or(0, |e| errno(&e)));
    out.push(
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .err()
            .map_or(0, |e| errno(&e)),
    );
    out.push(std::fs::write(file, b"x").err().map_or(0, |e| errno(&e)));
    let c_path = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; truncate(2) reads it only.
    let truncated = unsafe { libc::truncate(c_path.as_ptr(), 0) };
    out.push(if truncated == 0 {
        0
    } else {
        errno(&std::io::Error::last_os_error())
    });
    let other = dir.join(format!(
        "over-{}",
        file.file_name().map_or("x".into(), |n| n.to_string_lossy())
    ));
    std::fs::write(&other, b"replacement").expect("a file to rename");
    out.push(std::fs::rename(&other, file).err().map_or(0, |e| errno(&e)));
    out
}
