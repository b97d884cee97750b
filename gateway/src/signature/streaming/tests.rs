//! The aws-chunked decoder against the S3 reference example (signed
//! chunks), `aws-sigv4`'s chunk and trailer signer, and hostile input.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::SigningSettings;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::http::Headers;
use futures::StreamExt;

use super::*;
use crate::error::assert_refused;
use crate::signature::signing::{scope, signing_key};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

fn signer() -> ChunkSigner {
    ChunkSigner {
        signing_key: signing_key(SECRET, "20130524", "us-east-1", "s3"),
        amz_date: "20130524T000000Z".into(),
        scope: scope("20130524", "us-east-1", "s3"),
        seed_signature: hex::decode(SEED).unwrap().try_into().unwrap(),
    }
}

/// The body of the reference example: 65536 + 1024 bytes of `a`.
fn reference_body() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    body
}

async fn decode(body: &[u8], piece: usize, options: ChunkedOptions) -> Result<Vec<u8>, S3Error> {
    let pieces: Vec<Result<Bytes, S3Error>> = body
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut decoder = ChunkedDecoder::new(futures::stream::iter(pieces), options);
    let mut out = Vec::new();
    while let Some(item) = decoder.next().await {
        out.extend_from_slice(&item?);
    }
    Ok(out)
}

fn signed() -> ChunkedOptions {
    ChunkedOptions {
        signer: Some(signer()),
        ..Default::default()
    }
}

#[tokio::test]
async fn decodes_the_reference_example_whatever_the_pieces() {
    let body = reference_body();
    for piece in [1, 7, 100, 4096, 65_600, body.len()] {
        let out = decode(&body, piece, signed()).await.unwrap();
        assert_eq!(out.len(), 66_560, "piece {piece}");
        assert!(out.iter().all(|b| *b == b'a'));
    }
    let with_length = ChunkedOptions {
        decoded_length: Some(66_560),
        ..signed()
    };
    assert!(decode(&body, 1000, with_length).await.is_ok());
    let wrong_length = ChunkedOptions {
        decoded_length: Some(66_561),
        ..signed()
    };
    assert_eq!(
        decode(&body, 1000, wrong_length).await.unwrap_err().code,
        ErrorCode::IncompleteBody
    );
}

#[tokio::test]
async fn refuses_tampered_data_and_signatures() {
    let mut body = reference_body();
    body[200] = b'b';
    assert_eq!(
        decode(&body, 512, signed()).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );
    // Chunks swapped or reordered break the chain.
    let body = reference_body();
    let mut wrong_seed = signer();
    wrong_seed.seed_signature = [0; 32];
    let options = ChunkedOptions {
        signer: Some(wrong_seed),
        ..Default::default()
    };
    assert_eq!(
        decode(&body, 512, options).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );
    // Truncated.
    assert_eq!(
        decode(&body[..body.len() - 40], 512, signed())
            .await
            .unwrap_err()
            .code,
        ErrorCode::IncompleteBody
    );
    // Unsigned chunks where signatures are required.
    assert_refused(
        decode(b"3\r\nabc\r\n0\r\n\r\n", 4, signed()).await,
        ErrorCode::InvalidArgument,
        "missing or bad chunk-signature",
    );
}

fn unsigned_trailer(algorithm: ChecksumAlgorithm) -> ChunkedOptions {
    ChunkedOptions {
        trailer: true,
        trailer_checksum: Some(algorithm),
        ..Default::default()
    }
}

#[tokio::test]
async fn unsigned_payload_with_a_crc32c_trailer() {
    // CRC32C("123456789") = e3069283 -> 4waSgw==
    let body = b"5\r\n12345\r\n4\r\n6789\r\n0\r\nx-amz-checksum-crc32c:4waSgw==\r\n\r\n";
    for piece in [1, 3, body.len()] {
        let options = unsigned_trailer(ChecksumAlgorithm::Crc32c);
        let out = decode(body, piece, options).await.unwrap();
        assert_eq!(out, b"123456789");
    }
    let options = unsigned_trailer(ChecksumAlgorithm::Crc32c);
    let pieces = vec![Ok(Bytes::from_static(body))];
    let mut decoder = ChunkedDecoder::new(futures::stream::iter(pieces), options);
    let slot = decoder.trailer_slot();
    while let Some(item) = decoder.next().await {
        item.unwrap();
    }
    assert_eq!(slot.take().unwrap().to_base64(), "4waSgw==");

    let wrong = b"5\r\n12345\r\n4\r\n6788\r\n0\r\nx-amz-checksum-crc32c:4waSgw==\r\n\r\n";
    assert_eq!(
        decode(wrong, 5, unsigned_trailer(ChecksumAlgorithm::Crc32c))
            .await
            .unwrap_err()
            .code,
        ErrorCode::BadDigest
    );
    let missing = b"5\r\n12345\r\n0\r\n\r\n";
    assert_eq!(
        decode(missing, 5, unsigned_trailer(ChecksumAlgorithm::Crc32c))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
}

#[tokio::test]
async fn signed_payload_with_a_trailer_signed_by_aws_sigv4() {
    let identity: Identity =
        Credentials::new("AKIAIOSFODNN7EXAMPLE", SECRET, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_secs(1_369_353_600))
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let data = Bytes::from_static(b"hello world");
    let empty = Bytes::new();
    let sig1 = aws_sigv4::sign::v4::sign_chunk(&data, SEED, &params)
        .unwrap()
        .signature()
        .to_string();
    let sig2 = aws_sigv4::sign::v4::sign_chunk(&empty, &sig1, &params)
        .unwrap()
        .signature()
        .to_string();
    let mut trailers = Headers::new();
    // CRC32("hello world") = 0x0d4a1185
    let crc = "DUoRhQ==";
    trailers.insert("x-amz-checksum-crc32", crc);
    let sig3 = aws_sigv4::sign::v4::sign_trailer(&trailers, &sig2, &params)
        .unwrap()
        .signature()
        .to_string();
    let body = format!(
        "b;chunk-signature={sig1}\r\nhello world\r\n0;chunk-signature={sig2}\r\nx-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{sig3}\r\n\r\n"
    );
    let options = ChunkedOptions {
        signer: Some(signer()),
        trailer: true,
        trailer_checksum: Some(ChecksumAlgorithm::Crc32),
        decoded_length: Some(11),
    };
    assert_eq!(
        decode(body.as_bytes(), 9, options.clone()).await.unwrap(),
        b"hello world"
    );
    let forged = body.replace(&sig3, &"0".repeat(64));
    assert_eq!(
        decode(forged.as_bytes(), 9, options)
            .await
            .unwrap_err()
            .code,
        ErrorCode::SignatureDoesNotMatch
    );
}

#[tokio::test]
async fn hostile_input_is_an_error_with_bounded_memory() {
    let opts = || unsigned_trailer(ChecksumAlgorithm::Crc32);
    // A header line that never ends.
    let endless = vec![b'1'; MAX_LINE * 4];
    let malformed = ErrorCode::InvalidArgument;
    assert_refused(
        decode(&endless, 100, opts()).await,
        malformed,
        "line too long",
    );
    // A size that overflows.
    let huge = decode(b"fffffffffffffffffff\r\n", 4, opts()).await;
    assert_refused(huge, malformed, "bad chunk size");
    let huge = decode(b"ffffffffffffffff\r\n", 4, opts()).await;
    assert_refused(huge, malformed, "chunk too large");
    // A size that lies: shorter data then a header, read as data.
    let lies = decode(b"10\r\nabc\r\n0\r\n\r\n", 4, opts()).await;
    assert_eq!(lies.unwrap_err().code, ErrorCode::IncompleteBody);
    // Data longer than its size.
    let longer = decode(b"2\r\nabc\r\n0\r\n\r\n", 4, opts()).await;
    assert_refused(longer, malformed, "chunk data longer than its size");
    // Too many trailers.
    let mut many = b"0\r\n".to_vec();
    for _ in 0..100 {
        many.extend_from_slice(b"x-a:b\r\n");
    }
    assert_refused(
        decode(&many, 64, opts()).await,
        malformed,
        "too many trailer lines",
    );
    // Not text.
    let binary = decode(b"\xff\xfe\r\n", 4, opts()).await;
    assert_refused(binary, malformed, "chunk header is not text");
    // Empty body.
    assert_eq!(
        decode(b"", 4, opts()).await.unwrap_err().code,
        ErrorCode::IncompleteBody
    );
}

#[test]
fn fuzz_body_survives_hostile_input() {
    for input in [
        &b""[..],
        b"0\r\n\r\n",
        b"3;chunk-signature=zz\r\nabc\r\n",
        b"ffffffff\r\n",
        b"1\r\na\r\n0\r\nx-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:00\r\n\r\n",
        b"\r\n\r\n\r\n",
        b";;;;\r\n",
    ] {
        fuzz_chunked(input);
    }
}

/// The seeds of the fuzz target are valid bodies, each in its mode, so that
/// the fuzzer starts from inputs that reach the trailer and signature checks.
#[tokio::test]
async fn fuzz_seeds_decode_in_their_mode() {
    let [unsigned, signed, signed_trailer] = fuzz_modes();
    let seeds: [(&[u8], ChunkedOptions, &[u8]); 3] = [
        (
            include_bytes!("../../../fuzz/seeds/aws_chunked/unsigned-trailer-crc32c"),
            unsigned,
            b"hello, world\n",
        ),
        (
            include_bytes!("../../../fuzz/seeds/aws_chunked/signed"),
            signed,
            b"hello, world\n",
        ),
        (
            include_bytes!("../../../fuzz/seeds/aws_chunked/signed-trailer-sha256"),
            signed_trailer,
            b"abc",
        ),
    ];
    for (body, options, data) in seeds {
        assert_eq!(decode(body, 7, options).await.unwrap(), data);
    }
}
