//! CopyObject: `x-amz-copy-source` (same or another bucket; the dispatcher
//! checked that the key may read it), `x-amz-copy-source-if-*`,
//! `x-amz-metadata-directive` COPY/REPLACE.
//!
//! No byte is copied: the destination's layout names the source's chunks
//! (the MDS counts references on chunks, so deleting or overwriting the
//! source later leaves the copy's chunks alive). The copy has the source's
//! ETag, checksums and part sizes, since it has the same bytes.

use axum::body::Body;
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::cluster_error::{to_s3, Missing};
use super::layout::shared_node;
use super::meta::insert_version_id;
use super::meta::{
    etag_of, last_modified, last_modified_iso, meta_of, object_meta_from_headers, stored_checksums,
    PART_HEADERS,
};
use super::protection::lookup_version;
use super::put::put_conditions;
use super::versioning::protection_from_headers;
use super::{quoted_etag, xml, Request};
use crate::conditional::{ConditionSource, Conditions};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::check_key;
use crate::xml::response::{to_xml, CopyObjectResult};
use cairn_client::ObjectProtection;

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded;
/// returns the bucket, the key and the version named, if any.
pub fn parse_copy_source(value: &str) -> S3Result<(String, String, Option<String>)> {
    let invalid = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    };
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let version = match query {
        None => None,
        Some(q) => match q.strip_prefix("versionId=") {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "Invalid version id specified",
                ))
            }
        },
    };
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_string(), key.to_string(), version))
}

/// The source of a copy: bucket, key and the version read, looked up, with
/// its `x-amz-copy-source-if-*` conditions checked.
pub async fn copy_source(req: &Request) -> S3Result<(String, String, cairn_client::Node)> {
    let (src_bucket, src_key, version) =
        parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
    let source = lookup_version(req, &src_bucket, &src_key, version.as_deref())
        .await
        .map(|v| v.node)
        .map_err(|e| {
            // A delete marker cannot be copied: S3 answers 400 there.
            if e.code == ErrorCode::MethodNotAllowed {
                S3Error::with_message(
                    ErrorCode::InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id.",
                )
            } else {
                e
            }
        })?;
    Conditions::from_headers(&req.headers, ConditionSource::CopySource)
        .check(
            &etag_of(&source),
            last_modified(&source),
            ConditionSource::CopySource,
        )
        .map_err(|e| e.resource(format!("/{src_bucket}/{src_key}")))?;
    Ok((src_bucket, src_key, source))
}

/// The protection of a copy: the lock headers of the request, and the
/// source's tags or, with `x-amz-tagging-directive: REPLACE`, the
/// request's `x-amz-tagging`.
fn copy_protection(req: &Request, source: &cairn_client::Node) -> S3Result<ObjectProtection> {
    let mut protection = protection_from_headers(&req.headers)?.unwrap_or_default();
    match req.header("x-amz-tagging-directive") {
        None | Some("COPY") => protection.tags = source.protection.tags.clone(),
        Some("REPLACE") => {}
        Some(_) => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Unknown tagging directive.",
            ))
        }
    }
    Ok(protection)
}

pub async fn copy_object(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    check_key(&key)?;
    let (src_bucket, src_key, source) = copy_source(&req).await?;
    let replace = match req.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Unknown metadata directive.",
            ))
        }
    };
    let changes_encryption = req.headers.contains_key("x-amz-server-side-encryption")
        || req
            .headers
            .contains_key("x-amz-server-side-encryption-customer-algorithm");
    if !replace && !changes_encryption && src_bucket == req.bucket && src_key == key {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let mut meta = if replace {
        object_meta_from_headers(&req.headers)?
    } else {
        crate::ops::meta::check_acl(&req.headers)?;
        meta_of(&source)
    };
    // Same bytes: the same checksums and parts, whatever the metadata.
    for (algorithm, value) in stored_checksums(&source) {
        meta.headers
            .insert(algorithm.header_name().to_string(), value.to_string());
    }
    for name in PART_HEADERS {
        if let Some(value) = source.headers.get(name) {
            meta.headers.insert(name.to_string(), value.clone());
        }
    }
    meta.protection = Some(copy_protection(&req, &source)?);
    let conditions = put_conditions(&req)?;
    let resource = req.resource();
    // Encrypted on either side: through the plaintext, no shared chunk.
    let source_sse = super::sse::of_node(&source)?;
    let source_key = super::sse::key_for_read(&req, source_sse.as_ref(), super::sse::COPY_SOURCE)?;
    let sealing = super::sse::for_write(&req, &req.bucket)
        .await?
        .sealing(&req)?;
    if source_sse.is_some() || sealing.is_some() {
        let opened = source_sse.as_ref().zip(source_key);
        let node = super::sse_copy::copy_through_plaintext(
            &req, &key, &source, opened, sealing, meta, conditions,
        )
        .await?;
        return copied(&node, &source);
    }
    let meta_protection = meta.protection.clone();
    let node = shared_node(
        &source.extents,
        source.size,
        etag_of(&source),
        meta,
        cairn_common::time::now_ns(),
    );
    let node = req
        .client
        .put_key_with(
            &req.bucket,
            key.as_bytes(),
            &node,
            conditions,
            meta_protection.as_ref(),
        )
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    copied(&node, &source)
}

/// CopyObject's answer about the new object `node`, copied from `source`.
fn copied(node: &cairn_client::Node, source: &cairn_client::Node) -> S3Result<Response<Body>> {
    let mut response = xml(to_xml(&CopyObjectResult {
        xmlns: (),
        last_modified: last_modified_iso(node),
        etag: quoted_etag(&etag_of(node)),
    })?);
    if let Some(sse) = super::sse::of_node(node)? {
        super::sse::insert_response_headers(response.headers_mut(), &sse);
    }
    *response.status_mut() = StatusCode::OK;
    insert_version_id(response.headers_mut(), &node.version_id);
    if !source.version_id.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(&source.version_id) {
            response
                .headers_mut()
                .insert("x-amz-copy-source-version-id", v);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/a%20b/c").unwrap(),
            ("b".into(), "a b/c".into(), None)
        );
        assert_eq!(
            parse_copy_source("b/k?versionId=null").unwrap(),
            ("b".into(), "k".into(), Some("null".into()))
        );
        for bad in ["b", "/b/", "b/%ff"] {
            crate::error::assert_refused(
                parse_copy_source(bad),
                ErrorCode::InvalidArgument,
                "must mention the source bucket and key",
            );
        }
        assert_eq!(
            parse_copy_source("b/k?versionId=").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }
}
