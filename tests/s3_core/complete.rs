//! CompleteMultipartUpload repeated (answered again while the upload's
//! object is current, NoSuchUpload otherwise) and made conditional
//! (`If-None-Match: *`, `If-Match`), and PUT's If-None-Match with an ETag.

use super::*;

#[tokio::test]
async fn a_completion_repeated_is_answered_again() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "again").await;
    let (id, parts, whole) = two_part_upload(&s3, &b, "k", 80).await;
    let complete = |parts: &[CompletedPart]| {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts_of(parts))
            .send()
    };
    let first = complete(&parts).await.expect("complete");
    let again = complete(&parts).await.expect("the same completion again");
    assert_eq!(again.e_tag(), first.e_tag());
    assert!(
        first.e_tag().is_some_and(|e| e.ends_with("-2\"")),
        "{first:?}"
    );
    // Other parts than the completion had: the upload is gone.
    assert_code(&complete(&parts[..1]).await, "NoSuchUpload");
    // An id never made, or one of another key.
    assert_code(
        &s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id("0123456789abcdef0123456789abcdef")
            .multipart_upload(parts_of(&parts))
            .send()
            .await,
        "NoSuchUpload",
    );
    assert_code(
        &s3.complete_multipart_upload()
            .bucket(&b)
            .key("other")
            .upload_id(&id)
            .multipart_upload(parts_of(&parts))
            .send()
            .await,
        "NoSuchUpload",
    );
    assert!(get_bytes(&s3, &b, "k").await == whole);
    // Once the key holds another object, the upload is forgotten.
    put_bytes(&s3, &b, "k", b"newer").await;
    assert_code(&complete(&parts).await, "NoSuchUpload");
}

#[tokio::test]
async fn conditional_completions() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "condcomp").await;
    let existing = put_bytes(&s3, &b, "k", b"there")
        .await
        .e_tag()
        .expect("etag")
        .to_string();
    let (id, parts, whole) = two_part_upload(&s3, &b, "k", 90).await;
    let complete = || {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts_of(&parts))
    };
    // Create-only over an existing key; a compare-and-swap of another ETag.
    assert_code(
        &complete().if_none_match("*").send().await,
        "PreconditionFailed",
    );
    assert_eq!(
        error_status(&complete().if_none_match("*").send().await),
        412
    );
    assert_code(
        &complete()
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        "PreconditionFailed",
    );
    // If-None-Match takes only `*`, as S3 says.
    assert_code(
        &complete().if_none_match(&existing).send().await,
        "NotImplemented",
    );
    assert_eq!(
        get_bytes(&s3, &b, "k").await,
        b"there",
        "nothing was replaced"
    );
    // The ETag the key has: the completion replaces it.
    complete()
        .if_match(&existing)
        .send()
        .await
        .expect("complete if-match");
    assert!(get_bytes(&s3, &b, "k").await == whole);
    // If-Match on a key that is not there.
    let (id2, parts2, _) = two_part_upload(&s3, &b, "absent", 91).await;
    assert_code(
        &s3.complete_multipart_upload()
            .bucket(&b)
            .key("absent")
            .upload_id(&id2)
            .multipart_upload(parts_of(&parts2))
            .if_match(&existing)
            .send()
            .await,
        "NoSuchKey",
    );
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("absent")
        .upload_id(&id2)
        .multipart_upload(parts_of(&parts2))
        .if_none_match("*")
        .send()
        .await
        .expect("create-only completion of a new key");
    // PUT takes If-None-Match with `*` only too.
    assert_code(
        &s3.put_object()
            .bucket(&b)
            .key("k")
            .if_none_match(&existing)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NotImplemented",
    );
}
