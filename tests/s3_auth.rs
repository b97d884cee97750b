//! Who may do what, through `cairn up`: access keys live in the MDS
//! (`cairn key create|list|delete`), closed by default: a bucket's creator
//! owns it (`cairn mb` gives it to the admin key `cairn up` made, or to
//! `--owner KEY`), other keys need `cairn bucket allow`, and a bucket with
//! no owner is the admin keys' only. And the authentication errors a client
//! expects: unknown key, wrong secret, anonymous request, clock skew. The
//! whole grid of operations and callers is `s3_access_matrix.rs`.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use common::assert_success;
use common::s3::*;

#[tokio::test]
async fn per_key_bucket_permissions() {
    let c = S3Cluster::shared();
    let admin = c.client();
    let b = bucket_name("perm");
    admin
        .create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create");
    admin
        .put_object()
        .bucket(&b)
        .key("doc")
        .body(ByteStream::from_static(b"admin's"))
        .send()
        .await
        .expect("put");

    let (bob_id, bob_secret) = c.create_key("bob");
    let bob = c.client_with(&bob_id, &bob_secret);
    // A new key works at once, but sees nothing of the admin's bucket.
    let listed = bob.list_buckets().send().await.expect("bob lists buckets");
    assert!(!listed
        .buckets()
        .iter()
        .any(|x| x.name() == Some(b.as_str())));
    let r = bob.get_object().bucket(&b).key("doc").send().await;
    assert_code(&r, "AccessDenied");
    assert_eq!(error_status(&r), 403);
    assert_code(
        &bob.list_objects_v2().bucket(&b).send().await,
        "AccessDenied",
    );
    assert_code(
        &bob.put_object()
            .bucket(&b)
            .key("bob")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        error_status(&bob.head_bucket().bucket(&b).send().await),
        403
    );
    assert_code(
        &bob.create_bucket().bucket(&b).send().await,
        "BucketAlreadyExists",
    );

    // Read only.
    let out = c.cairn(&["bucket", "allow", &bob_id, &b, "--read"]);
    assert_success(&out, "bucket allow --read");
    let got = bob
        .get_object()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("bob reads after the grant");
    assert_eq!(body_bytes(got).await, b"admin's");
    bob.list_objects_v2()
        .bucket(&b)
        .send()
        .await
        .expect("bob lists");
    let listed = bob.list_buckets().send().await.expect("list buckets");
    assert!(listed
        .buckets()
        .iter()
        .any(|x| x.name() == Some(b.as_str())));
    assert_code(
        &bob.put_object()
            .bucket(&b)
            .key("bob")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        &bob.delete_object().bucket(&b).key("doc").send().await,
        "AccessDenied",
    );

    // Read and write; deleting the bucket stays the owner's.
    let out = c.cairn(&["bucket", "allow", &bob_id, &b, "--read", "--write"]);
    assert_success(&out, "bucket allow --read --write");
    bob.put_object()
        .bucket(&b)
        .key("bob")
        .body(ByteStream::from_static(b"bob's"))
        .send()
        .await
        .expect("bob writes after the grant");
    assert_code(&bob.delete_bucket().bucket(&b).send().await, "AccessDenied");
    let got = admin
        .get_object()
        .bucket(&b)
        .key("bob")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"bob's");

    // The grant shows in `cairn key list --json`.
    let out = c.cairn(&["key", "list", "--json"]);
    assert_success(&out, "key list --json");
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entry = keys
        .as_array()
        .expect("a list")
        .iter()
        .find(|k| k["access_key"] == bob_id.as_str())
        .expect("bob is listed");
    assert!(
        entry.get("secret_key").is_none(),
        "secrets are never listed"
    );
    let grants = entry["buckets"].as_array().expect("grants");
    assert!(grants
        .iter()
        .any(|g| g["bucket"] == b.as_str() && g["read"] == true && g["write"] == true));

    // Bob's own bucket is his: the admin key has no right there.
    let mine = bucket_name("bobs");
    bob.create_bucket()
        .bucket(&mine)
        .send()
        .await
        .expect("bob creates");
    // Created again by its owner: success in us-east-1, as in S3.
    bob.create_bucket()
        .bucket(&mine)
        .send()
        .await
        .expect("bob creates his bucket again");
    assert_code(
        &admin.create_bucket().bucket(&mine).send().await,
        "BucketAlreadyExists",
    );
    assert_code(
        &admin.list_objects_v2().bucket(&mine).send().await,
        "AccessDenied",
    );
    // Copying needs read on the source: bob may write his bucket but
    // has no read on a third bucket.
    let third = bucket_name("third");
    admin
        .create_bucket()
        .bucket(&third)
        .send()
        .await
        .expect("create");
    admin
        .put_object()
        .bucket(&third)
        .key("s")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .expect("put");
    assert_code(
        &bob.copy_object()
            .bucket(&mine)
            .key("stolen")
            .copy_source(format!("{third}/s"))
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        error_status(&bob.head_object().bucket(&mine).key("stolen").send().await),
        404
    );
    bob.copy_object()
        .bucket(&mine)
        .key("copied")
        .copy_source(format!("{b}/doc"))
        .send()
        .await
        .expect("bob may copy from a bucket he may read");

    // A bucket made by the admin CLI belongs to the admin key `cairn up`
    // made: closed to bob, who has no grant on it.
    let closed = bucket_name("closed");
    assert_success(&c.cairn(&["mb", &closed]), "mb");
    assert_code(
        &bob.put_object()
            .bucket(&closed)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        &bob.list_objects_v2().bucket(&closed).send().await,
        "AccessDenied",
    );
    admin
        .put_object()
        .bucket(&closed)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("the admin key owns what `cairn mb` made");
    let out = c.cairn(&["bucket", "list", &closed, "--json"]);
    assert_success(&out, "bucket list --json");
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(view["owner"], c.access_key.as_str());

    // A deleted key stops working (within the gateway's key cache time).
    assert_success(&c.cairn(&["key", "delete", &bob_id]), "key delete");
    cairn_testkit::until(
        Duration::from_secs(20),
        Duration::from_millis(250),
        "a deleted key to stop working",
        || async {
            let r = bob.list_buckets().send().await;
            match error_code(&r).as_str() {
                "InvalidAccessKeyId" => Ok(()),
                _ => Err(format!("{r:?}")),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn authentication_errors() {
    let c = S3Cluster::shared();
    let admin = c.client();
    let b = bucket_name("auth");
    admin
        .create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create");

    let unknown = c.client_with(
        "CKNOSUCHKEY000000000",
        "0123456789012345678901234567890123456789",
    );
    let r = unknown.list_buckets().send().await;
    assert_code(&r, "InvalidAccessKeyId");
    assert_eq!(error_status(&r), 403);
    let wrong = c.client_with(&c.access_key, "wrong-secret-wrong-secret-wrong-secret-00");
    let r = wrong.list_objects_v2().bucket(&b).send().await;
    assert_code(&r, "SignatureDoesNotMatch");
    assert_eq!(error_status(&r), 403);
    let r = wrong
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&r, "SignatureDoesNotMatch");

    // Anonymous.
    let answer = raw_request(c.addr, "GET", &format!("/{b}"), &[], b"").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "AccessDenied");
    assert!(answer.header("x-amz-request-id").is_some());
    let answer = raw_request(c.addr, "PUT", &format!("/{b}/anon"), &[], b"x").await;
    assert_eq!(answer.code(), "AccessDenied");

    // Signed an hour ago: clock skew.
    let then = SystemTime::now() - Duration::from_secs(3600);
    let target = format!("/{b}");
    let (headers, _) = sign_v4(&c, "GET", &target, &[], "UNSIGNED-PAYLOAD", then);
    let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.code(), "RequestTimeTooSkewed", "{}", answer.text());
    // The same request signed now passes.
    let (headers, _) = sign_v4(
        &c,
        "GET",
        &target,
        &[],
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // A signed payload hash that the body does not match.
    let target = format!("/{b}/hashed");
    let (headers, _) = sign_v4(
        &c,
        "PUT",
        &target,
        &[("content-length".to_string(), "4".to_string())],
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"good")),
        SystemTime::now(),
    );
    let answer = raw_request(c.addr, "PUT", &target, &headers, b"evil").await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(
        answer.code(),
        "XAmzContentSHA256Mismatch",
        "{}",
        answer.text()
    );
    assert_eq!(
        error_status(&admin.head_object().bucket(&b).key("hashed").send().await),
        404
    );
    let answer = raw_request(c.addr, "PUT", &target, &headers, b"good").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

/// Whether `client`'s ListBuckets names `bucket`.
async fn lists(client: &aws_sdk_s3::Client, bucket: &str) -> bool {
    client
        .list_buckets()
        .send()
        .await
        .expect("list buckets")
        .buckets()
        .iter()
        .any(|x| x.name() == Some(bucket))
}

async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error_code(&Err::<(), _>(e)))
}

#[tokio::test]
async fn closed_by_default_owners_admins_and_grants() {
    let c = S3Cluster::shared();
    let admin = c.client();
    let (carol_id, carol_secret) = c.create_key("carol");
    let carol = c.client_with(&carol_id, &carol_secret);

    // `cairn mb --owner KEY`: that key's bucket, the admin key's no more
    // than any other's.
    let hers = bucket_name("carols");
    assert_success(&c.cairn(&["mb", &hers, "--owner", &carol_id]), "mb --owner");
    put(&carol, &hers, "k").await.expect("the owner writes");
    assert!(lists(&carol, &hers).await);
    assert_eq!(put(&admin, &hers, "k").await, Err("AccessDenied".into()));
    assert!(!lists(&admin, &hers).await);
    let out = c.cairn(&["mb", &bucket_name("nobody"), "--owner", "CKNOSUCHKEY"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no access key CKNOSUCHKEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A bucket with no owner recorded (made before owners were, or by a
    // mount without --owner): the admin keys' only.
    let orphan = bucket_name("orphan");
    c.cluster_client()
        .create_bucket(&orphan, "")
        .await
        .expect("a bucket without owner");
    put(&admin, &orphan, "k")
        .await
        .expect("the admin key writes");
    assert!(lists(&admin, &orphan).await);
    assert_eq!(put(&carol, &orphan, "k").await, Err("AccessDenied".into()));
    assert!(!lists(&carol, &orphan).await);
    let out = c.cairn(&["key", "create", "operator", "--admin", "--json"]);
    assert_success(&out, "key create --admin");
    let op: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(op["admin"], true);
    let operator = c.client_with(
        op["access_key"].as_str().expect("access_key"),
        op["secret_key"].as_str().expect("secret_key"),
    );
    put(&operator, &orphan, "op").await.expect("any admin key");

    // Grants add up; revoke takes away what it names, or everything.
    for rights in [&["--read"][..], &["--write"][..]] {
        let mut args = vec!["bucket", "allow", &carol_id, &orphan];
        args.extend_from_slice(rights);
        assert_success(&c.cairn(&args), "bucket allow");
    }
    put(&carol, &orphan, "carol").await.expect("write granted");
    carol
        .get_object()
        .bucket(&orphan)
        .key("k")
        .send()
        .await
        .expect("read granted too");
    let out = c.cairn(&["bucket", "list", &orphan, "--json"]);
    assert_success(&out, "bucket list --json");
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(view["owner"], "");
    let admins = view["admins"].as_array().expect("admins");
    assert!(admins.iter().any(|a| a == c.access_key.as_str()));
    assert!(admins.iter().any(|a| *a == op["access_key"]));
    let grants = view["grants"].as_array().expect("grants");
    assert_eq!(grants.len(), 1, "{view}");
    assert_eq!(grants[0]["access_key"], carol_id.as_str());
    assert_eq!(
        (&grants[0]["read"], &grants[0]["write"]),
        (&true.into(), &true.into())
    );

    assert_success(
        &c.cairn(&["bucket", "revoke", &carol_id, &orphan, "--write"]),
        "bucket revoke --write",
    );
    // The gateway trusts a key's grants for a few seconds.
    cairn_testkit::until(
        Duration::from_secs(20),
        Duration::from_millis(250),
        "a revoked write to stop working",
        || async {
            match put(&carol, &orphan, "late").await {
                Err(code) if code == "AccessDenied" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    carol
        .head_object()
        .bucket(&orphan)
        .key("k")
        .send()
        .await
        .expect("read is kept");
    assert_success(
        &c.cairn(&["bucket", "revoke", &carol_id, &orphan]),
        "bucket revoke (all)",
    );
    let out = c.cairn(&["bucket", "list", &orphan, "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(view["grants"], serde_json::json!([]));

    // `cairn key list`: who is an admin, who owns what, who was granted what.
    assert_success(
        &c.cairn(&["bucket", "allow", &carol_id, &orphan, "--read"]),
        "bucket allow",
    );
    let out = c.cairn(&["key", "list", "--json"]);
    assert_success(&out, "key list --json");
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let find = |id: &str| {
        keys.as_array()
            .expect("a list")
            .iter()
            .find(|k| k["access_key"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed"))
    };
    let first = find(&c.access_key);
    assert_eq!(
        first["admin"], true,
        "the key `cairn up` made is an admin's"
    );
    let carol_entry = find(&carol_id);
    assert_eq!(carol_entry["admin"], false);
    assert_eq!(carol_entry["owns"], serde_json::json!([hers]));
    assert_eq!(
        carol_entry["buckets"],
        serde_json::json!([{"bucket": orphan, "read": true, "write": false, "owner": false}])
    );
    let out = c.cairn(&["key", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&carol_id))
        .expect("carol's line");
    assert!(line.contains(&format!("{hers}:owner")), "{line}");
    assert!(line.contains(&format!("{orphan}:r")), "{line}");
}
