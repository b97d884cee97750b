//! CopyObject: `x-amz-copy-source` (same or another bucket, the key may
//! read it), `x-amz-copy-source-if-*`, `x-amz-metadata-directive`
//! COPY/REPLACE.
//!
//! The bytes are streamed from the source into new chunks: sharing the
//! source's chunks would need reference counts on chunks in the MDS, which
//! it does not keep yet (a delete of the source would free them).

use axum::body::Body;
use cairn_client::PutConditions;
use futures::StreamExt;
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::fs_error::{to_s3, Missing};
use super::get::head_node;
use super::meta::{etag_of, last_modified, last_modified_iso, meta_of, object_meta_from_headers};
use super::{quoted_etag, xml, Request};
use crate::conditional::{ConditionSource, Conditions};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::check_key;
use crate::xml::response::{to_xml, CopyObjectResult};

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded.
pub fn parse_copy_source(value: &str) -> S3Result<(String, String)> {
    let invalid = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    };
    let (path, version) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    if let Some(q) = version {
        if q.strip_prefix("versionId=").is_some_and(|v| v != "null") {
            return Err(S3Error::with_message(
                ErrorCode::NotImplemented,
                "Object versions are not implemented.",
            ));
        }
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// Checks that the key may read the source bucket.
pub async fn check_source_access(req: &Request, bucket: &str) -> S3Result<()> {
    let key = req
        .access_key
        .as_ref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    let source = req
        .client
        .get_bucket(bucket)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &format!("/{bucket}")))?;
    if source.owner.is_empty() || source.owner == key.id || key.permission(bucket).read {
        Ok(())
    } else {
        Err(S3Error::new(ErrorCode::AccessDenied).resource(format!("/{bucket}")))
    }
}

pub async fn copy_object(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    check_key(&key)?;
    let (src_bucket, src_key) = parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
    check_source_access(&req, &src_bucket).await?;
    let source = head_node(&req, &src_bucket, &src_key).await?;
    Conditions::from_headers(&req.headers, ConditionSource::CopySource).check(
        &etag_of(&source),
        last_modified(&source),
        ConditionSource::CopySource,
    )?;
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
    if !replace && src_bucket == req.bucket && src_key == key {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let meta = if replace {
        object_meta_from_headers(&req.headers)?
    } else {
        crate::ops::meta::check_acl(&req.headers)?;
        meta_of(&source)
    };
    let resource = req.resource();
    let target = req
        .client
        .get_bucket(&req.bucket)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let mut writer = req.client.writer(target.ino);
    let mut data = std::pin::pin!(req.client.read(&source, 0, source.size));
    while let Some(piece) = data.next().await {
        let piece = piece.map_err(|e| to_s3(e, Missing::Key, &resource))?;
        writer
            .write(piece)
            .await
            .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    }
    let written = writer
        .finish()
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let node = req
        .client
        .commit_object(
            &req.bucket,
            key.as_bytes(),
            &written,
            meta,
            PutConditions::default(),
        )
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let mut response = xml(to_xml(&CopyObjectResult {
        xmlns: (),
        last_modified: last_modified_iso(&node),
        etag: quoted_etag(&node.etag),
    })?);
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/a%20b/c").unwrap(),
            ("b".into(), "a b/c".into())
        );
        assert_eq!(
            parse_copy_source("b/k?versionId=null").unwrap(),
            ("b".into(), "k".into())
        );
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("/b/").is_err());
        assert!(parse_copy_source("b/%ff").is_err());
        assert_eq!(
            parse_copy_source("b/k?versionId=3").unwrap_err().code,
            ErrorCode::NotImplemented
        );
    }
}
