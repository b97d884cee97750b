//! PutObject: the body streams through the checks (`body::incoming`) into
//! new chunks; the object appears atomically (one MDS commit) only when the
//! stream ended cleanly, with its checksum in the same commit.
//! `If-None-Match: *` and `If-Match` make it a conditional write.

use axum::body::Body;
use cairn_client::{Node, ObjectMeta, PutConditions, WrittenData};
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::meta::{object_meta_from_headers, store_checksum};
use super::{empty, quoted_etag, Request};
use crate::body::{incoming, BodyStream, ErrorSlot};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{check_key, MAX_PUT_SIZE};
use crate::signature::PayloadCheck;

/// The write conditions of a PUT or CompleteMultipartUpload.
pub fn put_conditions(req: &Request) -> S3Result<PutConditions> {
    let if_none_match = req.header("if-none-match").map(str::to_string);
    if let Some(v) = &if_none_match {
        if v.trim() != "*" {
            return Err(S3Error::with_message(
                ErrorCode::NotImplemented,
                "If-None-Match on a write only supports *",
            ));
        }
    }
    Ok(PutConditions {
        if_match: req
            .header("if-match")
            .map(|v| crate::conditional::normalize_etag(v).to_string()),
        if_none_match: if_none_match.map(|v| v.trim().to_string()),
    })
}

/// Writes `stream` into new chunks for `bucket/key` (nothing visible
/// yet) through the client's one PUT path; a body error is answered as the
/// precise S3 error in `errors`.
pub async fn write_stream<S>(
    req: &Request,
    bucket: &str,
    key: &str,
    stream: S,
    errors: &ErrorSlot,
    conditions: &PutConditions,
) -> S3Result<WrittenData>
where
    S: futures::Stream<Item = Result<bytes::Bytes, S3Error>> + Unpin,
{
    let resource = format!("/{bucket}/{key}");
    let target = match req.target.as_ref().filter(|t| t.name == bucket) {
        Some(target) => target.clone(),
        None => req
            .client
            .get_bucket(bucket)
            .await
            .map_err(|e| to_s3(e, Missing::Bucket, &resource))?,
    };
    let body = stream.map(|piece| piece.map_err(|e| e.resource(resource.clone())));
    req.client
        .write_object(&target, key.as_bytes(), body, conditions, |e| {
            errors
                .take()
                .unwrap_or_else(|| to_s3(e, Missing::Bucket, &resource))
        })
        .await
}

/// An upload body received into new chunks (not visible yet), with its
/// verified flexible checksum when the client announced one.
pub struct Received {
    pub written: WrittenData,
    pub checksum: Option<crate::checksum::Checksum>,
    /// A sealed body's plaintext size and hex MD5 (`written` is what was
    /// stored).
    pub plain: Option<(u64, String)>,
}

/// Streams `body` into new chunks for `bucket/key` with every check that
/// `headers` and `payload` ask for; nothing is visible yet.
#[allow(clippy::too_many_arguments)]
pub async fn receive(
    req: &Request,
    bucket: &str,
    key: &str,
    body: BodyStream,
    headers: &http::HeaderMap,
    payload: &PayloadCheck,
    conditions: &PutConditions,
    sealing: Option<cairn_client::sse::DataKey>,
) -> S3Result<Received> {
    let resource = format!("/{bucket}/{key}");
    // HTTP's own chunked encoding (not aws-chunked) carries a body of
    // unknown length, which streams in like any other.
    let http_chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if headers.get("content-length").is_none()
        && headers.get("x-amz-decoded-content-length").is_none()
        && !http_chunked
        && !matches!(payload, PayloadCheck::Chunked { .. })
    {
        return Err(S3Error::new(ErrorCode::MissingContentLength).resource(resource));
    }
    let incoming = incoming(body, headers, payload, MAX_PUT_SIZE)?;
    let errors = incoming.errors.clone();
    let computed = incoming.computed.clone();
    let trailer = incoming.trailer.clone();
    let announced = crate::checksum::Expected::from_headers(headers)?
        .flexible_algorithm()
        .is_some()
        || headers.contains_key("x-amz-trailer");
    let digest = cairn_client::sse::SealedDigest::default();
    let stream: BodyStream = match sealing {
        Some(key) => Box::pin(cairn_client::sse::seal_stream(
            incoming.stream,
            key,
            0,
            digest.clone(),
        )),
        None => Box::pin(incoming.stream),
    };
    let written = write_stream(req, bucket, key, stream, &errors, conditions).await?;
    // The flexible checksum: from the trailer, or computed over the body.
    let checksum = trailer
        .take()
        .or_else(|| computed.take().and_then(|c| c.flexible))
        .filter(|_| announced);
    Ok(Received {
        written,
        checksum,
        plain: digest.get(),
    })
}

/// Streams `body` into `bucket/key` with every check; returns the node.
/// The checksum is stored with the object in the same commit.
#[allow(clippy::too_many_arguments)]
pub async fn store(
    req: &Request,
    bucket: &str,
    key: &str,
    body: BodyStream,
    payload: &PayloadCheck,
    mut meta: ObjectMeta,
    conditions: PutConditions,
    sealing: Option<super::sse::Sealing>,
) -> S3Result<(Node, Option<crate::checksum::Checksum>)> {
    let resource = format!("/{bucket}/{key}");
    let (object, data_key) = match sealing {
        Some(s) => (Some(s.object), Some(s.key)),
        None => (None, None),
    };
    let Received {
        mut written,
        checksum,
        plain,
    } = receive(
        req,
        bucket,
        key,
        body,
        &req.headers,
        payload,
        &conditions,
        data_key,
    )
    .await?;
    if let Some(mut object) = object {
        let (size, md5_hex) = plain.ok_or_else(|| S3Error::new(ErrorCode::InternalError))?;
        object.plain_size = size;
        object.to_headers(&mut meta.headers);
        // SSE-S3's ETag is the plaintext's MD5, as S3's; SSE-C's is the MD5
        // of the stored bytes, which says nothing of the plaintext.
        if object.mode == cairn_client::sse::SseMode::S3 {
            written.md5_hex = md5_hex;
        }
    }
    if let Some(checksum) = &checksum {
        store_checksum(&mut meta, checksum);
    }
    let node = req
        .client
        .commit_object(bucket, key.as_bytes(), &written, meta, conditions)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok((node, checksum))
}

pub async fn put_object(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    check_key(&key)?;
    let mut meta = object_meta_from_headers(&req.headers)?;
    meta.protection = super::versioning::protection_from_headers(&req.headers)?;
    let conditions = put_conditions(&req)?;
    let bucket = req.bucket.clone();
    let sealing = super::sse::for_write(&req, &bucket).await?.sealing(&req)?;
    let body = req.take_body();
    let payload = req.payload.clone();
    let (node, checksum) = store(
        &req, &bucket, &key, body, &payload, meta, conditions, sealing,
    )
    .await?;
    let mut response = empty(StatusCode::OK);
    if let Some(sse) = super::sse::of_node(&node)? {
        super::sse::insert_response_headers(response.headers_mut(), &sse);
    }
    if let Ok(v) = HeaderValue::from_str(&quoted_etag(&node.etag)) {
        response.headers_mut().insert(http::header::ETAG, v);
    }
    if let Some(c) = checksum {
        if let Ok(v) = HeaderValue::from_str(&c.to_base64()) {
            response.headers_mut().insert(c.algorithm.header_name(), v);
        }
    }
    super::meta::insert_version_id(response.headers_mut(), &node.version_id);
    super::lifecycle::insert_expiration(response.headers_mut(), &req, &key, &node).await;
    Ok(response)
}
