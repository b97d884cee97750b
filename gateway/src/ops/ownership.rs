//! Object Ownership of a bucket: PutBucketOwnershipControls,
//! GetBucketOwnershipControls, DeleteBucketOwnershipControls (S3 API
//! reference), and what it means for requests carrying ACLs.
//!
//! Stored as the bucket setting [`SETTING`]: the rule's name
//! (`BucketOwnerEnforced`, `BucketOwnerPreferred`, `ObjectWriter`).
//! Without a setting GET answers 404 `OwnershipControlsNotFoundError` and
//! the bucket behaves as `ObjectWriter`: ACLs are on. That is Cairn's
//! default, unlike AWS's for new buckets (BucketOwnerEnforced), because
//! clients that send `x-amz-acl: public-read` or run `s3cmd setacl` must
//! work on a bucket made with defaults, as on MinIO and Ceph.
//!
//! With `BucketOwnerEnforced`, ACLs are off as S3 has them: a write
//! carrying an ACL other than `bucket-owner-full-control` or `private`
//! (canned or as grant headers) is 400 `AccessControlListNotSupported`,
//! and so are PutBucketAcl and PutObjectAcl.

use axum::body::Body;
use cairn_client::Client;
use http::{HeaderMap, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::protection::read_xml_body;
use super::{empty, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::tree;

/// The bucket setting that holds the rule.
pub const SETTING: &str = "ownership";

/// The Object Ownership rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ownership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    #[default]
    ObjectWriter,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::BucketOwnerEnforced => "BucketOwnerEnforced",
            Ownership::BucketOwnerPreferred => "BucketOwnerPreferred",
            Ownership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(name: &str) -> Option<Ownership> {
        match name {
            "BucketOwnerEnforced" => Some(Ownership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(Ownership::BucketOwnerPreferred),
            "ObjectWriter" => Some(Ownership::ObjectWriter),
            _ => None,
        }
    }

    /// Parses the `OwnershipControls` document: one `Rule` with one
    /// `ObjectOwnership`.
    pub fn parse_xml(body: &[u8]) -> S3Result<Ownership> {
        let doc = tree::parse(body, "OwnershipControls")?;
        doc.only(&["Rule"])?;
        let rule = doc.required("Rule")?;
        rule.only(&["ObjectOwnership"])?;
        Ownership::parse(rule.required("ObjectOwnership")?.leaf()?.trim())
            .ok_or_else(tree::malformed)
    }

    pub fn to_xml(self) -> String {
        format!(
            "{}<OwnershipControls xmlns=\"{}\"><Rule><ObjectOwnership>{}</ObjectOwnership></Rule></OwnershipControls>",
            crate::xml::DECLARATION,
            crate::xml::S3_NAMESPACE,
            self.as_str()
        )
    }
}

/// The rule of `bucket` (ObjectWriter without a setting), from the
/// client's short cache.
pub async fn stored(client: &Client, bucket: &str) -> S3Result<Ownership> {
    let stored = client
        .bucket_setting_recent(bucket, SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &format!("/{bucket}")))?;
    Ok(stored
        .and_then(|b| Ownership::parse(std::str::from_utf8(&b).ok()?))
        .unwrap_or_default())
}

/// Whether a request's ACL headers ask for more than the owner's full
/// control: a canned ACL other than `private` and
/// `bucket-owner-full-control`, or any grant header.
pub fn asks_for_acl(headers: &HeaderMap) -> bool {
    let canned = headers
        .get("x-amz-acl")
        .is_some_and(|v| !matches!(v.as_bytes(), b"private" | b"bucket-owner-full-control"));
    canned
        || headers
            .keys()
            .any(|n| n.as_str().starts_with("x-amz-grant-"))
}

/// `AccessControlListNotSupported`.
pub fn acls_off() -> S3Error {
    S3Error::new(ErrorCode::AccessControlListNotSupported)
}

pub async fn put_ownership_controls(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, false).await?;
    let rule = Ownership::parse_xml(&body)?;
    req.client
        .set_bucket_setting(
            &req.bucket,
            SETTING,
            Some(rule.as_str().as_bytes().to_vec()),
        )
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_ownership_controls(req: Request) -> S3Result<Response<Body>> {
    let stored = req
        .client
        .bucket_setting(&req.bucket, SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    match stored.and_then(|b| Ownership::parse(std::str::from_utf8(&b).ok()?)) {
        Some(rule) => Ok(xml(rule.to_xml())),
        None => {
            Err(S3Error::new(ErrorCode::OwnershipControlsNotFoundError).resource(req.resource()))
        }
    }
}

pub async fn delete_ownership_controls(req: Request) -> S3Result<Response<Body>> {
    super::setting::delete(&req, SETTING).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_rules_and_nothing_else() {
        for rule in [
            Ownership::BucketOwnerEnforced,
            Ownership::BucketOwnerPreferred,
            Ownership::ObjectWriter,
        ] {
            let body = rule.to_xml();
            assert_eq!(Ownership::parse_xml(body.as_bytes()).ok(), Some(rule));
        }
        assert!(Ownership::parse_xml(b"<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>").is_err());
        assert!(Ownership::parse_xml(b"<OwnershipControls/>").is_err());
        let mut h = HeaderMap::new();
        assert!(!asks_for_acl(&h));
        h.insert(
            "x-amz-acl",
            http::HeaderValue::from_static("bucket-owner-full-control"),
        );
        assert!(!asks_for_acl(&h));
        h.insert("x-amz-acl", http::HeaderValue::from_static("public-read"));
        assert!(asks_for_acl(&h));
    }
}
