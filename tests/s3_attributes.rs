//! GetObjectAttributes through `cairn up` with aws-sdk-s3: the attributes
//! asked for, of the current version and of an old one by `versionId`, the
//! parts of a multipart object in pages, and the S3 errors for a bad attribute list, a missing key and a delete marker.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    ObjectAttributes, VersioningConfiguration,
};
use common::s3::*;
use md5::{Digest, Md5};

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn attributes_of_versions_and_parts() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = bucket_name("attrs");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let old = put(&s3, &bucket, "k", b"old bytes, longer").await;
    let new = put(&s3, &bucket, "k", b"new").await;

    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectSize,
        ObjectAttributes::StorageClass,
    ];
    let current = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("k")
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .expect("attributes of the current version");
    assert_eq!(current.object_size(), Some(3));
    assert_eq!(current.version_id(), Some(new.as_str()));
    assert_eq!(
        current.e_tag(),
        Some(format!("{:x}", Md5::digest(b"new")).as_str())
    );
    assert!(current
        .checksum()
        .and_then(|c| c.checksum_sha256())
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(
        current.storage_class().map(|s| s.as_str()),
        Some("STANDARD")
    );
    let older = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("k")
        .version_id(&old)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("attributes of the old version");
    assert_eq!(older.object_size(), Some(17));
    assert_eq!(older.e_tag(), None, "only what was asked");

    // A multipart object: its parts, in pages.
    let create = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .send()
        .await
        .expect("create upload");
    let upload_id = create.upload_id().expect("upload id").to_string();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 << 20), (2, 5 << 20), (3, 1000)] {
        let part = s3
            .upload_part()
            .bucket(&bucket)
            .key("mp")
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; len]))
            .send()
            .await
            .expect("part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap_or_default())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let page = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("mp")
        .object_attributes(ObjectAttributes::ObjectParts)
        .max_parts(2)
        .send()
        .await
        .expect("parts, first page");
    let listed = page.object_parts().expect("object parts");
    assert_eq!(listed.total_parts_count(), Some(3));
    assert_eq!(listed.is_truncated(), Some(true));
    assert_eq!(listed.next_part_number_marker(), Some("2"));
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.parts()[1].size(), Some(5 << 20));
    let rest = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("mp")
        .object_attributes(ObjectAttributes::ObjectParts)
        .part_number_marker("2")
        .send()
        .await
        .expect("parts, second page");
    let listed = rest.object_parts().expect("object parts");
    assert_eq!(listed.is_truncated(), Some(false));
    assert_eq!(listed.parts().len(), 1);
    assert_eq!(listed.parts()[0].part_number(), Some(3));
    assert_eq!(listed.parts()[0].size(), Some(1000));

    // Errors: no such key; a delete marker; a bad attribute name (raw).
    let missing = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("nothing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await;
    assert_eq!(error_code(&missing), "NoSuchKey");
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("delete marker");
    let hidden = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("k")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await;
    assert_eq!(error_code(&hidden), "NoSuchKey");
    for attributes in ["Colour", ""] {
        let given = vec![(
            "x-amz-object-attributes".to_string(),
            attributes.to_string(),
        )];
        let target = format!("/{bucket}/mp?attributes");
        let (all, _) = sign_v4(
            &c,
            "GET",
            &target,
            &given,
            "UNSIGNED-PAYLOAD",
            std::time::SystemTime::now(),
        );
        let r = raw_request(c.addr, "GET", &target, &all, b"").await;
        assert_eq!(r.status, 400, "{attributes:?}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("<Code>InvalidArgument</Code>"),
            "{attributes:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}
