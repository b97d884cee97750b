//! Public Access Block of a bucket: PutPublicAccessBlock,
//! GetPublicAccessBlock, DeletePublicAccessBlock (S3 API reference), and
//! the four flags as the rest of the gateway reads them.
//!
//! Stored as the bucket setting [`SETTING`]: four characters `0`/`1` in
//! the order BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
//! RestrictPublicBuckets. No setting: every flag off (GET answers 404
//! `NoSuchPublicAccessBlockConfiguration`). What each flag does:
//! - BlockPublicAcls: a request that sets a public ACL (canned
//!   `public-read`, `public-read-write`, `authenticated-read`, or a grant
//!   to AllUsers / AuthenticatedUsers) is refused with 403 AccessDenied;
//! - IgnorePublicAcls: such grants already stored are ignored in
//!   authorization;
//! - BlockPublicPolicy: PutBucketPolicy of a public policy is refused
//!   with 403 AccessDenied;
//! - RestrictPublicBuckets: while the policy is public, its public
//!   statements allow no anonymous request (authenticated keys of the
//!   cluster, which is one account, keep what it grants them).

use axum::body::Body;
use cairn_client::Client;
use http::{Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::protection::read_xml_body;
use super::{empty, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::tree;

/// The bucket setting that holds the flags.
pub const SETTING: &str = "public-access-block";

/// The four flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

const NAMES: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

impl PublicAccessBlock {
    fn flags(&self) -> [bool; 4] {
        [
            self.block_public_acls,
            self.ignore_public_acls,
            self.block_public_policy,
            self.restrict_public_buckets,
        ]
    }

    fn from_flags(f: [bool; 4]) -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: f[0],
            ignore_public_acls: f[1],
            block_public_policy: f[2],
            restrict_public_buckets: f[3],
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        self.flags()
            .iter()
            .map(|&f| if f { b'1' } else { b'0' })
            .collect()
    }

    /// The stored form; anything else reads as every flag on (closed).
    pub fn decode(bytes: &[u8]) -> PublicAccessBlock {
        let mut f = [true; 4];
        if bytes.len() == 4 {
            for (flag, b) in f.iter_mut().zip(bytes) {
                *flag = *b == b'1';
            }
        }
        PublicAccessBlock::from_flags(f)
    }

    /// Parses the `PublicAccessBlockConfiguration` document; an absent
    /// flag is false, a value other than true/false is `MalformedXML`.
    pub fn parse_xml(body: &[u8]) -> S3Result<PublicAccessBlock> {
        let doc = tree::parse(body, "PublicAccessBlockConfiguration")?;
        doc.only(&NAMES)?;
        let mut f = [false; 4];
        for (flag, name) in f.iter_mut().zip(NAMES) {
            if let Some(value) = doc.child(name)? {
                *flag = value.boolean()?;
            }
        }
        Ok(PublicAccessBlock::from_flags(f))
    }

    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "{}<PublicAccessBlockConfiguration xmlns=\"{}\">",
            crate::xml::DECLARATION,
            crate::xml::S3_NAMESPACE
        );
        for (flag, name) in self.flags().iter().zip(NAMES) {
            out.push_str(&format!("<{name}>{flag}</{name}>"));
        }
        out.push_str("</PublicAccessBlockConfiguration>");
        out
    }
}

/// Whether a request's ACL headers make something public: a canned
/// `public-read`, `public-read-write` or `authenticated-read`, or a grant
/// header naming the AllUsers or AuthenticatedUsers group.
pub fn carries_public_acl(headers: &http::HeaderMap) -> bool {
    let canned = headers.get("x-amz-acl").is_some_and(|v| {
        matches!(
            v.as_bytes(),
            b"public-read" | b"public-read-write" | b"authenticated-read"
        )
    });
    canned
        || headers.iter().any(|(name, value)| {
            name.as_str().starts_with("x-amz-grant-")
                && value.to_str().is_ok_and(|v| {
                    v.contains("/global/AllUsers") || v.contains("/global/AuthenticatedUsers")
                })
        })
}

/// The flags of `bucket` (every flag off without a setting), read from the
/// client's short cache.
pub async fn stored(client: &Client, bucket: &str) -> S3Result<PublicAccessBlock> {
    let stored = client
        .bucket_setting_recent(bucket, SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &format!("/{bucket}")))?;
    Ok(stored
        .map(|b| PublicAccessBlock::decode(&b))
        .unwrap_or_default())
}

pub async fn put_public_access_block(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, false).await?;
    let block = PublicAccessBlock::parse_xml(&body)?;
    req.client
        .set_bucket_setting(&req.bucket, SETTING, Some(block.encode()))
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_public_access_block(req: Request) -> S3Result<Response<Body>> {
    let stored = req
        .client
        .bucket_setting(&req.bucket, SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    match stored {
        Some(bytes) => Ok(xml(PublicAccessBlock::decode(&bytes).to_xml())),
        None => Err(
            S3Error::new(ErrorCode::NoSuchPublicAccessBlockConfiguration).resource(req.resource()),
        ),
    }
}

pub async fn delete_public_access_block(req: Request) -> S3Result<Response<Body>> {
    super::setting::delete(&req, SETTING).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_values() {
        let body = b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
        let block = PublicAccessBlock::parse_xml(body).unwrap_or_default();
        assert!(block.block_public_acls && block.restrict_public_buckets);
        assert!(!block.ignore_public_acls && !block.block_public_policy);
        assert_eq!(PublicAccessBlock::decode(&block.encode()), block);
        assert!(block
            .to_xml()
            .contains("<IgnorePublicAcls>false</IgnorePublicAcls>"));
        assert!(PublicAccessBlock::parse_xml(b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>").is_err());
        assert!(PublicAccessBlock::parse_xml(b"<Other/>").is_err());
        assert_eq!(
            PublicAccessBlock::decode(b"junk!"),
            PublicAccessBlock::from_flags([true; 4])
        );
    }
}
