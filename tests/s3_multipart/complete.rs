//! Uploading parts (plain and copied) and completing them into an object,
//! and the completion errors that leave an upload usable.

use super::*;

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
    let id = create_upload(&s3, &b, key).await;
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
