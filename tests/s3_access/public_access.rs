//! Public Access Block: the operations and what each flag does.

use aws_sdk_s3::types::{ObjectCannedAcl, PublicAccessBlockConfiguration};

use super::*;

fn flags(acls: bool, ignore: bool, policy: bool, restrict: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(acls)
        .ignore_public_acls(ignore)
        .block_public_policy(policy)
        .restrict_public_buckets(restrict)
        .build()
}

#[tokio::test]
async fn put_get_delete() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pab-crud").await;
    let none = s3.get_public_access_block().bucket(&b).send().await;
    assert_code(&none, "NoSuchPublicAccessBlockConfiguration");
    assert_eq!(error_status(&none), 404);
    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(flags(true, false, true, false))
        .send()
        .await
        .expect("put");
    let got = s3
        .get_public_access_block()
        .bucket(&b)
        .send()
        .await
        .expect("get");
    let c = got
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(false), Some(true), Some(false))
    );
    s3.delete_public_access_block()
        .bucket(&b)
        .send()
        .await
        .expect("delete");
    assert_code(
        &s3.get_public_access_block().bucket(&b).send().await,
        "NoSuchPublicAccessBlockConfiguration",
    );
}

#[tokio::test]
async fn block_public_policy_refuses_a_public_policy() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pab-policy").await;
    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(flags(false, false, true, false))
        .send()
        .await
        .expect("put");
    let r = put_policy(&s3, &b, &public_read(&b)).await;
    assert_code(&r, "AccessDenied");
    assert_eq!(error_status(&r), 403);
    let (id, _) = cluster.create_key("pab-friend");
    let private = policy_of(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{id}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}"#
    ));
    put_policy(&s3, &b, &private)
        .await
        .expect("a non-public policy passes");
}

#[tokio::test]
async fn restrict_public_buckets_keeps_anonymous_out() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pab-restrict").await;
    put_bytes(&s3, &b, "k", b"v").await;
    put_policy(&s3, &b, &public_read(&b))
        .await
        .expect("public read");
    let path = format!("/{b}/k");
    assert_eq!(anonymous(&cluster, "GET", &path, b"").await.status, 200);
    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(flags(false, false, false, true))
        .send()
        .await
        .expect("put");
    let r = anonymous(&cluster, "GET", &path, b"").await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    // A key of the cluster still gets what the policy grants.
    let (id, secret) = cluster.create_key("pab-reader");
    let reader = cluster.client_with(&id, &secret);
    assert_eq!(get_bytes(&reader, &b, "k").await, b"v");
    s3.delete_public_access_block()
        .bucket(&b)
        .send()
        .await
        .expect("delete");
    assert_eq!(anonymous(&cluster, "GET", &path, b"").await.status, 200);
}

#[tokio::test]
async fn block_public_acls_refuses_public_acls_on_writes() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pab-acls").await;
    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(flags(true, false, false, false))
        .send()
        .await
        .expect("put");
    let r = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"v".to_vec().into())
        .send()
        .await;
    assert_code(&r, "AccessDenied");
    s3.put_object()
        .bucket(&b)
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .body(b"v".to_vec().into())
        .send()
        .await
        .expect("a private ACL passes");
}
