//! AWS Signature Version 4: the `Authorization` header and presigned URLs.
//!
//! Computed here with `hmac`/`sha2` rather than with `aws-sigv4`: that crate
//! is a *signer* that chooses which headers to sign, how to encode the path
//! and which query parameters to add, while a verifier must reproduce
//! exactly the client's choices (its `SignedHeaders`, its query, its
//! date). The tests sign requests with `aws-sigv4` and check that this
//! module accepts them, so the two stay in agreement.

use super::canonical::{self, canonical_headers, sha256_hex, HeaderProblem};
use super::payload::{ContentSha256, UNSIGNED_PAYLOAD};
use super::signing::{hmac_sha256, scope, signing_key};
use super::streaming::ChunkSigner;
use super::time::{self, MAX_PRESIGNED_EXPIRES_SECS};
use super::{lookup_key, mac_eq, Auth, AuthContext, KeyStore, PayloadCheck, SignedParts};
use crate::error::{ErrorCode, S3Error, S3Result};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name in scopes.
pub const SERVICE: &str = "s3";
/// Most headers a request may sign.
const MAX_SIGNED_HEADERS: usize = 128;

/// The string to sign of a request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// A parsed credential: `AKID/date/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    pub fn parse(text: &str) -> Option<Credential> {
        let mut parts = text.rsplitn(5, '/');
        let terminator = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let date = parts.next()?;
        let access_key_id = parts.next()?;
        let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
        (terminator == "aws4_request" && date_ok && !access_key_id.is_empty()).then(|| Credential {
            access_key_id: access_key_id.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        })
    }
}

/// The fields of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationV4 {
    pub credential: Credential,
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

fn malformed(why: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::AuthorizationHeaderMalformed,
        format!("The authorization header is malformed; {why}"),
    )
}

fn parse_signed_headers(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text.split(';').map(str::to_string).collect();
    let ok = names.len() <= MAX_SIGNED_HEADERS
        && names.iter().all(|n| {
            !n.is_empty()
                && n.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'-'
                        || b == b'_'
                        || b == b'.'
                })
        });
    ok.then_some(names)
}

fn parse_signature(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

impl AuthorizationV4 {
    /// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    pub fn parse(header: &str) -> S3Result<AuthorizationV4> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| malformed("the algorithm must be AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for field in rest.split(',') {
            let field = field.trim();
            let Some((name, value)) = field.split_once('=') else {
                return Err(malformed("a field is not of the form name=value"));
            };
            match name.trim() {
                "Credential" => credential = Some(value.trim()),
                "SignedHeaders" => signed = Some(value.trim()),
                "Signature" => signature = Some(value.trim()),
                _ => return Err(malformed("unknown field")),
            }
        }
        let credential = credential
            .and_then(Credential::parse)
            .ok_or_else(|| malformed("the Credential is missing or malformed"))?;
        let signed_headers = signed
            .and_then(parse_signed_headers)
            .ok_or_else(|| malformed("SignedHeaders is missing or malformed"))?;
        let signature = signature
            .and_then(parse_signature)
            .ok_or_else(|| malformed("the Signature is missing or malformed"))?;
        Ok(AuthorizationV4 {
            credential,
            signed_headers,
            signature,
        })
    }
}

/// The parameters of a presigned SigV4 URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedV4 {
    pub credential: Credential,
    pub amz_date: String,
    pub date_unix: i64,
    pub expires_secs: i64,
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

fn query_error(message: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::AuthorizationQueryParametersError,
        message.to_string(),
    )
}

impl PresignedV4 {
    /// Reads the `X-Amz-*` parameters of a presigned URL.
    pub fn parse(query: &crate::query::Query) -> S3Result<PresignedV4> {
        if query.get("X-Amz-Algorithm") != Some(ALGORITHM) {
            return Err(query_error(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let credential = query
            .get("X-Amz-Credential")
            .and_then(Credential::parse)
            .ok_or_else(|| {
                query_error("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
            })?;
        let amz_date = query.get("X-Amz-Date").ok_or_else(|| {
            query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        })?;
        let date_unix = time::parse_amz_date(amz_date).ok_or_else(|| {
            query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        })?;
        let expires_secs = query
            .get("X-Amz-Expires")
            .filter(|v| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| query_error("X-Amz-Expires should be a number"))?;
        if expires_secs > MAX_PRESIGNED_EXPIRES_SECS {
            return Err(query_error(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            ));
        }
        let signed_headers = query
            .get("X-Amz-SignedHeaders")
            .and_then(parse_signed_headers)
            .ok_or_else(|| query_error("X-Amz-SignedHeaders is missing or malformed"))?;
        let signature = query
            .get("X-Amz-Signature")
            .and_then(parse_signature)
            .ok_or_else(|| query_error("X-Amz-Signature is missing or malformed"))?;
        Ok(PresignedV4 {
            credential,
            amz_date: amz_date.to_string(),
            date_unix,
            expires_secs,
            signed_headers,
            signature,
        })
    }
}

/// Checks the scope against the request date and our region.
fn check_scope(credential: &Credential, amz_date: &str, context: &AuthContext) -> S3Result<()> {
    if !amz_date.starts_with(&credential.date) {
        return Err(malformed(
            "the credential date does not match the request date",
        ));
    }
    if credential.region != context.region {
        return Err(malformed(&format!(
            "the region '{}' is wrong; expecting '{}'",
            credential.region, context.region
        ))
        .extra("Region", context.region.clone()));
    }
    if credential.service != SERVICE {
        return Err(malformed(&format!(
            "incorrect service '{}'; expecting 's3'",
            credential.service
        )));
    }
    Ok(())
}

fn header_error(problem: HeaderProblem) -> S3Error {
    match problem {
        HeaderProblem::Missing(name) => S3Error::with_message(
            ErrorCode::AccessDenied,
            format!("There were headers present in the request which were not signed; signed header '{name}' is missing"),
        ),
        HeaderProblem::Unreadable(name) => S3Error::with_message(
            ErrorCode::InvalidArgument,
            format!("Header {name} has a value that cannot be signed"),
        ),
    }
}

/// The request's time: `X-Amz-Date`, else `Date`; as the `amz_date` string
/// that goes into the string to sign and as seconds.
fn request_time(parts: &SignedParts<'_>) -> S3Result<(String, i64)> {
    if let Some(value) = parts.headers.get("x-amz-date") {
        let text = value.to_str().unwrap_or("");
        let unix = time::parse_amz_date(text).ok_or_else(|| {
            S3Error::with_message(
                ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        return Ok((text.to_string(), unix));
    }
    let unix = parts
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(time::parse_http_date)
        .ok_or_else(|| {
            S3Error::with_message(
                ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
    Ok((time::format_amz_date(unix), unix))
}

fn skewed(request: i64, now: i64) -> S3Error {
    S3Error::new(ErrorCode::RequestTimeTooSkewed)
        .extra("RequestTime", time::format_amz_date(request))
        .extra("ServerTime", time::format_amz_date(now))
        .extra("MaxAllowedSkewMilliseconds", "900000")
}

fn signature_mismatch(string_to_sign: &str, canonical_request: &str) -> S3Error {
    // The string to sign and the canonical request hold no secret: S3 sends
    // them back too, so that a client can see where it differs.
    S3Error::new(ErrorCode::SignatureDoesNotMatch)
        .extra("StringToSign", string_to_sign.to_string())
        .extra("CanonicalRequest", canonical_request.to_string())
}

/// Verifies a request signed in its `Authorization` header.
pub async fn verify_header<K: KeyStore>(
    parts: &SignedParts<'_>,
    header: &str,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<Auth> {
    let auth = AuthorizationV4::parse(header)?;
    let (amz_date, request_unix) = request_time(parts)?;
    check_scope(&auth.credential, &amz_date, context)?;
    if !time::within_skew(request_unix, now) {
        return Err(skewed(request_unix, now));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(malformed("the host header must be signed"));
    }
    let content_sha256 = parts
        .headers
        .get("x-amz-content-sha256")
        .map(|v| v.to_str().unwrap_or(""))
        .ok_or_else(|| {
            S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            )
        })?;
    let content_sha256 = ContentSha256::parse(content_sha256)?;

    let key = lookup_key(keys, &auth.credential.access_key_id).await?;
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let headers =
        canonical_headers(parts.headers, &signed, parts.authority).map_err(header_error)?;
    let canonical_request = canonical::canonical_request(
        parts.method.as_str(),
        &canonical::canonical_uri(parts.raw_path),
        &canonical::canonical_query(parts.raw_query, None),
        &headers,
        &auth.signed_headers.join(";"),
        &content_sha256.canonical(),
    );
    let scope = scope(&auth.credential.date, &context.region, SERVICE);
    let to_sign = string_to_sign(&amz_date, &scope, &canonical_request);
    let signing_key = signing_key(
        key.secret(),
        &auth.credential.date,
        &context.region,
        SERVICE,
    );
    let expected = hmac_sha256(&signing_key, to_sign.as_bytes());
    if !mac_eq(&expected, &auth.signature) {
        return Err(signature_mismatch(&to_sign, &canonical_request));
    }
    let payload = match content_sha256 {
        ContentSha256::Hash(hash) => PayloadCheck::Sha256(hash),
        ContentSha256::Unsigned => PayloadCheck::Unsigned,
        ContentSha256::Streaming { signed, trailer } => PayloadCheck::Chunked {
            signer: signed.then(|| ChunkSigner {
                signing_key,
                amz_date: amz_date.clone(),
                scope: scope.clone(),
                seed_signature: auth.signature,
            }),
            trailer,
        },
    };
    Ok(Auth::Key { key, payload })
}

/// Verifies a presigned URL.
pub async fn verify_presigned<K: KeyStore>(
    parts: &SignedParts<'_>,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<Auth> {
    let presigned = PresignedV4::parse(parts.query)?;
    check_scope(&presigned.credential, &presigned.amz_date, context).map_err(|e| S3Error {
        code: ErrorCode::AuthorizationQueryParametersError,
        ..e
    })?;
    if presigned.date_unix > now + time::MAX_SKEW_SECS {
        return Err(S3Error::with_message(
            ErrorCode::AccessDenied,
            "Request is not valid yet",
        ));
    }
    if now > presigned.date_unix.saturating_add(presigned.expires_secs) {
        return Err(
            S3Error::with_message(ErrorCode::AccessDenied, "Request has expired")
                .extra("X-Amz-Expires", presigned.expires_secs.to_string())
                .extra(
                    "Expires",
                    time::format_amz_date(presigned.date_unix + presigned.expires_secs),
                )
                .extra("ServerTime", time::format_amz_date(now)),
        );
    }
    if !presigned.signed_headers.iter().any(|h| h == "host") {
        return Err(query_error("the host header must be signed"));
    }
    // A presigned URL covers no payload unless the client signed a hash.
    let content_sha256 = match parts.headers.get("x-amz-content-sha256") {
        Some(v) => ContentSha256::parse(v.to_str().unwrap_or(""))?,
        None => ContentSha256::Unsigned,
    };
    let payload_canonical = match content_sha256 {
        ContentSha256::Hash(_) | ContentSha256::Unsigned => content_sha256.canonical(),
        ContentSha256::Streaming { .. } => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "aws-chunked bodies cannot be used with presigned URLs",
            ))
        }
    };
    let key = lookup_key(keys, &presigned.credential.access_key_id).await?;
    let signed: Vec<&str> = presigned
        .signed_headers
        .iter()
        .map(String::as_str)
        .collect();
    let headers =
        canonical_headers(parts.headers, &signed, parts.authority).map_err(header_error)?;
    let canonical_request = canonical::canonical_request(
        parts.method.as_str(),
        &canonical::canonical_uri(parts.raw_path),
        &canonical::canonical_query(parts.raw_query, Some("X-Amz-Signature")),
        &headers,
        &presigned.signed_headers.join(";"),
        &payload_canonical,
    );
    let scope = scope(&presigned.credential.date, &context.region, SERVICE);
    let to_sign = string_to_sign(&presigned.amz_date, &scope, &canonical_request);
    let signing_key = signing_key(
        key.secret(),
        &presigned.credential.date,
        &context.region,
        SERVICE,
    );
    let expected = hmac_sha256(&signing_key, to_sign.as_bytes());
    if !mac_eq(&expected, &presigned.signature) {
        return Err(signature_mismatch(&to_sign, &canonical_request));
    }
    let payload = match content_sha256 {
        ContentSha256::Hash(hash) => PayloadCheck::Sha256(hash),
        _ => PayloadCheck::Unsigned,
    };
    Ok(Auth::Key { key, payload })
}

/// The placeholder hash of presigned requests.
pub const PRESIGNED_PAYLOAD: &str = UNSIGNED_PAYLOAD;

/// The fuzzing entry point for the SigV4 parsers: the header parser and the
/// presigned query parser on the same bytes; never panics.
pub fn fuzz_v4_parsers(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = AuthorizationV4::parse(text);
        if let Some(query) = crate::query::Query::parse(text) {
            let _ = PresignedV4::parse(&query);
        }
        let _ = Credential::parse(text);
        let _ = canonical::canonical_query(text, Some("X-Amz-Signature"));
        let _ = canonical::canonical_uri(text);
    }
}

#[cfg(test)]
mod tests;
