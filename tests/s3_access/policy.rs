//! Bucket policies: the three operations and the status, the refusals,
//! and what a policy lets anonymous requests and other keys do.

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn put_get_delete_and_status() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pol-crud").await;
    let none = s3.get_bucket_policy().bucket(&b).send().await;
    assert_code(&none, "NoSuchBucketPolicy");
    assert_eq!(error_status(&none), 404);
    assert_code(
        &s3.get_bucket_policy_status().bucket(&b).send().await,
        "NoSuchBucketPolicy",
    );

    let policy = public_read(&b);
    put_policy(&s3, &b, &policy).await.expect("put policy");
    let got = s3
        .get_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.policy(), Some(policy.as_str()), "answered as sent");
    let status = s3
        .get_bucket_policy_status()
        .bucket(&b)
        .send()
        .await
        .expect("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );

    // A range of addresses pins the grant: not public.
    let pinned = policy_of(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}}"#
    ));
    put_policy(&s3, &b, &pinned)
        .await
        .expect("put pinned policy");
    let status = s3
        .get_bucket_policy_status()
        .bucket(&b)
        .send()
        .await
        .expect("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(false)
    );

    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("delete policy");
    assert_code(
        &s3.get_bucket_policy().bucket(&b).send().await,
        "NoSuchBucketPolicy",
    );
    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("deleting no policy is fine");
}

#[tokio::test]
async fn malformed_policies_are_refused_with_the_reason() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pol-bad").await;
    let stmt = |s: &str| policy_of(s);
    let cases = [
        ("{not json".to_string(), "invalid Json"),
        (
            r#"{"Version":"2012-10-17"}"#.to_string(),
            "Missing required field Statement",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}"#
            )),
            "Missing required field Principal",
        ),
        (
            stmt(&format!(
                r#"{{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}"#
            )),
            "Missing required field Effect",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::someone-else/*"}"#,
            ),
            "Policy has invalid resource",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:Teleport","Resource":"arn:aws:s3:::{b}/*"}}"#
            )),
            "Policy has invalid action",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*","Condition":{{"StringSortOf":{{"aws:Referer":"x"}}}}}}"#
            )),
            "Invalid Condition type",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow","Principal":{{"Service":"x.amazonaws.com"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}"#
            )),
            "Invalid principal in policy",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}"}}"#
            )),
            "Action does not apply",
        ),
    ];
    for (policy, why) in cases {
        let r = put_policy(&s3, &b, &policy).await;
        assert_code(&r, "MalformedPolicy");
        assert_eq!(error_status(&r), 400);
        let message = r
            .as_ref()
            .err()
            .and_then(|e| e.message())
            .unwrap_or("")
            .to_string();
        assert!(message.contains(why), "{policy}: {message}, want {why}");
    }
    let big = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[]}}"#,
        "x".repeat(21 * 1024)
    );
    assert_code(&put_policy(&s3, &b, &big).await, "MalformedPolicy");
    assert_code(
        &s3.get_bucket_policy().bucket(&b).send().await,
        "NoSuchBucketPolicy",
    );
}

#[tokio::test]
async fn anonymous_reads_exactly_where_a_policy_allows() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pol-anon").await;
    put_bytes(&s3, &b, "page.html", b"hello, world").await;
    let path = format!("/{b}/page.html");

    let before = anonymous(&cluster, "GET", &path, b"").await;
    assert_eq!(
        (before.status, before.code().as_str()),
        (403, "AccessDenied")
    );

    put_policy(&s3, &b, &public_read(&b))
        .await
        .expect("public read");
    let after = anonymous(&cluster, "GET", &path, b"").await;
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(after.body, b"hello, world");
    assert_eq!(anonymous(&cluster, "HEAD", &path, b"").await.status, 200);
    // Only reads of objects: no listing, no writes, no deletes.
    for (method, target) in [
        ("GET", format!("/{b}")),
        ("PUT", format!("/{b}/new")),
        ("DELETE", path.clone()),
        ("GET", format!("/{b}?policy")),
    ] {
        let r = anonymous(&cluster, method, &target, b"").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{method} {target}"
        );
    }
    // The service and other buckets stay closed.
    assert_eq!(anonymous(&cluster, "GET", "/", b"").await.status, 403);

    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("delete policy");
    let closed = anonymous(&cluster, "GET", &path, b"").await;
    assert_eq!(
        (closed.status, closed.code().as_str()),
        (403, "AccessDenied")
    );
}

#[tokio::test]
async fn a_second_key_is_allowed_and_denied_by_the_policy() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pol-key").await;
    put_bytes(&s3, &b, "shared/a.txt", b"a").await;
    put_bytes(&s3, &b, "private/b.txt", b"b").await;
    let (id, secret) = cluster.create_key("pol-friend");
    let friend = cluster.client_with(&id, &secret);
    assert_code(
        &friend
            .get_object()
            .bucket(&b)
            .key("shared/a.txt")
            .send()
            .await,
        "AccessDenied",
    );

    let policy = policy_of(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/{id}"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::{b}/shared/*"}},
           {{"Effect":"Allow","Principal":{{"AWS":"{id}"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::{b}","Condition":{{"StringLike":{{"s3:prefix":"shared/*"}}}}}},
           {{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{b}/*"}}"#
    ));
    put_policy(&s3, &b, &policy).await.expect("put policy");

    let got = get_bytes(&friend, &b, "shared/a.txt").await;
    assert_eq!(got, b"a");
    put_bytes(&friend, &b, "shared/new.txt", b"n").await;
    assert_code(
        &friend
            .get_object()
            .bucket(&b)
            .key("private/b.txt")
            .send()
            .await,
        "AccessDenied",
    );
    let listed = friend
        .list_objects_v2()
        .bucket(&b)
        .prefix("shared/")
        .send()
        .await
        .expect("list under shared/");
    assert_eq!(listed.contents().len(), 2);
    assert_code(
        &friend.list_objects_v2().bucket(&b).send().await,
        "AccessDenied",
    );
    assert_code(
        &friend.get_bucket_policy().bucket(&b).send().await,
        "AccessDenied",
    );

    // The explicit Deny binds the owner too, but never its hold on the policy.
    assert_code(
        &s3.delete_object()
            .bucket(&b)
            .key("shared/a.txt")
            .send()
            .await,
        "AccessDenied",
    );
    let deleted = s3
        .delete_objects()
        .bucket(&b)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("shared/a.txt")
                        .build()
                        .expect("identifier"),
                )
                .build()
                .expect("delete"),
        )
        .send()
        .await;
    assert_code(&deleted, "AccessDenied");
    let lockout = policy_of(&format!(
        r#"{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]}}"#
    ));
    put_policy(&s3, &b, &lockout).await.expect("put lockout");
    assert_code(
        &s3.list_objects_v2().bucket(&b).send().await,
        "AccessDenied",
    );
    assert_eq!(error_status(&s3.head_bucket().bucket(&b).send().await), 403);
    s3.get_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("owner reads it");
    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("owner removes it");
    s3.delete_object()
        .bucket(&b)
        .key("shared/a.txt")
        .send()
        .await
        .expect("delete once the policy is gone");
}

#[tokio::test]
async fn conditions_on_address_and_transport() {
    let cluster = S3Cluster::shared();
    let s3 = cluster.client();
    let b = new_bucket(&s3, "pol-cond").await;
    put_bytes(&s3, &b, "k", b"v").await;
    let deny_outside = |range: &str| {
        policy_of(&format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*","Condition":{{"NotIpAddress":{{"aws:SourceIp":"{range}"}}}}}}"#
        ))
    };
    put_policy(&s3, &b, &deny_outside("127.0.0.0/8"))
        .await
        .expect("put");
    assert_eq!(get_bytes(&s3, &b, "k").await, b"v", "from inside the range");
    put_policy(&s3, &b, &deny_outside("192.0.2.0/24"))
        .await
        .expect("put");
    assert_code(
        &s3.get_object().bucket(&b).key("k").send().await,
        "AccessDenied",
    );

    // Plain HTTP here: a Deny unless SecureTransport refuses it.
    let tls_only = policy_of(&format!(
        r#"{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
    ));
    put_policy(&s3, &b, &tls_only).await.expect("put");
    assert_code(
        &s3.get_object().bucket(&b).key("k").send().await,
        "AccessDenied",
    );
    assert_code(
        &s3.list_objects_v2().bucket(&b).send().await,
        "AccessDenied",
    );
    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("delete policy");
    assert_eq!(get_bytes(&s3, &b, "k").await, b"v");
}
