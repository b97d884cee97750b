//! Presigned URLs made by aws-sdk-s3, used with a plain HTTP client
//! against `cairn up`: GET and PUT work, an expired URL is refused
//! (`AccessDenied`), a tampered one too (`SignatureDoesNotMatch`), and a
//! URL grants exactly the object it names.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use common::s3::*;

/// The path and query of a presigned URL, and its headers.
fn target_of(c: &S3Cluster, req: &PresignedRequest) -> (String, Vec<(String, String)>) {
    let uri = req.uri();
    let target = uri
        .strip_prefix(&c.endpoint())
        .unwrap_or_else(|| panic!("{uri} is not on {}", c.endpoint()))
        .to_string();
    let headers = req
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (target, headers)
}

fn five_minutes() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(300)).expect("presigning config")
}

#[tokio::test]
async fn presigned_get_and_put() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("pre");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let data = common::pattern(31, 300_000);
    s3.put_object()
        .bucket(&b)
        .key("dir/file name+1.bin")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");

    let get = s3
        .get_object()
        .bucket(&b)
        .key("dir/file name+1.bin")
        .presigned(five_minutes())
        .await
        .expect("presign get");
    let (target, headers) = target_of(&c, &get);
    assert!(target.contains("X-Amz-Signature="), "{target}");
    let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.body == data, "presigned GET returns the object");
    assert_eq!(
        answer.header("etag"),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );

    // Presigned PUT with a body the signer never saw.
    let upload = common::pattern(32, 123_457);
    let put = s3
        .put_object()
        .bucket(&b)
        .key("uploaded")
        .presigned(five_minutes())
        .await
        .expect("presign put");
    let (target, headers) = target_of(&c, &put);
    let answer = raw_request(c.addr, "PUT", &target, &headers, &upload).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let got = s3
        .get_object()
        .bucket(&b)
        .key("uploaded")
        .send()
        .await
        .expect("get");
    assert!(body_bytes(got).await == upload);

    // The URL names one object: used for another, the signature fails.
    let other = target.replace("/uploaded?", "/elsewhere?");
    assert_ne!(other, target);
    let answer = raw_request(c.addr, "PUT", &other, &headers, b"x").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    // And with a method it was not made for.
    let answer = raw_request(c.addr, "DELETE", &target, &headers, b"").await;
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    let still = s3.head_object().bucket(&b).key("uploaded").send().await;
    assert!(still.is_ok(), "the object is still there");
}

#[tokio::test]
async fn expired_and_tampered_urls_are_refused() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("exp");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .expect("put");

    // Made two hours ago, valid for one hour.
    let expired_config = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(3600))
        .build()
        .expect("presigning config");
    let get = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(expired_config.clone())
        .await
        .expect("presign");
    let (target, headers) = target_of(&c, &get);
    let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.code(), "AccessDenied", "{}", answer.text());
    assert!(answer.text().contains("expired"), "{}", answer.text());
    assert!(!answer.text().contains("secret"));

    let put = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .presigned(expired_config)
        .await
        .expect("presign");
    let (target, headers) = target_of(&c, &put);
    let answer = raw_request(c.addr, "PUT", &target, &headers, b"overwritten").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "AccessDenied");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(
        body_bytes(got).await,
        b"secret",
        "an expired PUT writes nothing"
    );

    // A valid URL with one signature digit changed.
    let get = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(five_minutes())
        .await
        .expect("presign");
    let (target, headers) = target_of(&c, &get);
    let at = target.find("X-Amz-Signature=").expect("signature") + "X-Amz-Signature=".len();
    let mut tampered = target.clone().into_bytes();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let answer = raw_request(c.addr, "GET", &tampered, &headers, b"").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    // A longer expiry than signed.
    let stretched = target.replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    assert_ne!(stretched, target);
    let answer = raw_request(c.addr, "GET", &stretched, &headers, b"").await;
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    // Untouched, it works.
    let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"secret");
}
