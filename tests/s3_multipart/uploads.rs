//! The uploads themselves: unknown and aborted ones, and their listing.

use super::*;

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

    let id = create_upload(&s3, &b, "k").await;
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
    let id = create_upload(&s3, &b, "dst").await;
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
        all.push((k.to_string(), create_upload(&s3, &b, k).await));
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
