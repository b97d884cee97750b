//! Who is asking: every S3 authentication scheme, verified server-side.
//!
//! - `v4`: SigV4 in the `Authorization` header and in presigned query
//!   strings (`X-Amz-Expires` enforced);
//! - `payload`: the modes of `x-amz-content-sha256`;
//! - `streaming`: the `aws-chunked` body decoder that checks every chunk
//!   signature and the trailing checksum;
//! - `v2`: SigV2 header and query auth for older clients;
//! - `policy` and `post_form`: browser uploads (POST object);
//! - `canonical` and `time`: the shared pieces.
//!
//! Secrets come from a [`KeyStore`]; tests use [`MapKeyStore`], production
//! the cluster. A secret is never logged nor put in an error message.

pub mod canonical;
pub mod payload;
pub mod policy;
pub mod post_form;
pub mod signing;
pub mod streaming;
pub mod time;
pub mod v2;
pub mod v4;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use http::{HeaderMap, Method};

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::query::Query;

pub use payload::ContentSha256;
pub use streaming::{ChunkSigner, ChunkedDecoder};

/// What a key may do on one bucket (the owner of a bucket may do all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketPermission {
    pub read: bool,
    pub write: bool,
    /// Granted ownership: everything the bucket's owner may do.
    pub owner: bool,
}

impl BucketPermission {
    pub fn may_read(&self) -> bool {
        self.read || self.owner
    }

    pub fn may_write(&self) -> bool {
        self.write || self.owner
    }
}

/// An access key with its secret and permissions.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    secret: String,
    /// Human name given at creation (`cairn key create NAME`).
    pub name: String,
    /// Grants on buckets the key does not own (`cairn bucket allow`).
    pub buckets: BTreeMap<String, BucketPermission>,
    /// An operator's key: it stands in for the owner of a bucket that has
    /// none (`crate::access`).
    pub admin: bool,
}

impl AccessKey {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> AccessKey {
        AccessKey {
            id: id.into(),
            secret: secret.into(),
            name: String::new(),
            buckets: BTreeMap::new(),
            admin: false,
        }
    }

    /// The secret; only signature code reads it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The key's grant on `bucket` (ownership is checked by the caller).
    pub fn permission(&self, bucket: &str) -> BucketPermission {
        self.buckets.get(bucket).copied().unwrap_or_default()
    }

    /// Whether this is the same key with the same secret (a refreshed copy
    /// of a key that authenticated a request may replace it).
    pub fn same_credentials(&self, other: &AccessKey) -> bool {
        self.id == other.id && mac_eq(self.secret.as_bytes(), other.secret.as_bytes())
    }
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("buckets", &self.buckets)
            .field("admin", &self.admin)
            .finish()
    }
}

/// The key store could not answer (the cluster is unreachable...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("key store unavailable: {0}")]
pub struct KeyStoreError(pub String);

/// Where secrets come from.
///
/// Obligations: `secret` answers `Ok(None)` for an unknown key (never an
/// error), and an error only when it cannot know; it never logs the secret.
/// A store may answer `secret` from a cache; `fresh` must not (it is asked
/// when a cached grant refuses a request, so that a grant made a moment ago
/// takes effect at once).
pub trait KeyStore: Send + Sync + 'static {
    fn secret(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<AccessKey>, KeyStoreError>> + Send;

    /// As `secret`, bypassing any cache.
    fn fresh(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<AccessKey>, KeyStoreError>> + Send {
        self.secret(access_key_id)
    }
}

/// A key store in memory (tests, single-node setups).
#[derive(Debug, Clone, Default)]
pub struct MapKeyStore {
    keys: HashMap<String, AccessKey>,
}

impl MapKeyStore {
    pub fn new(keys: impl IntoIterator<Item = AccessKey>) -> MapKeyStore {
        MapKeyStore {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
        }
    }
}

impl KeyStore for MapKeyStore {
    async fn secret(&self, access_key_id: &str) -> Result<Option<AccessKey>, KeyStoreError> {
        Ok(self.keys.get(access_key_id).cloned())
    }
}

/// Looks a key up, mapping "unknown" to `InvalidAccessKeyId`.
pub(crate) async fn lookup_key<K: KeyStore>(keys: &K, access_key_id: &str) -> S3Result<AccessKey> {
    match keys.secret(access_key_id).await {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(S3Error::new(ErrorCode::InvalidAccessKeyId)
            .extra("AWSAccessKeyId", access_key_id.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "key store lookup failed");
            Err(S3Error::with_message(
                ErrorCode::ServiceUnavailable,
                "The key store is unavailable; please retry.",
            ))
        }
    }
}

/// How the body of an authenticated request must be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadCheck {
    /// Nothing beyond `Content-MD5` and flexible checksums (unsigned
    /// payload, SigV2, presigned URLs).
    Unsigned,
    /// The whole body must hash to this (a signed payload).
    Sha256([u8; 32]),
    /// An `aws-chunked` body: chunk signatures checked when `signer` is
    /// set; trailing headers expected when `trailer` is set.
    Chunked {
        signer: Option<ChunkSigner>,
        trailer: bool,
    },
}

/// The result of authentication. One per request and never stored, so the
/// size difference between the variants does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Auth {
    /// No credentials at all: only POST object (whose credentials are in the
    /// form) may go on; everything else is `AccessDenied`.
    Anonymous,
    /// A verified key.
    Key {
        key: AccessKey,
        payload: PayloadCheck,
    },
}

/// The parts of a request that signatures cover.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub method: &'a Method,
    /// The path as sent (percent-encoded).
    pub raw_path: &'a str,
    /// The query as sent, without `?`.
    pub raw_query: &'a str,
    pub query: &'a Query,
    pub headers: &'a HeaderMap,
    /// The URI's authority, for HTTP/2 requests without a Host header.
    pub authority: Option<&'a str>,
}

/// The gateway's own signing context.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The configured region; SigV4 scopes must name it.
    pub region: String,
    /// The virtual-host domain, for SigV2's canonical resource.
    pub domain: Option<String>,
}

/// Longest `Authorization` header accepted.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// Authenticates a request by whichever scheme it uses.
pub async fn authenticate<K: KeyStore>(
    parts: &SignedParts<'_>,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<Auth> {
    let header = match parts.headers.get(http::header::AUTHORIZATION) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| S3Error::new(ErrorCode::AuthorizationHeaderMalformed))?,
        ),
        None => None,
    };
    let v4_query = parts.query.has("X-Amz-Algorithm") || parts.query.has("X-Amz-Signature");
    let v2_query = parts.query.has("AWSAccessKeyId") && parts.query.has("Signature");
    if header.is_some() && (v4_query || v2_query) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        ));
    }
    match header {
        Some(h) if h.len() > MAX_AUTHORIZATION_LEN => {
            Err(S3Error::new(ErrorCode::AuthorizationHeaderMalformed))
        }
        Some(h) if h.starts_with(v4::ALGORITHM) => {
            v4::verify_header(parts, h, keys, context, now).await
        }
        Some(h) if h.starts_with("AWS ") => v2::verify_header(parts, h, keys, context, now).await,
        Some(_) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Unsupported Authorization Type",
        )),
        None if v4_query => v4::verify_presigned(parts, keys, context, now).await,
        None if v2_query => v2::verify_query(parts, keys, context, now).await,
        None => Ok(Auth::Anonymous),
    }
}

/// Constant-time equality of two MACs.
pub(crate) fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
