//! AWS Signature Version 2, for older clients: `Authorization: AWS
//! AKID:base64(HMAC-SHA1)` and query auth (`AWSAccessKeyId`, `Expires`,
//! `Signature`).
//!
//! ```text
//! StringToSign = Verb \n Content-MD5 \n Content-Type \n Date-or-Expires \n
//!                CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! With `x-amz-date` present, the Date line is empty (x-amz-date is among
//! the amz headers). The resource is `/bucket/key` as sent (still
//! percent-encoded), plus the S3 sub-resources of the query, sorted.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{lookup_key, mac_eq, time, Auth, AuthContext, KeyStore, PayloadCheck, SignedParts};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::router::{bucket_and_key, Addressing};

/// Query parameters that are part of the SigV2 canonical resource.
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The fields of `Authorization: AWS AKID:signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationV2 {
    pub access_key_id: String,
    pub signature: Vec<u8>,
}

impl AuthorizationV2 {
    pub fn parse(header: &str) -> S3Result<AuthorizationV2> {
        let malformed = || {
            S3Error::with_message(
                ErrorCode::InvalidArgument,
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            )
        };
        let rest = header.strip_prefix("AWS ").ok_or_else(malformed)?;
        let (id, signature) = rest.trim().rsplit_once(':').ok_or_else(malformed)?;
        let signature = BASE64.decode(signature.trim()).map_err(|_| malformed())?;
        if id.is_empty() || signature.len() != 20 {
            return Err(malformed());
        }
        Ok(AuthorizationV2 {
            access_key_id: id.to_string(),
            signature,
        })
    }
}

fn header_text<'a>(parts: &'a SignedParts<'_>, name: &str) -> &'a str {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `x-amz-*` headers, lowercase, sorted, values joined by `,`.
fn canonical_amz_headers(parts: &SignedParts<'_>) -> String {
    let mut names: Vec<&str> = parts
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// `/bucket/key?subresources`, in each form a client may have signed: the
/// path as sent, and for a request to a bucket (no key) `/bucket/`, as
/// the SigV2 reference writes it for both addressing styles (a
/// path-style `/bucket` is signed as `/bucket/` by many clients).
fn canonical_resources(parts: &SignedParts<'_>, context: &AuthContext) -> S3Result<Vec<String>> {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(parts.authority);
    let (bucket, key, addressing) =
        bucket_and_key(parts.raw_path, host, context.domain.as_deref())?;
    let mut paths = vec![match (addressing, &bucket) {
        (Addressing::VirtualHost, Some(bucket)) => format!("/{bucket}{}", parts.raw_path),
        _ => parts.raw_path.to_string(),
    }];
    if paths[0].is_empty() {
        paths[0].push('/');
    }
    if bucket.is_some() && key.is_none() && !paths[0].ends_with('/') {
        paths.insert(0, format!("{}/", paths[0]));
    }
    let mut subs: Vec<(&str, &str)> = parts
        .query
        .iter()
        .filter(|(name, _)| SUB_RESOURCES.contains(name))
        .collect();
    subs.sort();
    for resource in &mut paths {
        for (i, (name, value)) in subs.iter().enumerate() {
            resource.push(if i == 0 { '?' } else { '&' });
            resource.push_str(name);
            if !value.is_empty() {
                resource.push('=');
                resource.push_str(value);
            }
        }
    }
    Ok(paths)
}

/// The strings to sign, with `date` the Date line: one per form of the
/// canonical resource, the reference's first.
pub fn strings_to_sign(
    parts: &SignedParts<'_>,
    date: &str,
    context: &AuthContext,
) -> S3Result<Vec<String>> {
    let head = format!(
        "{}\n{}\n{}\n{}\n{}",
        parts.method.as_str(),
        header_text(parts, "content-md5"),
        header_text(parts, "content-type"),
        date,
        canonical_amz_headers(parts),
    );
    Ok(canonical_resources(parts, context)?
        .into_iter()
        .map(|resource| format!("{head}{resource}"))
        .collect())
}

/// The string to sign of the reference's canonical resource.
pub fn string_to_sign(
    parts: &SignedParts<'_>,
    date: &str,
    context: &AuthContext,
) -> S3Result<String> {
    strings_to_sign(parts, date, context)?
        .into_iter()
        .next()
        .ok_or_else(|| S3Error::new(ErrorCode::InternalError))
}

/// Checks `signature` against every form of the string to sign;
/// `SignatureDoesNotMatch` names the reference's form.
fn check_signature(
    secret: &str,
    signature: &[u8],
    parts: &SignedParts<'_>,
    date: &str,
    context: &AuthContext,
) -> S3Result<()> {
    let candidates = strings_to_sign(parts, date, context)?;
    if candidates
        .iter()
        .any(|to_sign| mac_eq(&sign(secret, to_sign), signature))
    {
        return Ok(());
    }
    Err(mismatch(candidates.first().map_or("", String::as_str)))
}

/// `HMAC-SHA1(secret, string_to_sign)`.
pub fn sign(secret: &str, string_to_sign: &str) -> [u8; 20] {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

fn mismatch(string_to_sign: &str) -> S3Error {
    S3Error::new(ErrorCode::SignatureDoesNotMatch).extra("StringToSign", string_to_sign.to_string())
}

/// Verifies `Authorization: AWS AKID:signature`.
pub async fn verify_header<K: KeyStore>(
    parts: &SignedParts<'_>,
    header: &str,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<Auth> {
    let auth = AuthorizationV2::parse(header)?;
    let amz_date = header_text(parts, "x-amz-date");
    let (date_line, request_time) = if amz_date.is_empty() {
        let date = header_text(parts, "date");
        (date, time::parse_http_date(date))
    } else {
        ("", time::parse_http_date(amz_date))
    };
    let request_time = request_time.ok_or_else(|| {
        S3Error::with_message(
            ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    if !time::within_skew(request_time, now) {
        return Err(S3Error::new(ErrorCode::RequestTimeTooSkewed)
            .extra("RequestTime", time::format_amz_date(request_time))
            .extra("ServerTime", time::format_amz_date(now))
            .extra("MaxAllowedSkewMilliseconds", "900000"));
    }
    let key = lookup_key(keys, &auth.access_key_id).await?;
    check_signature(key.secret(), &auth.signature, parts, date_line, context)?;
    Ok(Auth::Key {
        key,
        payload: PayloadCheck::Unsigned,
    })
}

/// Verifies query auth (`AWSAccessKeyId`, `Expires`, `Signature`).
pub async fn verify_query<K: KeyStore>(
    parts: &SignedParts<'_>,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<Auth> {
    let bad = |what: &str| {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            format!("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters ({what})"),
        )
    };
    let id = parts
        .query
        .get("AWSAccessKeyId")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("AWSAccessKeyId"))?;
    let expires_text = parts.query.get("Expires").ok_or_else(|| bad("Expires"))?;
    let expires: i64 = expires_text
        .parse()
        .ok()
        .filter(|_| expires_text.len() <= 12 && expires_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad("Expires"))?;
    let signature = parts
        .query
        .get("Signature")
        .and_then(|s| BASE64.decode(s.trim()).ok())
        .ok_or_else(|| bad("Signature"))?;
    if now > expires {
        return Err(
            S3Error::with_message(ErrorCode::AccessDenied, "Request has expired")
                .extra("Expires", expires.to_string())
                .extra("ServerTime", time::format_amz_date(now)),
        );
    }
    let key = lookup_key(keys, id).await?;
    check_signature(key.secret(), &signature, parts, expires_text, context)?;
    Ok(Auth::Key {
        key,
        payload: PayloadCheck::Unsigned,
    })
}

/// The fuzzing entry point for the SigV2 parsers; never panics.
pub fn fuzz_v2_parsers(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = AuthorizationV2::parse(text);
        if let Some(query) = crate::query::Query::parse(text) {
            let headers = http::HeaderMap::new();
            let parts = SignedParts {
                method: &http::Method::GET,
                raw_path: "/b/k",
                raw_query: text,
                query: &query,
                headers: &headers,
                authority: None,
            };
            let context = AuthContext {
                region: "us-east-1".into(),
                domain: Some("s3.example.com".into()),
            };
            let _ = string_to_sign(&parts, "", &context);
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method};

    use super::*;
    use crate::query::Query;
    use crate::signature::{authenticate, AccessKey, MapKeyStore};

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn context(domain: Option<&str>) -> AuthContext {
        AuthContext {
            region: "us-east-1".into(),
            domain: domain.map(str::to_string),
        }
    }

    #[test]
    fn reference_example_get_object() {
        // "Example Object GET" of the SigV2 reference (virtual-host style).
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            HeaderValue::from_static("awsexamplebucket1.s3.us-west-1.amazonaws.com"),
        );
        headers.insert(
            "date",
            HeaderValue::from_static("Tue, 27 Mar 2007 19:36:42 +0000"),
        );
        let query = Query::default();
        let parts = SignedParts {
            method: &Method::GET,
            raw_path: "/photos/puppy.jpg",
            raw_query: "",
            query: &query,
            headers: &headers,
            authority: None,
        };
        let to_sign = string_to_sign(
            &parts,
            "Tue, 27 Mar 2007 19:36:42 +0000",
            &context(Some("s3.us-west-1.amazonaws.com")),
        )
        .unwrap();
        assert_eq!(
            to_sign,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            BASE64.encode(sign(SECRET, &to_sign)),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
    }

    async fn verify(
        method: Method,
        path: &str,
        raw_query: &str,
        headers: HeaderMap,
        now: i64,
    ) -> S3Result<Auth> {
        let query = Query::parse(raw_query).unwrap();
        let parts = SignedParts {
            method: &method,
            raw_path: path,
            raw_query,
            query: &query,
            headers: &headers,
            authority: None,
        };
        let keys = MapKeyStore::new([AccessKey::new(AKID, SECRET)]);
        authenticate(&parts, &keys, &context(None), now).await
    }

    #[tokio::test]
    async fn header_auth_round_trip() {
        let now = 1_369_353_600;
        let date = "Fri, 24 May 2013 00:00:00 GMT";
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost"));
        headers.insert("date", HeaderValue::from_str(date).unwrap());
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("x-amz-meta-b", HeaderValue::from_static("2"));
        headers.insert("x-amz-meta-a", HeaderValue::from_static("1"));
        let to_sign =
            format!("PUT\n\ntext/plain\n{date}\nx-amz-meta-a:1\nx-amz-meta-b:2\n/b/k%20x?uploads");
        let sig = BASE64.encode(sign(SECRET, &to_sign));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("AWS {AKID}:{sig}")).unwrap(),
        );
        let ok = verify(
            Method::PUT,
            "/b/k%20x",
            "uploads&foo=1",
            headers.clone(),
            now,
        )
        .await;
        assert!(matches!(ok, Ok(Auth::Key { .. })), "{ok:?}");
        let err = verify(Method::GET, "/b/k%20x", "uploads", headers.clone(), now).await;
        assert_eq!(err.unwrap_err().code, ErrorCode::SignatureDoesNotMatch);
        let err = verify(Method::PUT, "/b/k%20x", "uploads", headers, now + 3600).await;
        assert_eq!(err.unwrap_err().code, ErrorCode::RequestTimeTooSkewed);
    }

    #[tokio::test]
    async fn bucket_requests_sign_the_bucket_with_its_slash() {
        let now = 1_369_353_600;
        let date = "Fri, 24 May 2013 00:00:00 GMT";
        let signed = |resource: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("localhost"));
            headers.insert("date", HeaderValue::from_str(date).unwrap());
            let sig = BASE64.encode(sign(SECRET, &format!("GET\n\n\n{date}\n{resource}")));
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("AWS {AKID}:{sig}")).unwrap(),
            );
            headers
        };
        // The reference's form, whether the path was sent with the slash
        // or without; and the path exactly as sent.
        for (path, resource) in [("/b", "/b/"), ("/b/", "/b/"), ("/b", "/b")] {
            let ok = verify(Method::GET, path, "", signed(resource), now).await;
            assert!(
                matches!(ok, Ok(Auth::Key { .. })),
                "{path} {resource}: {ok:?}"
            );
        }
        let versioning = verify(
            Method::GET,
            "/b",
            "versioning",
            signed("/b/?versioning"),
            now,
        )
        .await;
        assert!(matches!(versioning, Ok(Auth::Key { .. })), "{versioning:?}");
        // An object's key is never given a slash it was not sent with.
        let err = verify(Method::GET, "/b/k", "", signed("/b/k/"), now).await;
        assert_eq!(err.unwrap_err().code, ErrorCode::SignatureDoesNotMatch);
        let err = verify(Method::GET, "/b", "", signed("/c/"), now).await;
        let err = err.unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    }

    #[tokio::test]
    async fn query_auth_expires() {
        let expires = 1_369_357_200;
        let to_sign = format!("GET\n\n\n{expires}\n/b/k");
        let sig = BASE64.encode(sign(SECRET, &to_sign));
        let encoded: String =
            percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let raw = format!("AWSAccessKeyId={AKID}&Expires={expires}&Signature={encoded}");
        let ok = verify(Method::GET, "/b/k", &raw, HeaderMap::new(), expires - 10).await;
        assert!(matches!(ok, Ok(Auth::Key { .. })), "{ok:?}");
        let late = verify(Method::GET, "/b/k", &raw, HeaderMap::new(), expires + 1).await;
        assert_eq!(late.unwrap_err().code, ErrorCode::AccessDenied);
        let other = verify(Method::GET, "/b/j", &raw, HeaderMap::new(), expires - 10).await;
        assert_eq!(other.unwrap_err().code, ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn parser_and_fuzz_body() {
        assert!(AuthorizationV2::parse("AWS a:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=").is_ok());
        for bad in [
            "AWS",
            "AWS :qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            "AWS a:!!",
            "AWS a:AAAA",
        ] {
            crate::error::assert_refused(
                AuthorizationV2::parse(bad),
                ErrorCode::InvalidArgument,
                "Expected AwsAccessKeyId:signature",
            );
        }
        for input in [
            &b"AWS ::::"[..],
            b"AWSAccessKeyId=&Expires=99999999999999999999&Signature=%%",
            b"\xff",
        ] {
            fuzz_v2_parsers(input);
        }
    }
}
