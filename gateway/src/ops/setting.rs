//! What every door-owned bucket configuration (lifecycle, CORS, policy,
//! tagging, ownership, public access block) does alike: its document comes
//! in with an integrity check S3 requires, and DELETE removes the setting,
//! answering 204 also when there was none.

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::{Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::{empty, Request};
use crate::body::{incoming, read_bounded};
use crate::checksum::Expected;
use crate::error::{ErrorCode, S3Error, S3Result};

/// Whether the request declares an integrity check of its body: S3 refuses
/// PutBucketLifecycleConfiguration and PutBucketCors without one.
fn declares_integrity(req: &Request, expected: &Expected) -> bool {
    expected.md5.is_some()
        || expected.flexible.is_some()
        || req
            .header("x-amz-trailer")
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("x-amz-checksum-"))
}

/// The request's body, at most `max` bytes, checked against the
/// `Content-MD5` or flexible checksum it must carry.
pub async fn read_checked_document(req: &Request, max: usize) -> S3Result<Bytes> {
    let expected = Expected::from_headers(&req.headers)?;
    if !declares_integrity(req, &expected) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5",
        )
        .resource(req.resource()));
    }
    let checked = incoming(req.take_body(), &req.headers, &req.payload, max as u64)?;
    read_bounded(checked.stream.boxed(), max).await
}

/// Removes the bucket setting `name`: 204, also when there was none.
pub async fn delete(req: &Request, name: &str) -> S3Result<Response<Body>> {
    req.client
        .set_bucket_setting(&req.bucket, name, None)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    Ok(empty(StatusCode::NO_CONTENT))
}
