//! Object and bucket tagging, per version.

use super::*;

#[tokio::test]
async fn object_tags() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("tags");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    put(&s3, &b, "k", b"data").await;

    let got = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("get tags");
    assert!(got.tag_set().is_empty(), "{got:?}");
    assert_eq!(got.version_id(), None, "never versioned: no version id");

    s3.put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&[("zeta", "last"), ("alpha", "a b+c")]))
        .send()
        .await
        .expect("put tags");
    let got = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("get tags");
    assert_eq!(
        tag_pairs(got.tag_set()),
        pairs(&[("alpha", "a b+c"), ("zeta", "last")]),
        "key order"
    );

    // Eleven tags are too many; the refused set changes nothing.
    let keys: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
    let eleven: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    let r = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&eleven))
        .send()
        .await;
    assert_code(&r, "BadRequest");
    assert_eq!(error_status(&r), 400);
    let r = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&eleven[..10]))
        .send()
        .await;
    assert!(r.is_ok(), "ten tags are allowed: {r:?}");
    for bad in [("a,b", "v"), ("k", "(x)"), ("aws:reserved", "v")] {
        let r = s3
            .put_object_tagging()
            .bucket(&b)
            .key("k")
            .tagging(tagging(&[bad]))
            .send()
            .await;
        assert_code(&r, "InvalidTag");
        assert_eq!(error_status(&r), 400, "{bad:?}");
    }
    let got = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("get tags");
    assert_eq!(got.tag_set().len(), 10, "the ten tags stay");

    let deleted = s3.delete_object_tagging().bucket(&b).key("k").send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    let got = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("get tags of the null version");
    assert!(got.tag_set().is_empty(), "{got:?}");

    let missing = s3.get_object_tagging().bucket(&b).key("nope").send().await;
    assert_code(&missing, "NoSuchKey");
    assert_eq!(error_status(&missing), 404);
    assert_code(
        &s3.put_object_tagging()
            .bucket(&b)
            .key("nope")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        "NoSuchKey",
    );
    let bad_id = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id("not-a-version")
        .send()
        .await;
    assert_code(&bad_id, "InvalidArgument");
    assert_eq!(error_message(&bad_id), "Invalid version id specified");
    assert_code(
        &s3.get_object_tagging()
            .bucket(bucket_name("gone"))
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn bucket_tags() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("btags");
    s3.create_bucket().bucket(&b).send().await.expect("create");

    let none = s3.get_bucket_tagging().bucket(&b).send().await;
    assert_code(&none, "NoSuchTagSet");
    assert_eq!(error_status(&none), 404);

    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("team", "storage"), ("cost", "42")]))
        .send()
        .await
        .expect("put bucket tags");
    let got = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("get bucket tags");
    assert_eq!(
        tag_pairs(got.tag_set()),
        pairs(&[("cost", "42"), ("team", "storage")])
    );

    let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    let many: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    assert_code(
        &s3.put_bucket_tagging()
            .bucket(&b)
            .tagging(tagging(&many))
            .send()
            .await,
        "BadRequest",
    );
    assert_code(
        &s3.put_bucket_tagging()
            .bucket(&b)
            .tagging(tagging(&[("k", "semi;colon")]))
            .send()
            .await,
        "InvalidTag",
    );
    // Fifty are allowed on a bucket (not on an object).
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&many[..50]))
        .send()
        .await
        .expect("fifty bucket tags");
    let got = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("get bucket tags");
    assert_eq!(got.tag_set().len(), 50);

    s3.delete_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("delete bucket tags");
    assert_code(
        &s3.get_bucket_tagging().bucket(&b).send().await,
        "NoSuchTagSet",
    );
    // An empty set leaves the bucket without tags.
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[]))
        .send()
        .await
        .expect("empty tag set");
    assert_code(
        &s3.get_bucket_tagging().bucket(&b).send().await,
        "NoSuchTagSet",
    );
    assert_code(
        &s3.get_bucket_tagging()
            .bucket(bucket_name("gone"))
            .send()
            .await,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn tags_per_version() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("vtags");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    enable_versioning(&c, &s3, &b).await;
    put(&s3, &b, "k", b"one").await;
    let v1 = current_version(&c, &b, "k").await;
    put(&s3, &b, "k", b"two").await;
    let v2 = current_version(&c, &b, "k").await;
    assert_ne!(v1, v2);

    let put_old = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .tagging(tagging(&[("gen", "old")]))
        .send()
        .await
        .expect("tag the old version");
    assert_eq!(put_old.version_id(), Some(v1.as_str()));
    let put_new = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&[("gen", "new")]))
        .send()
        .await
        .expect("tag the current version");
    assert_eq!(put_new.version_id(), Some(v2.as_str()));

    let old = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("old tags");
    assert_eq!(tag_pairs(old.tag_set()), pairs(&[("gen", "old")]));
    assert_eq!(old.version_id(), Some(v1.as_str()));
    let current = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("current tags");
    assert_eq!(tag_pairs(current.tag_set()), pairs(&[("gen", "new")]));
    assert_eq!(current.version_id(), Some(v2.as_str()));

    let no_such = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id("00000000000999999999")
        .send()
        .await;
    assert_code(&no_such, "NoSuchVersion");
    assert_eq!(error_status(&no_such), 404);

    // Behind a delete marker: the key is gone, its versions are not.
    s3.delete_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("delete");
    let marker = current_version(&c, &b, "k").await;
    assert!(marker != v1 && marker != v2, "a marker is a new version");
    let hidden = s3.get_object_tagging().bucket(&b).key("k").send().await;
    assert_code(&hidden, "NoSuchKey");
    assert_eq!(error_status(&hidden), 404);
    assert_eq!(
        error_header(&hidden, "x-amz-delete-marker").as_deref(),
        Some("true")
    );
    let on_marker = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&marker)
        .send()
        .await;
    assert_code(&on_marker, "MethodNotAllowed");
    assert_eq!(error_status(&on_marker), 405);
    assert_code(
        &s3.put_object_tagging()
            .bucket(&b)
            .key("k")
            .version_id(&marker)
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        "MethodNotAllowed",
    );
    let old = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .expect("old tags behind the marker");
    assert_eq!(tag_pairs(old.tag_set()), pairs(&[("gen", "old")]));
    let cleared = s3
        .delete_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .expect("delete the tags of v2");
    assert_eq!(cleared.version_id(), Some(v2.as_str()));
    let v2_tags = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .expect("v2 tags");
    assert!(v2_tags.tag_set().is_empty(), "{v2_tags:?}");
}
