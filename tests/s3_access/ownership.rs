//! Object Ownership: the operations, Cairn's default, and ACLs turned off
//! by BucketOwnerEnforced.

use aws_sdk_s3::types::{
    ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
};

use super::*;

fn rule(o: ObjectOwnership) -> OwnershipControls {
    OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(o)
                .build()
                .expect("rule"),
        )
        .build()
        .expect("controls")
}

#[tokio::test]
async fn put_get_delete() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "own-crud").await;
    let none = s3.get_bucket_ownership_controls().bucket(&b).send().await;
    assert_code(&none, "OwnershipControlsNotFoundError");
    assert_eq!(error_status(&none), 404);
    for o in [
        ObjectOwnership::BucketOwnerPreferred,
        ObjectOwnership::ObjectWriter,
        ObjectOwnership::BucketOwnerEnforced,
    ] {
        s3.put_bucket_ownership_controls()
            .bucket(&b)
            .ownership_controls(rule(o.clone()))
            .send()
            .await
            .expect("put");
        let got = s3
            .get_bucket_ownership_controls()
            .bucket(&b)
            .send()
            .await
            .expect("get");
        let rules = got
            .ownership_controls()
            .map(|c| c.rules().to_vec())
            .unwrap_or_default();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].object_ownership(), &o);
    }
    s3.delete_bucket_ownership_controls()
        .bucket(&b)
        .send()
        .await
        .expect("delete");
    assert_code(
        &s3.get_bucket_ownership_controls().bucket(&b).send().await,
        "OwnershipControlsNotFoundError",
    );
}

#[tokio::test]
async fn bucket_owner_enforced_turns_acls_off() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "own-enforced").await;
    s3.put_bucket_ownership_controls()
        .bucket(&b)
        .ownership_controls(rule(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .expect("put");
    let put = |acl: ObjectCannedAcl| {
        s3.put_object()
            .bucket(&b)
            .key("k")
            .acl(acl)
            .body(b"v".to_vec().into())
            .send()
    };
    let r = put(ObjectCannedAcl::PublicRead).await;
    assert_code(&r, "AccessControlListNotSupported");
    assert_eq!(error_status(&r), 400);
    put(ObjectCannedAcl::BucketOwnerFullControl)
        .await
        .expect("bucket-owner-full-control passes");
    put(ObjectCannedAcl::Private).await.expect("private passes");
    let upload = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("m")
        .acl(ObjectCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_code(&upload, "AccessControlListNotSupported");
}
