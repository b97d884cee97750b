//! Composite checksums of multipart objects.

use super::*;

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
