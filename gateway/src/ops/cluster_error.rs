//! Cluster errors (`ClusterError`, which carry an errno) as the S3 errors
//! a client expects. Which "not found" it is depends on what was asked, so
//! the caller says.

use cairn_common::ClusterError;

use crate::error::{ErrorCode, S3Error};

/// What a `NotFound` means for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Bucket,
    Key,
    /// A multipart upload (`NoSuchUpload`).
    Upload,
}

pub fn to_s3(error: ClusterError, missing: Missing, resource: &str) -> S3Error {
    let (code, message) = match &error {
        ClusterError::NotFound(_) => match missing {
            Missing::Bucket => (ErrorCode::NoSuchBucket, None),
            Missing::Key => (ErrorCode::NoSuchKey, None),
            Missing::Upload => (ErrorCode::NoSuchUpload, None),
        },
        ClusterError::Exists(_) => (ErrorCode::BucketAlreadyExists, None),
        ClusterError::NotEmpty(_) => (ErrorCode::BucketNotEmpty, None),
        ClusterError::PreconditionFailed(_) => (ErrorCode::PreconditionFailed, None),
        ClusterError::NameTooLong(_) => (ErrorCode::KeyTooLongError, None),
        ClusterError::Invalid(m)
        | ClusterError::NotDir(m)
        | ClusterError::IsDir(m)
        | ClusterError::CrossDevice(m) => (ErrorCode::InvalidRequest, Some(m.clone())),
        ClusterError::PermissionDenied(_) | ClusterError::NotPermitted(_) => {
            (ErrorCode::AccessDenied, None)
        }
        ClusterError::NotSupported(m) => (ErrorCode::MethodNotAllowed, Some(m.clone())),
        ClusterError::Conflict(m) => (ErrorCode::InvalidBucketState, Some(m.clone())),
        ClusterError::NoSpace(_) => (
            ErrorCode::ServiceUnavailable,
            Some("The cluster has no space left for this object.".to_string()),
        ),
        // Too few hosts reachable to place the data, or no MDS leader: not
        // full, and worth a retry (the reason is logged, not sent).
        ClusterError::Unavailable(_) => (
            ErrorCode::ServiceUnavailable,
            Some(
                "The cluster cannot take this request now (too few hosts or no metadata \
                 leader reachable); retry later."
                    .to_string(),
            ),
        ),
        // Lock errors are the mount's; S3 never takes a byte-range lock.
        ClusterError::TooManyLinks(_)
        | ClusterError::Io(_)
        | ClusterError::WouldBlock(_)
        | ClusterError::Deadlock(_)
        | ClusterError::Interrupted(_) => (ErrorCode::InternalError, None),
    };
    if matches!(
        code,
        ErrorCode::InternalError | ErrorCode::ServiceUnavailable
    ) {
        tracing::warn!(error = %error, resource, "cluster call failed");
    }
    let error = match message {
        Some(m) => S3Error::with_message(code, m),
        None => S3Error::new(code),
    };
    error.resource(resource.to_string())
}
