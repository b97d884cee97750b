//! Method + path + query (+ Host, for virtual-host style) -> one `Endpoint`.
//!
//! The `Endpoint` enum names every S3 operation the gateway knows, those it
//! implements and those it answers `NotImplemented` to. The same value drives
//! dispatch, the authorization check (`Endpoint::access`, the rule in
//! `crate::access`), the metric label (`Endpoint::name`) and, for an
//! implemented one, a sample request ([`implemented_operations`], which the
//! authorization matrix test iterates). Adding an operation is one variant
//! with its sample, one routing line and one handler.
//!
//! Addressing: with a configured domain `s3.example.com`, a request for host
//! `bucket.s3.example.com` names `bucket` and its whole path is the key;
//! otherwise (path style) the first path segment is the bucket and the rest
//! the key. The key is the percent-decoded path, byte for byte: `//`, `..`,
//! `+` and `%` stay as they are.

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::query::Query;

/// Who may call an endpoint, checked after authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated key (ListBuckets, CreateBucket).
    AnyKey,
    /// A key that may read the bucket.
    Read,
    /// A key that may write the bucket.
    Write,
    /// Only the bucket's owner.
    Owner,
}

macro_rules! endpoints {
    (
        implemented { $( $imp:ident $({ $($ifield:ident : $ity:ty),* $(,)? })? => $iaccess:ident, $imethod:ident $itarget:literal $($icopy:ident)? ),* $(,)? }
        not_implemented { $( $ni:ident => $naccess:ident ),* $(,)? }
    ) => {
        /// One S3 operation, with the parameters that routing extracted.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Endpoint {
            $( $imp $({ $($ifield: $ity),* })?, )*
            $( $ni, )*
        }

        impl Endpoint {
            /// The operation's name as in the S3 API reference; used as the
            /// metric label and in logs.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Endpoint::$imp { .. } => stringify!($imp), )*
                    $( Endpoint::$ni => stringify!($ni), )*
                }
            }

            /// Whether the gateway implements the operation; the others
            /// answer `NotImplemented` once the request is authenticated.
            pub fn is_implemented(&self) -> bool {
                match self {
                    $( Endpoint::$imp { .. } => true, )*
                    $( Endpoint::$ni => false, )*
                }
            }

            /// The permission the operation needs.
            pub fn access(&self) -> Access {
                match self {
                    $( Endpoint::$imp { .. } => Access::$iaccess, )*
                    $( Endpoint::$ni => Access::$naccess, )*
                }
            }
        }

        /// Every operation the gateway implements, in the table's order,
        /// with a request that routes to it: what a test that must cover
        /// them all (the authorization matrix) iterates over, so that a new
        /// operation cannot be left out.
        pub fn implemented_operations() -> impl Iterator<Item = Operation> {
            [
                $( Operation {
                    name: stringify!($imp),
                    access: Access::$iaccess,
                    sample: Sample {
                        method: stringify!($imethod),
                        target: $itarget,
                        copy_source: endpoints!(@copy $($icopy)?),
                    },
                }, )*
            ]
            .into_iter()
        }
    };
    (@copy copy) => { true };
    (@copy) => { false };
}

/// An implemented operation as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// As [`Endpoint::name`].
    pub name: &'static str,
    /// As [`Endpoint::access`]. CopyObject and UploadPartCopy also need
    /// `Read` on their source (`copy_source`), checked by the server.
    pub access: Access,
    pub sample: Sample,
}

/// The smallest request that routes to an operation: an empty body, the
/// method, and the path and query with `{bucket}` and `{key}` to fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub method: &'static str,
    pub target: &'static str,
    /// The request names a source with `x-amz-copy-source: /{bucket}/{key}`.
    pub copy_source: bool,
}

impl Sample {
    /// The path and query for `bucket` and `key` (which must not need
    /// percent-encoding).
    pub fn target_for(&self, bucket: &str, key: &str) -> String {
        self.target
            .replace("{bucket}", bucket)
            .replace("{key}", key)
    }
}

endpoints! {
    implemented {
        ListBuckets => AnyKey, GET "/",
        CreateBucket => AnyKey, PUT "/{bucket}",
        HeadBucket => Read, HEAD "/{bucket}",
        DeleteBucket => Owner, DELETE "/{bucket}",
        GetBucketLocation => Read, GET "/{bucket}?location",
        GetBucketVersioning => Read, GET "/{bucket}?versioning",
        ListObjects => Read, GET "/{bucket}",
        ListObjectsV2 => Read, GET "/{bucket}?list-type=2",
        ListMultipartUploads => Read, GET "/{bucket}?uploads",
        DeleteObjects => Write, POST "/{bucket}?delete",
        PostObject => Write, POST "/{bucket}",
        GetObject { part_number: Option<u32> } => Read, GET "/{bucket}/{key}",
        HeadObject { part_number: Option<u32> } => Read, HEAD "/{bucket}/{key}",
        PutObject => Write, PUT "/{bucket}/{key}",
        CopyObject => Write, PUT "/{bucket}/{key}" copy,
        DeleteObject => Write, DELETE "/{bucket}/{key}",
        CreateMultipartUpload => Write, POST "/{bucket}/{key}?uploads",
        UploadPart { part_number: u32, upload_id: String } => Write, PUT "/{bucket}/{key}?partNumber=1&uploadId=none",
        UploadPartCopy { part_number: u32, upload_id: String } => Write, PUT "/{bucket}/{key}?partNumber=1&uploadId=none" copy,
        CompleteMultipartUpload { upload_id: String } => Write, POST "/{bucket}/{key}?uploadId=none",
        AbortMultipartUpload { upload_id: String } => Write, DELETE "/{bucket}/{key}?uploadId=none",
        ListParts { upload_id: String } => Read, GET "/{bucket}/{key}?uploadId=none",
        ListObjectVersions => Read, GET "/{bucket}?versions",
        PutBucketVersioning => Owner, PUT "/{bucket}?versioning",
        GetBucketTagging => Read, GET "/{bucket}?tagging",
        PutBucketTagging => Owner, PUT "/{bucket}?tagging",
        DeleteBucketTagging => Owner, DELETE "/{bucket}?tagging",
        GetBucketLifecycleConfiguration => Read, GET "/{bucket}?lifecycle",
        PutBucketLifecycleConfiguration => Owner, PUT "/{bucket}?lifecycle",
        DeleteBucketLifecycle => Owner, DELETE "/{bucket}?lifecycle",
        GetBucketCors => Read, GET "/{bucket}?cors",
        PutBucketCors => Owner, PUT "/{bucket}?cors",
        DeleteBucketCors => Owner, DELETE "/{bucket}?cors",
        GetObjectLockConfiguration => Read, GET "/{bucket}?object-lock",
        PutObjectLockConfiguration => Owner, PUT "/{bucket}?object-lock",
        GetObjectTagging => Read, GET "/{bucket}/{key}?tagging",
        PutObjectTagging => Write, PUT "/{bucket}/{key}?tagging",
        DeleteObjectTagging => Write, DELETE "/{bucket}/{key}?tagging",
        GetObjectRetention => Read, GET "/{bucket}/{key}?retention",
        PutObjectRetention => Write, PUT "/{bucket}/{key}?retention",
        GetObjectLegalHold => Read, GET "/{bucket}/{key}?legal-hold",
        PutObjectLegalHold => Write, PUT "/{bucket}/{key}?legal-hold",
        GetObjectAttributes => Read, GET "/{bucket}/{key}?attributes",
        GetBucketPolicy => Owner, GET "/{bucket}?policy",
        PutBucketPolicy => Owner, PUT "/{bucket}?policy",
        DeleteBucketPolicy => Owner, DELETE "/{bucket}?policy",
        GetBucketPolicyStatus => Owner, GET "/{bucket}?policyStatus",
        GetPublicAccessBlock => Owner, GET "/{bucket}?publicAccessBlock",
        PutPublicAccessBlock => Owner, PUT "/{bucket}?publicAccessBlock",
        DeletePublicAccessBlock => Owner, DELETE "/{bucket}?publicAccessBlock",
        GetBucketOwnershipControls => Owner, GET "/{bucket}?ownershipControls",
        PutBucketOwnershipControls => Owner, PUT "/{bucket}?ownershipControls",
        DeleteBucketOwnershipControls => Owner, DELETE "/{bucket}?ownershipControls",
        GetBucketAcl => Read, GET "/{bucket}?acl",
        PutBucketAcl => Owner, PUT "/{bucket}?acl",
        GetObjectAcl => Read, GET "/{bucket}/{key}?acl",
        PutObjectAcl => Write, PUT "/{bucket}/{key}?acl",
        GetBucketEncryption => Read, GET "/{bucket}?encryption",
        PutBucketEncryption => Owner, PUT "/{bucket}?encryption",
        DeleteBucketEncryption => Owner, DELETE "/{bucket}?encryption",
    }
    not_implemented {
        // The CORS preflight: answered before authentication (`ops::cors`),
        // so never dispatched as an operation.
        Options => Read,
        GetBucketWebsite => Read,
        PutBucketWebsite => Owner,
        DeleteBucketWebsite => Owner,
        GetBucketLogging => Read,
        PutBucketLogging => Owner,
        GetBucketNotificationConfiguration => Read,
        PutBucketNotificationConfiguration => Owner,
        GetBucketReplication => Read,
        PutBucketReplication => Owner,
        DeleteBucketReplication => Owner,
        GetBucketRequestPayment => Read,
        PutBucketRequestPayment => Owner,
        GetBucketAccelerateConfiguration => Read,
        PutBucketAccelerateConfiguration => Owner,
        BucketAnalyticsConfiguration => Owner,
        BucketInventoryConfiguration => Owner,
        BucketMetricsConfiguration => Owner,
        BucketIntelligentTieringConfiguration => Owner,
        GetObjectTorrent => Read,
        RestoreObject => Write,
        SelectObjectContent => Read,
    }
}

/// A routed request: the bucket and key it names and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub endpoint: Endpoint,
}

impl Route {
    /// `/bucket/key` (or `/bucket`, `/`) for the `<Resource>` of errors.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_string(),
        }
    }
}

/// Where the bucket comes from: the first path segment, or the Host header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    PathStyle,
    VirtualHost,
}

/// Splits the request target into bucket and key.
///
/// `raw_path` is the path as sent (percent-encoded); `host` the Host header
/// (or the URI's authority); `domain` the configured virtual-host domain.
pub fn bucket_and_key(
    raw_path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> S3Result<(Option<String>, Option<String>, Addressing)> {
    let path = percent_decode_str(raw_path).decode_utf8().map_err(|_| {
        S3Error::with_message(ErrorCode::InvalidURI, "The path is not valid UTF-8.")
    })?;
    let path = path.strip_prefix('/').unwrap_or(&path);

    if let Some(bucket) = host.and_then(|h| virtual_host_bucket(h, domain?)) {
        let key = (!path.is_empty()).then(|| path.to_string());
        return Ok((Some(bucket), key, Addressing::VirtualHost));
    }

    if path.is_empty() {
        return Ok((None, None, Addressing::PathStyle));
    }
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket, (!key.is_empty()).then(|| key.to_string())),
        None => (path, None),
    };
    Ok((Some(bucket.to_string()), key, Addressing::PathStyle))
}

/// The bucket named by `host` under `domain`, if `host` is a subdomain of it.
fn virtual_host_bucket(host: &str, domain: &str) -> Option<String> {
    let host = strip_port(host).to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let bucket = host.strip_suffix(&domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: never a virtual host.
        return host;
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Routes a request.
pub fn route(
    method: &Method,
    raw_path: &str,
    query: &Query,
    headers: &HeaderMap,
    domain: Option<&str>,
) -> S3Result<Route> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let (bucket, key, _) = bucket_and_key(raw_path, host, domain)?;
    let endpoint = match (&bucket, &key) {
        (None, _) => service_endpoint(method)?,
        (Some(_), None) => bucket_endpoint(method, query)?,
        (Some(_), Some(_)) => object_endpoint(method, query, headers)?,
    };
    Ok(Route {
        bucket,
        key,
        endpoint,
    })
}

fn method_not_allowed() -> S3Error {
    S3Error::new(ErrorCode::MethodNotAllowed)
}

fn service_endpoint(method: &Method) -> S3Result<Endpoint> {
    match *method {
        Method::GET => Ok(Endpoint::ListBuckets),
        Method::OPTIONS => Ok(Endpoint::Options),
        _ => Err(method_not_allowed()),
    }
}

/// The first of `names` present in the query.
fn first_present<'a>(query: &Query, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| query.has(n))
}

const BUCKET_CONFIG_PARAMS: &[&str] = &[
    "location",
    "versioning",
    "uploads",
    "versions",
    "cors",
    "tagging",
    "policy",
    "policyStatus",
    "lifecycle",
    "acl",
    "website",
    "encryption",
    "logging",
    "notification",
    "replication",
    "requestPayment",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "delete",
];

fn bucket_endpoint(method: &Method, query: &Query) -> S3Result<Endpoint> {
    use Endpoint::*;
    let param = first_present(query, BUCKET_CONFIG_PARAMS);
    let endpoint = match (method.clone(), param) {
        (Method::HEAD, _) => HeadBucket,
        (Method::OPTIONS, _) => Options,
        (Method::GET, Some("location")) => GetBucketLocation,
        (Method::GET, Some("versioning")) => GetBucketVersioning,
        (Method::GET, Some("uploads")) => ListMultipartUploads,
        (Method::GET, Some("versions")) => ListObjectVersions,
        (Method::GET, Some("cors")) => GetBucketCors,
        (Method::GET, Some("tagging")) => GetBucketTagging,
        (Method::GET, Some("policy")) => GetBucketPolicy,
        (Method::GET, Some("policyStatus")) => GetBucketPolicyStatus,
        (Method::GET, Some("lifecycle")) => GetBucketLifecycleConfiguration,
        (Method::GET, Some("acl")) => GetBucketAcl,
        (Method::GET, Some("website")) => GetBucketWebsite,
        (Method::GET, Some("encryption")) => GetBucketEncryption,
        (Method::GET, Some("logging")) => GetBucketLogging,
        (Method::GET, Some("notification")) => GetBucketNotificationConfiguration,
        (Method::GET, Some("replication")) => GetBucketReplication,
        (Method::GET, Some("requestPayment")) => GetBucketRequestPayment,
        (Method::GET, Some("object-lock")) => GetObjectLockConfiguration,
        (Method::GET, Some("ownershipControls")) => GetBucketOwnershipControls,
        (Method::GET, Some("publicAccessBlock")) => GetPublicAccessBlock,
        (Method::GET, Some("accelerate")) => GetBucketAccelerateConfiguration,
        (Method::GET, None) if query.get("list-type") == Some("2") => ListObjectsV2,
        (Method::GET, None) => ListObjects,
        (Method::PUT, Some("versioning")) => PutBucketVersioning,
        (Method::PUT, Some("cors")) => PutBucketCors,
        (Method::PUT, Some("tagging")) => PutBucketTagging,
        (Method::PUT, Some("policy")) => PutBucketPolicy,
        (Method::PUT, Some("lifecycle")) => PutBucketLifecycleConfiguration,
        (Method::PUT, Some("acl")) => PutBucketAcl,
        (Method::PUT, Some("website")) => PutBucketWebsite,
        (Method::PUT, Some("encryption")) => PutBucketEncryption,
        (Method::PUT, Some("logging")) => PutBucketLogging,
        (Method::PUT, Some("notification")) => PutBucketNotificationConfiguration,
        (Method::PUT, Some("replication")) => PutBucketReplication,
        (Method::PUT, Some("requestPayment")) => PutBucketRequestPayment,
        (Method::PUT, Some("object-lock")) => PutObjectLockConfiguration,
        (Method::PUT, Some("ownershipControls")) => PutBucketOwnershipControls,
        (Method::PUT, Some("publicAccessBlock")) => PutPublicAccessBlock,
        (Method::PUT, Some("accelerate")) => PutBucketAccelerateConfiguration,
        (Method::PUT, None) => CreateBucket,
        (Method::DELETE, Some("cors")) => DeleteBucketCors,
        (Method::DELETE, Some("tagging")) => DeleteBucketTagging,
        (Method::DELETE, Some("policy")) => DeleteBucketPolicy,
        (Method::DELETE, Some("lifecycle")) => DeleteBucketLifecycle,
        (Method::DELETE, Some("website")) => DeleteBucketWebsite,
        (Method::DELETE, Some("encryption")) => DeleteBucketEncryption,
        (Method::DELETE, Some("replication")) => DeleteBucketReplication,
        (Method::DELETE, Some("ownershipControls")) => DeleteBucketOwnershipControls,
        (Method::DELETE, Some("publicAccessBlock")) => DeletePublicAccessBlock,
        (Method::DELETE, None) => DeleteBucket,
        (Method::POST, Some("delete")) => DeleteObjects,
        (Method::POST, None) => PostObject,
        (_, Some("analytics")) => BucketAnalyticsConfiguration,
        (_, Some("inventory")) => BucketInventoryConfiguration,
        (_, Some("metrics")) => BucketMetricsConfiguration,
        (_, Some("intelligent-tiering")) => BucketIntelligentTieringConfiguration,
        _ => return Err(method_not_allowed()),
    };
    Ok(endpoint)
}

/// Parses `partNumber`: an integer within 1..=10,000.
fn part_number(query: &Query) -> S3Result<Option<u32>> {
    let Some(raw) = query.get("partNumber") else {
        return Ok(None);
    };
    let part = raw.parse::<u32>().map_err(|_| {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        )
    })?;
    crate::limits::check_part_number(part)?;
    Ok(Some(part))
}

fn upload_id(query: &Query) -> Option<String> {
    query.get("uploadId").map(str::to_string)
}

const OBJECT_CONFIG_PARAMS: &[&str] = &[
    "uploads",
    "uploadId",
    "tagging",
    "acl",
    "attributes",
    "retention",
    "legal-hold",
    "torrent",
    "restore",
    "select",
];

fn object_endpoint(method: &Method, query: &Query, headers: &HeaderMap) -> S3Result<Endpoint> {
    use Endpoint::*;
    let param = first_present(query, OBJECT_CONFIG_PARAMS);
    let copy = headers.contains_key("x-amz-copy-source");
    let endpoint = match (method.clone(), param) {
        (Method::OPTIONS, _) => Options,
        (Method::HEAD, _) => HeadObject {
            part_number: part_number(query)?,
        },
        (Method::GET, Some("uploadId")) => ListParts {
            upload_id: upload_id(query).unwrap_or_default(),
        },
        (Method::GET, Some("tagging")) => GetObjectTagging,
        (Method::GET, Some("acl")) => GetObjectAcl,
        (Method::GET, Some("attributes")) => GetObjectAttributes,
        (Method::GET, Some("retention")) => GetObjectRetention,
        (Method::GET, Some("legal-hold")) => GetObjectLegalHold,
        (Method::GET, Some("torrent")) => GetObjectTorrent,
        (Method::GET, None) => GetObject {
            part_number: part_number(query)?,
        },
        (Method::PUT, Some("uploadId")) => {
            let part_number = part_number(query)?.ok_or_else(|| {
                S3Error::with_message(ErrorCode::InvalidArgument, "partNumber is required")
            })?;
            let upload_id = upload_id(query).unwrap_or_default();
            if copy {
                UploadPartCopy {
                    part_number,
                    upload_id,
                }
            } else {
                UploadPart {
                    part_number,
                    upload_id,
                }
            }
        }
        (Method::PUT, Some("tagging")) => PutObjectTagging,
        (Method::PUT, Some("acl")) => PutObjectAcl,
        (Method::PUT, Some("retention")) => PutObjectRetention,
        (Method::PUT, Some("legal-hold")) => PutObjectLegalHold,
        (Method::PUT, None) if copy => CopyObject,
        (Method::PUT, None) => PutObject,
        (Method::DELETE, Some("uploadId")) => AbortMultipartUpload {
            upload_id: upload_id(query).unwrap_or_default(),
        },
        (Method::DELETE, Some("tagging")) => DeleteObjectTagging,
        (Method::DELETE, None) => DeleteObject,
        (Method::POST, Some("uploads")) => CreateMultipartUpload,
        (Method::POST, Some("uploadId")) => CompleteMultipartUpload {
            upload_id: upload_id(query).unwrap_or_default(),
        },
        (Method::POST, Some("restore")) => RestoreObject,
        (Method::POST, Some("select")) => SelectObjectContent,
        _ => return Err(method_not_allowed()),
    };
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn r(method: Method, target: &str) -> S3Result<Route> {
        r_with(method, target, HeaderMap::new(), None)
    }

    fn r_with(
        method: Method,
        target: &str,
        headers: HeaderMap,
        domain: Option<&str>,
    ) -> S3Result<Route> {
        let (path, q) = target.split_once('?').unwrap_or((target, ""));
        route(&method, path, &Query::parse(q).unwrap(), &headers, domain)
    }

    #[test]
    fn service_and_bucket_operations() {
        assert_eq!(r(Method::GET, "/").unwrap().endpoint, Endpoint::ListBuckets);
        assert_eq!(
            r(Method::PUT, "/b").unwrap().endpoint,
            Endpoint::CreateBucket
        );
        assert_eq!(
            r(Method::PUT, "/b/").unwrap().endpoint,
            Endpoint::CreateBucket
        );
        assert_eq!(
            r(Method::HEAD, "/b").unwrap().endpoint,
            Endpoint::HeadBucket
        );
        assert_eq!(
            r(Method::DELETE, "/b").unwrap().endpoint,
            Endpoint::DeleteBucket
        );
        assert_eq!(
            r(Method::GET, "/b?location").unwrap().endpoint,
            Endpoint::GetBucketLocation
        );
        assert_eq!(
            r(Method::GET, "/b?versioning").unwrap().endpoint,
            Endpoint::GetBucketVersioning
        );
        assert_eq!(
            r(Method::PUT, "/b?versioning").unwrap().endpoint,
            Endpoint::PutBucketVersioning
        );
        assert_eq!(
            r(Method::GET, "/b").unwrap().endpoint,
            Endpoint::ListObjects
        );
        assert_eq!(
            r(Method::GET, "/b?list-type=2&prefix=x").unwrap().endpoint,
            Endpoint::ListObjectsV2
        );
        assert_eq!(
            r(Method::GET, "/b?uploads").unwrap().endpoint,
            Endpoint::ListMultipartUploads
        );
        assert_eq!(
            r(Method::POST, "/b?delete").unwrap().endpoint,
            Endpoint::DeleteObjects
        );
        assert_eq!(
            r(Method::POST, "/b").unwrap().endpoint,
            Endpoint::PostObject
        );
        assert!(!r(Method::PUT, "/b?website")
            .unwrap()
            .endpoint
            .is_implemented());
        assert_eq!(
            r(Method::PATCH, "/b").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
    }

    #[test]
    fn object_operations() {
        let route = r(Method::GET, "/b/a/b%20c?partNumber=2").unwrap();
        assert_eq!(route.bucket.as_deref(), Some("b"));
        assert_eq!(route.key.as_deref(), Some("a/b c"));
        assert_eq!(
            route.endpoint,
            Endpoint::GetObject {
                part_number: Some(2)
            }
        );
        assert_eq!(
            r(Method::PUT, "/b/k?partNumber=3&uploadId=u")
                .unwrap()
                .endpoint,
            Endpoint::UploadPart {
                part_number: 3,
                upload_id: "u".into()
            }
        );
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", HeaderValue::from_static("/s/k"));
        assert_eq!(
            r_with(Method::PUT, "/b/k", copy.clone(), None)
                .unwrap()
                .endpoint,
            Endpoint::CopyObject
        );
        assert_eq!(
            r_with(Method::PUT, "/b/k?partNumber=1&uploadId=u", copy, None)
                .unwrap()
                .endpoint,
            Endpoint::UploadPartCopy {
                part_number: 1,
                upload_id: "u".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/b/k?uploads").unwrap().endpoint,
            Endpoint::CreateMultipartUpload
        );
        assert_eq!(
            r(Method::POST, "/b/k?uploadId=u").unwrap().endpoint,
            Endpoint::CompleteMultipartUpload {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/b/k?uploadId=u").unwrap().endpoint,
            Endpoint::AbortMultipartUpload {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            r(Method::GET, "/b/k?uploadId=u").unwrap().endpoint,
            Endpoint::ListParts {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/b/k").unwrap().endpoint,
            Endpoint::DeleteObject
        );
        assert_eq!(
            r(Method::GET, "/b/k?tagging").unwrap().endpoint.name(),
            "GetObjectTagging"
        );
        for bad in ["/b/k?partNumber=0", "/b/k?partNumber=x"] {
            crate::error::assert_refused(
                r(Method::GET, bad),
                ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000",
            );
        }
        crate::error::assert_refused(
            r(Method::PUT, "/b/k?uploadId=u"),
            ErrorCode::InvalidArgument,
            "partNumber is required",
        );
    }

    #[test]
    fn hostile_keys_stay_exact() {
        let route = r(Method::GET, "/b//a/../%2e%2e/%25+%2B").unwrap();
        assert_eq!(route.key.as_deref(), Some("/a/../../%++"));
        assert_eq!(
            r(Method::GET, "/b/%ff").unwrap_err().code,
            ErrorCode::InvalidURI
        );
    }

    #[test]
    fn virtual_host_style() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::HOST,
            HeaderValue::from_static("photos.S3.example.com:9000"),
        );
        let route = r_with(
            Method::GET,
            "/a/b.jpg",
            headers.clone(),
            Some("s3.example.com"),
        )
        .unwrap();
        assert_eq!(route.bucket.as_deref(), Some("photos"));
        assert_eq!(route.key.as_deref(), Some("a/b.jpg"));
        let route = r_with(Method::GET, "/", headers, Some("s3.example.com")).unwrap();
        assert_eq!(route.endpoint, Endpoint::ListObjects);

        let mut apex = HeaderMap::new();
        apex.insert(
            http::header::HOST,
            HeaderValue::from_static("s3.example.com"),
        );
        let route = r_with(Method::GET, "/b/k", apex, Some("s3.example.com")).unwrap();
        assert_eq!(route.bucket.as_deref(), Some("b"));
        assert_eq!(route.key.as_deref(), Some("k"));
    }

    #[test]
    fn every_sample_routes_to_its_operation() {
        let mut seen = std::collections::BTreeSet::new();
        for op in implemented_operations() {
            let mut headers = HeaderMap::new();
            if op.sample.copy_source {
                headers.insert("x-amz-copy-source", HeaderValue::from_static("/b/src"));
            }
            let method = Method::from_bytes(op.sample.method.as_bytes()).unwrap();
            let route = r_with(method, &op.sample.target_for("b", "k"), headers, None).unwrap();
            assert_eq!(route.endpoint.name(), op.name, "{op:?}");
            assert_eq!(route.endpoint.access(), op.access, "{op:?}");
            assert!(route.endpoint.is_implemented());
            assert!(seen.insert(op.name), "{} listed twice", op.name);
        }
        assert!(seen.contains("ListBuckets") && seen.contains("GetObjectAttributes"));
    }

    #[test]
    fn names_are_the_operation_names() {
        assert_eq!(Endpoint::ListObjectsV2.name(), "ListObjectsV2");
        assert_eq!(
            Endpoint::UploadPart {
                part_number: 1,
                upload_id: String::new()
            }
            .name(),
            "UploadPart"
        );
        assert_eq!(Endpoint::DeleteBucket.access(), Access::Owner);
    }
}
