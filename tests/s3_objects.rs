//! S3 object operations through `cairn up` with aws-sdk-s3: PutObject,
//! GetObject, HeadObject, DeleteObject, DeleteObjects (quiet and verbose),
//! stored metadata and headers, Content-MD5, flexible checksums, limits,
//! and their error answers.

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, ObjectIdentifier};
use base64::Engine as _;
use common::s3::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn put_get_head_delete_with_metadata() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("obj");
    s3.create_bucket().bucket(&b).send().await.expect("create");

    // 3 MiB + 17: several pieces on the way in and out.
    let data = common::pattern(7, (3 << 20) + 17);
    let expires = DateTime::from_secs(4_102_444_800); // 2100-01-01
    let put = s3
        .put_object()
        .bucket(&b)
        .key("docs/report.txt")
        .body(ByteStream::from(data.clone()))
        .content_type("text/plain; charset=utf-8")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"r.txt\"")
        .content_language("en")
        .cache_control("max-age=60")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("owner-name", "Ada Lovelace")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::Private)
        .send()
        .await
        .expect("put");
    let etag = format!("\"{}\"", md5_hex(&data));
    assert_eq!(
        put.e_tag(),
        Some(etag.as_str()),
        "the ETag is the body's MD5"
    );

    let got = s3
        .get_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert_eq!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"r.txt\"")
    );
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.expires_string(), Some("Fri, 01 Jan 2100 00:00:00 GMT"));
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(
        meta.get("owner-name").map(String::as_str),
        Some("Ada Lovelace")
    );
    assert!(got.last_modified().is_some());
    assert_eq!(body_bytes(got).await, data);

    let head = s3
        .head_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_type(), Some("text/plain; charset=utf-8"));

    // GET may override answer headers.
    let overridden = s3
        .get_object()
        .bucket(&b)
        .key("docs/report.txt")
        .response_content_type("application/x-test")
        .response_cache_control("no-store")
        .send()
        .await
        .expect("get with overrides");
    assert_eq!(overridden.content_type(), Some("application/x-test"));
    assert_eq!(overridden.cache_control(), Some("no-store"));

    // Overwrite: the new content replaces the old at once.
    s3.put_object()
        .bucket(&b)
        .key("docs/report.txt")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .expect("overwrite");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await
        .expect("get");
    // The SDK sends its own default type; the old one is gone.
    assert_ne!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert!(got.metadata().is_none_or(|m| m.is_empty()));
    assert_eq!(body_bytes(got).await, b"second");

    // Empty objects and directory markers.
    s3.put_object()
        .bucket(&b)
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .expect("put empty");
    let empty = s3
        .get_object()
        .bucket(&b)
        .key("empty")
        .send()
        .await
        .expect("get empty");
    assert_eq!(empty.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    assert!(body_bytes(empty).await.is_empty());
    s3.put_object()
        .bucket(&b)
        .key("folder/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .expect("put a marker");
    let marker = s3
        .head_object()
        .bucket(&b)
        .key("folder/")
        .send()
        .await
        .expect("head marker");
    assert_eq!(marker.content_length(), Some(0));

    s3.delete_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await
        .expect("delete");
    assert_code(
        &s3.get_object()
            .bucket(&b)
            .key("docs/report.txt")
            .send()
            .await,
        "NoSuchKey",
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await;
    assert_eq!(error_status(&head), 404);
    // Deleting what is not there succeeds, as in S3.
    s3.delete_object()
        .bucket(&b)
        .key("docs/report.txt")
        .send()
        .await
        .expect("delete again");
    assert_code(
        &s3.get_object()
            .bucket("no-such-bucket-here")
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn upload_checks_refuse_bad_bodies_before_anything_is_written() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("chk");
    s3.create_bucket().bucket(&b).send().await.expect("create");

    let md5_of_other = {
        use md5::{Digest, Md5};
        b64(&Md5::digest(b"other"))
    };
    let bad = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"payload"))
        .content_md5(md5_of_other)
        .send()
        .await;
    assert_code(&bad, "BadDigest");
    assert_eq!(error_status(&bad), 400);
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key("k").send().await),
        404,
        "a refused upload leaves nothing behind"
    );
    let good = {
        use md5::{Digest, Md5};
        b64(&Md5::digest(b"payload"))
    };
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"payload"))
        .content_md5(good)
        .send()
        .await
        .expect("a right Content-MD5 passes");

    // A declared CRC32C that does not match the body.
    let wrong_crc = s3
        .put_object()
        .bucket(&b)
        .key("crc")
        .body(ByteStream::from_static(b"123456789"))
        .checksum_crc32_c(b64(&0x1234_5678u32.to_be_bytes()))
        .send()
        .await;
    assert_code(&wrong_crc, "BadDigest");
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key("crc").send().await),
        404
    );

    // Limits: user metadata over 2 KiB, keys over 1024 bytes.
    let big = s3
        .put_object()
        .bucket(&b)
        .key("meta")
        .metadata("big", "v".repeat(2100))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&big, "MetadataTooLarge");
    let long_key = "k".repeat(1025);
    assert_code(
        &s3.put_object()
            .bucket(&b)
            .key(&long_key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "KeyTooLongError",
    );
    let longest = "k".repeat(1024);
    s3.put_object()
        .bucket(&b)
        .key(&longest)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("a 1024-byte key is fine");
    // Canned ACLs beyond private are not there yet.
    assert_code(
        &s3.put_object()
            .bucket(&b)
            .key("public")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NotImplemented",
    );
}

#[tokio::test]
async fn checksums_are_verified_stored_and_returned() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("sum");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let data = common::pattern(11, 100_000);
    let crc = crc32c::crc32c(&data).to_be_bytes();
    let put = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from(data.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .expect("put with CRC32C");
    assert_eq!(put.checksum_crc32_c(), Some(b64(&crc).as_str()));
    let got = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get");
    assert_eq!(got.checksum_crc32_c(), Some(b64(&crc).as_str()));
    assert_eq!(body_bytes(got).await, data);
    let head = s3
        .head_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_crc32_c(), Some(b64(&crc).as_str()));
    // Without the mode, no checksum.
    let head = s3
        .head_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("head");
    assert!(head.checksum_crc32_c().is_none());

    // SHA-256 too.
    let sha = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&data).to_vec()
    };
    s3.put_object()
        .bucket(&b)
        .key("sha")
        .body(ByteStream::from(data.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("put with SHA-256");
    let head = s3
        .head_object()
        .bucket(&b)
        .key("sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_sha256(), Some(b64(&sha).as_str()));
}

#[tokio::test]
async fn delete_objects_quiet_and_verbose() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("del");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let keys: Vec<String> = (0..6).map(|i| format!("d/{i}")).collect();
    for k in &keys {
        s3.put_object()
            .bucket(&b)
            .key(k)
            .body(ByteStream::from(k.clone().into_bytes()))
            .send()
            .await
            .expect("put");
    }
    let ids = |ks: &[String]| {
        ks.iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().expect("id"))
            .collect::<Vec<_>>()
    };
    // Verbose: every key answered, including one that does not exist.
    let mut first: Vec<String> = keys[..3].to_vec();
    first.push("d/missing".into());
    let verbose = s3
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&first)))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let mut deleted: Vec<&str> = verbose.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["d/0", "d/1", "d/2", "d/missing"]);
    assert!(verbose.errors().is_empty());
    // Quiet: only errors are answered.
    let quiet = s3
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&keys[3..])))
                .quiet(true)
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects quietly");
    assert!(quiet.deleted().is_empty(), "{quiet:?}");
    assert!(quiet.errors().is_empty());
    let left = s3.list_objects_v2().bucket(&b).send().await.expect("list");
    assert_eq!(left.key_count(), Some(0), "{left:?}");
}
