//! Object and bucket tagging (S3 API reference: GetObjectTagging,
//! PutObjectTagging, DeleteObjectTagging, GetBucketTagging,
//! PutBucketTagging, DeleteBucketTagging).
//!
//! Rules:
//! - an object's tags belong to one version: `versionId` names it, else the
//!   current one. The version is looked up first and the change names it
//!   by id, so the tags land on the version the answer's
//!   `x-amz-version-id` names even when a newer version arrives meanwhile.
//!   Missing, malformed and delete-marker versions get S3's answers
//!   (`ops::protection`);
//! - a PUT replaces the whole tag set; a DELETE empties it (204); the tag
//!   rules (at most 10 per object, 50 per bucket: `BadRequest`; a bad key or
//!   value: `InvalidTag`; a malformed document: `MalformedXML`) are
//!   `xml::tagging`'s;
//! - a bucket's tags are the bucket setting `tagging`, holding the
//!   `Tagging` document as `TagSet::to_xml` writes it (opaque to the MDS).
//!   GetBucketTagging of a bucket without tags is `NoSuchTagSet` (404). A
//!   PUT of an empty `TagSet` removes the setting, so a GET then answers
//!   `NoSuchTagSet`, as S3 does.

use axum::body::Body;
use cairn_client::ProtectionChange;
use http::{Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::protection::{
    change_error, object_version, pinned_id, read_xml_body, shown_version_id, with_version_header,
};
use super::{empty, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::tagging::{TagSet, TagTarget};

/// The bucket setting that holds a bucket's tags.
pub const BUCKET_TAGGING_SETTING: &str = "tagging";

/// A bucket's tag set, `None` when it has none.
pub async fn bucket_tags(req: &Request) -> S3Result<Option<TagSet>> {
    let stored = req
        .client
        .bucket_setting(&req.bucket, BUCKET_TAGGING_SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    TagSet::parse(&stored, TagTarget::Bucket)
        .map(Some)
        .map_err(|e| {
            tracing::warn!(bucket = %req.bucket, error = %e, "stored bucket tags do not parse");
            S3Error::new(ErrorCode::InternalError)
        })
}

pub async fn get_bucket_tagging(req: Request) -> S3Result<Response<Body>> {
    match bucket_tags(&req).await? {
        Some(tags) if !tags.is_empty() => Ok(xml(tags.to_xml())),
        _ => Err(S3Error::new(ErrorCode::NoSuchTagSet).resource(req.resource())),
    }
}

pub async fn put_bucket_tagging(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, false).await?;
    let tags = TagSet::parse(&body, TagTarget::Bucket)?;
    let value = (!tags.is_empty()).then(|| tags.to_xml().into_bytes());
    req.client
        .set_bucket_setting(&req.bucket, BUCKET_TAGGING_SETTING, value)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete_bucket_tagging(req: Request) -> S3Result<Response<Body>> {
    super::setting::delete(&req, BUCKET_TAGGING_SETTING).await
}

pub async fn get_object_tagging(req: Request) -> S3Result<Response<Body>> {
    let version = object_version(&req).await?;
    let stored = &version.node.protection.tags;
    let body = match TagSet::new(stored.clone(), TagTarget::Object) {
        Ok(tags) => tags.to_xml(),
        Err(e) => {
            // Tags reach a version only through the tag rules; answer what
            // is stored should older rules have let something else in.
            tracing::warn!(resource = %req.resource(), error = %e, "stored tags fail the tag rules");
            raw_tags_xml(stored)
        }
    };
    Ok(with_version_header(xml(body), shown_version_id(&version)))
}

/// The `Tagging` document of tags that no longer pass the rules (written by
/// an older gateway): answered as they are.
fn raw_tags_xml(tags: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::from(crate::xml::DECLARATION);
    out.push_str("<Tagging xmlns=\"");
    out.push_str(crate::xml::S3_NAMESPACE);
    out.push_str("\"><TagSet>");
    for (key, value) in tags {
        out.push_str("<Tag><Key>");
        crate::error::push_escaped(&mut out, key);
        out.push_str("</Key><Value>");
        crate::error::push_escaped(&mut out, value);
        out.push_str("</Value></Tag>");
    }
    out.push_str("</TagSet></Tagging>");
    out
}

/// Replaces the tags of the version the request names; answers its id.
async fn set_object_tags(req: &Request, tags: TagSet) -> S3Result<String> {
    let key = req.object_key()?;
    let version = object_version(req).await?;
    let change = ProtectionChange {
        tags: Some(tags.into_map()),
        ..ProtectionChange::default()
    };
    req.client
        .set_protection(
            &req.bucket,
            key.as_bytes(),
            Some(pinned_id(&version)),
            &change,
            false,
        )
        .await
        .map_err(|e| change_error(e, req, true))?;
    Ok(shown_version_id(&version).to_string())
}

pub async fn put_object_tagging(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, false).await?;
    let tags = TagSet::parse(&body, TagTarget::Object)?;
    let version_id = set_object_tags(&req, tags).await?;
    Ok(with_version_header(empty(StatusCode::OK), &version_id))
}

pub async fn delete_object_tagging(req: Request) -> S3Result<Response<Body>> {
    let version_id = set_object_tags(&req, TagSet::default()).await?;
    Ok(with_version_header(
        empty(StatusCode::NO_CONTENT),
        &version_id,
    ))
}
