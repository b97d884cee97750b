//! S3 bucket operations through `cairn up` with aws-sdk-s3: ListBuckets,
//! CreateBucket (name rules, already owned: 200 in us-east-1, location constraint),
//! HeadBucket, DeleteBucket (not empty), GetBucketLocation,
//! GetBucketVersioning, and `NotImplemented` for what comes later.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use common::s3::*;

#[tokio::test]
async fn bucket_lifecycle() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("life");

    assert_code(&s3.head_bucket().bucket(&b).send().await, "NotFound");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    s3.head_bucket().bucket(&b).send().await.expect("head");
    let listed = s3.list_buckets().send().await.expect("list");
    let names: Vec<&str> = listed.buckets().iter().filter_map(|x| x.name()).collect();
    assert!(names.contains(&b.as_str()), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ListBuckets answers in name order");
    assert!(listed.buckets().iter().all(|x| x.creation_date().is_some()));

    // us-east-1 (the cluster's region here) answers the owner's repeated
    // creation with success; tests/s3_core covers another region's 409.
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("created again by its owner in us-east-1");

    let loc = s3
        .get_bucket_location()
        .bucket(&b)
        .send()
        .await
        .expect("location");
    assert!(
        loc.location_constraint()
            .is_none_or(|l| l.as_str().is_empty()),
        "us-east-1 is the empty constraint: {loc:?}"
    );
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&b)
        .send()
        .await
        .expect("versioning");
    assert!(
        versioning.status().is_none(),
        "never versioned: {versioning:?}"
    );

    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let not_empty = s3.delete_bucket().bucket(&b).send().await;
    assert_code(&not_empty, "BucketNotEmpty");
    assert_eq!(error_status(&not_empty), 409);
    s3.delete_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("delete object");
    s3.delete_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("delete bucket");
    assert_code(&s3.head_bucket().bucket(&b).send().await, "NotFound");
    assert_code(&s3.delete_bucket().bucket(&b).send().await, "NoSuchBucket");
    assert_code(
        &s3.list_objects_v2().bucket(&b).send().await,
        "NoSuchBucket",
    );
    let listed = s3.list_buckets().send().await.expect("list");
    assert!(!listed
        .buckets()
        .iter()
        .any(|x| x.name() == Some(b.as_str())));
}

#[tokio::test]
async fn bucket_names_and_locations() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    for bad in [
        "ab",
        "under_score",
        "a..b",
        "192.168.1.10",
        "-leading",
        "xn--punycode",
    ] {
        let r = s3.create_bucket().bucket(bad).send().await;
        assert_code(&r, "InvalidBucketName");
        assert_eq!(error_status(&r), 400, "{bad}");
    }
    let long = "a".repeat(64);
    assert_code(
        &s3.create_bucket().bucket(&long).send().await,
        "InvalidBucketName",
    );

    let b = bucket_name("eu");
    let elsewhere = s3
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await;
    assert_code(&elsewhere, "IllegalLocationConstraintException");
    assert_code(&s3.head_bucket().bucket(&b).send().await, "NotFound");

    // The gateway's own region is accepted.
    s3.create_bucket()
        .bucket(&b)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("create in the gateway's region");
    s3.delete_bucket().bucket(&b).send().await.expect("delete");
}

#[tokio::test]
async fn later_features_answer_not_implemented() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("ni");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let logging = s3.get_bucket_logging().bucket(&b).send().await;
    assert_code(&logging, "NotImplemented");
    assert_eq!(error_status(&logging), 501);
    assert_code(
        &s3.get_bucket_website().bucket(&b).send().await,
        "NotImplemented",
    );
    assert_code(
        &s3.delete_bucket_website().bucket(&b).send().await,
        "NotImplemented",
    );
    // Nothing changed.
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&b)
        .send()
        .await
        .expect("versioning");
    assert!(versioning.status().is_none());
    s3.delete_bucket().bucket(&b).send().await.expect("delete");
}
