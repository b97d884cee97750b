//! What the SDK cannot send: a PUT in HTTP chunked encoding without
//! Content-Length, SigV2 on bucket requests, a `partNumber` that is not a
//! number.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::*;

/// The body in HTTP/1.1 chunked encoding, in pieces of `piece` bytes.
fn chunked(data: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in data.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn a_chunked_put_without_length_stores_the_whole_body() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "chunked").await;
    let data = common::pattern(110, 3 * MIB + 12_345);
    let target = format!("/{b}/streamed");
    let (headers, _) = sign_v4(
        &c,
        "PUT",
        &target,
        &[("transfer-encoding".to_string(), "chunked".to_string())],
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let answer = raw_request(c.addr, "PUT", &target, &headers, &chunked(&data, 100_000)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let etag = format!("\"{}\"", md5_hex(&data));
    assert_eq!(answer.header("etag"), Some(etag.as_str()));
    let got = s3
        .get_object()
        .bucket(&b)
        .key("streamed")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert!(body_bytes(got).await == data, "the whole body was stored");
    // Without either length or chunks, a PUT is still refused.
    let (headers, _) = sign_v4(
        &c,
        "PUT",
        &target,
        &[],
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut stream = tokio::net::TcpStream::connect(c.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (n, v) in &headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("an answer within 30 s")
    .expect("read");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 411"), "{text}");
    assert!(text.contains("<Code>MissingContentLength</Code>"), "{text}");
}

/// A SigV2 `Authorization` for `resource`, with a Date of now.
fn sign_v2(c: &S3Cluster, method: &str, resource: &str, secret: &str) -> Vec<(String, String)> {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let to_sign = format!("{method}\n\n\n{date}\n{resource}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    let signature = b64(&mac.finalize().into_bytes());
    vec![
        ("date".to_string(), date),
        (
            "authorization".to_string(),
            format!("AWS {}:{signature}", c.access_key),
        ),
    ]
}

#[tokio::test]
async fn sigv2_on_bucket_requests() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "sigv2").await;
    put_bytes(&s3, &b, "k", b"v2").await;
    let bucket_resource = format!("/{b}/");
    // A bucket is signed as /bucket/, whether the path has the slash or
    // not; the path exactly as sent is accepted too.
    for (method, target, resource) in [
        ("GET", format!("/{b}/"), bucket_resource.clone()),
        ("GET", format!("/{b}"), bucket_resource.clone()),
        ("GET", format!("/{b}"), format!("/{b}")),
        ("HEAD", format!("/{b}"), bucket_resource.clone()),
        (
            "GET",
            format!("/{b}?versioning"),
            format!("/{b}/?versioning"),
        ),
        ("GET", format!("/{b}/k"), format!("/{b}/k")),
    ] {
        let headers = sign_v2(&c, method, &resource, &c.secret_key);
        let answer = raw_request(c.addr, method, &target, &headers, b"").await;
        assert_eq!(
            answer.status,
            200,
            "{method} {target} signed {resource}: {}",
            answer.text()
        );
        if method == "GET" && target.ends_with('/') {
            assert!(answer.text().contains("<Key>k</Key>"), "{}", answer.text());
        }
    }
    // A bucket made with SigV2.
    let made = bucket_name("sigv2new");
    let headers = sign_v2(&c, "PUT", &format!("/{made}/"), &c.secret_key);
    let answer = raw_request(c.addr, "PUT", &format!("/{made}"), &headers, b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    s3.head_bucket()
        .bucket(&made)
        .send()
        .await
        .expect("the bucket exists");
    // A wrong secret, or another bucket's resource, is refused.
    let headers = sign_v2(&c, "GET", &bucket_resource, "not the secret");
    let answer = raw_request(c.addr, "GET", &format!("/{b}"), &headers, b"").await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let headers = sign_v2(&c, "GET", &format!("/{made}/"), &c.secret_key);
    let answer = raw_request(c.addr, "GET", &format!("/{b}"), &headers, b"").await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn a_part_number_that_is_no_number_is_invalid_argument() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = new_bucket(&s3, "partarg").await;
    put_bytes(&s3, &b, "k", b"x").await;
    for value in ["abc", "1.5", ""] {
        let target = format!("/{b}/k?partNumber={value}");
        let (headers, _) = sign_v4(
            &c,
            "GET",
            &target,
            &[],
            "UNSIGNED-PAYLOAD",
            SystemTime::now(),
        );
        let answer = raw_request(c.addr, "GET", &target, &headers, b"").await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (400, "InvalidArgument"),
            "partNumber={value}: {}",
            answer.text()
        );
    }
}
