//! Multipart uploads through `cairn up` with aws-sdk-s3:
//! CreateMultipartUpload, UploadPart, UploadPartCopy with a source range,
//! ListParts, ListMultipartUploads (prefix, delimiter, pagination),
//! CompleteMultipartUpload (ETag, `InvalidPart`, `InvalidPartOrder`,
//! `EntityTooSmall`, `If-None-Match: *`), AbortMultipartUpload, GET and
//! HEAD with `partNumber`, `NoSuchUpload`, composite checksums; and that
//! neither completion nor a copied part copies data.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use common::s3::*;
use md5::{Digest, Md5};

const MIB: usize = 1 << 20;

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

/// `hex(md5(concat(binary md5 of each part)))-N`, from the parts' ETags.
fn expected_etag(part_etags: &[&str]) -> String {
    let mut h = Md5::new();
    for e in part_etags {
        h.update(hex::decode(e.trim_matches('"')).expect("a part ETag is hex"));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), part_etags.len())
}

async fn create(s3: &aws_sdk_s3::Client, b: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(b)
        .key(key)
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_string()
}

async fn upload(
    s3: &aws_sdk_s3::Client,
    b: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
) -> String {
    s3.upload_part()
        .bucket(b)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"))
        .e_tag()
        .expect("part etag")
        .to_string()
}

#[tokio::test]
async fn upload_copy_complete_and_read_parts() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("mpu");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");

    // The source of the copied part: 7 MiB.
    let source = common::pattern(1, 7 * MIB);
    s3.put_object()
        .bucket(&b)
        .key("source")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .expect("put source");

    let key = "big/object.bin";
    let id = s3
        .create_multipart_upload()
        .bucket(&b)
        .key(key)
        .content_type("application/x-parts")
        .metadata("kind", "multipart")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_string();

    let part1 = common::pattern(2, 5 * MIB);
    let part3 = common::pattern(3, MIB + 3);
    // Part 1 uploaded twice: the second replaces the first.
    upload(&s3, &b, key, &id, 1, &common::pattern(9, 5 * MIB)).await;
    let e1 = upload(&s3, &b, key, &id, 1, &part1).await;
    assert_eq!(e1, format!("\"{}\"", md5_hex(&part1)));
    // Part 2: 5 MiB of the source from byte 1000, shared, not copied.
    let range = (1000, 1000 + 5 * MIB);
    let copy = s3
        .upload_part_copy()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{b}/source"))
        .copy_source_range(format!("bytes={}-{}", range.0, range.1 - 1))
        .send()
        .await
        .expect("upload part copy");
    let e2 = copy
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("copied part etag")
        .to_string();
    let e3 = upload(&s3, &b, key, &id, 3, &part3).await;

    let parts = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    let listed: Vec<(i32, i64, String)> = parts
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap_or(0),
                p.size().unwrap_or(0),
                p.e_tag().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, (5 * MIB) as i64, e1.clone()),
            (2, (5 * MIB) as i64, e2.clone()),
            (3, (MIB + 3) as i64, e3.clone()),
        ]
    );
    // Paged.
    let page = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .max_parts(2)
        .send()
        .await
        .expect("list parts page");
    assert_eq!(page.parts().len(), 2);
    assert_eq!(page.is_truncated(), Some(true));
    let rest = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .part_number_marker(page.next_part_number_marker().expect("marker"))
        .send()
        .await
        .expect("list parts rest");
    assert_eq!(rest.parts().len(), 1);
    assert_eq!(rest.parts()[0].part_number(), Some(3));

    let uploads = s3
        .list_multipart_uploads()
        .bucket(&b)
        .send()
        .await
        .expect("list uploads");
    assert!(uploads
        .uploads()
        .iter()
        .any(|u| u.upload_id() == Some(id.as_str()) && u.key() == Some(key)));

    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e1), (2, &e2), (3, &e3)]))
        .send()
        .await
        .expect("complete");
    let etag = expected_etag(&[&e1, &e2, &e3]);
    assert_eq!(done.e_tag(), Some(etag.as_str()));
    assert_eq!(done.key(), Some(key));
    assert_eq!(done.bucket(), Some(b.as_str()));

    let mut whole = part1.clone();
    whole.extend_from_slice(&source[range.0..range.1]);
    whole.extend_from_slice(&part3);
    let got = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-parts"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("kind"))
            .map(String::as_str),
        Some("multipart")
    );
    let body = body_bytes(got).await;
    assert_eq!(body.len(), whole.len());
    assert!(body == whole, "the object is its parts, end to end");

    // partNumber reads.
    let head = s3
        .head_object()
        .bucket(&b)
        .key(key)
        .part_number(3)
        .send()
        .await
        .expect("head part 3");
    assert_eq!(head.content_length(), Some((MIB + 3) as i64));
    assert_eq!(head.parts_count(), Some(3));
    let p2 = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .part_number(2)
        .send()
        .await
        .expect("get part 2");
    assert_eq!(
        p2.content_range(),
        Some(format!("bytes {}-{}/{}", 5 * MIB, 10 * MIB - 1, whole.len()).as_str())
    );
    assert!(body_bytes(p2).await == source[range.0..range.1]);
    assert_code(
        &s3.get_object()
            .bucket(&b)
            .key(key)
            .part_number(4)
            .send()
            .await,
        "InvalidPartNumber",
    );

    // No data was copied: part 2 is the source's chunk, from byte 1000;
    // parts 1 and 3 are the chunks the parts were written into.
    let cluster = c.cluster_client();
    let src_node = cluster
        .head_object(&b, b"source")
        .await
        .expect("source node");
    let obj_node = cluster
        .head_object(&b, key.as_bytes())
        .await
        .expect("object node");
    let src_chunk = src_node.extents[0];
    assert!(
        obj_node
            .extents
            .iter()
            .any(|e| e.file_offset == (5 * MIB) as u64
                && e.chunk_id == src_chunk.chunk_id
                && e.chunk_offset == src_chunk.chunk_offset + range.0 as u64),
        "part 2 names the source's chunk: {:?} vs {:?}",
        obj_node.extents,
        src_node.extents
    );

    // The upload is gone.
    let after = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await;
    assert_code(&after, "NoSuchUpload");
    assert_eq!(error_status(&after), 404);
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&b)
        .send()
        .await
        .expect("list");
    assert!(!uploads
        .uploads()
        .iter()
        .any(|u| u.upload_id() == Some(id.as_str())));

    // Deleting the source leaves the object whole.
    s3.delete_object()
        .bucket(&b)
        .key("source")
        .send()
        .await
        .expect("delete source");
    let got = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .expect("get");
    assert!(body_bytes(got).await == whole);
}

#[tokio::test]
async fn completion_errors_leave_the_upload_usable() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("mpe");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");
    let key = "k";
    let id = create(&s3, &b, key).await;
    let small = common::pattern(4, 1024);
    let big = common::pattern(5, 5 * MIB);
    let e_small = upload(&s3, &b, key, &id, 1, &small).await;
    let e_big = upload(&s3, &b, key, &id, 2, &big).await;
    let e_last = upload(&s3, &b, key, &id, 3, b"tail").await;
    let complete = |parts: Vec<(i32, String)>| {
        let parts: Vec<(i32, String)> = parts;
        let s3 = s3.clone();
        let b = b.clone();
        let id = id.clone();
        async move {
            let refs: Vec<(i32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
            s3.complete_multipart_upload()
                .bucket(&b)
                .key(key)
                .upload_id(&id)
                .multipart_upload(completed(&refs))
                .send()
                .await
        }
    };

    let r = complete(vec![(2, e_big.clone()), (1, e_small.clone())]).await;
    assert_code(&r, "InvalidPartOrder");
    assert_eq!(error_status(&r), 400);
    assert_code(
        &complete(vec![(2, e_big.clone()), (2, e_big.clone())]).await,
        "InvalidPartOrder",
    );
    assert_code(
        &complete(vec![(2, e_small.clone()), (3, e_last.clone())]).await,
        "InvalidPart",
    );
    assert_code(
        &complete(vec![(2, e_big.clone()), (7, e_last.clone())]).await,
        "InvalidPart",
    );
    let r = complete(vec![(1, e_small.clone()), (2, e_big.clone())]).await;
    assert_code(&r, "EntityTooSmall");
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key(key).send().await),
        404,
        "no failed completion made the object"
    );

    // Create-only completion refused when the key exists.
    s3.put_object()
        .bucket(&b)
        .key(key)
        .body(ByteStream::from_static(b"in the way"))
        .send()
        .await
        .expect("put");
    let r = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .if_none_match("*")
        .multipart_upload(completed(&[(2, &e_big), (3, &e_last)]))
        .send()
        .await;
    assert_code(&r, "PreconditionFailed");
    let got = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"in the way");

    // The upload is still there: skipping part 1 is allowed.
    let done = complete(vec![(2, e_big.clone()), (3, e_last.clone())])
        .await
        .expect("complete with parts 2 and 3");
    assert_eq!(
        done.e_tag(),
        Some(expected_etag(&[&e_big, &e_last]).as_str())
    );
    let got = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .expect("get");
    let mut want = big.clone();
    want.extend_from_slice(b"tail");
    assert!(body_bytes(got).await == want);
}

#[tokio::test]
async fn unknown_and_aborted_uploads() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("mpa");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");
    let bogus = "0123456789abcdef0123456789abcdef";
    let r = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(bogus)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&r, "NoSuchUpload");
    assert_eq!(error_status(&r), 404);
    assert_code(
        &s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(bogus)
            .multipart_upload(completed(&[(1, "\"00\"")]))
            .send()
            .await,
        "NoSuchUpload",
    );
    assert_code(
        &s3.abort_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(bogus)
            .send()
            .await,
        "NoSuchUpload",
    );
    assert_code(
        &s3.list_parts()
            .bucket(&b)
            .key("k")
            .upload_id(bogus)
            .send()
            .await,
        "NoSuchUpload",
    );

    let id = create(&s3, &b, "k").await;
    // An upload id names one key.
    assert_code(
        &s3.list_parts()
            .bucket(&b)
            .key("other")
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
    );
    upload(&s3, &b, "k", &id, 1, b"part").await;
    let r = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(10_001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&r, "InvalidArgument");
    s3.abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .expect("abort");
    assert_code(
        &s3.list_parts()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
    );
    let r = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    assert_code(&r, "NoSuchUpload");
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&b)
        .send()
        .await
        .expect("list");
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key("k").send().await),
        404
    );

    // Copied parts: a range past the source, and a failed source condition.
    s3.put_object()
        .bucket(&b)
        .key("src")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .expect("put");
    let id = create(&s3, &b, "dst").await;
    let copy = || {
        s3.upload_part_copy()
            .bucket(&b)
            .key("dst")
            .upload_id(&id)
            .part_number(1)
            .copy_source(format!("{b}/src"))
    };
    assert_code(
        &copy().copy_source_range("bytes=5-10").send().await,
        "InvalidRange",
    );
    assert_code(
        &copy().copy_source_range("bytes=7-3").send().await,
        "InvalidArgument",
    );
    assert_code(
        &copy()
            .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        "PreconditionFailed",
    );
    let e = copy()
        .copy_source_range("bytes=2-5")
        .send()
        .await
        .expect("copy a range")
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("etag")
        .to_string();
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .send()
        .await
        .expect("complete");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("dst")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"2345");
}

#[tokio::test]
async fn list_uploads_with_prefix_delimiter_and_pages() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("mpl");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");
    let keys = ["a/1", "a/2", "b/x/1", "c", "c", "d", "e/"];
    let mut all: Vec<(String, String)> = Vec::new();
    for k in keys {
        all.push((k.to_string(), create(&s3, &b, k).await));
    }
    all.sort();

    // Pages of 2, following the markers, give every upload once, in order.
    let mut seen: Vec<(String, String)> = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    for round in 0.. {
        assert!(round < 10, "pagination does not end");
        let page = s3
            .list_multipart_uploads()
            .bucket(&b)
            .max_uploads(2)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .expect("list page");
        assert!(page.uploads().len() <= 2);
        for u in page.uploads() {
            seen.push((
                u.key().unwrap_or("").to_string(),
                u.upload_id().unwrap_or("").to_string(),
            ));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
    assert_eq!(seen, all);

    let grouped = s3
        .list_multipart_uploads()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .expect("list with delimiter");
    let prefixes: Vec<&str> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["a/", "b/", "e/"]);
    let mut top: Vec<&str> = grouped.uploads().iter().filter_map(|u| u.key()).collect();
    top.sort();
    assert_eq!(top, vec!["c", "c", "d"]);

    let under_a = s3
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("a/")
        .send()
        .await
        .expect("list a/");
    let ks: Vec<&str> = under_a.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(ks, vec!["a/1", "a/2"]);
    let under_b = s3
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("b/")
        .delimiter("/")
        .send()
        .await
        .expect("list b/");
    let ps: Vec<&str> = under_b
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(ps, vec!["b/x/"]);
    assert!(under_b.uploads().is_empty());
}

#[tokio::test]
async fn composite_checksums() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("mpc");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");
    let created = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .expect("create");
    assert_eq!(
        created.checksum_algorithm(),
        Some(&ChecksumAlgorithm::Crc32C)
    );
    let id = created.upload_id().expect("id").to_string();
    let parts = [common::pattern(6, 5 * MIB), common::pattern(7, 1000)];
    let mut done_parts = Vec::new();
    let mut raw_crcs = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let crc = crc32c::crc32c(data).to_be_bytes();
        let b64 = base64::engine::general_purpose::STANDARD.encode(crc);
        let out = s3
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("upload part");
        assert_eq!(out.checksum_crc32_c(), Some(b64.as_str()));
        raw_crcs.extend_from_slice(&crc);
        done_parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .checksum_crc32_c(b64)
                .build(),
        );
    }
    // A part claimed with another checksum than it has is refused.
    let mut wrong = done_parts.clone();
    wrong[1] = CompletedPart::builder()
        .part_number(2)
        .e_tag(done_parts[1].e_tag().expect("etag"))
        .checksum_crc32_c("AAAAAA==")
        .build();
    assert_code(
        &s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(wrong))
                    .build(),
            )
            .send()
            .await,
        "InvalidPart",
    );
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done_parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let composite = format!(
        "{}-2",
        base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(&raw_crcs).to_be_bytes())
    );
    assert_eq!(done.checksum_crc32_c(), Some(composite.as_str()));
    let head = s3
        .head_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_crc32_c(), Some(composite.as_str()));
    let got = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get");
    let mut want = parts[0].clone();
    want.extend_from_slice(&parts[1]);
    assert!(body_bytes(got).await == want);
}
