//! Multipart checksums of both types: FULL_OBJECT (a CRC of the whole
//! object, made from the parts' CRCs) and COMPOSITE (a checksum of the
//! parts' checksums, `-N`); the type in every answer; a whole-object
//! checksum given on completion; and GetObjectAttributes of them.

use aws_sdk_s3::types::{ChecksumMode, ChecksumType, ObjectAttributes};

use super::*;

/// The base64 CRC of `data` for one of the three CRC algorithms.
fn crc_of(algorithm: &ChecksumAlgorithm, data: &[u8]) -> String {
    use crc_fast::CrcAlgorithm;
    match algorithm {
        ChecksumAlgorithm::Crc32 => {
            b64(&(crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, data) as u32).to_be_bytes())
        }
        ChecksumAlgorithm::Crc32C => b64(&crc32c::crc32c(data).to_be_bytes()),
        ChecksumAlgorithm::Crc64Nvme => {
            b64(&crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data).to_be_bytes())
        }
        other => panic!("not a CRC: {other:?}"),
    }
}

/// Creates an upload of `algorithm` and `kind`, uploads three parts
/// (5 MiB, 5 MiB, a tail); its id, parts and bytes.
async fn upload_of(
    s3: &aws_sdk_s3::Client,
    b: &str,
    key: &str,
    algorithm: &ChecksumAlgorithm,
    kind: Option<ChecksumType>,
) -> (String, Vec<CompletedPart>, Vec<u8>) {
    let created = s3
        .create_multipart_upload()
        .bucket(b)
        .key(key)
        .checksum_algorithm(algorithm.clone())
        .set_checksum_type(kind.clone())
        .send()
        .await
        .expect("create");
    assert_eq!(created.checksum_algorithm(), Some(algorithm));
    let expected_kind = kind.unwrap_or(ChecksumType::Composite);
    assert_eq!(created.checksum_type(), Some(&expected_kind));
    let id = created.upload_id().expect("id").to_string();
    let pieces = [
        common::pattern(60, 5 * MIB),
        common::pattern(61, 5 * MIB),
        common::pattern(62, 4321),
    ];
    let mut parts = Vec::new();
    let mut whole = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let n = i as i32 + 1;
        parts.push(upload_part(s3, b, key, &id, n, piece, Some(algorithm.clone())).await);
        whole.extend_from_slice(piece);
    }
    (id, parts, whole)
}

/// The checksum of `algorithm` in a completion's answer.
fn answered(
    out: &aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    algorithm: &ChecksumAlgorithm,
) -> Option<String> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => out.checksum_crc32(),
        ChecksumAlgorithm::Crc32C => out.checksum_crc32_c(),
        ChecksumAlgorithm::Crc64Nvme => out.checksum_crc64_nvme(),
        ChecksumAlgorithm::Sha1 => out.checksum_sha1(),
        ChecksumAlgorithm::Sha256 => out.checksum_sha256(),
        _ => None,
    }
    .map(str::to_string)
}

#[tokio::test]
async fn full_object_checksums_of_multipart_uploads() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "fullobj").await;
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("full-{}", algorithm.as_str());
        let (id, parts, whole) =
            upload_of(&s3, &b, &key, &algorithm, Some(ChecksumType::FullObject)).await;
        let crc = crc_of(&algorithm, &whole);
        // ListParts names the upload's algorithm and type, and each part's
        // checksum; ListMultipartUploads the algorithm and type.
        let listed = s3
            .list_parts()
            .bucket(&b)
            .key(&key)
            .upload_id(&id)
            .send()
            .await
            .expect("list parts");
        assert_eq!(listed.checksum_algorithm(), Some(&algorithm));
        assert_eq!(listed.checksum_type(), Some(&ChecksumType::FullObject));
        let uploads = s3
            .list_multipart_uploads()
            .bucket(&b)
            .prefix(&key)
            .send()
            .await
            .expect("list uploads");
        let upload = uploads.uploads().first().expect("the upload");
        assert_eq!(upload.checksum_algorithm(), Some(&algorithm));
        assert_eq!(upload.checksum_type(), Some(&ChecksumType::FullObject));
        let tail = listed.parts().last().expect("parts");
        let tail_crc = match algorithm {
            ChecksumAlgorithm::Crc32 => tail.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => tail.checksum_crc32_c(),
            _ => tail.checksum_crc64_nvme(),
        };
        assert_eq!(
            tail_crc,
            Some(crc_of(&algorithm, &whole[10 * MIB..]).as_str())
        );
        let complete = || {
            s3.complete_multipart_upload()
                .bucket(&b)
                .key(&key)
                .upload_id(&id)
                .multipart_upload(parts_of(&parts))
        };
        // A whole-object CRC that is not the object's: BadDigest, and
        // the upload is still there.
        let wrong = crc_of(&algorithm, b"something else");
        let r = match algorithm {
            ChecksumAlgorithm::Crc32 => complete().checksum_crc32(&wrong),
            ChecksumAlgorithm::Crc32C => complete().checksum_crc32_c(&wrong),
            _ => complete().checksum_crc64_nvme(&wrong),
        }
        .send()
        .await;
        assert_code(&r, "BadDigest");
        // Another type than the upload's: InvalidRequest.
        let r = complete()
            .checksum_type(ChecksumType::Composite)
            .send()
            .await;
        assert_code(&r, "InvalidRequest");
        // Another size than the parts make: InvalidRequest.
        let r = complete().mpu_object_size(1).send().await;
        assert_code(&r, "InvalidRequest");

        let done = match algorithm {
            ChecksumAlgorithm::Crc32 => complete().checksum_crc32(&crc),
            ChecksumAlgorithm::Crc32C => complete().checksum_crc32_c(&crc),
            _ => complete().checksum_crc64_nvme(&crc),
        }
        .checksum_type(ChecksumType::FullObject)
        .mpu_object_size(whole.len() as i64)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete {algorithm:?}: {e:?}"));
        assert_eq!(
            answered(&done, &algorithm),
            Some(crc.clone()),
            "{algorithm:?}"
        );
        assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));

        // HEAD and GET answer the CRC of the whole and its type; the SDK
        // checks the GET's body against it.
        let head = s3
            .head_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("head");
        assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
        let got = s3
            .get_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get");
        assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
        assert!(
            body_bytes(got).await == whole,
            "{algorithm:?}: the object's bytes"
        );
        // A part is answered with its own CRC (the SDK checks the bytes).
        let part = s3
            .get_object()
            .bucket(&b)
            .key(&key)
            .part_number(3)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get part 3");
        let part_crc = match algorithm {
            ChecksumAlgorithm::Crc32 => part.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => part.checksum_crc32_c(),
            _ => part.checksum_crc64_nvme(),
        }
        .map(str::to_string);
        assert_eq!(part_crc, Some(crc_of(&algorithm, &whole[10 * MIB..])));
        assert!(body_bytes(part).await == whole[10 * MIB..]);

        // GetObjectAttributes: the checksum, its type, each part's.
        let attrs = s3
            .get_object_attributes()
            .bucket(&b)
            .key(&key)
            .object_attributes(ObjectAttributes::Checksum)
            .object_attributes(ObjectAttributes::ObjectParts)
            .max_parts(2)
            .send()
            .await
            .expect("attributes");
        let checksum = attrs.checksum().expect("checksum");
        assert_eq!(checksum.checksum_type(), Some(&ChecksumType::FullObject));
        let parts_page = attrs.object_parts().expect("parts");
        assert_eq!(parts_page.total_parts_count(), Some(3));
        assert_eq!(parts_page.is_truncated(), Some(true));
        let listed: Vec<(Option<i32>, Option<String>)> = parts_page
            .parts()
            .iter()
            .map(|p| {
                let value = match algorithm {
                    ChecksumAlgorithm::Crc32 => p.checksum_crc32(),
                    ChecksumAlgorithm::Crc32C => p.checksum_crc32_c(),
                    _ => p.checksum_crc64_nvme(),
                };
                (p.part_number(), value.map(str::to_string))
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (Some(1), Some(crc_of(&algorithm, &whole[..5 * MIB]))),
                (Some(2), Some(crc_of(&algorithm, &whole[5 * MIB..10 * MIB]))),
            ]
        );
    }
}

#[tokio::test]
async fn composite_checksums_name_their_type() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "compos").await;
    let algorithm = ChecksumAlgorithm::Sha256;
    let (id, parts, _) = upload_of(&s3, &b, "k", &algorithm, None).await;
    let complete = || {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts_of(&parts))
    };
    // A composite checksum claimed on completion must be the object's.
    let r = complete().checksum_sha256(b64(&[7u8; 32])).send().await;
    assert_code(&r, "BadDigest");
    let done = complete().send().await.expect("complete");
    let value = answered(&done, &algorithm).expect("a composite checksum");
    assert!(value.ends_with("-3"), "{value}");
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let head = s3
        .head_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_sha256(), Some(value.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
    // A single PUT's checksum is of the whole object.
    s3.put_object()
        .bucket(&b)
        .key("single")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from_static(b"one piece"))
        .send()
        .await
        .expect("put");
    let head = s3
        .head_object()
        .bucket(&b)
        .key("single")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head single");
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(
        head.checksum_crc32_c(),
        Some(crc_of(&ChecksumAlgorithm::Crc32C, b"one piece").as_str())
    );
}

#[tokio::test]
async fn checksum_types_refused_as_s3_refuses_them() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "cktype").await;
    let create = |algorithm: Option<ChecksumAlgorithm>, kind: ChecksumType| {
        s3.create_multipart_upload()
            .bucket(&b)
            .key("k")
            .set_checksum_algorithm(algorithm)
            .checksum_type(kind)
    };
    // SHA digests cannot be combined into a whole-object one; CRC64NVME
    // is only ever whole-object; a type needs an algorithm.
    for (algorithm, kind) in [
        (Some(ChecksumAlgorithm::Sha256), ChecksumType::FullObject),
        (Some(ChecksumAlgorithm::Sha1), ChecksumType::FullObject),
        (Some(ChecksumAlgorithm::Crc64Nvme), ChecksumType::Composite),
        (None, ChecksumType::FullObject),
    ] {
        let r = create(algorithm.clone(), kind.clone()).send().await;
        assert_code(&r, "InvalidRequest");
    }
    // CRC64NVME without a type is FULL_OBJECT.
    let created = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .send()
        .await
        .expect("create crc64nvme");
    assert_eq!(created.checksum_type(), Some(&ChecksumType::FullObject));
    // A whole-object checksum on the completion of an upload made without
    // an algorithm: InvalidRequest.
    let (id, parts, whole) = two_part_upload(&s3, &b, "plain", 70).await;
    let r = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("plain")
        .upload_id(&id)
        .multipart_upload(parts_of(&parts))
        .checksum_crc32(crc_of(&ChecksumAlgorithm::Crc32, &whole))
        .send()
        .await;
    assert_code(&r, "InvalidRequest");
}

#[tokio::test]
async fn a_copied_part_has_its_checksum() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "cpcrc").await;
    let source = common::pattern(120, 6 * MIB);
    put_bytes(&s3, &b, "source", &source).await;
    let algorithm = ChecksumAlgorithm::Crc32C;
    let id = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(algorithm.clone())
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string();
    let (from, to) = (1000, 1000 + 5 * MIB);
    let copied = s3
        .upload_part_copy()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{b}/source"))
        .copy_source_range(format!("bytes={from}-{}", to - 1))
        .send()
        .await
        .expect("copy part");
    let result = copied.copy_part_result().expect("result");
    let part_crc = crc_of(&algorithm, &source[from..to]);
    assert_eq!(result.checksum_crc32_c(), Some(part_crc.as_str()));
    let tail = common::pattern(121, 999);
    let parts = vec![
        CompletedPart::builder()
            .part_number(1)
            .e_tag(result.e_tag().expect("etag"))
            .checksum_crc32_c(part_crc)
            .build(),
        upload_part(&s3, &b, "k", &id, 2, &tail, Some(algorithm.clone())).await,
    ];
    let mut whole = source[from..to].to_vec();
    whole.extend_from_slice(&tail);
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(parts_of(&parts))
        .checksum_crc32_c(crc_of(&algorithm, &whole))
        .send()
        .await
        .expect("complete");
    assert_eq!(
        done.checksum_crc32_c(),
        Some(crc_of(&algorithm, &whole).as_str())
    );
    assert!(get_bytes(&s3, &b, "k").await == whole);
}
