//! DeleteObject and DeleteObjects (quiet and verbose), with version ids.
//! Deleting a key or a version that does not exist succeeds, as in S3. In
//! a versioned bucket a delete without a version id makes a delete marker
//! (`x-amz-delete-marker: true` and its `x-amz-version-id`); with one it
//! removes that version, unless object lock protects it (AccessDenied).

use axum::body::Body;
use cairn_client::Deleted;
use cairn_common::ClusterError;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::meta::insert_version_id;
use super::protection::{invalid_version_id, version_id_param};
use super::{empty, xml, Request};
use crate::body::read_bounded;
use crate::error::S3Result;
use crate::limits::MAX_XML_BODY;
use crate::xml::request::Delete;
use crate::xml::response::{to_xml, DeleteErrorEntry, DeleteResult, DeletedEntry};

async fn delete_one(
    req: &Request,
    key: &str,
    version_id: Option<&str>,
    bypass: bool,
) -> S3Result<Deleted> {
    let resource = format!("/{}/{key}", req.bucket);
    match req
        .client
        .delete_version(&req.bucket, key.as_bytes(), version_id, bypass)
        .await
    {
        Ok(d) => Ok(d),
        Err(ClusterError::NotFound(m)) if !m.starts_with("bucket ") => Ok(Deleted {
            version_id: String::new(),
            delete_marker: false,
        }),
        Err(ClusterError::Invalid(_)) if version_id.is_some() => {
            Err(invalid_version_id(version_id.unwrap_or_default()).resource(resource))
        }
        Err(e) => Err(to_s3(e, Missing::Bucket, &resource)),
    }
}

pub async fn delete_object(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let version_id = version_id_param(&req)?.map(str::to_string);
    let bypass = super::lock::may_bypass_governance(&req).await;
    let deleted = delete_one(&req, &key, version_id.as_deref(), bypass).await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    insert_version_id(response.headers_mut(), &deleted.version_id);
    if deleted.delete_marker {
        response.headers_mut().insert(
            HeaderName::from_static("x-amz-delete-marker"),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

pub async fn delete_objects(req: Request) -> S3Result<Response<Body>> {
    let body = req.take_body();
    let body = read_bounded(body, MAX_XML_BODY).await?;
    crate::checksum::Expected::from_headers(&req.headers)?.verify(&{
        let mut c = crate::checksum::Expected::from_headers(&req.headers)?.checksummer();
        c.update(&body);
        c.finish()
    })?;
    let request = Delete::parse(&body)?;
    let bypass = super::lock::may_bypass_governance(&req).await;
    let mut result = DeleteResult {
        xmlns: (),
        deleted: Vec::new(),
        errors: Vec::new(),
    };
    for object in &request.objects {
        let version_id = object.version_id.as_deref().filter(|v| !v.is_empty());
        match delete_one(&req, &object.key, version_id, bypass).await {
            Ok(deleted) => {
                if !request.is_quiet() {
                    // A marker made (no version named) is reported as the
                    // marker's id; a version removed by id, as that id.
                    let (version, marker_version) = match (version_id, deleted.delete_marker) {
                        (None, true) => (None, Some(deleted.version_id.clone())),
                        (Some(v), true) => (Some(v.to_string()), Some(v.to_string())),
                        (Some(v), false) => (Some(v.to_string()), None),
                        (None, false) => (None, None),
                    };
                    result.deleted.push(DeletedEntry {
                        key: object.key.clone(),
                        version_id: version,
                        delete_marker: deleted.delete_marker.then_some(true),
                        delete_marker_version_id: marker_version,
                    });
                }
            }
            Err(e) => result.errors.push(DeleteErrorEntry {
                key: object.key.clone(),
                version_id: version_id.map(str::to_string),
                code: e.code.as_str().to_string(),
                message: e.message.to_string(),
            }),
        }
    }
    Ok(xml(to_xml(&result)?))
}
