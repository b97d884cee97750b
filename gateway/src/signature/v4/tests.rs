//! SigV4 verification against requests signed by `aws-sigv4`, the AWS SDK's
//! own signer, and against the examples of the S3 API reference.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderValue, Method, Request};

use super::*;
use crate::query::Query;
use crate::signature::{authenticate, AccessKey, MapKeyStore};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NOW: u64 = 1_369_353_600; // 2013-05-24T00:00:00Z

fn keys() -> MapKeyStore {
    MapKeyStore::new([AccessKey::new(AKID, SECRET)])
}

fn context() -> AuthContext {
    AuthContext {
        region: "us-east-1".into(),
        domain: None,
    }
}

/// Signs `req` with aws-sigv4 as an S3 client would.
fn sign_request(
    req: &mut Request<()>,
    location: SignatureLocation,
    body_hash: Option<&str>,
    secret: &str,
) {
    let identity: Identity = Credentials::new(AKID, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.signature_location = location;
    if location == SignatureLocation::QueryParams {
        settings.expires_in = Some(Duration::from_secs(3600));
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_secs(NOW))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = match body_hash {
        Some(h) => SignableBody::Precomputed(h.to_string()),
        None => SignableBody::UnsignedPayload,
    };
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(req);
}

async fn verify(req: &Request<()>, now: u64) -> S3Result<Auth> {
    let raw_query = req.uri().query().unwrap_or("");
    let query = Query::parse(raw_query).unwrap();
    let parts = SignedParts {
        method: req.method(),
        raw_path: req.uri().path(),
        raw_query,
        query: &query,
        headers: req.headers(),
        authority: req.uri().authority().map(|a| a.as_str()),
    };
    authenticate(&parts, &keys(), &context(), now as i64).await
}

fn request(method: Method, uri: &str) -> Request<()> {
    let mut req = Request::builder().method(method).uri(uri).body(()).unwrap();
    let host = req.uri().authority().unwrap().to_string();
    req.headers_mut()
        .insert("host", HeaderValue::from_str(&host).unwrap());
    req
}

#[tokio::test]
async fn accepts_requests_signed_by_the_sdk_signer() {
    for uri in [
        "http://127.0.0.1:9000/bucket/key",
        "http://127.0.0.1:9000/bucket/a%20b/c%2Bd/%E2%82%AC",
        "http://127.0.0.1:9000/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F",
        "http://127.0.0.1:9000/",
        "http://127.0.0.1:9000/bucket?uploads",
    ] {
        let mut req = request(Method::GET, uri);
        req.headers_mut()
            .insert("x-amz-meta-a", HeaderValue::from_static("x  y"));
        sign_request(
            &mut req,
            SignatureLocation::Headers,
            Some(canonical::EMPTY_SHA256_HEX),
            SECRET,
        );
        let auth = verify(&req, NOW)
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
        match auth {
            Auth::Key { key, payload } => {
                assert_eq!(key.id, AKID);
                assert!(matches!(payload, PayloadCheck::Sha256(_)));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn refuses_wrong_secret_unknown_key_and_skew() {
    let mut req = request(Method::PUT, "http://h/bucket/key");
    sign_request(
        &mut req,
        SignatureLocation::Headers,
        Some("UNSIGNED-PAYLOAD"),
        "wrong",
    );
    assert_eq!(
        verify(&req, NOW).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );

    let mut req = request(Method::PUT, "http://h/bucket/key");
    sign_request(
        &mut req,
        SignatureLocation::Headers,
        Some("UNSIGNED-PAYLOAD"),
        SECRET,
    );
    assert!(matches!(
        verify(&req, NOW).await.unwrap(),
        Auth::Key {
            payload: PayloadCheck::Unsigned,
            ..
        }
    ));
    assert_eq!(
        verify(&req, NOW + 16 * 60).await.unwrap_err().code,
        ErrorCode::RequestTimeTooSkewed
    );
    assert!(verify(&req, NOW + 14 * 60).await.is_ok());

    // Tampering with a signed header breaks the signature.
    let mut tampered = req.clone();
    tampered
        .headers_mut()
        .insert("host", HeaderValue::from_static("other"));
    assert_eq!(
        verify(&tampered, NOW).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );

    // An unknown key.
    let auth = req.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace(AKID, "AKIDUNKNOWN");
    let mut unknown = req.clone();
    unknown
        .headers_mut()
        .insert("authorization", HeaderValue::from_str(&auth).unwrap());
    assert_eq!(
        verify(&unknown, NOW).await.unwrap_err().code,
        ErrorCode::InvalidAccessKeyId
    );

    // Another region.
    let auth = req.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace("us-east-1", "eu-west-1");
    let mut region = req.clone();
    region
        .headers_mut()
        .insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let err = verify(&region, NOW).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthorizationHeaderMalformed);
    assert!(err
        .extra
        .iter()
        .any(|(n, v)| *n == "Region" && v == "us-east-1"));
}

#[tokio::test]
async fn presigned_urls_expire() {
    let mut req = request(
        Method::GET,
        "http://127.0.0.1:9000/bucket/some%20key?versionId=null",
    );
    sign_request(&mut req, SignatureLocation::QueryParams, None, SECRET);
    assert!(req.uri().query().unwrap().contains("X-Amz-Expires=3600"));
    assert!(matches!(
        verify(&req, NOW + 10).await.unwrap(),
        Auth::Key {
            payload: PayloadCheck::Unsigned,
            ..
        }
    ));
    let err = verify(&req, NOW + 3601).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AccessDenied);
    assert!(err.message.contains("expired"));
    assert_eq!(
        verify(&req, NOW - 3600).await.unwrap_err().code,
        ErrorCode::AccessDenied
    );

    let mut wrong = request(Method::GET, "http://127.0.0.1:9000/bucket/some%20key");
    sign_request(&mut wrong, SignatureLocation::QueryParams, None, "nope");
    assert_eq!(
        verify(&wrong, NOW).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );

    // Changing the expiry invalidates the signature.
    let uri = req
        .uri()
        .to_string()
        .replace("X-Amz-Expires=3600", "X-Amz-Expires=7200");
    let mut longer = req.clone();
    *longer.uri_mut() = uri.parse().unwrap();
    assert_eq!(
        verify(&longer, NOW).await.unwrap_err().code,
        ErrorCode::SignatureDoesNotMatch
    );
    let uri = req
        .uri()
        .to_string()
        .replace("X-Amz-Expires=3600", "X-Amz-Expires=604801");
    let mut too_long = req.clone();
    *too_long.uri_mut() = uri.parse().unwrap();
    assert_eq!(
        verify(&too_long, NOW).await.unwrap_err().code,
        ErrorCode::AuthorizationQueryParametersError
    );
}

#[tokio::test]
async fn anonymous_and_mixed_auth() {
    let req = request(Method::GET, "http://h/bucket/key");
    assert_eq!(verify(&req, NOW).await.unwrap(), Auth::Anonymous);
    let mut both = request(
        Method::GET,
        "http://h/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256",
    );
    both.headers_mut().insert(
        "authorization",
        HeaderValue::from_static("AWS4-HMAC-SHA256 x"),
    );
    assert_eq!(
        verify(&both, NOW).await.unwrap_err().code,
        ErrorCode::InvalidArgument
    );
}

#[tokio::test]
async fn streaming_mode_yields_a_chunk_signer_seeded_with_the_request_signature() {
    let mut req = request(Method::PUT, "http://h/examplebucket/chunkObject.txt");
    req.headers_mut()
        .insert("content-encoding", HeaderValue::from_static("aws-chunked"));
    req.headers_mut().insert(
        "x-amz-decoded-content-length",
        HeaderValue::from_static("66560"),
    );
    sign_request(
        &mut req,
        SignatureLocation::Headers,
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        SECRET,
    );
    match verify(&req, NOW).await.unwrap() {
        Auth::Key {
            payload:
                PayloadCheck::Chunked {
                    signer: Some(signer),
                    trailer: false,
                },
            ..
        } => {
            assert_eq!(signer.amz_date, "20130524T000000Z");
            assert_eq!(signer.scope, "20130524/us-east-1/s3/aws4_request");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_reference_example_signature() {
    // "Example: GET Object" of the S3 SigV4 header-auth reference.
    let canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let to_sign = string_to_sign(
        "20130524T000000Z",
        &scope("20130524", "us-east-1", "s3"),
        canonical,
    );
    let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
    assert_eq!(
        hex::encode(hmac_sha256(&key, to_sign.as_bytes())),
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}

#[test]
fn header_parser() {
    let ok = AuthorizationV4::parse("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41").unwrap();
    assert_eq!(ok.credential.access_key_id, "AK");
    assert_eq!(ok.signed_headers, ["host", "x-amz-date"]);
    for (bad, cause) in [
        ("AWS4-HMAC-SHA256", "not of the form name=value"),
        ("AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00", "the Credential is missing or malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "SignedHeaders is missing or malformed"),
        ("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "the Credential is missing or malformed"),
        ("AWS4-HMAC-SHA256 Foo", "not of the form name=value"),
    ] {
        crate::error::assert_refused(
            AuthorizationV4::parse(bad),
            ErrorCode::AuthorizationHeaderMalformed,
            cause,
        );
    }
}

#[test]
fn fuzz_body_survives_hostile_input() {
    for input in [
        &b"AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;;;, Signature="[..],
        b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=99999999999999999999&X-Amz-Date=99999999T999999Z",
        b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=-1",
        b"%%%%&&&===",
        b"\xff\x00",
    ] {
        fuzz_v4_parsers(input);
    }
    let _ = SystemTime::now();
}
