//! `partNumber` on GET and HEAD, `max-keys=0`, ListBuckets paging, and
//! CreateBucket of a bucket one owns in us-east-1 and elsewhere.

use super::*;

#[tokio::test]
async fn part_number_reads_and_their_errors() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "partno").await;
    let (id, parts, whole) = two_part_upload(&s3, &b, "multi", 100).await;
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("multi")
        .upload_id(&id)
        .multipart_upload(parts_of(&parts))
        .send()
        .await
        .expect("complete");
    let get = |key: &str, part: i32| s3.get_object().bucket(&b).key(key).part_number(part);
    let head = |key: &str, part: i32| s3.head_object().bucket(&b).key(key).part_number(part);

    let second = get("multi", 2).send().await.expect("part 2");
    assert_eq!(second.parts_count(), Some(2));
    assert_eq!(second.content_length(), Some(777));
    assert!(body_bytes(second).await == whole[5 * MIB..]);
    let first = head("multi", 1).send().await.expect("head part 1");
    assert_eq!(first.parts_count(), Some(2));
    assert_eq!(first.content_length(), Some(5 * MIB as i64));

    // Past the object's parts: 416 InvalidPartNumber (HEAD has no body to
    // name the code, only the status).
    let r = get("multi", 3).send().await;
    assert_code(&r, "InvalidPartNumber");
    assert_eq!(error_status(&r), 416);
    assert_eq!(error_status(&head("multi", 3).send().await), 416);
    // Outside 1..=10,000: InvalidArgument.
    for bad in [0, 10_001, -1] {
        let r = get("multi", bad).send().await;
        assert_code(&r, "InvalidArgument");
        assert_eq!(error_status(&head("multi", bad).send().await), 400);
    }

    // An object of one PUT is its part 1, and has no part 2.
    put_bytes(&s3, &b, "single", b"one piece").await;
    let one = get("single", 1).send().await.expect("part 1 of a PUT");
    assert_eq!(one.content_length(), Some(9));
    assert_eq!(body_bytes(one).await, b"one piece");
    assert_eq!(
        head("single", 1)
            .send()
            .await
            .expect("head")
            .content_length(),
        Some(9)
    );
    let r = get("single", 2).send().await;
    assert_code(&r, "InvalidPartNumber");
    assert_eq!(error_status(&head("single", 2).send().await), 416);
    // A part and a range together are refused.
    assert_code(
        &get("multi", 1).range("bytes=0-1").send().await,
        "InvalidRequest",
    );
}

#[tokio::test]
async fn max_keys_zero_lists_nothing_and_is_not_truncated() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "maxzero").await;
    for key in ["a", "b/c", "d"] {
        put_bytes(&s3, &b, key, b"x").await;
    }
    let v2 = s3
        .list_objects_v2()
        .bucket(&b)
        .max_keys(0)
        .send()
        .await
        .expect("list v2");
    assert!(v2.contents().is_empty(), "{v2:?}");
    assert_eq!(v2.is_truncated(), Some(false));
    assert_eq!(v2.key_count(), Some(0));
    assert_eq!(v2.max_keys(), Some(0));
    assert!(v2.next_continuation_token().is_none());
    let v1 = s3
        .list_objects()
        .bucket(&b)
        .max_keys(0)
        .delimiter("/")
        .send()
        .await
        .expect("list v1");
    assert!(
        v1.contents().is_empty() && v1.common_prefixes().is_empty(),
        "{v1:?}"
    );
    assert_eq!(v1.is_truncated(), Some(false));
    assert!(v1.next_marker().is_none());
    // One key is a page, and a truncated one.
    let one = s3
        .list_objects_v2()
        .bucket(&b)
        .max_keys(1)
        .send()
        .await
        .expect("list one");
    assert_eq!(one.contents().len(), 1);
    assert_eq!(one.is_truncated(), Some(true));
}

#[tokio::test]
async fn list_buckets_pages_by_prefix_and_token() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let prefix = bucket_name("lbp");
    let names: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
    for name in &names {
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create");
    }
    let first = s3
        .list_buckets()
        .prefix(&prefix)
        .max_buckets(2)
        .send()
        .await
        .expect("first page");
    let listed: Vec<&str> = first.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(listed, [names[0].as_str(), names[1].as_str()]);
    assert_eq!(first.prefix(), Some(prefix.as_str()));
    assert!(first
        .buckets()
        .iter()
        .all(|b| b.bucket_region() == Some(REGION)));
    let token = first.continuation_token().expect("a next page").to_string();
    let rest = s3
        .list_buckets()
        .prefix(&prefix)
        .max_buckets(2)
        .continuation_token(&token)
        .send()
        .await
        .expect("second page");
    let listed: Vec<&str> = rest.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(listed, [names[2].as_str()]);
    assert!(rest.continuation_token().is_none(), "{rest:?}");
    // Without max-buckets, every bucket; a prefix nothing has, none.
    let all = s3.list_buckets().send().await.expect("all");
    assert!(all.continuation_token().is_none());
    assert!(names
        .iter()
        .all(|n| all.buckets().iter().any(|b| b.name() == Some(n.as_str()))));
    let none = s3
        .list_buckets()
        .prefix(format!("{prefix}-x"))
        .send()
        .await
        .expect("none");
    assert!(none.buckets().is_empty());
    let here = s3
        .list_buckets()
        .prefix(&prefix)
        .bucket_region(REGION)
        .send()
        .await
        .expect("this region");
    assert_eq!(here.buckets().len(), 3);
    let elsewhere = s3
        .list_buckets()
        .prefix(&prefix)
        .bucket_region("eu-west-1")
        .send()
        .await
        .expect("another region");
    assert!(elsewhere.buckets().is_empty());
    for bad in [0, 10_001] {
        assert_code(
            &s3.list_buckets().max_buckets(bad).send().await,
            "InvalidArgument",
        );
    }
    assert_code(
        &s3.list_buckets().continuation_token("!!").send().await,
        "InvalidArgument",
    );
}

#[tokio::test]
async fn creating_an_owned_bucket_again_depends_on_the_region() {
    // us-east-1 (the shared cluster's region): 200, as S3 answers there.
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "again").await;
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("created again by its owner in us-east-1");
    let other = c.create_key("core-other");
    assert_code(
        &c.client_with(&other.0, &other.1)
            .create_bucket()
            .bucket(&b)
            .send()
            .await,
        "BucketAlreadyExists",
    );

    // Another region: 409 BucketAlreadyOwnedByYou.
    let region = "eu-west-1";
    let eu = S3Cluster::start_with(&["--region", region]);
    let s3 = eu.client();
    let b = bucket_name("again");
    let constraint = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    let create = || {
        s3.create_bucket()
            .bucket(&b)
            .create_bucket_configuration(constraint.clone())
            .send()
    };
    create().await.expect("create in eu-west-1");
    let r = create().await;
    assert_code(&r, "BucketAlreadyOwnedByYou");
    assert_eq!(error_status(&r), 409);
}
