//! The mount and encrypted objects: an SSE-S3 object reads back as its
//! plaintext (size and bytes), an SSE-C one cannot be opened (EACCES), and
//! neither can be opened for writing (EACCES).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::common::s3::*;
use super::{customer, KIB};

/// Unmounts the mount point when the test ends, however it ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mount_reads_sse_s3_and_refuses_sse_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    let _unmount = Unmount(mnt.clone());
    let c = S3Cluster::start_with(&["--tls", "--mount", super::common::path_str(&mnt)]);
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-mount").await;
    let data = super::common::pattern(77, 300 * KIB + 5);
    s3.put_object()
        .bucket(&b)
        .key("s3obj")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("PUT SSE-S3");
    let key = customer::Key::random();
    key.put(&s3, &b, "cobj", data.clone()).await;

    let s3_path = mnt.join(&b).join("s3obj");
    let c_path = mnt.join(&b).join("cobj");
    let (read, len, c_open, write_open) = tokio::task::spawn_blocking(move || {
        let read = cairn_testkit::eventually(
            Duration::from_secs(30),
            "the SSE-S3 object through the mount",
            || std::fs::read(&s3_path).ok(),
        );
        let len = std::fs::metadata(&s3_path).map(|m| m.len()).ok();
        let c_open = std::fs::File::open(&c_path).map(|_| ());
        let write_open = std::fs::OpenOptions::new()
            .write(true)
            .open(&s3_path)
            .map(|_| ());
        (read, len, c_open, write_open)
    })
    .await
    .expect("mount task");
    assert_eq!(read.len(), data.len(), "plaintext length through the mount");
    assert!(read == data, "plaintext through the mount");
    assert_eq!(
        len,
        Some(data.len() as u64),
        "stat gives the plaintext size"
    );
    assert_eq!(
        c_open.err().and_then(|e| e.raw_os_error()),
        Some(libc::EACCES),
        "an SSE-C object does not open"
    );
    assert_eq!(
        write_open.err().and_then(|e| e.raw_os_error()),
        Some(libc::EACCES),
        "an SSE-S3 object does not open for writing"
    );
    // Still whole through S3.
    assert_eq!(get_bytes(&s3, &b, "s3obj").await, data);
}
