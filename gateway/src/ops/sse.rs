//! Server-side encryption at the S3 door: what a request asks for
//! (`x-amz-server-side-encryption`, the SSE-C headers, the bucket's
//! default), the key that seals or opens an object, and the headers
//! answered about an encrypted object. The codec and the keys are
//! cairn-client's `sse` (shared with the mount); docs/design.md,
//! "Encryption at rest", has the format and the decisions.
//!
//! A customer's key lives only in the request being served: it is never
//! stored (only its MD5 is), logged or put in an error message.

use base64::Engine as _;
use cairn_client::sse::{DataKey, ObjectSse, SseError, SseMode};
use http::{HeaderMap, HeaderValue};
use md5::{Digest, Md5};

use super::Request;
use crate::error::{ErrorCode, S3Error, S3Result};

/// Name of the bucket setting holding the default encryption (`AES256`).
pub const BUCKET_SETTING: &str = "encryption";

/// Header prefix of a request's own SSE-C key.
pub const OWN: &str = "x-amz-";
/// Header prefix of a copy source's SSE-C key.
pub const COPY_SOURCE: &str = "x-amz-copy-source-";

/// A customer's key, as a request gave it (checked against its MD5).
pub struct CustomerKey {
    key: [u8; 32],
    /// Base64 MD5 of the key, as sent and stored.
    pub md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("md5", &self.md5)
            .finish_non_exhaustive()
    }
}

/// The encryption a write asks for.
#[derive(Debug)]
pub enum Wanted {
    Plain,
    S3,
    Customer(CustomerKey),
}

/// The SSE-C headers of `req` under `prefix` ([`OWN`] or [`COPY_SOURCE`]):
/// `None` when none is given, the key when all three are right, else the
/// S3 error.
pub fn customer_key(req: &Request, prefix: &str) -> S3Result<Option<CustomerKey>> {
    let get = |suffix: &str| {
        req.headers
            .get(format!("{prefix}server-side-encryption-customer-{suffix}"))
            .map(|v| v.to_str().unwrap_or(""))
    };
    let (algorithm, key, md5) = (get("algorithm"), get("key"), get("key-md5"));
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if !req.secure {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    let Some(algorithm) = algorithm else {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
        ));
    };
    if algorithm != "AES256" {
        return Err(S3Error::new(ErrorCode::InvalidEncryptionAlgorithmError));
    }
    let invalid_key = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The secret key was invalid for the specified algorithm.",
        )
    };
    let key = key
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(invalid_key)?;
    let computed = base64::engine::general_purpose::STANDARD.encode(Md5::digest(key));
    match md5 {
        Some(given) if given == computed => Ok(Some(CustomerKey { key, md5: computed })),
        Some(_) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )),
        None => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key md5.",
        )),
    }
}

/// What a write of `bucket` asks for: its headers, else the bucket's
/// default encryption.
pub async fn for_write(req: &Request, bucket: &str) -> S3Result<Wanted> {
    let customer = customer_key(req, OWN)?;
    let named = req.header("x-amz-server-side-encryption");
    if req
        .headers
        .contains_key("x-amz-server-side-encryption-aws-kms-key-id")
        || req
            .headers
            .contains_key("x-amz-server-side-encryption-context")
    {
        return Err(kms_not_implemented());
    }
    match (named, customer) {
        (Some(_), Some(_)) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )),
        (Some("AES256"), None) => Ok(Wanted::S3),
        (Some(m), None) if m.starts_with("aws:kms") => Err(kms_not_implemented()),
        (Some(_), None) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The encryption method specified is not supported",
        )),
        (None, Some(key)) => Ok(Wanted::Customer(key)),
        (None, None) => match req.client.bucket_setting_recent(bucket, BUCKET_SETTING).await {
            Ok(Some(v)) if crate::xml::encryption::is_s3(&v) => Ok(Wanted::S3),
            Ok(_) => Ok(Wanted::Plain),
            Err(e) => Err(super::cluster_error::to_s3(
                e,
                super::cluster_error::Missing::Bucket,
                &format!("/{bucket}"),
            )),
        },
    }
}

/// SSE-KMS: Cairn has no key management service.
pub fn kms_not_implemented() -> S3Error {
    S3Error::with_message(
        ErrorCode::NotImplemented,
        "SSE-KMS is not implemented; use AES256 (SSE-S3) or SSE-C.",
    )
}

/// An encryption error as S3 answers it, without key material.
pub fn to_s3(e: SseError) -> S3Error {
    match e {
        SseError::NoMasterKey => S3Error::with_message(
            ErrorCode::NotImplemented,
            "SSE-S3 needs the cluster master key, which this gateway's host does not hold (the cluster CA key beside its config).",
        ),
        other => {
            tracing::warn!(error = %other, "encryption at rest failed");
            S3Error::new(ErrorCode::InternalError)
        }
    }
}

impl From<SseError> for S3Error {
    fn from(e: SseError) -> Self {
        to_s3(e)
    }
}

/// A new object's encryption: what its headers will say (the plaintext
/// size is set once written) and the key that seals it.
pub struct Sealing {
    pub object: ObjectSse,
    pub key: DataKey,
}

impl Wanted {
    /// The sealing of a new object (a new salt, its data key), if any.
    pub fn sealing(&self, req: &Request) -> S3Result<Option<Sealing>> {
        let salt = ObjectSse::new_salt();
        let (mode, key, key_md5) = match self {
            Wanted::Plain => return Ok(None),
            Wanted::S3 => (SseMode::S3, req.client.s3_data_key(&salt)?, None),
            Wanted::Customer(c) => (
                SseMode::Customer,
                DataKey::for_customer(&c.key, &salt)?,
                Some(c.md5.clone()),
            ),
        };
        Ok(Some(Sealing {
            object: ObjectSse {
                mode,
                salt,
                plain_size: 0,
                key_md5,
            },
            key,
        }))
    }
}

/// The key that opens an object with encryption `sse` (None: a plain
/// object) for a request whose SSE-C headers are under `prefix`.
pub fn key_for_read(
    req: &Request,
    sse: Option<&ObjectSse>,
    prefix: &str,
) -> S3Result<Option<DataKey>> {
    let customer = customer_key(req, prefix)?;
    let not_applicable = || {
        S3Error::with_message(
            ErrorCode::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        )
    };
    match (sse, customer) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(not_applicable()),
        (Some(s), customer) if s.mode == SseMode::S3 => match customer {
            Some(_) => Err(not_applicable()),
            None => Ok(Some(req.client.s3_data_key(&s.salt)?)),
        },
        (Some(_), None) => Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        )),
        (Some(s), Some(c)) => {
            if s.key_md5.as_deref() != Some(c.md5.as_str()) {
                return Err(S3Error::new(ErrorCode::AccessDenied));
            }
            Ok(Some(DataKey::for_customer(&c.key, &s.salt)?))
        }
    }
}

/// Adds the headers S3 answers about an object encrypted as `sse`.
pub fn insert_response_headers(headers: &mut HeaderMap, sse: &ObjectSse) {
    match sse.mode {
        SseMode::S3 => {
            headers.insert(
                "x-amz-server-side-encryption",
                HeaderValue::from_static("AES256"),
            );
        }
        SseMode::Customer => {
            headers.insert(
                "x-amz-server-side-encryption-customer-algorithm",
                HeaderValue::from_static("AES256"),
            );
            if let Some(v) = sse
                .key_md5
                .as_deref()
                .and_then(|m| HeaderValue::from_str(m).ok())
            {
                headers.insert("x-amz-server-side-encryption-customer-key-md5", v);
            }
        }
    }
}

/// The encryption an object's stored headers record (a malformed record
/// is an internal error, never a plain read).
pub fn of_node(node: &cairn_client::Node) -> S3Result<Option<ObjectSse>> {
    ObjectSse::from_headers(&node.headers).map_err(to_s3)
}

/// A body being sealed: what the object's headers will say, and the
/// plaintext's size and MD5 once the body ended.
pub struct Sealed {
    object: ObjectSse,
    digest: cairn_client::sse::SealedDigest,
}

/// Seals `body` as part 0 when `sealing` asks for it.
pub fn seal_body(
    body: crate::body::BodyStream,
    sealing: Option<Sealing>,
) -> (crate::body::BodyStream, Option<Sealed>) {
    use futures::StreamExt;
    match sealing {
        Some(s) => {
            let digest = cairn_client::sse::SealedDigest::default();
            let body = cairn_client::sse::seal_stream(body, s.key, 0, digest.clone()).boxed();
            (
                body,
                Some(Sealed {
                    object: s.object,
                    digest,
                }),
            )
        }
        None => (body, None),
    }
}

impl Sealed {
    /// Records the sealed object in `meta` (and its ETag in `written`)
    /// once the body was written.
    pub fn finish(
        mut self,
        written: &mut cairn_client::WrittenData,
        meta: &mut cairn_client::ObjectMeta,
    ) -> S3Result<()> {
        let (size, md5_hex) = self
            .digest
            .get()
            .ok_or_else(|| S3Error::new(ErrorCode::InternalError))?;
        self.object.plain_size = size;
        self.object.to_headers(&mut meta.headers);
        // SSE-S3's ETag is the plaintext's MD5, as S3's; SSE-C's is the MD5
        // of the stored bytes, which says nothing of the plaintext.
        if self.object.mode == SseMode::S3 {
            written.md5_hex = md5_hex;
        }
        Ok(())
    }
}

/// What a POST upload's form asks for: its `x-amz-server-side-encryption`
/// field, else the bucket's default. SSE-C by form fields is not built.
pub async fn for_post(
    req: &Request,
    fields: &std::collections::BTreeMap<String, String>,
) -> S3Result<Wanted> {
    if fields
        .keys()
        .any(|k| k.starts_with("x-amz-server-side-encryption-"))
    {
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "Server-side encryption with customer keys or KMS in POST uploads is not implemented.",
        ));
    }
    match fields
        .get("x-amz-server-side-encryption")
        .map(String::as_str)
    {
        Some("AES256") => Ok(Wanted::S3),
        Some(m) if m.starts_with("aws:kms") => Err(kms_not_implemented()),
        Some(_) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The encryption method specified is not supported",
        )),
        None => for_write(req, &req.bucket).await,
    }
}
