//! The one table from S3 operation ([`Endpoint`]) to IAM action name, as the
//! AWS page "Actions, resources, and condition keys for Amazon S3" lists
//! them, and whether the action is on the bucket or on an object.
//!
//! Operations that name a version (`versionId`) use the `...Version...`
//! action where AWS has one (GetObjectVersion, DeleteObjectVersion,
//! GetObjectVersionTagging, ...). A Delete of a bucket configuration uses
//! the Put action of that configuration, as AWS does (DeleteBucketPolicy
//! is the exception: it has its own). DeleteObjects is checked as
//! `s3:DeleteObject` on every object of the bucket (see `eval`).

use crate::router::Endpoint;

/// What an action applies to: a bucket ARN or an object ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Bucket,
    Object,
    /// ListAllMyBuckets, CreateBucket: no bucket policy applies.
    Service,
}

/// Every action a bucket policy may name, with its level: what
/// validation accepts (an action without a wildcard must be one of these).
pub const ACTIONS: &[(&str, Level)] = &[
    ("s3:AbortMultipartUpload", Level::Object),
    ("s3:BypassGovernanceRetention", Level::Object),
    ("s3:CreateBucket", Level::Bucket),
    ("s3:DeleteBucket", Level::Bucket),
    ("s3:DeleteBucketPolicy", Level::Bucket),
    ("s3:DeleteBucketWebsite", Level::Bucket),
    ("s3:DeleteObject", Level::Object),
    ("s3:DeleteObjectTagging", Level::Object),
    ("s3:DeleteObjectVersion", Level::Object),
    ("s3:DeleteObjectVersionTagging", Level::Object),
    ("s3:GetAccelerateConfiguration", Level::Bucket),
    ("s3:GetBucketAcl", Level::Bucket),
    ("s3:GetBucketCORS", Level::Bucket),
    ("s3:GetBucketLocation", Level::Bucket),
    ("s3:GetBucketLogging", Level::Bucket),
    ("s3:GetBucketNotification", Level::Bucket),
    ("s3:GetBucketObjectLockConfiguration", Level::Bucket),
    ("s3:GetBucketOwnershipControls", Level::Bucket),
    ("s3:GetBucketPolicy", Level::Bucket),
    ("s3:GetBucketPolicyStatus", Level::Bucket),
    ("s3:GetBucketPublicAccessBlock", Level::Bucket),
    ("s3:GetBucketRequestPayment", Level::Bucket),
    ("s3:GetBucketTagging", Level::Bucket),
    ("s3:GetBucketVersioning", Level::Bucket),
    ("s3:GetBucketWebsite", Level::Bucket),
    ("s3:GetEncryptionConfiguration", Level::Bucket),
    ("s3:GetLifecycleConfiguration", Level::Bucket),
    ("s3:GetObject", Level::Object),
    ("s3:GetObjectAcl", Level::Object),
    ("s3:GetObjectAttributes", Level::Object),
    ("s3:GetObjectLegalHold", Level::Object),
    ("s3:GetObjectRetention", Level::Object),
    ("s3:GetObjectTagging", Level::Object),
    ("s3:GetObjectTorrent", Level::Object),
    ("s3:GetObjectVersion", Level::Object),
    ("s3:GetObjectVersionAcl", Level::Object),
    ("s3:GetObjectVersionAttributes", Level::Object),
    ("s3:GetObjectVersionTagging", Level::Object),
    ("s3:GetReplicationConfiguration", Level::Bucket),
    ("s3:ListAllMyBuckets", Level::Service),
    ("s3:ListBucket", Level::Bucket),
    ("s3:ListBucketMultipartUploads", Level::Bucket),
    ("s3:ListBucketVersions", Level::Bucket),
    ("s3:ListMultipartUploadParts", Level::Object),
    ("s3:PutAccelerateConfiguration", Level::Bucket),
    ("s3:PutBucketAcl", Level::Bucket),
    ("s3:PutBucketCORS", Level::Bucket),
    ("s3:PutBucketLogging", Level::Bucket),
    ("s3:PutBucketNotification", Level::Bucket),
    ("s3:PutBucketObjectLockConfiguration", Level::Bucket),
    ("s3:PutBucketOwnershipControls", Level::Bucket),
    ("s3:PutBucketPolicy", Level::Bucket),
    ("s3:PutBucketPublicAccessBlock", Level::Bucket),
    ("s3:PutBucketRequestPayment", Level::Bucket),
    ("s3:PutBucketTagging", Level::Bucket),
    ("s3:PutBucketVersioning", Level::Bucket),
    ("s3:PutBucketWebsite", Level::Bucket),
    ("s3:PutEncryptionConfiguration", Level::Bucket),
    ("s3:PutLifecycleConfiguration", Level::Bucket),
    ("s3:PutObject", Level::Object),
    ("s3:PutObjectAcl", Level::Object),
    ("s3:PutObjectLegalHold", Level::Object),
    ("s3:PutObjectRetention", Level::Object),
    ("s3:PutObjectTagging", Level::Object),
    ("s3:PutObjectVersionAcl", Level::Object),
    ("s3:PutObjectVersionTagging", Level::Object),
    ("s3:PutReplicationConfiguration", Level::Bucket),
    ("s3:RestoreObject", Level::Object),
];

/// The level of a known action (name compared without case).
pub fn level_of(action: &str) -> Option<Level> {
    ACTIONS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(action))
        .map(|&(_, level)| level)
}

/// The IAM action of an operation; `versioned` when the request names a
/// version (`versionId`).
pub fn action_of(endpoint: &Endpoint, versioned: bool) -> &'static str {
    use Endpoint::*;
    let pick = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
    match endpoint {
        ListBuckets => "s3:ListAllMyBuckets",
        CreateBucket => "s3:CreateBucket",
        HeadBucket | ListObjects | ListObjectsV2 => "s3:ListBucket",
        DeleteBucket => "s3:DeleteBucket",
        GetBucketLocation => "s3:GetBucketLocation",
        GetBucketVersioning => "s3:GetBucketVersioning",
        PutBucketVersioning => "s3:PutBucketVersioning",
        ListMultipartUploads => "s3:ListBucketMultipartUploads",
        ListObjectVersions => "s3:ListBucketVersions",
        DeleteObjects => "s3:DeleteObject",
        GetObject { .. } | HeadObject { .. } => pick("s3:GetObject", "s3:GetObjectVersion"),
        PostObject
        | PutObject
        | CopyObject
        | CreateMultipartUpload
        | UploadPart { .. }
        | UploadPartCopy { .. }
        | CompleteMultipartUpload { .. } => "s3:PutObject",
        DeleteObject => pick("s3:DeleteObject", "s3:DeleteObjectVersion"),
        AbortMultipartUpload { .. } => "s3:AbortMultipartUpload",
        ListParts { .. } => "s3:ListMultipartUploadParts",
        GetBucketTagging => "s3:GetBucketTagging",
        PutBucketTagging | DeleteBucketTagging => "s3:PutBucketTagging",
        GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
        PutBucketLifecycleConfiguration | DeleteBucketLifecycle => "s3:PutLifecycleConfiguration",
        GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
        PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
        GetObjectTagging => pick("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        PutObjectTagging => pick("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        DeleteObjectTagging => pick("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        GetObjectRetention => "s3:GetObjectRetention",
        PutObjectRetention => "s3:PutObjectRetention",
        GetObjectLegalHold => "s3:GetObjectLegalHold",
        PutObjectLegalHold => "s3:PutObjectLegalHold",
        GetObjectAttributes => pick("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        GetBucketPolicy => "s3:GetBucketPolicy",
        PutBucketPolicy => "s3:PutBucketPolicy",
        DeleteBucketPolicy => "s3:DeleteBucketPolicy",
        GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
        GetBucketAcl => "s3:GetBucketAcl",
        PutBucketAcl => "s3:PutBucketAcl",
        GetObjectAcl => pick("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        PutObjectAcl => pick("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
        PutBucketOwnershipControls | DeleteBucketOwnershipControls => {
            "s3:PutBucketOwnershipControls"
        }
        GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
        PutPublicAccessBlock | DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
        Options => "s3:GetObject",
        GetBucketCors => "s3:GetBucketCORS",
        PutBucketCors | DeleteBucketCors => "s3:PutBucketCORS",
        GetBucketWebsite => "s3:GetBucketWebsite",
        PutBucketWebsite => "s3:PutBucketWebsite",
        DeleteBucketWebsite => "s3:DeleteBucketWebsite",
        GetBucketEncryption => "s3:GetEncryptionConfiguration",
        PutBucketEncryption | DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
        GetBucketLogging => "s3:GetBucketLogging",
        PutBucketLogging => "s3:PutBucketLogging",
        GetBucketNotificationConfiguration => "s3:GetBucketNotification",
        PutBucketNotificationConfiguration => "s3:PutBucketNotification",
        GetBucketReplication => "s3:GetReplicationConfiguration",
        PutBucketReplication | DeleteBucketReplication => "s3:PutReplicationConfiguration",
        GetBucketRequestPayment => "s3:GetBucketRequestPayment",
        PutBucketRequestPayment => "s3:PutBucketRequestPayment",
        GetBucketAccelerateConfiguration => "s3:GetAccelerateConfiguration",
        PutBucketAccelerateConfiguration => "s3:PutAccelerateConfiguration",
        BucketAnalyticsConfiguration
        | BucketInventoryConfiguration
        | BucketMetricsConfiguration
        | BucketIntelligentTieringConfiguration => "s3:PutBucketPolicy",
        GetObjectTorrent => "s3:GetObjectTorrent",
        RestoreObject => "s3:RestoreObject",
        SelectObjectContent => "s3:GetObject",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_action_is_known() {
        for op in crate::router::implemented_operations() {
            let method = http::Method::from_bytes(op.sample.method.as_bytes()).unwrap_or_default();
            let target = op.sample.target_for("b", "k");
            let (path, q) = target.split_once('?').unwrap_or((&target, ""));
            let mut headers = http::HeaderMap::new();
            if op.sample.copy_source {
                headers.insert("x-amz-copy-source", http::HeaderValue::from_static("/b/s"));
            }
            let query = crate::query::Query::parse(q).unwrap_or_default();
            let route = crate::router::route(&method, path, &query, &headers, None);
            let Ok(route) = route else {
                panic!("{} does not route", op.name)
            };
            for versioned in [false, true] {
                let action = action_of(&route.endpoint, versioned);
                assert!(level_of(action).is_some(), "{}: {action}", op.name);
            }
        }
        assert_eq!(level_of("S3:getobject"), Some(Level::Object));
    }
}
