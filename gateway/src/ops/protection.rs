//! What the data-protection handlers (object tagging, retention, legal
//! hold, object lock configuration) share, and what other handlers may
//! call: the version a request names, the `x-amz-version-id` answer
//! header, and a small XML body read with every check the request declares.
//!
//! Rules, as S3 applies them (S3 API reference: GetObjectTagging,
//! GetObjectRetention, GetObject "versionId"; user guide "Working with
//! delete markers"):
//! - `versionId=` with an empty value is `InvalidArgument` "Version id
//!   cannot be the empty string"; an id Cairn never makes (the MDS answers
//!   EINVAL) is `InvalidArgument` "Invalid version id specified"; both name
//!   the argument in `<ArgumentName>`/`<ArgumentValue>`;
//! - no such version is `NoSuchVersion` when an id was named, else
//!   `NoSuchKey`;
//! - a key whose current version is a delete marker is `NoSuchKey` (404)
//!   with `x-amz-delete-marker: true`; naming a delete marker by its id is
//!   `MethodNotAllowed` (405) with the same header and `<Method>`,
//!   `<ResourceType>DeleteMarker` in the body: a marker has no tags,
//!   retention or legal hold;
//! - `x-amz-version-id` goes on an answer when the version has an id (an
//!   object made before its bucket was ever versioned has none).

use bytes::Bytes;
use cairn_client::ObjectVersion;
use cairn_common::ClusterError;
use http::{HeaderName, HeaderValue, Response};

use super::cluster_error::{to_s3, Missing};
use super::Request;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::MAX_XML_BODY;

/// `x-amz-version-id`.
pub const VERSION_ID_HEADER: &str = "x-amz-version-id";
/// `x-amz-delete-marker`.
pub const DELETE_MARKER_HEADER: &str = "x-amz-delete-marker";

/// The `versionId` query parameter: `None` when absent, an error when
/// present but empty. Its form is checked by the MDS, which is the one
/// place that knows what ids it makes.
pub fn version_id_param(req: &Request) -> S3Result<Option<&str>> {
    match req.query.get("versionId") {
        None => Ok(None),
        Some("") => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Version id cannot be the empty string",
        )
        .extra("ArgumentName", "versionId")
        .extra("ArgumentValue", "")),
        Some(id) => Ok(Some(id)),
    }
}

/// S3's answer to a version id it never made.
pub fn invalid_version_id(id: &str) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidArgument, "Invalid version id specified")
        .extra("ArgumentName", "versionId")
        .extra("ArgumentValue", id)
}

/// The `x-amz-version-id` value of a version: `None` when it has no id.
pub fn version_header(version_id: &str) -> Option<HeaderValue> {
    if version_id.is_empty() {
        return None;
    }
    HeaderValue::from_str(version_id).ok()
}

/// Adds `x-amz-version-id: version_id` to `response` when the id is not
/// empty.
pub fn with_version_header<B>(mut response: Response<B>, version_id: &str) -> Response<B> {
    if let Some(value) = version_header(version_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(VERSION_ID_HEADER), value);
    }
    response
}

/// The id a version shows clients: its node's (empty for an object made
/// outside versioning; the MDS answers `null` there in `version_id`).
pub fn shown_version_id(version: &ObjectVersion) -> &str {
    &version.node.version_id
}

/// `error` with the delete-marker headers of `version`.
fn marker_error(error: S3Error, version: &ObjectVersion) -> S3Error {
    let mut error = error.header(
        HeaderName::from_static(DELETE_MARKER_HEADER),
        HeaderValue::from_static("true"),
    );
    if let Some(value) = version_header(&version.version_id) {
        error = error.header(HeaderName::from_static(VERSION_ID_HEADER), value);
    }
    error
}

/// The object version the request names (`versionId`, else the current
/// one), refused with S3's answers when it is missing, malformed or a
/// delete marker. The version returned is never a delete marker.
pub async fn object_version(req: &Request) -> S3Result<ObjectVersion> {
    let key = req.object_key()?;
    lookup_version(req, &req.bucket, key, version_id_param(req)?).await
}

/// Version `version_id` (else the current one) of `bucket/key`, with the
/// same answers as [`object_version`]; a marker named by id also carries
/// its `Last-Modified`, as S3 sends it.
pub async fn lookup_version(
    req: &Request,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<ObjectVersion> {
    let resource = format!("/{bucket}/{key}");
    let version = req
        .client
        .get_version(bucket, key.as_bytes(), version_id)
        .await
        .map_err(|e| match (e, version_id) {
            (ClusterError::NotFound(m), Some(_)) if !m.starts_with("bucket ") => {
                S3Error::new(ErrorCode::NoSuchVersion).resource(resource.clone())
            }
            (ClusterError::Invalid(_), Some(id)) => {
                invalid_version_id(id).resource(resource.clone())
            }
            (e, _) => to_s3(e, Missing::Key, &resource),
        })?;
    if version.delete_marker {
        let error = if version_id.is_some() {
            let mut e = S3Error::new(ErrorCode::MethodNotAllowed)
                .extra("Method", req.method.as_str().to_string())
                .extra("ResourceType", "DeleteMarker");
            let modified = std::time::UNIX_EPOCH
                + std::time::Duration::from_nanos(
                    u64::try_from(version.node.mtime_ns).unwrap_or(0),
                );
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
                e = e.header(http::header::LAST_MODIFIED, v);
            }
            e
        } else {
            S3Error::new(ErrorCode::NoSuchKey)
        };
        return Err(marker_error(error.resource(resource), &version));
    }
    Ok(version)
}

/// The id to name `version` by in a change, so that the change applies to
/// the version looked up (and answered) even if a newer one arrives in
/// between.
pub fn pinned_id(version: &ObjectVersion) -> &str {
    &version.version_id
}

/// Maps the error of a change to a version named by [`pinned_id`]: it was
/// found a moment ago, so "not found" means it went since.
pub fn change_error(error: ClusterError, req: &Request, named: bool) -> S3Error {
    let resource = req.resource();
    match error {
        ClusterError::NotFound(_) if named => {
            S3Error::new(ErrorCode::NoSuchVersion).resource(resource)
        }
        e => to_s3(e, Missing::Key, &resource),
    }
}

/// A small XML body, at most `MAX_XML_BODY` bytes
/// ([`super::setting::read_document`]).
pub async fn read_xml_body(req: &Request, integrity_required: bool) -> S3Result<Bytes> {
    super::setting::read_document(req, integrity_required, MAX_XML_BODY).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_headers_only_for_ids() {
        assert!(version_header("").is_none());
        assert_eq!(
            version_header("null").as_ref().map(|v| v.as_bytes()),
            Some(&b"null"[..])
        );
        let response = with_version_header(Response::new(()), "00000000000000000007");
        assert_eq!(
            response.headers()[VERSION_ID_HEADER],
            "00000000000000000007"
        );
        let response = with_version_header(Response::new(()), "");
        assert!(response.headers().get(VERSION_ID_HEADER).is_none());
    }

    #[test]
    fn invalid_ids_name_the_argument() {
        let err = invalid_version_id("x");
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.message, "Invalid version id specified");
        assert!(err.extra.contains(&("ArgumentValue", "x".to_string())));
    }
}
