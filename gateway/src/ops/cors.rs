//! Bucket CORS: PutBucketCors, GetBucketCors, DeleteBucketCors, the
//! preflight `OPTIONS` request, and the `Access-Control-*` headers of the
//! actual requests (S3 API reference: the three operations and "OPTIONS
//! object"; user guide: "Using cross-origin resource sharing (CORS)").
//! The rules and their document are `xml::cors`.
//!
//! Storage: the configuration is the bucket setting [`SETTING`], holding
//! the document as GetBucketCors answers it. PUT replaces it (it must carry
//! `Content-MD5` or a flexible checksum, as for lifecycle; at most
//! [`cors::MAX_DOCUMENT`] bytes); DELETE removes it (204, also when there
//! was none); GET with none is 404 `NoSuchCORSConfiguration`.
//!
//! The preflight ([`preflight`]) is answered before authentication, as a
//! browser sends it without credentials, from the client's short cache of
//! bucket settings (`Client::bucket_setting_recent`):
//! - no `Origin`: 400 `BadRequest`; no such bucket: 403 `AccessForbidden`
//!   "CORSResponse: Bucket not found"; no configuration: 403
//!   `AccessForbidden` "CORSResponse: CORS is not enabled for this bucket.";
//!   no `Access-Control-Request-Method`: 400 `BadRequest`;
//! - the first rule that allows the origin, the method and every header of
//!   `Access-Control-Request-Headers` answers 200 with
//!   `Access-Control-Allow-Origin` (the origin, or `*` when the rule's
//!   origin is `*`), `-Allow-Methods` (the rule's), `-Allow-Headers` (those
//!   requested, in lower case, when any), `-Expose-Headers`, `-Max-Age`,
//!   `-Allow-Credentials: true` (unless `*`) and `Vary`; none: 403
//!   `AccessForbidden` "CORSResponse: This CORS request is not allowed...".
//!   The 403s carry `<Method>` and `<ResourceType>` (`OBJECT` when rules
//!   were evaluated for a key, else `BUCKET`), as S3's do.
//!
//! An actual request with an `Origin` ([`ActualRequest`]) gets the same
//! headers (without `-Allow-Headers`) when a rule allows its origin and
//! its method (its `Access-Control-Request-Method` when sent, as S3 does),
//! on success and on error alike: a browser reads neither without them.
//! Requests without `Origin` read nothing.

use axum::body::Body;
use cairn_client::Client;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::{empty, setting, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::cors::{self, CorsConfiguration, CorsRule};

/// The bucket setting that holds the configuration.
pub const SETTING: &str = "cors";

/// The `Vary` of every answer a rule allowed.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

pub async fn put_bucket_cors(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let body = setting::read_document(&req, true, cors::MAX_DOCUMENT).await?;
    let config = cors::parse(&body)?;
    req.client
        .set_bucket_setting(
            &req.bucket,
            SETTING,
            Some(cors::to_xml(&config).into_bytes()),
        )
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_bucket_cors(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let stored = req
        .client
        .bucket_setting(&req.bucket, SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let Some(bytes) = stored else {
        return Err(S3Error::new(ErrorCode::NoSuchCORSConfiguration)
            .resource(resource)
            .extra("BucketName", req.bucket.clone()));
    };
    let config =
        decode(&req.bucket, &bytes).ok_or_else(|| S3Error::new(ErrorCode::InternalError))?;
    Ok(xml(cors::to_xml(&config)))
}

pub async fn delete_bucket_cors(req: Request) -> S3Result<Response<Body>> {
    setting::delete(&req, SETTING).await
}

/// A stored configuration; None (logged) when it cannot be read.
fn decode(bucket: &str, bytes: &[u8]) -> Option<CorsConfiguration> {
    match cors::parse(bytes) {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::error!(bucket, error = %e, "stored CORS configuration unreadable");
            None
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The names of `Access-Control-Request-Headers`, in lower case, in the
/// order sent (empty items skipped).
fn requested_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("access-control-request-headers")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

fn forbidden(message: &'static str, method: &str, object: bool) -> S3Error {
    S3Error::with_message(ErrorCode::AccessForbidden, message)
        .extra("Method", method.to_string())
        .extra("ResourceType", if object { "OBJECT" } else { "BUCKET" })
}

/// The bucket's configuration through the short cache; `Ok(None)` when it
/// has none.
async fn recent_config(
    client: &Client,
    bucket: &str,
) -> Result<Option<CorsConfiguration>, ClusterRead> {
    match client.bucket_setting_recent(bucket, SETTING).await {
        Ok(Some(bytes)) => Ok(decode(bucket, &bytes)),
        Ok(None) => Ok(None),
        Err(cairn_common::ClusterError::NotFound(_)) => Err(ClusterRead::NoBucket),
        Err(e) => Err(ClusterRead::Failed(to_s3(
            e,
            Missing::Bucket,
            &format!("/{bucket}"),
        ))),
    }
}

enum ClusterRead {
    NoBucket,
    Failed(S3Error),
}

/// Answers a preflight `OPTIONS` for `bucket` (and `key`), unauthenticated.
pub async fn preflight(
    client: &Client,
    bucket: Option<&str>,
    key: Option<&str>,
    headers: &HeaderMap,
) -> S3Result<Response<Body>> {
    let Some(origin) = header(headers, "origin") else {
        return Err(S3Error::with_message(
            ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let method = header(headers, "access-control-request-method");
    let shown_method = method.unwrap_or("OPTIONS");
    let config = match bucket {
        None => None,
        Some(bucket) => match recent_config(client, bucket).await {
            Ok(config) => config,
            Err(ClusterRead::NoBucket) => {
                return Err(forbidden(
                    "CORSResponse: Bucket not found",
                    shown_method,
                    false,
                ))
            }
            Err(ClusterRead::Failed(e)) => return Err(e),
        },
    };
    let Some(config) = config else {
        return Err(forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
            shown_method,
            false,
        ));
    };
    let Some(method) = method else {
        return Err(S3Error::with_message(
            ErrorCode::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    let requested = requested_headers(headers);
    let Some(rule) = config.find(origin, method, &requested) else {
        return Err(forbidden(NOT_ALLOWED, method, key.is_some()));
    };
    let mut response = empty(StatusCode::OK);
    let out = response.headers_mut();
    insert_rule_headers(out, rule, origin);
    if !requested.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&requested.join(", ")) {
            out.insert("access-control-allow-headers", v);
        }
    }
    Ok(response)
}

/// The headers every answer a rule allowed carries.
fn insert_rule_headers(out: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any = rule.any_origin(origin);
    let allow_origin = if any { "*" } else { origin };
    if let Ok(v) = HeaderValue::from_str(allow_origin) {
        out.insert("access-control-allow-origin", v);
    }
    if !any {
        out.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&rule.allowed_methods.join(", ")) {
        out.insert("access-control-allow-methods", v);
    }
    if !rule.expose_headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&rule.expose_headers.join(", ")) {
            out.insert("access-control-expose-headers", v);
        }
    }
    if let Some(age) = rule.max_age_seconds {
        out.insert("access-control-max-age", HeaderValue::from(age));
    }
    out.insert(http::header::VARY, HeaderValue::from_static(VARY));
}

/// An actual (not preflight) request that carries an `Origin`: what its
/// answer's CORS headers depend on.
#[derive(Debug, Clone)]
pub struct ActualRequest {
    bucket: String,
    origin: String,
    method: String,
}

impl ActualRequest {
    /// The request's CORS side, when it has one: an `Origin`, a bucket, a
    /// method other than `OPTIONS` (preflights answer for themselves).
    pub fn of(
        method: &Method,
        headers: &HeaderMap,
        bucket: Option<String>,
    ) -> Option<ActualRequest> {
        if method == Method::OPTIONS {
            return None;
        }
        let origin = header(headers, "origin")?;
        let method = header(headers, "access-control-request-method").unwrap_or(method.as_str());
        Some(ActualRequest {
            bucket: bucket?,
            origin: origin.to_string(),
            method: method.to_string(),
        })
    }

    /// Adds the CORS headers to `response` when a rule of the bucket allows
    /// the request; leaves it as it is otherwise (no configuration, no
    /// bucket, a configuration that cannot be read now).
    pub async fn decorate(&self, client: &Client, response: &mut Response<Body>) {
        let config = match recent_config(client, &self.bucket).await {
            Ok(Some(config)) => config,
            Ok(None) | Err(ClusterRead::NoBucket) => return,
            Err(ClusterRead::Failed(e)) => {
                tracing::debug!(bucket = %self.bucket, error = %e, "CORS rules not read");
                return;
            }
        };
        if let Some(rule) = config.find(&self.origin, &self.method, &[]) {
            insert_rule_headers(response.headers_mut(), rule, &self.origin);
        }
    }
}

/// The fuzzing entry point for the CORS rules: parses `data` as a
/// configuration and, when it parses, checks that its stored form reads
/// back and is stable, then evaluates preflights whose origins, methods
/// and requested headers are words of `data`. Panics only when one of
/// those properties fails, never on the input itself.
pub fn fuzz_cors_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let words: Vec<&str> = text
        .split(['<', '>', '/', '\n'])
        .filter(|w| !w.is_empty())
        .take(64)
        .collect();
    let Ok(config) = cors::parse(data) else {
        for pair in words.windows(2) {
            let _ = cors::wildcard_match(pair[0], pair[1]);
        }
        return;
    };
    // A raw CR or a control character in a value is normalised once, by
    // the writer; from there the stored form is a fixed point.
    let stored = cors::parse(cors::to_xml(&config).as_bytes());
    assert!(stored.is_ok(), "a stored configuration does not read back");
    if let Ok(stored) = stored {
        let again = cors::parse(cors::to_xml(&stored).as_bytes());
        assert_eq!(again.as_ref(), Ok(&stored), "the stored form is not stable");
    }
    for (i, origin) in words.iter().enumerate() {
        let method = words.get(i + 1).copied().unwrap_or("GET");
        let requested: Vec<String> = words
            .iter()
            .skip(i + 2)
            .take(3)
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if let Some(rule) = config.find(origin, method, &requested) {
            let mut out = HeaderMap::new();
            insert_rule_headers(&mut out, rule, origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn requested_headers_are_split_trimmed_and_lowered() {
        let h = headers(&[
            (
                "access-control-request-headers",
                "X-Amz-Date, content-type,,",
            ),
            ("access-control-request-headers", "Authorization"),
        ]);
        assert_eq!(
            requested_headers(&h),
            ["x-amz-date", "content-type", "authorization"]
        );
        assert!(requested_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn rule_headers_say_what_the_rule_allows() {
        let config = cors::parse(
            b"<CORSConfiguration><CORSRule><AllowedOrigin>http://a</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-version-id</ExposeHeader><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        )
        .unwrap();
        let mut out = HeaderMap::new();
        insert_rule_headers(&mut out, &config.rules[0], "http://a");
        assert_eq!(out["access-control-allow-origin"], "http://a");
        assert_eq!(out["access-control-allow-credentials"], "true");
        assert_eq!(out["access-control-allow-methods"], "GET, PUT");
        assert_eq!(
            out["access-control-expose-headers"],
            "ETag, x-amz-version-id"
        );
        assert_eq!(out["access-control-max-age"], "60");
        assert_eq!(out["vary"], VARY);
        let mut out = HeaderMap::new();
        insert_rule_headers(&mut out, &config.rules[1], "http://b");
        assert_eq!(out["access-control-allow-origin"], "*");
        assert!(!out.contains_key("access-control-allow-credentials"));
        assert!(!out.contains_key("access-control-expose-headers"));
        assert!(!out.contains_key("access-control-max-age"));
    }

    #[test]
    fn actual_requests_need_an_origin_and_a_bucket() {
        let with_origin = headers(&[("origin", "http://a")]);
        assert!(ActualRequest::of(&Method::GET, &HeaderMap::new(), Some("b".into())).is_none());
        assert!(ActualRequest::of(&Method::GET, &with_origin, None).is_none());
        assert!(ActualRequest::of(&Method::OPTIONS, &with_origin, Some("b".into())).is_none());
        let actual = ActualRequest::of(&Method::PUT, &with_origin, Some("b".into())).unwrap();
        assert_eq!(actual.method, "PUT");
        let asked = headers(&[
            ("origin", "http://a"),
            ("access-control-request-method", "GET"),
        ]);
        let actual = ActualRequest::of(&Method::PUT, &asked, Some("b".into())).unwrap();
        assert_eq!(actual.method, "GET");
    }

    #[test]
    fn the_fuzz_entry_takes_any_input() {
        for input in [
            &b""[..],
            b"http://a\nGET\nx",
            b"<CORSConfiguration><CORSRule><AllowedOrigin>a&#13;*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>&#1;</ExposeHeader></CORSRule></CORSConfiguration>",
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>",
            b"\xff\xfe<",
        ] {
            fuzz_cors_rules(input);
        }
    }
}
