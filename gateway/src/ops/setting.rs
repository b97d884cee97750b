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
use crate::error::{ErrorCode, S3Error, S3Result};

/// Whether the request carries an integrity check of its body:
/// `Content-MD5`, an `x-amz-checksum-*` value, or a trailing checksum
/// (`x-amz-trailer`). An `x-amz-sdk-checksum-algorithm` alone carries no
/// value, and S3 refuses it alone ("there must be a corresponding
/// x-amz-checksum-algorithm or x-amz-trailer header").
pub fn has_integrity_header(headers: &http::HeaderMap) -> bool {
    headers.contains_key("content-md5")
        || headers.contains_key("x-amz-trailer")
        || crate::checksum::ChecksumAlgorithm::ALL
            .iter()
            .any(|a| headers.contains_key(a.header_name()))
}

/// The request's small body (an XML or JSON document), at most `max`
/// bytes, through the gateway's one verifying body (`body::incoming`:
/// aws-chunked, length, Content-MD5, signed SHA-256, flexible checksums).
/// With `integrity_required` (S3's PutBucketLifecycleConfiguration,
/// PutBucketCors, PutObjectLockConfiguration, ...), a request without any
/// integrity header is `InvalidRequest`.
pub async fn read_document(req: &Request, integrity_required: bool, max: usize) -> S3Result<Bytes> {
    if integrity_required && !has_integrity_header(&req.headers) {
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

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn integrity_headers() {
        let mut headers = HeaderMap::new();
        assert!(!has_integrity_header(&headers));
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            HeaderValue::from_static("CRC32"),
        );
        assert!(!has_integrity_header(&headers), "an algorithm alone");
        headers.insert("x-amz-checksum-crc32", HeaderValue::from_static("AAAAAA=="));
        assert!(has_integrity_header(&headers));
        let mut md5 = HeaderMap::new();
        md5.insert("content-md5", HeaderValue::from_static("x"));
        assert!(has_integrity_header(&md5));
        let mut trailer = HeaderMap::new();
        trailer.insert(
            "x-amz-trailer",
            HeaderValue::from_static("x-amz-checksum-crc32"),
        );
        assert!(has_integrity_header(&trailer));
    }
}
