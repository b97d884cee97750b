//! Object metadata between HTTP headers and the stored node: what a PUT
//! stores (`x-amz-meta-*`, Content-Type and the stored headers, checksums)
//! and what GET/HEAD answer with.

use std::collections::BTreeMap;

use cairn_client::{Node, ObjectMeta};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::checksum::{Checksum, ChecksumAlgorithm};
use crate::checksum_type::ChecksumType;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits;
use crate::signature::time::format_iso8601_ns;
use crate::xml::lock::{lock_response_headers, LegalHoldStatus, RetentionMode};

/// Headers stored with an object and answered as they were given.
pub const STORED_HEADERS: &[&str] = &[
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-website-redirect-location",
];

/// Stored header (in `Node::headers`) holding the sizes of a multipart
/// object's parts, comma-separated, for `partNumber` reads.
pub const PART_SIZES_HEADER: &str = "x-cairn-part-sizes";

/// Stored header holding a multipart object's part checksums (base64,
/// comma-separated in part order), for GetObjectAttributes.
pub const PART_CHECKSUMS_HEADER: &str = "x-cairn-part-checksums";

/// Stored header naming the multipart upload an object was completed
/// from: a completion repeated with the same parts is answered again.
pub const COMPLETED_UPLOAD_HEADER: &str = "x-cairn-upload-id";

/// Stored headers that describe the parts of the bytes: a copy of the
/// bytes keeps them, whatever its metadata directive.
pub const PART_HEADERS: [&str; 2] = [PART_SIZES_HEADER, PART_CHECKSUMS_HEADER];

pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

fn text(value: &HeaderValue) -> String {
    match value.to_str() {
        Ok(v) => v.to_string(),
        Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// Reads the metadata of an upload from its headers, checking the 2 KiB
/// user-metadata limit and the canned ACL.
pub fn object_meta_from_headers(headers: &HeaderMap) -> S3Result<ObjectMeta> {
    check_acl(headers)?;
    let mut meta = ObjectMeta {
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .map(text)
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        ..ObjectMeta::default()
    };
    for (name, value) in headers {
        if let Some(user) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = text(value);
            meta.user_meta
                .entry(user.to_string())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value)
                })
                .or_insert(value);
        }
    }
    limits::check_user_metadata(meta.user_meta.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    for name in STORED_HEADERS {
        if let Some(value) = headers.get(*name) {
            let mut value = text(value);
            if *name == "content-encoding" {
                // aws-chunked is a transfer detail, not the object's encoding.
                value = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.eq_ignore_ascii_case("aws-chunked") && !v.is_empty())
                    .collect::<Vec<_>>()
                    .join(",");
                if value.is_empty() {
                    continue;
                }
            }
            meta.headers.insert(name.to_string(), value);
        }
    }
    Ok(meta)
}

/// A canned ACL is accepted when it asks for nothing beyond the default
/// (owner has all); grants and public ACLs are not implemented yet.
pub fn check_acl(headers: &HeaderMap) -> S3Result<()> {
    if let Some(acl) = headers.get("x-amz-acl") {
        let acl = acl.to_str().unwrap_or("");
        if !matches!(
            acl,
            "private" | "bucket-owner-full-control" | "bucket-owner-read"
        ) {
            return Err(S3Error::with_message(
                ErrorCode::NotImplemented,
                format!("The canned ACL {acl} is not implemented; only private is."),
            ));
        }
    }
    if headers
        .keys()
        .any(|n| n.as_str().starts_with("x-amz-grant-"))
    {
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "ACL grants are not implemented.",
        ));
    }
    Ok(())
}

/// Stores a checksum with the object.
pub fn store_checksum(meta: &mut ObjectMeta, checksum: &Checksum) {
    meta.headers.insert(
        checksum.algorithm.header_name().to_string(),
        checksum.to_base64(),
    );
}

/// The stored checksums of a node.
pub fn stored_checksums(node: &Node) -> Vec<(ChecksumAlgorithm, &str)> {
    ChecksumAlgorithm::ALL
        .into_iter()
        .filter_map(|a| node.headers.get(a.header_name()).map(|v| (a, v.as_str())))
        .collect()
}

/// The object's ETag (hex, without quotes); an empty node ETag (a directory
/// marker or an object never hashed) reads as the MD5 of nothing.
pub fn etag_of(node: &Node) -> String {
    if node.etag.is_empty() && node.size == 0 {
        "d41d8cd98f00b204e9800998ecf8427e".to_string()
    } else {
        node.etag.clone()
    }
}

pub fn last_modified(node: &Node) -> std::time::SystemTime {
    let ns = u64::try_from(node.mtime_ns).unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns)
}

pub fn last_modified_iso(node: &Node) -> String {
    format_iso8601_ns(node.mtime_ns)
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}

/// The headers of a GET/HEAD answer (not Content-Length/Range).
pub fn object_headers(node: &Node, with_checksums: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    insert(&mut headers, "etag", &format!("\"{}\"", etag_of(node)));
    insert(
        &mut headers,
        "last-modified",
        &httpdate::fmt_http_date(last_modified(node)),
    );
    let content_type = if node.content_type.is_empty() {
        DEFAULT_CONTENT_TYPE
    } else {
        &node.content_type
    };
    insert(&mut headers, "content-type", content_type);
    insert(&mut headers, "accept-ranges", "bytes");
    for (name, value) in &node.user_meta {
        insert(&mut headers, &format!("x-amz-meta-{name}"), value);
    }
    for name in STORED_HEADERS {
        if let Some(value) = node.headers.get(*name) {
            insert(&mut headers, name, value);
        }
    }
    if with_checksums {
        for (algorithm, value) in stored_checksums(node) {
            insert(&mut headers, algorithm.header_name(), value);
            insert(
                &mut headers,
                "x-amz-checksum-type",
                ChecksumType::of_value(value).as_str(),
            );
        }
    }
    if let Some(parts) = part_sizes(node) {
        insert(
            &mut headers,
            "x-amz-mp-parts-count",
            &parts.len().to_string(),
        );
    }
    version_headers(&mut headers, node);
    headers
}

/// The part sizes of a multipart object, if it is one.
pub fn part_sizes(node: &Node) -> Option<Vec<u64>> {
    let text = node.headers.get(PART_SIZES_HEADER)?;
    text.split(',').map(|s| s.parse().ok()).collect()
}

/// The part checksums of a multipart object, when every part has one.
/// They are of the algorithm of the object's stored checksum and stand
/// only while it does: a change through the mount drops that checksum
/// (cairn-meta `forget_content_checksums`), and readers look for it first.
pub fn part_checksums(node: &Node) -> Option<Vec<&str>> {
    let text = node.headers.get(PART_CHECKSUMS_HEADER)?;
    Some(text.split(',').collect())
}

/// `response-content-type` and friends: GET answers may override headers.
pub fn apply_response_overrides(headers: &mut HeaderMap, query: &crate::query::Query) {
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(value) = query.get(param) {
            insert(headers, header, value);
        }
    }
}

/// User metadata as a map, for copies with `x-amz-metadata-directive: COPY`.
pub fn meta_of(node: &Node) -> ObjectMeta {
    ObjectMeta {
        content_type: node.content_type.clone(),
        user_meta: node.user_meta.clone(),
        headers: node
            .headers
            .iter()
            .filter(|(k, _)| {
                !PART_HEADERS.contains(&k.as_str()) && k.as_str() != COMPLETED_UPLOAD_HEADER
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        protection: None,
    }
}

/// `x-amz-version-id` of an object answer (none outside versioning).
pub fn insert_version_id(headers: &mut HeaderMap, version_id: &str) {
    if let Some(value) = super::protection::version_header(version_id) {
        headers.insert(super::protection::VERSION_ID_HEADER, value);
    }
}

/// The version and protection headers of a GET or HEAD answer: version
/// id, tag count, object lock mode, date and legal hold.
pub fn version_headers(headers: &mut HeaderMap, node: &Node) {
    insert_version_id(headers, &node.version_id);
    let p = &node.protection;
    if !p.tags.is_empty() {
        insert(headers, "x-amz-tagging-count", &p.tags.len().to_string());
    }
    let retention = p.retention.map(|r| crate::xml::lock::Retention {
        mode: match r.mode {
            cairn_client::LockMode::Governance => RetentionMode::Governance,
            cairn_client::LockMode::Compliance => RetentionMode::Compliance,
        },
        retain_until_ns: r.until_ns,
    });
    let hold = p.legal_hold.then_some(LegalHoldStatus::On);
    for (name, value) in lock_response_headers(retention.as_ref(), hold) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metadata_and_limits_it() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        headers.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        headers.insert("cache-control", HeaderValue::from_static("no-cache"));
        headers.insert("x-amz-acl", HeaderValue::from_static("private"));
        let meta = object_meta_from_headers(&headers).unwrap();
        assert_eq!(meta.content_type, "text/plain");
        assert_eq!(meta.user_meta["color"], "blue");
        assert_eq!(meta.headers["content-encoding"], "gzip");
        assert_eq!(meta.headers["cache-control"], "no-cache");

        headers.insert(
            "x-amz-meta-big",
            HeaderValue::from_str(&"x".repeat(3000)).unwrap(),
        );
        assert_eq!(
            object_meta_from_headers(&headers).unwrap_err().code,
            ErrorCode::MetadataTooLarge
        );
        let mut public = HeaderMap::new();
        public.insert("x-amz-acl", HeaderValue::from_static("public-read"));
        assert_eq!(
            object_meta_from_headers(&public).unwrap_err().code,
            ErrorCode::NotImplemented
        );
        let mut chunked_only = HeaderMap::new();
        chunked_only.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
        assert!(!object_meta_from_headers(&chunked_only)
            .unwrap()
            .headers
            .contains_key("content-encoding"));
    }
}
