//! S3 versioning through `cairn up` with aws-sdk-s3: versions of a key and
//! delete markers, reads and deletes by version id, suspended buckets and
//! the null version, ListObjectVersions' order and pages, copies of an old
//! version, multipart uploads, object lock refusing deletes, and their
//! S3 error cases.

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Delete,
    ObjectIdentifier, ObjectLockMode, VersioningConfiguration,
};
use common::s3::*;

/// One signed request outside the SDK (to see headers it hides).
async fn signed(
    c: &S3Cluster,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let given: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let (all, _) = sign_v4(
        c,
        method,
        target,
        &given,
        "UNSIGNED-PAYLOAD",
        std::time::SystemTime::now(),
    );
    raw_request(c.addr, method, target, &all, body).await
}

async fn versioned_bucket(s3: &aws_sdk_s3::Client, what: &str) -> String {
    let bucket = bucket_name(what);
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    set_versioning(s3, &bucket, BucketVersioningStatus::Enabled).await;
    bucket
}

async fn set_versioning(s3: &aws_sdk_s3::Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("put versioning");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .expect("put");
    out.version_id().unwrap_or_default().to_string()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key} {version:?}: {e:?}"));
    body_bytes(out).await
}

/// (key, version id, is latest, is a delete marker) of every version, in
/// the order ListObjectVersions answers, paging with `max_keys`.
async fn all_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: Option<&str>,
    max_keys: i32,
) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    for _ in 0..10_000 {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_string))
            .max_keys(max_keys)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        // The SDK keeps versions and markers apart: put them back in key
        // order, newest first, as the answer had them.
        let mut lines: Vec<(String, String, bool, bool, i64)> = Vec::new();
        for v in page.versions() {
            lines.push((
                v.key().unwrap_or_default().to_string(),
                v.version_id().unwrap_or_default().to_string(),
                v.is_latest().unwrap_or(false),
                false,
                0,
            ));
        }
        for m in page.delete_markers() {
            lines.push((
                m.key().unwrap_or_default().to_string(),
                m.version_id().unwrap_or_default().to_string(),
                m.is_latest().unwrap_or(false),
                true,
                0,
            ));
        }
        assert!(
            lines.len() <= max_keys as usize,
            "a page of {} lines for max-keys {max_keys}",
            lines.len()
        );
        lines.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        out.extend(lines.into_iter().map(|(k, v, l, m, _)| (k, v, l, m)));
        if !page.is_truncated().unwrap_or(false) {
            return out;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        assert!(key_marker.is_some(), "truncated without a next key marker");
    }
    panic!("listing did not end");
}

#[tokio::test]
async fn versions_markers_and_reads_by_id() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = bucket_name("ver");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let before = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("get versioning");
    assert_eq!(before.status(), None, "a new bucket is unversioned");
    set_versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    let after = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("get versioning");
    assert_eq!(after.status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put(&s3, &bucket, "k", b"first").await;
    let v2 = put(&s3, &bucket, "k", b"second, longer").await;
    assert!(!v1.is_empty() && !v2.is_empty() && v1 != v2, "{v1} {v2}");
    assert!(v1 < v2, "version ids sort as they were made: {v1} {v2}");
    assert_eq!(get(&s3, &bucket, "k", None).await, b"second, longer");
    assert_eq!(get(&s3, &bucket, "k", Some(&v1)).await, b"first");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("head v1");
    assert_eq!(head.version_id(), Some(v1.as_str()));
    assert_eq!(head.content_length(), Some(5));

    // A ranged read of the old version.
    let ranged = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v1)
        .range("bytes=1-3")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(body_bytes(ranged).await, b"irs");

    // Delete without an id: a marker hides the key.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().expect("marker id").to_string();
    let hidden = s3.get_object().bucket(&bucket).key("k").send().await;
    assert_code(&hidden, "NoSuchKey");
    let raw = signed(&c, "GET", &format!("/{bucket}/k"), &[], b"").await;
    assert_eq!(raw.status, 404);
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.header("x-amz-version-id"), Some(marker.as_str()));
    // GET of the marker by id: 405.
    let by_id = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&marker)
        .send()
        .await;
    assert_eq!(error_status(&by_id), 405, "{by_id:?}");
    assert_eq!(get(&s3, &bucket, "k", Some(&v2)).await, b"second, longer");

    let listed = all_versions(&s3, &bucket, None, 1000).await;
    assert_eq!(
        listed,
        vec![
            ("k".to_string(), marker.clone(), true, true),
            ("k".to_string(), v2.clone(), false, false),
            ("k".to_string(), v1.clone(), false, false),
        ]
    );
    // Not listed by ListObjectsV2 while hidden.
    let objects = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list");
    assert!(objects.contents().is_empty(), "{objects:?}");

    // Removing the marker brings v2 back; removing v2 brings v1 back.
    let undelete = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .expect("delete marker");
    assert_eq!(undelete.delete_marker(), Some(true));
    assert_eq!(undelete.version_id(), Some(marker.as_str()));
    assert_eq!(get(&s3, &bucket, "k", None).await, b"second, longer");
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .expect("delete v2");
    assert_eq!(get(&s3, &bucket, "k", None).await, b"first");

    // Error cases.
    let bad = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id("not-a-version")
        .send()
        .await;
    assert_code(&bad, "InvalidArgument");
    let gone = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&v2)
        .send()
        .await;
    assert_code(&gone, "NoSuchVersion");
    let busy = s3.delete_bucket().bucket(&bucket).send().await;
    assert_code(&busy, "BucketNotEmpty");

    // DeleteObjects with version ids empties it.
    s3.delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("marker again");
    let versions = all_versions(&s3, &bucket, None, 1000).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    let objects: Vec<ObjectIdentifier> = versions
        .iter()
        .map(|(k, v, _, _)| {
            ObjectIdentifier::builder()
                .key(k)
                .version_id(v)
                .build()
                .expect("identifier")
        })
        .collect();
    let out = s3
        .delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .expect("delete body"),
        )
        .send()
        .await
        .expect("delete objects");
    assert!(out.errors().is_empty(), "{out:?}");
    assert_eq!(out.deleted().len(), 2);
    assert!(all_versions(&s3, &bucket, None, 1000).await.is_empty());
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("an emptied bucket is deleted");
}

#[tokio::test]
async fn suspended_buckets_replace_the_null_version() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = bucket_name("susp");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    // Made before versioning: the null version, no version id answered.
    let before = put(&s3, &bucket, "k", b"unversioned").await;
    assert_eq!(before, "");
    set_versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    let v1 = put(&s3, &bucket, "k", b"v1").await;
    set_versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    let n1 = put(&s3, &bucket, "k", b"null one").await;
    let n2 = put(&s3, &bucket, "k", b"null two").await;
    assert_eq!((n1.as_str(), n2.as_str()), ("null", "null"));
    assert_eq!(get(&s3, &bucket, "k", Some("null")).await, b"null two");
    assert_eq!(get(&s3, &bucket, "k", Some(&v1)).await, b"v1");
    let listed = all_versions(&s3, &bucket, None, 1000).await;
    let ids: Vec<&str> = listed.iter().map(|(_, v, _, _)| v.as_str()).collect();
    assert_eq!(ids, vec!["null", v1.as_str()], "one null version, replaced");
    // A delete while suspended: a null marker replaces the null version.
    let del = s3
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.delete_marker(), Some(true));
    assert_eq!(del.version_id(), Some("null"));
    let listed = all_versions(&s3, &bucket, None, 1000).await;
    assert_eq!(
        listed,
        vec![
            ("k".to_string(), "null".to_string(), true, true),
            ("k".to_string(), v1.clone(), false, false),
        ]
    );
}

#[tokio::test]
async fn listing_versions_pages_in_order_with_prefixes() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = versioned_bucket(&s3, "lv").await;
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..12 {
        let key = if i % 3 == 0 {
            format!("dir/{i:02}")
        } else {
            format!("k{i:02}")
        };
        for round in 0..(1 + i % 3) {
            let id = put(&s3, &bucket, &key, format!("{key} {round}").as_bytes()).await;
            expected.entry(key.clone()).or_default().push(id);
        }
    }
    let mut want: Vec<(String, String, bool, bool)> = Vec::new();
    for (key, ids) in &expected {
        for (i, id) in ids.iter().rev().enumerate() {
            want.push((key.clone(), id.clone(), i == 0, false));
        }
    }
    for max in [1, 2, 5, 1000] {
        assert_eq!(
            all_versions(&s3, &bucket, None, max).await,
            want,
            "max-keys {max}"
        );
    }
    let dir: Vec<_> = want
        .iter()
        .filter(|(k, ..)| k.starts_with("dir/"))
        .cloned()
        .collect();
    assert_eq!(all_versions(&s3, &bucket, Some("dir/"), 3).await, dir);

    // A delimiter folds dir/ into one common prefix.
    let page = s3
        .list_object_versions()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .expect("list with delimiter");
    let prefixes: Vec<&str> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["dir/"]);
    assert!(page.versions().iter().all(|v| !v.key().unwrap_or("").contains('/')));
    assert_eq!(
        page.versions().len(),
        want.iter().filter(|(k, ..)| !k.contains('/')).count()
    );
    let bad = s3
        .list_object_versions()
        .bucket(&bucket)
        .version_id_marker("00000000000000000001")
        .send()
        .await;
    assert_code(&bad, "InvalidArgument");
}

#[tokio::test]
async fn copies_and_multipart_uploads_make_one_version_each() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = versioned_bucket(&s3, "vcopy").await;
    let v1 = put(&s3, &bucket, "src", b"old bytes").await;
    put(&s3, &bucket, "src", b"new bytes").await;
    let copy = s3
        .copy_object()
        .bucket(&bucket)
        .key("dst")
        .copy_source(format!("{bucket}/src?versionId={v1}"))
        .send()
        .await
        .expect("copy an old version");
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    assert!(copy.version_id().is_some_and(|v| !v.is_empty()));
    assert_eq!(get(&s3, &bucket, "dst", None).await, b"old bytes");

    let create = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .send()
        .await
        .expect("create upload");
    let upload_id = create.upload_id().expect("upload id");
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("mp")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(b"multipart body".to_vec()))
        .send()
        .await
        .expect("part");
    let done = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("mp")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let id = done.version_id().expect("a version id").to_string();
    let versions = all_versions(&s3, &bucket, Some("mp"), 1000).await;
    assert_eq!(
        versions,
        vec![("mp".to_string(), id, true, false)],
        "one upload, one version"
    );
    let part_read = s3
        .get_object()
        .bucket(&bucket)
        .key("mp")
        .part_number(1)
        .send()
        .await
        .expect("partNumber read");
    assert_eq!(body_bytes(part_read).await, b"multipart body");
}

#[tokio::test]
async fn object_lock_refuses_deletes_of_locked_versions() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = bucket_name("lock");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create with object lock");
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let suspend = s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_code(&suspend, "InvalidBucketState");

    let until = aws_sdk_s3::primitives::DateTime::from_secs(
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 86_400) as i64,
    );
    let put_locked = |key: &'static str, mode: ObjectLockMode| {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(b"kept".to_vec()))
            .object_lock_mode(mode)
            .object_lock_retain_until_date(until)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
    };
    let locked = put_locked("compliance", ObjectLockMode::Compliance)
        .await
        .expect("put with COMPLIANCE");
    let locked_id = locked.version_id().expect("id").to_string();
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("compliance")
        .send()
        .await
        .expect("head");
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert!(head.object_lock_retain_until_date().is_some());

    let refused = s3
        .delete_object()
        .bucket(&bucket)
        .key("compliance")
        .version_id(&locked_id)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(&refused, "AccessDenied");
    assert_eq!(get(&s3, &bucket, "compliance", Some(&locked_id)).await, b"kept");
    // A marker is allowed: the version stays.
    s3.delete_object()
        .bucket(&bucket)
        .key("compliance")
        .send()
        .await
        .expect("a marker over a locked version");
    assert_eq!(get(&s3, &bucket, "compliance", Some(&locked_id)).await, b"kept");

    let governed = put_locked("governance", ObjectLockMode::Governance)
        .await
        .expect("put with GOVERNANCE");
    let governed_id = governed.version_id().expect("id").to_string();
    let refused = s3
        .delete_object()
        .bucket(&bucket)
        .key("governance")
        .version_id(&governed_id)
        .send()
        .await;
    assert_code(&refused, "AccessDenied");
    s3.delete_object()
        .bucket(&bucket)
        .key("governance")
        .version_id(&governed_id)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("the owner bypasses GOVERNANCE");

    // Lock headers need a checksum of the body.
    let no_checksum = signed(
        &c,
        "PUT",
        &format!("/{bucket}/raw"),
        &[
            ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"),
        ],
        b"x",
    )
    .await;
    assert_eq!(no_checksum.status, 400, "{}", no_checksum.text());
    assert_eq!(no_checksum.code(), "InvalidRequest");
    // And a bucket without object lock refuses them.
    let plain = bucket_name("nolock");
    s3.create_bucket().bucket(&plain).send().await.expect("create");
    let refused = put_locked_in(&s3, &plain, until).await;
    assert_code(&refused, "InvalidRequest");
}

async fn put_locked_in(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    until: aws_sdk_s3::primitives::DateTime,
) -> Result<
    aws_sdk_s3::operation::put_object::PutObjectOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>,
> {
    s3.put_object()
        .bucket(bucket)
        .key("k")
        .body(ByteStream::from(b"x".to_vec()))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
}

#[tokio::test]
async fn tags_on_put_are_counted_per_version() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = versioned_bucket(&s3, "vtag").await;
    let tagged = s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .tagging("a=1&b=two")
        .body(ByteStream::from(b"x".to_vec()))
        .send()
        .await
        .expect("put with tags");
    let tagged_id = tagged.version_id().expect("id").to_string();
    put(&s3, &bucket, "k", b"y").await;
    let raw = signed(&c, "HEAD", &format!("/{bucket}/k?versionId={tagged_id}"), &[], b"").await;
    assert_eq!(raw.header("x-amz-tagging-count"), Some("2"));
    let raw = signed(&c, "HEAD", &format!("/{bucket}/k"), &[], b"").await;
    assert_eq!(raw.header("x-amz-tagging-count"), None);
    let too_many: Vec<String> = (0..11).map(|i| format!("t{i}=v")).collect();
    let refused = s3
        .put_object()
        .bucket(&bucket)
        .key("k")
        .tagging(too_many.join("&"))
        .body(ByteStream::from(b"z".to_vec()))
        .send()
        .await;
    assert_code(&refused, "BadRequest");
}
