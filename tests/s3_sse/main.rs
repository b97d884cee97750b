//! Encryption at rest through `cairn up --tls` with aws-sdk-s3: SSE-S3
//! and SSE-C PUT, GET, HEAD and ranged GET, the errors of a wrong or
//! missing key, the bucket default (PutBucketEncryption), copies, and the
//! disk scan: no chunk server file holds the plaintext of an encrypted
//! object, while a plain control object's is found.

mod customer;
mod mount;

#[path = "../common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use common::s3::*;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

static SHARED: Mutex<Weak<S3Cluster>> = Mutex::new(Weak::new());

/// The TLS cluster of this test binary (SSE-C needs HTTPS), with a plain
/// HTTP listener beside it.
fn cluster() -> Arc<S3Cluster> {
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = slot.upgrade() {
        return c;
    }
    let c = Arc::new(S3Cluster::start_with(&[
        "--tls",
        "--plain-listen",
        "127.0.0.1:0",
    ]));
    *slot = Arc::downgrade(&c);
    c
}

/// An SDK client on the plain HTTP listener.
fn plain_client(c: &S3Cluster) -> aws_sdk_s3::Client {
    let addr = cairn_testkit::read_bound(&c.root.path().join("up.listen"), "s3-plain")
        .expect("the plain listener is announced");
    sdk_client(&format!("http://{addr}"), &c.access_key, &c.secret_key)
}

/// `len` bytes with `marker` written every 64 KiB (and at the start), so
/// any stored block of the plaintext would hold it.
fn marked(marker: &str, len: usize, seed: u64) -> Vec<u8> {
    let mut data = common::pattern(seed, len);
    let mut at = 0;
    while at + marker.len() <= len {
        data[at..at + marker.len()].copy_from_slice(marker.as_bytes());
        at += 64 * KIB - 17;
    }
    data
}

/// Every file under `dir` holding `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p);
            }
        }
    }
    found
}

async fn get_range(s3: &aws_sdk_s3::Client, b: &str, key: &str, range: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(b)
        .key(key)
        .range(range)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ranged GET {range}: {e:?}"));
    body_bytes(out).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_s3_put_get_head_and_ranges() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-s3").await;
    for len in [0, 1, 64 * KIB, 64 * KIB + 1, 3 * MIB + 12345] {
        let data = common::pattern(len as u64, len);
        let key = format!("obj-{len}");
        let put = s3
            .put_object()
            .bucket(&b)
            .key(&key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("PUT with SSE-S3");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        // SSE-S3's ETag is the plaintext's MD5, as S3's.
        assert_eq!(
            put.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
        let head = s3
            .head_object()
            .bucket(&b)
            .key(&key)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(
            head.content_length(),
            Some(len as i64),
            "HEAD size of {len}"
        );
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        let got = s3
            .get_object()
            .bucket(&b)
            .key(&key)
            .send()
            .await
            .expect("GET");
        assert_eq!(
            got.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(got.content_length(), Some(len as i64));
        assert_eq!(body_bytes(got).await, data, "GET of {len} bytes");
    }
    let data = common::pattern((3 * MIB + 12345) as u64, 3 * MIB + 12345);
    let key = "obj-3158073";
    for (from, to) in [
        (0, 0),
        (65535, 65536),
        (100_000, 2_000_000),
        (3 * MIB, 3 * MIB + 12344),
    ] {
        let got = get_range(&s3, &b, key, &format!("bytes={from}-{to}")).await;
        assert_eq!(got, data[from..=to], "range {from}-{to}");
    }
    let tail = get_range(&s3, &b, key, "bytes=-1000").await;
    assert_eq!(tail, data[data.len() - 1000..]);
    // Listings give the plaintext size.
    let listed = s3.list_objects_v2().bucket(&b).send().await.expect("list");
    let sizes: Vec<(String, i64)> = listed
        .contents()
        .iter()
        .map(|o| (o.key().unwrap_or("").to_string(), o.size().unwrap_or(-1)))
        .collect();
    assert!(
        sizes.contains(&(key.to_string(), data.len() as i64)),
        "{sizes:?}"
    );
    assert!(
        sizes.contains(&("obj-65537".to_string(), 65537)),
        "{sizes:?}"
    );
    // KMS is not offered; an unknown method is refused.
    let kms = s3
        .put_object()
        .bucket(&b)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&kms, "NotImplemented");
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_default_encryption() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-default").await;
    let none = s3.get_bucket_encryption().bucket(&b).send().await;
    assert_code(&none, "ServerSideEncryptionConfigurationNotFoundError");
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .expect("default"),
                )
                .bucket_key_enabled(true)
                .build(),
        )
        .build()
        .expect("config");
    s3.put_bucket_encryption()
        .bucket(&b)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .expect("PutBucketEncryption");
    let got = s3
        .get_bucket_encryption()
        .bucket(&b)
        .send()
        .await
        .expect("GetBucketEncryption");
    let rule = &got
        .server_side_encryption_configuration()
        .expect("configuration")
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .map(|d| d.sse_algorithm().clone()),
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(rule.bucket_key_enabled(), Some(true));
    // A PUT without headers is encrypted by the default.
    let data = common::pattern(9, 200 * KIB);
    let put = put_bytes(&s3, &b, "defaulted", &data).await;
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("defaulted")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(get_bytes(&s3, &b, "defaulted").await, data);
    // Multipart under a default is not built yet: refused, never plaintext.
    let upload = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .send()
        .await;
    assert_code(&upload, "NotImplemented");
    s3.delete_bucket_encryption()
        .bucket(&b)
        .send()
        .await
        .expect("DeleteBucketEncryption");
    let plain = put_bytes(&s3, &b, "plain", &data).await;
    assert_eq!(plain.server_side_encryption(), None);
    assert_code(
        &s3.get_bucket_encryption().bucket(&b).send().await,
        "ServerSideEncryptionConfigurationNotFoundError",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_through_plaintext() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-copy").await;
    let data = common::pattern(21, MIB + 3);
    put_bytes(&s3, &b, "plain", &data).await;
    // Plain to SSE-S3, SSE-S3 to plain, SSE-S3 to SSE-S3.
    let to_s3 = s3
        .copy_object()
        .bucket(&b)
        .key("enc")
        .copy_source(format!("{b}/plain"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy into SSE-S3");
    assert_eq!(
        to_s3.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("enc")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    s3.copy_object()
        .bucket(&b)
        .key("back")
        .copy_source(format!("{b}/enc"))
        .send()
        .await
        .expect("copy out of SSE-S3");
    let back = s3
        .head_object()
        .bucket(&b)
        .key("back")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(back.server_side_encryption(), None);
    assert_eq!(get_bytes(&s3, &b, "back").await, data);
    s3.copy_object()
        .bucket(&b)
        .key("enc2")
        .copy_source(format!("{b}/enc"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy SSE-S3 to SSE-S3");
    assert_eq!(get_bytes(&s3, &b, "enc2").await, data);
    // An encrypted source cannot be copied into a part yet.
    let upload = create_upload(&s3, &b, "mp").await;
    let part = s3
        .upload_part_copy()
        .bucket(&b)
        .key("mp")
        .upload_id(&upload)
        .part_number(1)
        .copy_source(format!("{b}/enc"))
        .send()
        .await;
    assert_code(&part, "NotImplemented");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_plaintext_on_the_chunk_servers_disks() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-scan").await;
    let marker = |what: &str| format!("CAIRN-MARKER-{what}-{}", rand::random::<u64>());
    let (m_plain, m_s3, m_c) = (marker("plain"), marker("s3"), marker("c"));
    let key = customer::Key::random();
    put_bytes(&s3, &b, "plain", &marked(&m_plain, 300 * KIB, 1)).await;
    s3.put_object()
        .bucket(&b)
        .key("s3")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(marked(&m_s3, 300 * KIB, 2)))
        .send()
        .await
        .expect("PUT SSE-S3");
    key.put(&s3, &b, "c", marked(&m_c, 300 * KIB, 3)).await;
    // The control: a plain object's marker is on the disks, so the scan
    // does find what is there.
    let plain_found = files_holding(c.data_dir(), m_plain.as_bytes());
    assert!(
        plain_found.len() >= 3,
        "the plain object's marker is in its three replicas: {plain_found:?}"
    );
    let replicas = common::replica_files(c.data_dir());
    assert!(
        !replicas.is_empty(),
        "replica files under the data directory"
    );
    for m in [&m_s3, &m_c] {
        let found = files_holding(c.data_dir(), m.as_bytes());
        assert!(
            found.is_empty(),
            "plaintext of an encrypted object on disk: {found:?}"
        );
    }
    // And both read back.
    assert_eq!(get_bytes(&s3, &b, "s3").await, marked(&m_s3, 300 * KIB, 2));
    assert_eq!(
        key.get(&s3, &b, "c").await.expect("GET SSE-C"),
        marked(&m_c, 300 * KIB, 3)
    );
}
