//! ACLs as Cairn has them: the owner's full control, shown by Get*Acl;
//! Put*Acl accepts what changes nothing and refuses the rest.

use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, Permission, Type};

use super::*;

#[tokio::test]
async fn get_acls_show_the_owners_full_control() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "acl-get").await;
    put_bytes(&s3, &b, "k", b"v").await;
    let bucket_acl = s3
        .get_bucket_acl()
        .bucket(&b)
        .send()
        .await
        .expect("bucket acl");
    assert_eq!(
        bucket_acl.owner().and_then(|o| o.id()),
        Some(cluster.access_key.as_str())
    );
    let grants = bucket_acl.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].permission(), Some(&Permission::FullControl));
    let grantee = grants[0].grantee().expect("grantee");
    assert_eq!(grantee.r#type(), &Type::CanonicalUser);
    assert_eq!(grantee.id(), Some(cluster.access_key.as_str()));

    let object_acl = s3
        .get_object_acl()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("object acl");
    assert_eq!(
        object_acl.owner().and_then(|o| o.id()),
        Some(cluster.access_key.as_str())
    );
    assert_eq!(object_acl.grants().len(), 1);
    assert_code(
        &s3.get_object_acl().bucket(&b).key("absent").send().await,
        "NoSuchKey",
    );
}

#[tokio::test]
async fn put_acls_accept_the_default_and_refuse_the_rest() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "acl-put").await;
    put_bytes(&s3, &b, "k", b"v").await;
    s3.put_bucket_acl()
        .bucket(&b)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("private bucket acl");
    s3.put_object_acl()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .expect("owner full control");
    let public = s3
        .put_object_acl()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await;
    assert_code(&public, "NotImplemented");
    assert_code(
        &s3.put_object_acl()
            .bucket(&b)
            .key("absent")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "NoSuchKey",
    );
    // The grant shows the object is still not public.
    let anon = anonymous(&cluster, "GET", &format!("/{b}/k"), b"").await;
    assert_eq!(anon.status, 403);

    s3.put_bucket_ownership_controls()
        .bucket(&b)
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("controls"),
        )
        .send()
        .await
        .expect("enforce");
    assert_code(
        &s3.put_bucket_acl()
            .bucket(&b)
            .acl(BucketCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
    );
    assert_code(
        &s3.put_object_acl()
            .bucket(&b)
            .key("k")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "AccessControlListNotSupported",
    );
    // GetObjectAcl still answers the owner's full control.
    let acl = s3
        .get_object_acl()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("acl");
    assert_eq!(acl.grants().len(), 1);
}
