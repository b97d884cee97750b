//! `aws-chunked` uploads against `cairn up`: a signed streaming upload
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, every chunk signed, made here by
//! hand from the SigV4 rules with the SDK's signer for the seed) and an
//! unsigned upload with a trailing CRC32C (`STREAMING-UNSIGNED-PAYLOAD-
//! TRAILER`), both also with a corruption that must be refused with nothing
//! written; and the SDK's own streaming upload of a file with a CRC32C.

mod common;

use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine as _;
use common::s3::*;
use sha2::{Digest, Sha256};

const CHUNK: usize = 64 * 1024;

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A signed aws-chunked body: the chunk signatures chain from `seed`.
fn signed_chunked_body(c: &S3Cluster, data: &[u8], seed: &str, time: SystemTime) -> Vec<u8> {
    let (stamp, date) = amz_dates(time);
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let key = aws_sigv4::sign::v4::generate_signing_key(&c.secret_key, time, REGION, "s3");
    let empty_hash = hex_sha256(b"");
    let mut previous = seed.to_string();
    let mut body = Vec::new();
    let mut pieces: Vec<&[u8]> = data.chunks(CHUNK).collect();
    pieces.push(b"");
    for piece in pieces {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{stamp}\n{scope}\n{previous}\n{empty_hash}\n{}",
            hex_sha256(piece)
        );
        let signature =
            aws_sigv4::sign::v4::calculate_signature(key.as_ref(), string_to_sign.as_bytes());
        body.extend_from_slice(
            format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
        );
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
        previous = signature;
    }
    body
}

/// Sends a signed streaming PUT of `data`, with `corrupt` applied to the
/// encoded body after signing.
async fn signed_streaming_put(
    c: &S3Cluster,
    target: &str,
    data: &[u8],
    corrupt: impl FnOnce(&mut Vec<u8>),
) -> RawResponse {
    let time = SystemTime::now();
    // The encoded length must be known before signing: sign a body with
    // placeholder signatures of the same length first.
    let encoded_len = signed_chunked_body(c, data, &"0".repeat(64), time).len();
    let headers = vec![
        ("content-encoding".to_string(), "aws-chunked".to_string()),
        ("content-length".to_string(), encoded_len.to_string()),
        (
            "x-amz-decoded-content-length".to_string(),
            data.len().to_string(),
        ),
        (
            "content-type".to_string(),
            "application/x-streamed".to_string(),
        ),
    ];
    let (headers, seed) = sign_v4(
        c,
        "PUT",
        target,
        &headers,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        time,
    );
    let mut body = signed_chunked_body(c, data, &seed, time);
    assert_eq!(body.len(), encoded_len);
    corrupt(&mut body);
    raw_request(c.addr, "PUT", target, &headers, &body).await
}

#[tokio::test]
async fn signed_streaming_upload() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("sig");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let data = common::pattern(41, 5 * CHUNK + 1234);

    let answer = signed_streaming_put(&c, &format!("/{b}/streamed"), &data, |_| {}).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("etag"),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    let got = s3
        .get_object()
        .bucket(&b)
        .key("streamed")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("application/x-streamed"));
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert!(body_bytes(got).await == data);

    // One byte of the third chunk changed in flight: its signature fails.
    let at = 3 * (CHUNK + 90) + 100;
    let answer = signed_streaming_put(&c, &format!("/{b}/corrupt"), &data, |body| {
        body[at] ^= 0x55;
    })
    .await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    // The final, empty chunk's signature is checked too (else a stream
    // could be cut short): one digit of it changed.
    let answer = signed_streaming_put(&c, &format!("/{b}/truncated"), &data, |body| {
        // "0;chunk-signature=" + 64 hex digits + "\r\n\r\n" end the body.
        let at = body.len() - 4 - 64;
        body[at] = if body[at] == b'0' { b'1' } else { b'0' };
    })
    .await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.text());
    for key in ["corrupt", "truncated"] {
        assert_eq!(
            error_status(&s3.head_object().bucket(&b).key(key).send().await),
            404,
            "a refused stream leaves nothing: {key}"
        );
    }
}

/// Sends an unsigned aws-chunked PUT with a trailing CRC32C (`trailer`
/// base64), the headers signed.
async fn trailer_put(c: &S3Cluster, target: &str, data: &[u8], trailer: &str) -> RawResponse {
    let mut body = Vec::new();
    for piece in data.chunks(CHUNK) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32c:{trailer}\r\n\r\n").as_bytes());
    let headers = vec![
        ("content-encoding".to_string(), "aws-chunked".to_string()),
        ("content-length".to_string(), body.len().to_string()),
        (
            "x-amz-decoded-content-length".to_string(),
            data.len().to_string(),
        ),
        (
            "x-amz-trailer".to_string(),
            "x-amz-checksum-crc32c".to_string(),
        ),
        (
            "x-amz-sdk-checksum-algorithm".to_string(),
            "CRC32C".to_string(),
        ),
    ];
    let (headers, _) = sign_v4(
        c,
        "PUT",
        target,
        &headers,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        SystemTime::now(),
    );
    raw_request(c.addr, "PUT", target, &headers, &body).await
}

#[tokio::test]
async fn unsigned_upload_with_trailing_crc32c() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("trl");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let data = common::pattern(42, 3 * CHUNK + 17);
    let crc = base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(&data).to_be_bytes());

    let answer = trailer_put(&c, &format!("/{b}/trailed"), &data, &crc).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-amz-checksum-crc32c"), Some(crc.as_str()));
    let got = s3
        .get_object()
        .bucket(&b)
        .key("trailed")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.checksum_crc32_c(),
        Some(crc.as_str()),
        "stored and returned"
    );
    assert!(body_bytes(got).await == data);

    let wrong = base64::engine::general_purpose::STANDARD.encode(0xDEAD_BEEFu32.to_be_bytes());
    let answer = trailer_put(&c, &format!("/{b}/wrong"), &data, &wrong).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.code(), "BadDigest", "{}", answer.text());
    assert_eq!(
        error_status(&s3.head_object().bucket(&b).key("wrong").send().await),
        404,
        "a body whose trailer does not match is not stored"
    );
}

#[tokio::test]
async fn sdk_streams_a_file_with_a_checksum() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("sdk");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("upload.bin");
    common::write_pattern_file(&path, 43, 6 << 20);
    let data = std::fs::read(&path).expect("read back");
    let body = ByteStream::from_path(&path).await.expect("file stream");
    let put = s3
        .put_object()
        .bucket(&b)
        .key("from-file")
        .body(body)
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .expect("streamed put");
    let crc = base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(&data).to_be_bytes());
    assert_eq!(put.checksum_crc32_c(), Some(crc.as_str()));
    assert_eq!(
        put.e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("from-file")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(head.checksum_crc32_c(), Some(crc.as_str()));
    let got = s3
        .get_object()
        .bucket(&b)
        .key("from-file")
        .send()
        .await
        .expect("get");
    assert!(body_bytes(got).await == data);
}
