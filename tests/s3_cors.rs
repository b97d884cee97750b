//! Bucket CORS end to end through a real `cairn up`: PutBucketCors,
//! GetBucketCors and DeleteBucketCors with the official `aws-sdk-s3`
//! client and their errors (some with raw signed requests, for bodies the
//! SDK will not send), the unauthenticated `OPTIONS` preflight, and the
//! `Access-Control-*` headers on actual answers, errors included. The
//! browser side is `tests/s3_cors_browser.rs`.

mod common;

use std::time::SystemTime;

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use common::s3::*;

fn rule(origins: &[&str], methods: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    b
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .expect("a CORS configuration")
}

async fn new_bucket(s3: &aws_sdk_s3::Client, what: &str) -> String {
    let bucket = bucket_name(what);
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the bucket");
    bucket
}

async fn put_cors(s3: &aws_sdk_s3::Client, bucket: &str, rules: Vec<CorsRule>) {
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(config(rules))
        .send()
        .await
        .expect("PutBucketCors");
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// An unauthenticated request, as a browser sends a preflight.
async fn anonymous(
    c: &S3Cluster,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    raw_request(c.addr, method, target, &pairs(headers), b"").await
}

/// A request signed with the cluster's key (`UNSIGNED-PAYLOAD`).
async fn signed(
    c: &S3Cluster,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let (all, _) = sign_v4(
        c,
        method,
        target,
        &pairs(headers),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    raw_request(c.addr, method, target, &all, body).await
}

fn content_md5(body: &[u8]) -> String {
    use base64::Engine;
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// Sends a raw PutBucketCors body with its Content-MD5.
async fn put_raw(c: &S3Cluster, bucket: &str, body: &str) -> RawResponse {
    let md5 = content_md5(body.as_bytes());
    signed(
        c,
        "PUT",
        &format!("/{bucket}?cors"),
        &[("content-md5", &md5)],
        body.as_bytes(),
    )
    .await
}

const CORS_HEADERS: [&str; 6] = [
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
    "vary",
];

fn assert_no_cors_headers(r: &RawResponse, what: &str) {
    for h in CORS_HEADERS {
        assert!(
            r.header(h).is_none(),
            "{what}: unexpected {h}: {:?}",
            r.header(h)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn put_get_and_delete_a_configuration() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = new_bucket(&s3, "cors-rt").await;

    let none = s3.get_bucket_cors().bucket(&bucket).send().await;
    assert_eq!(error_code(&none), "NoSuchCORSConfiguration");
    assert_eq!(error_status(&none), 404);

    let first = rule(
        &["https://app.example", "http://*.example.org"],
        &["GET", "PUT"],
    )
    .id("first")
    .allowed_headers("x-amz-*")
    .allowed_headers("Content-Type")
    .expose_headers("ETag")
    .max_age_seconds(3000)
    .build()
    .expect("a rule");
    let second = rule(&["*"], &["HEAD"]).build().expect("a rule");
    put_cors(&s3, &bucket, vec![first.clone(), second.clone()]).await;
    let got = s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketCors");
    assert_eq!(got.cors_rules(), [first, second.clone()]);

    // A PUT replaces the configuration whole.
    put_cors(&s3, &bucket, vec![second.clone()]).await;
    let got = s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketCors");
    assert_eq!(got.cors_rules(), [second]);

    s3.delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucketCors");
    let gone = s3.get_bucket_cors().bucket(&bucket).send().await;
    assert_eq!(error_code(&gone), "NoSuchCORSConfiguration");
    // Deleting none is 204 too.
    let again = signed(&c, "DELETE", &format!("/{bucket}?cors"), &[], b"").await;
    assert_eq!(again.status, 204, "{}", again.text());

    let missing = bucket_name("cors-none");
    let r = s3.get_bucket_cors().bucket(&missing).send().await;
    assert_eq!(error_code(&r), "NoSuchBucket");
    let r = s3
        .put_bucket_cors()
        .bucket(&missing)
        .cors_configuration(config(vec![rule(&["*"], &["GET"])
            .build()
            .expect("a rule")]))
        .send()
        .await;
    assert_eq!(error_code(&r), "NoSuchBucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configurations_get_s3_errors() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = new_bucket(&s3, "cors-bad").await;

    let bad_method = s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(config(vec![rule(&["*"], &["GET", "PATCH"])
            .build()
            .expect("a rule")]))
        .send()
        .await;
    assert_eq!(error_code(&bad_method), "InvalidRequest");
    let message = bad_method
        .as_ref()
        .err()
        .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::message(e))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        message,
        "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"
    );

    let two_wildcards = s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(config(vec![rule(&["http://*.*.example"], &["GET"])
            .build()
            .expect("a rule")]))
        .send()
        .await;
    assert_eq!(error_code(&two_wildcards), "InvalidRequest");

    let many: Vec<CorsRule> = (0..101)
        .map(|i| {
            rule(&[&format!("http://h{i}.example")], &["GET"])
                .build()
                .expect("a rule")
        })
        .collect();
    let too_many = s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(config(many))
        .send()
        .await;
    assert_eq!(error_code(&too_many), "InvalidRequest");
    let hundred: Vec<CorsRule> = (0..100)
        .map(|i| {
            rule(&[&format!("http://h{i}.example")], &["GET"])
                .build()
                .expect("a rule")
        })
        .collect();
    put_cors(&s3, &bucket, hundred).await;

    for body in [
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>",
        "<CORSConfiguration/>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Bogus/></CORSRule></CORSConfiguration>",
        "<Other><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></Other>",
    ] {
        let r = put_raw(&c, &bucket, body).await;
        assert_eq!((r.status, r.code()), (400, "MalformedXML".to_string()), "{body}");
    }

    // Without Content-MD5 or a checksum.
    let body = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let r = signed(&c, "PUT", &format!("/{bucket}?cors"), &[], body.as_bytes()).await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".to_string()));
    assert!(r.text().contains("Content-MD5"), "{}", r.text());
    // A wrong one.
    let wrong = content_md5(b"another body");
    let r = signed(
        &c,
        "PUT",
        &format!("/{bucket}?cors"),
        &[("content-md5", &wrong)],
        body.as_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "BadDigest".to_string()));
    // The configuration in place is still the hundred rules.
    let got = s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketCors");
    assert_eq!(got.cors_rules().len(), 100);

    // Only the owner sets it; an anonymous caller neither reads nor sets.
    let r = anonymous(&c, "GET", &format!("/{bucket}?cors"), &[]).await;
    assert_eq!((r.status, r.code()), (403, "AccessDenied".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn preflights_are_answered_from_the_rules() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = new_bucket(&s3, "cors-pre").await;
    let target = format!("/{bucket}/some/key.txt");

    // No Origin: 400, whatever the bucket.
    let r = anonymous(
        &c,
        "OPTIONS",
        &target,
        &[("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BadRequest".to_string()),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("Origin request header needed"),
        "{}",
        r.text()
    );
    // No configuration: 403 AccessForbidden.
    let ask = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "PUT"),
    ];
    let r = anonymous(&c, "OPTIONS", &target, &ask).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "AccessForbidden".to_string()),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("CORS is not enabled for this bucket"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("<Method>PUT</Method>"), "{}", r.text());
    assert_no_cors_headers(&r, "no configuration");
    // No bucket.
    let r = anonymous(
        &c,
        "OPTIONS",
        &format!("/{}/k", bucket_name("cors-nob")),
        &ask,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "AccessForbidden".to_string()),
        "{}",
        r.text()
    );

    put_cors(
        &s3,
        &bucket,
        vec![
            rule(
                &["https://app.example", "http://*.example.org"],
                &["GET", "PUT"],
            )
            .allowed_headers("x-amz-*")
            .allowed_headers("Content-Type")
            .expose_headers("ETag")
            .expose_headers("x-amz-request-id")
            .max_age_seconds(600)
            .build()
            .expect("a rule"),
            rule(&["*"], &["GET", "HEAD"]).build().expect("a rule"),
        ],
    )
    .await;

    // A match, with requested headers in any case.
    let r = anonymous(
        &c,
        "OPTIONS",
        &target,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "X-Amz-Date,content-type, x-amz-meta-a",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-amz-date, content-type, x-amz-meta-a")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );

    // The wildcard origin of the first rule; no header asked: none answered.
    let r = anonymous(
        &c,
        "OPTIONS",
        &format!("/{bucket}"),
        &[
            ("origin", "http://a.b.example.org"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.b.example.org")
    );
    assert!(r.header("access-control-allow-headers").is_none());

    // The second rule: `*` answers `*`, without credentials.
    let r = anonymous(
        &c,
        "OPTIONS",
        &target,
        &[
            ("origin", "http://elsewhere:8080"),
            ("access-control-request-method", "HEAD"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD"));
    assert!(r.header("access-control-allow-credentials").is_none());
    assert!(r.header("access-control-max-age").is_none());

    // No rule allows: another scheme, a method, a header the rules lack.
    for (origin, method, headers) in [
        ("http://app.example", "PUT", ""),
        ("https://app.example", "DELETE", ""),
        ("https://app.example", "PUT", "authorization"),
        ("http://elsewhere", "GET", "x-amz-date"),
        ("https://app.example/", "PUT", ""),
    ] {
        let mut ask = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if !headers.is_empty() {
            ask.push(("access-control-request-headers", headers));
        }
        let r = anonymous(&c, "OPTIONS", &target, &ask).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "AccessForbidden".to_string()),
            "{origin} {method} {headers}"
        );
        assert!(
            r.text().contains("This CORS request is not allowed"),
            "{}",
            r.text()
        );
        assert!(
            r.text().contains("<ResourceType>OBJECT</ResourceType>"),
            "{}",
            r.text()
        );
        assert_no_cors_headers(&r, origin);
    }
    // An Origin without the method, on a bucket with rules: 400.
    let r = anonymous(&c, "OPTIONS", &target, &[("origin", "https://app.example")]).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BadRequest".to_string()),
        "{}",
        r.text()
    );

    // Deleted: the preflight is refused at once.
    s3.delete_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucketCors");
    let r = anonymous(
        &c,
        "OPTIONS",
        &target,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "AccessForbidden".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn actual_answers_carry_the_headers_errors_too() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let bucket = new_bucket(&s3, "cors-act").await;
    put_bytes(&s3, &bucket, "obj", b"payload").await;
    let object = format!("/{bucket}/obj");

    // Before any configuration: nothing added.
    let r = signed(
        &c,
        "GET",
        &object,
        &[("origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_no_cors_headers(&r, "no configuration");

    put_cors(
        &s3,
        &bucket,
        vec![rule(&["https://app.example"], &["GET", "PUT", "HEAD"])
            .expose_headers("ETag")
            .max_age_seconds(60)
            .build()
            .expect("a rule")],
    )
    .await;

    let expect_cors = |r: &RawResponse, what: &str| {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example"),
            "{what}"
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, PUT, HEAD"),
            "{what}"
        );
        assert_eq!(
            r.header("access-control-allow-credentials"),
            Some("true"),
            "{what}"
        );
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("ETag"),
            "{what}"
        );
        assert_eq!(r.header("access-control-max-age"), Some("60"), "{what}");
        assert!(
            r.header("vary").is_some_and(|v| v.starts_with("Origin")),
            "{what}"
        );
        assert!(r.header("access-control-allow-headers").is_none(), "{what}");
    };

    let r = signed(
        &c,
        "GET",
        &object,
        &[("origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"payload");
    expect_cors(&r, "GET");
    let r = signed(
        &c,
        "PUT",
        &format!("/{bucket}/new"),
        &[("origin", "https://app.example")],
        b"new",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    expect_cors(&r, "PUT");

    // Errors: a missing key, an anonymous (refused) request.
    let r = signed(
        &c,
        "GET",
        &format!("/{bucket}/missing"),
        &[("origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "NoSuchKey".to_string()));
    expect_cors(&r, "404");
    let r = anonymous(&c, "GET", &object, &[("origin", "https://app.example")]).await;
    assert_eq!((r.status, r.code()), (403, "AccessDenied".to_string()));
    expect_cors(&r, "403");

    // No Origin, another origin, a method the rule lacks, and the
    // Access-Control-Request-Method of an actual request deciding the match.
    let r = signed(&c, "GET", &object, &[], b"").await;
    assert_no_cors_headers(&r, "no Origin");
    let r = signed(
        &c,
        "GET",
        &object,
        &[("origin", "https://other.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_no_cors_headers(&r, "another origin");
    let r = signed(
        &c,
        "DELETE",
        &format!("/{bucket}/new"),
        &[("origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_no_cors_headers(&r, "DELETE");
    let r = signed(
        &c,
        "GET",
        &object,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "DELETE"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_no_cors_headers(&r, "asked DELETE");
}
