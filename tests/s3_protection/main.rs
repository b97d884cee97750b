//! S3 data protection through `cairn up` with aws-sdk-s3: object tagging
//! (per version), bucket tagging, Object Lock configuration, retention
//! (extend, shorten, bypass governance), legal hold, and the integrity
//! header the lock PUTs require. One cluster for the file; each test has
//! its own buckets.
//!
//! Setup that other handlers provide (CreateBucket with Object Lock,
//! PutBucketVersioning) is used when the gateway has it; where it answers
//! `NotImplemented`, versioning is enabled through the cluster library
//! instead, and the test says so on stderr. The ids of versions are read
//! through the cluster library as well (PutObject's `x-amz-version-id` is
//! not the subject here).

#[path = "../common/mod.rs"]
mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockRetention, ObjectLockRetentionMode,
    ObjectLockRule, Tag, Tagging, VersioningConfiguration,
};
use base64::Engine as _;
use common::assert_success;
use common::s3::*;

const DAY: i64 = 86_400;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"))
        .collect();
    Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .expect("tagging")
}

fn tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of header `name` on a failed SDK call's answer.
fn error_header<T, E>(
    result: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    name: &str,
) -> Option<String> {
    match result {
        Err(e) => e
            .raw_response()
            .and_then(|r| r.headers().get(name))
            .map(str::to_string),
        Ok(_) => None,
    }
}

/// The S3 `<Message>` of a failed SDK call.
fn error_message<T, E: aws_sdk_s3::error::ProvideErrorMetadata, R>(
    result: &Result<T, aws_sdk_s3::error::SdkError<E, R>>,
) -> String {
    match result {
        Err(e) => e.message().unwrap_or("").to_string(),
        Ok(_) => String::new(),
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .expect("put object");
}

/// Enables versioning: PutBucketVersioning, or the cluster library while
/// the gateway does not implement it yet.
async fn enable_versioning(c: &S3Cluster, s3: &aws_sdk_s3::Client, bucket: &str) {
    let asked = s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await;
    if error_code(&asked) == "NotImplemented" {
        eprintln!("PutBucketVersioning is not implemented yet: versioning enabled through the cluster library");
        c.cluster_client()
            .set_versioning(bucket, true)
            .await
            .expect("enable versioning");
    } else {
        asked.expect("put bucket versioning");
    }
}

/// A new bucket with Object Lock: CreateBucket with
/// `x-amz-bucket-object-lock-enabled`, or, when CreateBucket does not pass
/// it on yet, versioning then PutObjectLockConfiguration.
async fn locked_bucket(c: &S3Cluster, s3: &aws_sdk_s3::Client, what: &str) -> String {
    let b = bucket_name(what);
    s3.create_bucket()
        .bucket(&b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket");
    if s3
        .get_object_lock_configuration()
        .bucket(&b)
        .send()
        .await
        .is_err()
    {
        eprintln!("CreateBucket does not enable Object Lock yet: versioning, then PutObjectLockConfiguration");
        enable_versioning(c, s3, &b).await;
        s3.put_object_lock_configuration()
            .bucket(&b)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("put object lock configuration");
    }
    b
}

/// The id of the current version of `key` (or of the marker hiding it).
async fn current_version(c: &S3Cluster, bucket: &str, key: &str) -> String {
    c.cluster_client()
        .get_version(bucket, key.as_bytes(), None)
        .await
        .expect("current version")
        .version_id
}

/// Sends a signed PUT with `body` and the extra `headers` (no checksum of
/// its own beyond the signed payload hash).
async fn raw_put(
    c: &S3Cluster,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let (signed, _) = sign_v4(c, "PUT", target, headers, &sha, SystemTime::now());
    raw_request(c.addr, "PUT", target, &signed, body).await
}

fn content_md5(body: &[u8]) -> (String, String) {
    use md5::{Digest, Md5};
    (
        "content-md5".to_string(),
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(body)),
    )
}

mod tagging;

#[tokio::test]
async fn object_lock_configuration() {
    let c = S3Cluster::shared();
    let s3 = c.client();

    // Without versioning, no Object Lock.
    let plain = bucket_name("plain");
    s3.create_bucket()
        .bucket(&plain)
        .send()
        .await
        .expect("create");
    let config = |rule: Option<DefaultRetention>| {
        let mut b =
            ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
        if let Some(d) = rule {
            b = b.rule(ObjectLockRule::builder().default_retention(d).build());
        }
        b.build()
    };
    let refused = s3
        .put_object_lock_configuration()
        .bucket(&plain)
        .object_lock_configuration(config(None))
        .send()
        .await;
    assert_code(&refused, "InvalidBucketState");
    assert_eq!(error_status(&refused), 409);
    assert_eq!(
        error_message(&refused),
        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
    );
    let none = s3
        .get_object_lock_configuration()
        .bucket(&plain)
        .send()
        .await;
    assert_code(&none, "ObjectLockConfigurationNotFoundError");
    assert_eq!(error_status(&none), 404);
    put(&s3, &plain, "k", b"x").await;
    let r = s3
        .get_object_retention()
        .bucket(&plain)
        .key("k")
        .send()
        .await;
    assert_code(&r, "InvalidRequest");
    assert_eq!(
        error_message(&r),
        "Bucket is missing Object Lock Configuration"
    );
    assert_code(
        &s3.get_object_legal_hold()
            .bucket(&plain)
            .key("k")
            .send()
            .await,
        "InvalidRequest",
    );
    assert_code(
        &s3.put_object_legal_hold()
            .bucket(&plain)
            .key("k")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::On)
                    .build(),
            )
            .send()
            .await,
        "InvalidRequest",
    );

    // With Object Lock: the configuration and its default retention.
    let b = locked_bucket(&c, &s3, "lockcfg").await;
    let got = s3
        .get_object_lock_configuration()
        .bucket(&b)
        .send()
        .await
        .expect("get lock configuration");
    let got = got.object_lock_configuration().expect("a configuration");
    assert_eq!(got.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(got.rule().is_none(), "{got:?}");

    for (mode, days, years) in [
        (ObjectLockRetentionMode::Governance, Some(3), None),
        (ObjectLockRetentionMode::Compliance, None, Some(2)),
    ] {
        let d = DefaultRetention::builder()
            .mode(mode.clone())
            .set_days(days)
            .set_years(years)
            .build();
        s3.put_object_lock_configuration()
            .bucket(&b)
            .object_lock_configuration(config(Some(d)))
            .send()
            .await
            .expect("put default retention");
        let got = s3
            .get_object_lock_configuration()
            .bucket(&b)
            .send()
            .await
            .expect("get lock configuration");
        let d = got
            .object_lock_configuration()
            .and_then(|c| c.rule())
            .and_then(|r| r.default_retention())
            .expect("a default retention");
        assert_eq!((d.mode(), d.days(), d.years()), (Some(&mode), days, years));
    }
    let zero = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .days(0)
        .build();
    assert_code(
        &s3.put_object_lock_configuration()
            .bucket(&b)
            .object_lock_configuration(config(Some(zero)))
            .send()
            .await,
        "InvalidArgument",
    );

    // The integrity header is required: without one, refused; with
    // Content-MD5, taken.
    let body = br#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"#;
    let target = format!("/{b}?object-lock");
    let bare = raw_put(&c, &target, &[], body).await;
    assert_eq!(bare.status, 400, "{}", bare.text());
    assert_eq!(bare.code(), "InvalidRequest");
    assert!(
        bare.text()
            .contains("Missing required header for this request: Content-MD5"),
        "{}",
        bare.text()
    );
    let with_md5 = raw_put(&c, &target, &[content_md5(body)], body).await;
    assert_eq!(with_md5.status, 200, "{}", with_md5.text());
    let wrong_md5 = raw_put(&c, &target, &[content_md5(b"other")], body).await;
    assert_eq!(wrong_md5.code(), "BadDigest", "{}", wrong_md5.text());
    let got = s3
        .get_object_lock_configuration()
        .bucket(&b)
        .send()
        .await
        .expect("get lock configuration");
    assert!(
        got.object_lock_configuration()
            .is_some_and(|c| c.rule().is_none()),
        "the raw PUT removed the default retention: {got:?}"
    );
}

fn retention(mode: ObjectLockRetentionMode, until_secs: i64) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(DateTime::from_secs(until_secs))
        .build()
}

async fn retention_of(s3: &aws_sdk_s3::Client, b: &str, key: &str) -> (String, i64) {
    let got = s3
        .get_object_retention()
        .bucket(b)
        .key(key)
        .send()
        .await
        .expect("get retention");
    let r = got.retention().expect("a retention");
    (
        r.mode().map(|m| m.as_str().to_string()).unwrap_or_default(),
        r.retain_until_date().map_or(0, |d| d.secs()),
    )
}

#[tokio::test]
async fn retention_rules() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = locked_bucket(&c, &s3, "retain").await;
    put(&s3, &b, "gov", b"governed").await;
    let now = now_secs();

    let none = s3.get_object_retention().bucket(&b).key("gov").send().await;
    assert_code(&none, "NoSuchObjectLockConfiguration");
    assert_eq!(error_status(&none), 404);
    assert_eq!(
        error_message(&none),
        "The specified object does not have a ObjectLock configuration"
    );

    let past = s3
        .put_object_retention()
        .bucket(&b)
        .key("gov")
        .retention(retention(ObjectLockRetentionMode::Governance, now - DAY))
        .send()
        .await;
    assert_code(&past, "InvalidArgument");

    let set = |key: &'static str, mode: ObjectLockRetentionMode, until: i64, bypass: bool| {
        let s3 = s3.clone();
        let b = b.clone();
        async move {
            s3.put_object_retention()
                .bucket(&b)
                .key(key)
                .retention(retention(mode, until))
                .bypass_governance_retention(bypass)
                .send()
                .await
        }
    };
    let gov = ObjectLockRetentionMode::Governance;
    let comp = ObjectLockRetentionMode::Compliance;

    set("gov", gov.clone(), now + DAY, false)
        .await
        .expect("set governance");
    assert_eq!(
        retention_of(&s3, &b, "gov").await,
        ("GOVERNANCE".to_string(), now + DAY)
    );
    set("gov", gov.clone(), now + 3 * DAY, false)
        .await
        .expect("extend governance");
    let shorter = set("gov", gov.clone(), now + 2 * DAY, false).await;
    assert_code(&shorter, "AccessDenied");
    assert_eq!(error_status(&shorter), 403);
    assert_eq!(retention_of(&s3, &b, "gov").await.1, now + 3 * DAY);

    // Bypass is the owner's: a key that may only write is refused even
    // with the header.
    let (bob, bob_secret) = c.create_key(&format!("writer-{b}"));
    let out = c.cairn(&["bucket", "allow", &bob, &b, "--read", "--write"]);
    assert_success(&out, "bucket allow --read --write");
    let bob_s3 = c.client_with(&bob, &bob_secret);
    let by_writer = bob_s3
        .put_object_retention()
        .bucket(&b)
        .key("gov")
        .retention(retention(gov.clone(), now + 2 * DAY))
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(&by_writer, "AccessDenied");
    assert_eq!(retention_of(&s3, &b, "gov").await.1, now + 3 * DAY);

    set("gov", gov.clone(), now + 2 * DAY, true)
        .await
        .expect("the owner shortens governance with bypass");
    assert_eq!(retention_of(&s3, &b, "gov").await.1, now + 2 * DAY);

    // Raised to COMPLIANCE: from then on only extended.
    set("gov", comp.clone(), now + 2 * DAY, false)
        .await
        .expect("governance raised to compliance");
    assert_eq!(
        retention_of(&s3, &b, "gov").await,
        ("COMPLIANCE".to_string(), now + 2 * DAY)
    );
    let r = set("gov", comp.clone(), now + DAY, true).await;
    assert_code(&r, "AccessDenied");
    let r = set("gov", gov.clone(), now + 4 * DAY, true).await;
    assert_code(&r, "AccessDenied");
    set("gov", comp.clone(), now + 4 * DAY, false)
        .await
        .expect("extend compliance");
    assert_eq!(
        retention_of(&s3, &b, "gov").await,
        ("COMPLIANCE".to_string(), now + 4 * DAY)
    );

    // Removing a governance retention needs the bypass.
    put(&s3, &b, "loose", b"x").await;
    set("loose", gov.clone(), now + DAY, false)
        .await
        .expect("set governance");
    let empty = ObjectLockRetention::builder().build();
    let removed = s3
        .put_object_retention()
        .bucket(&b)
        .key("loose")
        .retention(empty.clone())
        .send()
        .await;
    assert_code(&removed, "AccessDenied");
    s3.put_object_retention()
        .bucket(&b)
        .key("loose")
        .retention(empty)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("remove governance with bypass");
    assert_code(
        &s3.get_object_retention()
            .bucket(&b)
            .key("loose")
            .send()
            .await,
        "NoSuchObjectLockConfiguration",
    );

    // Without an integrity header the PUT is refused.
    let body = format!(
        "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
        DateTime::from_secs(now + 5 * DAY)
            .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
            .expect("date")
    );
    let target = format!("/{b}/gov?retention");
    let bare = raw_put(&c, &target, &[], body.as_bytes()).await;
    assert_eq!(bare.code(), "InvalidRequest", "{}", bare.text());
    assert_eq!(retention_of(&s3, &b, "gov").await.1, now + 4 * DAY);
    let with_md5 = raw_put(
        &c,
        &target,
        &[content_md5(body.as_bytes())],
        body.as_bytes(),
    )
    .await;
    assert_eq!(with_md5.status, 200, "{}", with_md5.text());
    assert_eq!(retention_of(&s3, &b, "gov").await.1, now + 5 * DAY);
}

#[tokio::test]
async fn legal_hold() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = locked_bucket(&c, &s3, "hold").await;
    put(&s3, &b, "k", b"held").await;
    let status = |key: &'static str| {
        let s3 = s3.clone();
        let b = b.clone();
        async move {
            s3.get_object_legal_hold()
                .bucket(&b)
                .key(key)
                .send()
                .await
                .expect("get legal hold")
                .legal_hold()
                .and_then(|h| h.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        }
    };
    let hold = |on: bool| {
        ObjectLockLegalHold::builder()
            .status(if on {
                ObjectLockLegalHoldStatus::On
            } else {
                ObjectLockLegalHoldStatus::Off
            })
            .build()
    };
    // Never set: Cairn answers OFF (see ops::lock).
    assert_eq!(status("k").await, "OFF");
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .legal_hold(hold(true))
        .send()
        .await
        .expect("hold on");
    assert_eq!(status("k").await, "ON");
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .legal_hold(hold(false))
        .send()
        .await
        .expect("hold off");
    assert_eq!(status("k").await, "OFF");

    let body = b"<LegalHold><Status>ON</Status></LegalHold>";
    let target = format!("/{b}/k?legal-hold");
    let bare = raw_put(&c, &target, &[], body).await;
    assert_eq!(bare.code(), "InvalidRequest", "{}", bare.text());
    assert_eq!(status("k").await, "OFF");
    let bad = raw_put(
        &c,
        &target,
        &[content_md5(b"<LegalHold><Status>on</Status></LegalHold>")],
        b"<LegalHold><Status>on</Status></LegalHold>",
    )
    .await;
    assert_eq!(bad.code(), "MalformedXML", "{}", bad.text());
    let with_md5 = raw_put(&c, &target, &[content_md5(body)], body).await;
    assert_eq!(with_md5.status, 200, "{}", with_md5.text());
    assert_eq!(status("k").await, "ON");

    assert_code(
        &s3.get_object_legal_hold()
            .bucket(&b)
            .key("missing")
            .send()
            .await,
        "NoSuchKey",
    );
}

/// A version under retention or legal hold cannot be deleted by its id
/// (DeleteObject with `versionId`: AccessDenied); once released it can.
#[tokio::test]
async fn locked_versions_are_not_deleted() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = locked_bucket(&c, &s3, "nodel").await;
    let now = now_secs();

    put(&s3, &b, "kept", b"compliance").await;
    let kept = current_version(&c, &b, "kept").await;
    s3.put_object_retention()
        .bucket(&b)
        .key("kept")
        .retention(retention(ObjectLockRetentionMode::Compliance, now + DAY))
        .send()
        .await
        .expect("set compliance");
    let r = s3
        .delete_object()
        .bucket(&b)
        .key("kept")
        .version_id(&kept)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(&r, "AccessDenied");

    put(&s3, &b, "held", b"legal hold").await;
    let held = current_version(&c, &b, "held").await;
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("held")
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .expect("hold on");
    let r = s3
        .delete_object()
        .bucket(&b)
        .key("held")
        .version_id(&held)
        .send()
        .await;
    assert_code(&r, "AccessDenied");
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("held")
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .expect("hold off");
    s3.delete_object()
        .bucket(&b)
        .key("held")
        .version_id(&held)
        .send()
        .await
        .expect("a released version is deleted");
    let gone = c
        .cluster_client()
        .get_version(&b, b"held", Some(&held))
        .await;
    assert!(
        matches!(gone, Err(cairn_client::Error::NotFound(_))),
        "the version is gone: {gone:?}"
    );
    // The compliance version is still there.
    c.cluster_client()
        .get_version(&b, b"kept", Some(&kept))
        .await
        .expect("the retained version stays");
}
