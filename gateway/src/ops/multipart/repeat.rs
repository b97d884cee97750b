//! A CompleteMultipartUpload repeated after the upload completed: S3
//! answers it again (200, the same ETag) while it still knows the upload,
//! so a client whose first answer was lost can retry. The gateway knows
//! it as long as the key's current object is the one that upload made
//! (its node names the upload) and the parts listed make its ETag;
//! otherwise the answer is `NoSuchUpload`.

use axum::body::Body;
use http::Response;

use super::super::meta::{stored_checksums, COMPLETED_UPLOAD_HEADER};
use super::{bare_etag, completion_answer, multipart_etag, Request};
use crate::error::{S3Error, S3Result};
use crate::xml::request::CompletedPart;

/// Answers a repeated completion as the first one was answered, or
/// `missing` when the key's object is not what this upload made with
/// these parts.
pub async fn answer_again(
    req: &Request,
    upload_id: &str,
    listed: &[CompletedPart],
    missing: S3Error,
) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let Ok(node) = req.client.head_object(&req.bucket, key.as_bytes()).await else {
        return Err(missing);
    };
    if node
        .headers
        .get(COMPLETED_UPLOAD_HEADER)
        .map(String::as_str)
        != Some(upload_id)
    {
        return Err(missing);
    }
    let etag = multipart_etag(listed.iter().map(|p| bare_etag(&p.etag)));
    if etag != node.etag {
        return Err(missing);
    }
    tracing::debug!(bucket = %req.bucket, %upload_id, "completion repeated: answered again");
    let checksum = stored_checksums(&node)
        .into_iter()
        .next()
        .map(|(a, v)| (a, v.to_string()));
    completion_answer(req, &key, &etag, checksum.as_ref(), &node.version_id)
}
