//! CopyObject through `cairn up` with aws-sdk-s3: same and other bucket,
//! `x-amz-metadata-directive` COPY/REPLACE, `x-amz-copy-source-if-*`, copy
//! onto itself, error cases; and that no byte is copied: the copy's layout
//! names the source's chunks, which outlive the source.

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, MetadataDirective};
use common::s3::*;

async fn chunk_ids(c: &S3Cluster, bucket: &str, key: &str) -> Vec<(u64, u64, u64)> {
    let node = c
        .cluster_client()
        .head_object(bucket, key.as_bytes())
        .await
        .expect("head through the cluster client");
    node.extents
        .iter()
        .map(|e| (e.chunk_id, e.chunk_offset, e.length))
        .collect()
}

#[tokio::test]
async fn copies_share_chunks_and_keep_or_replace_metadata() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let src = bucket_name("src");
    let dst = bucket_name("dst");
    s3.create_bucket()
        .bucket(&src)
        .send()
        .await
        .expect("create");
    s3.create_bucket()
        .bucket(&dst)
        .send()
        .await
        .expect("create");
    let data = common::pattern(21, (5 << 20) + 3);
    let put = s3
        .put_object()
        .bucket(&src)
        .key("orig")
        .body(ByteStream::from(data.clone()))
        .content_type("image/x-test")
        .metadata("tag", "original")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_string();

    // COPY (the default), same bucket.
    let copied = s3
        .copy_object()
        .bucket(&src)
        .key("same-bucket")
        .copy_source(format!("{src}/orig"))
        .send()
        .await
        .expect("copy");
    let result = copied.copy_object_result().expect("CopyObjectResult");
    assert_eq!(result.e_tag(), Some(etag.as_str()), "same bytes, same ETag");
    assert!(result.last_modified().is_some());
    let got = s3
        .get_object()
        .bucket(&src)
        .key("same-bucket")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get copy");
    assert_eq!(got.content_type(), Some("image/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("tag"))
            .map(String::as_str),
        Some("original")
    );
    assert_eq!(
        got.checksum_crc32_c(),
        put.checksum_crc32_c(),
        "the copy keeps the checksum"
    );
    assert_eq!(body_bytes(got).await, data);
    let source_layout = chunk_ids(&c, &src, "orig").await;
    assert!(!source_layout.is_empty());
    assert_eq!(
        chunk_ids(&c, &src, "same-bucket").await,
        source_layout,
        "the copy names the source's chunks: no data was copied"
    );

    // REPLACE, other bucket.
    s3.copy_object()
        .bucket(&dst)
        .key("replaced")
        .copy_source(format!("/{src}/orig"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("tag", "new")
        .metadata("extra", "1")
        .send()
        .await
        .expect("copy with REPLACE");
    let got = s3
        .get_object()
        .bucket(&dst)
        .key("replaced")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("text/x-new"));
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("tag").map(String::as_str), Some("new"));
    assert_eq!(meta.get("extra").map(String::as_str), Some("1"));
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(body_bytes(got).await, data);
    assert_eq!(chunk_ids(&c, &dst, "replaced").await, source_layout);

    // The source goes away; the copies keep its chunks alive.
    s3.delete_object()
        .bucket(&src)
        .key("orig")
        .send()
        .await
        .expect("delete source");
    for (b, k) in [(&src, "same-bucket"), (&dst, "replaced")] {
        let got = s3
            .get_object()
            .bucket(b)
            .key(k)
            .send()
            .await
            .expect("get copy");
        assert_eq!(
            body_bytes(got).await,
            data,
            "{b}/{k} after the source was deleted"
        );
    }
    // Overwriting one copy leaves the other intact.
    s3.put_object()
        .bucket(&src)
        .key("same-bucket")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await
        .expect("overwrite a copy");
    let got = s3
        .get_object()
        .bucket(&dst)
        .key("replaced")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, data);
}

#[tokio::test]
async fn copy_conditions_and_errors() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("cpc");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    s3.put_object()
        .bucket(&b)
        .key("src")
        .body(ByteStream::from_static(b"source bytes"))
        .metadata("v", "1")
        .send()
        .await
        .expect("put");
    let head = s3
        .head_object()
        .bucket(&b)
        .key("src")
        .send()
        .await
        .expect("head");
    let etag = head.e_tag().expect("etag").to_string();
    let modified = head.last_modified().expect("last-modified").secs();
    let other = "\"0123456789abcdef0123456789abcdef\"";
    let copy = |dest: &str| {
        s3.copy_object()
            .bucket(&b)
            .key(dest)
            .copy_source(format!("{b}/src"))
    };

    for (what, r) in [
        (
            "if-match",
            copy("d1").copy_source_if_match(other).send().await,
        ),
        (
            "if-none-match",
            copy("d1").copy_source_if_none_match(&etag).send().await,
        ),
        (
            "if-modified-since",
            copy("d1")
                .copy_source_if_modified_since(DateTime::from_secs(modified + 3600))
                .send()
                .await,
        ),
        (
            "if-unmodified-since",
            copy("d1")
                .copy_source_if_unmodified_since(DateTime::from_secs(modified - 3600))
                .send()
                .await,
        ),
    ] {
        assert_code(&r, "PreconditionFailed");
        assert_eq!(error_status(&r), 412, "{what}");
    }
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key("d1").send().await),
        404,
        "a refused copy writes nothing"
    );
    copy("d2")
        .copy_source_if_match(&etag)
        .copy_source_if_none_match(other)
        .copy_source_if_unmodified_since(DateTime::from_secs(modified + 3600))
        .send()
        .await
        .expect("conditions that hold");

    // Onto itself: only with REPLACE.
    assert_code(&copy("src").send().await, "InvalidRequest");
    copy("src")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("v", "2")
        .send()
        .await
        .expect("copy onto itself with new metadata");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("src")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.metadata().and_then(|m| m.get("v")).map(String::as_str),
        Some("2")
    );
    assert_eq!(body_bytes(got).await, b"source bytes");

    assert_code(
        &s3.copy_object()
            .bucket(&b)
            .key("x")
            .copy_source(format!("{b}/missing"))
            .send()
            .await,
        "NoSuchKey",
    );
    assert_code(
        &s3.copy_object()
            .bucket(&b)
            .key("x")
            .copy_source("no-such-bucket-here/k")
            .send()
            .await,
        "NoSuchBucket",
    );
    assert_code(
        &s3.copy_object()
            .bucket(&b)
            .key("x")
            .copy_source("just-a-bucket")
            .send()
            .await,
        "InvalidArgument",
    );
    // Copy into a bucket that does not exist.
    assert_code(
        &s3.copy_object()
            .bucket("no-such-bucket-here")
            .key("x")
            .copy_source(format!("{b}/src"))
            .send()
            .await,
        "NoSuchBucket",
    );
}
