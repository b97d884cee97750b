//! ETags after writes in place: a file written through the mount other
//! than from start to end (a write into existing bytes, a punched hole) is
//! still an S3 object whose ETag is the MD5 of its bytes, in HeadObject,
//! GetObject and ListObjectsV2, never `""`.

mod common;
mod ops_support;

use std::{
    io::{Seek, SeekFrom, Write},
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::PathBuf,
};

use common::{path_str, s3::sdk_client};
use md5::{Digest, Md5};
use ops_support::{Unmount, Up};

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

async fn s3_etags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (String, String, String) {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head");
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get");
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list");
    let listed = listed
        .contents()
        .iter()
        .find(|o| o.key() == Some(key))
        .and_then(|o| o.e_tag())
        .unwrap_or_default()
        .to_string();
    (
        head.e_tag().unwrap_or_default().to_string(),
        got.e_tag().unwrap_or_default().to_string(),
        listed,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_in_place_leave_the_md5_of_the_bytes_as_etag() {
    let root = tempfile::tempdir().expect("temp dir");
    let mnt: PathBuf = root.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    let _unmount = Unmount(mnt.clone());
    let up = Up::start(&["--mount", path_str(&mnt)]);
    let out = up.cairn(&["key", "create", "etags", "--json"]);
    common::assert_success(&out, "key create");
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    let s3 = sdk_client(
        &format!("http://{}", up.s3_addr),
        key["access_key"].as_str().expect("access_key"),
        key["secret_key"].as_str().expect("secret_key"),
    );
    s3.create_bucket()
        .bucket("etags")
        .send()
        .await
        .expect("create bucket");

    // Written from start to end, then rewritten in its middle.
    let path = mnt.join("etags").join("image");
    let mut bytes: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = {
        let (path, first) = (path.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::write(&path, &first).expect("write the file");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open for writing in place");
            f.write_all_at(b"written in place", 1 << 20)
                .expect("write in place");
            f.sync_all().expect("fsync");
        })
        .await
        .expect("mount task");
        bytes[1 << 20..(1 << 20) + 16].copy_from_slice(b"written in place");
        format!("\"{}\"", md5_hex(&bytes))
    };
    let (head, got, listed) = s3_etags(&s3, "etags", "image").await;
    assert_eq!(head, expected, "HeadObject");
    assert_eq!(got, expected, "GetObject");
    assert_eq!(listed, expected, "ListObjectsV2");

    // A punched hole reads as zeros, and the ETag follows.
    {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open");
            // SAFETY: a valid descriptor; fallocate reads nothing else.
            let rc = unsafe {
                libc::fallocate(
                    f.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    1 << 20,
                )
            };
            assert_eq!(rc, 0, "punch: {}", std::io::Error::last_os_error());
            f.seek(SeekFrom::End(0)).expect("seek");
            f.flush().expect("flush");
        })
        .await
        .expect("mount task");
    }
    bytes[..1 << 20].fill(0);
    let expected = format!("\"{}\"", md5_hex(&bytes));
    let (head, got, listed) = s3_etags(&s3, "etags", "image").await;
    assert_eq!(
        (head.as_str(), got.as_str(), listed.as_str()),
        (expected.as_str(), expected.as_str(), expected.as_str())
    );
    let body = s3
        .get_object()
        .bucket("etags")
        .key("image")
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(
        md5_hex(&body),
        md5_hex(&bytes),
        "the bytes S3 serves are the ones hashed"
    );
}
