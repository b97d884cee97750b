//! GetObject and HeadObject: conditional requests, ranges, `partNumber`,
//! stored headers, checksums with `x-amz-checksum-mode: ENABLED`; the body
//! streams from the cluster.

use axum::body::Body;
use cairn_client::Node;
use futures::TryStreamExt;
use http::{HeaderValue, Method, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::meta::{
    apply_response_overrides, etag_of, last_modified, object_headers, part_checksums, part_sizes,
    stored_checksums,
};
use super::Request;
use crate::conditional::{ConditionSource, Conditions};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::range::{parse_range, ByteRange};

/// Looks an object up, `NoSuchKey` when absent.
pub async fn head_node(req: &Request, bucket: &str, key: &str) -> S3Result<Node> {
    req.client
        .head_object(bucket, key.as_bytes())
        .await
        .map_err(|e| to_s3(e, Missing::Key, &format!("/{bucket}/{key}")))
}

/// The checksum of part `part` (1-based) of a multipart object: the
/// header that carries it, and its value.
fn part_checksum(node: &Node, part: u32) -> Option<(&'static str, &str)> {
    let (algorithm, _) = stored_checksums(node).into_iter().next()?;
    let values = part_checksums(node)?;
    let value = *values.get(usize::try_from(part).ok()?.checked_sub(1)?)?;
    Some((algorithm.header_name(), value))
}

/// Bytes of part `part` (1-based) of an object.
fn part_range(node: &Node, part: u32) -> S3Result<ByteRange> {
    let invalid = || S3Error::new(ErrorCode::InvalidPartNumber);
    match part_sizes(node) {
        Some(sizes) => {
            let index = usize::try_from(part.saturating_sub(1)).map_err(|_| invalid())?;
            let start: u64 = sizes.iter().take(index).sum();
            let size = *sizes.get(index).ok_or_else(invalid)?;
            Ok(ByteRange {
                start,
                end: start + size,
            })
        }
        None if part == 1 => Ok(ByteRange {
            start: 0,
            end: node.size,
        }),
        None => Err(invalid()),
    }
}

pub async fn get_object(req: Request, part_number: Option<u32>) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let version_id = super::protection::version_id_param(&req)?;
    let found = super::protection::lookup_version(&req, &req.bucket, &key, version_id).await?;
    let latest = found.latest;
    let stored = found.node;
    // An encrypted object is answered by its plaintext: its size and
    // ranges are the plaintext's, the key checked before anything else.
    let sse = super::sse::of_node(&stored)?;
    let data_key = super::sse::key_for_read(&req, sse.as_ref(), super::sse::OWN)
        .map_err(|e| e.resource(req.resource()))?;
    let mut node = stored.clone();
    if let Some(sse) = &sse {
        node.size = sse.plain_size;
    }
    let etag = etag_of(&node);
    let conditions = Conditions::from_headers(&req.headers, ConditionSource::Object);
    if let Err(e) = conditions.check(&etag, last_modified(&node), ConditionSource::Object) {
        let mut e = e;
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            e = e.header(http::header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified(&node))) {
            e = e.header(http::header::LAST_MODIFIED, v);
        }
        return Err(e.resource(req.resource()));
    }

    let range = match (part_number, req.header("range")) {
        (Some(_), Some(_)) => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            ))
        }
        (Some(part), None) => Some(part_range(&node, part)?),
        (None, Some(range)) => match parse_range(range) {
            Some(spec) => Some(
                spec.resolve(node.size)
                    .map_err(|e| e.resource(req.resource()))?,
            ),
            None => None,
        },
        (None, None) => None,
    };
    let checksum_mode = req
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"));
    let mut headers = object_headers(&node, checksum_mode && range.is_none());
    if let Some(sse) = &sse {
        super::sse::insert_response_headers(&mut headers, sse);
    }
    // A part of a multipart object is answered with that part's checksum,
    // which covers exactly the bytes sent.
    if let (true, Some(part)) = (checksum_mode, part_number) {
        if let Some((name, value)) = part_checksum(&node, part) {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
    if req.method == Method::GET {
        apply_response_overrides(&mut headers, &req.query);
    }
    let (status, start, len) = match range {
        Some(r) if part_number.is_none() || r.len() != node.size => {
            if let Ok(v) = HeaderValue::from_str(&r.content_range(node.size)) {
                headers.insert(http::header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, r.start, r.len())
        }
        _ => (StatusCode::OK, 0, node.size),
    };
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    if latest {
        super::lifecycle::insert_expiration(&mut headers, &req, &key, &node).await;
    }

    let body = if req.method == Method::HEAD || len == 0 {
        Body::empty()
    } else if let (Some(sse), Some(data_key)) = (&sse, data_key) {
        let stream = req
            .client
            .read_decrypted(&stored, sse, data_key, start, len)
            .map_err(|e| std::io::Error::other(e.to_string()));
        Body::from_stream(stream)
    } else {
        let stream = req
            .client
            .read(&node, start, len)
            .map_err(|e| std::io::Error::other(e.to_string()));
        Body::from_stream(stream)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
