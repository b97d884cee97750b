//! POST object: a browser upload whose form was parsed and whose policy was
//! verified by the caller (`signature::post_form`, `signature::policy`).
//! The file streams into the cluster; its size is held to the policy's
//! `content-length-range` before anything is committed.

use axum::body::Body;
use cairn_client::{ObjectMeta, PutConditions};
use http::{HeaderValue, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::put::write_stream;
use super::{empty, quoted_etag, xml, Request};
use crate::body::VerifiedBody;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{check_key, check_user_metadata, MAX_PUT_SIZE};
use crate::ops::meta::{DEFAULT_CONTENT_TYPE, STORED_HEADERS};
use crate::signature::policy::PostPolicy;
use crate::signature::post_form::PostForm;
use crate::xml::response::{to_xml, PostResponse};

pub async fn post_object(
    req: Request,
    form: PostForm,
    policy: PostPolicy,
) -> S3Result<Response<Body>> {
    let fields = &form.fields;
    let key_template = fields.get("key").ok_or_else(|| {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Bucket POST must contain a field named 'key'.",
        )
    })?;
    let key = key_template.replace("${filename}", form.file_name.as_deref().unwrap_or(""));
    check_key(&key)?;
    if let Some(acl) = fields.get("acl") {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(acl) {
            headers.insert("x-amz-acl", v);
        }
        crate::ops::meta::check_acl(&headers)?;
    }
    let mut meta = ObjectMeta {
        content_type: fields
            .get("content-type")
            .cloned()
            .or(form.file_content_type.clone())
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        ..ObjectMeta::default()
    };
    for (name, value) in fields {
        if let Some(user) = name.strip_prefix("x-amz-meta-") {
            meta.user_meta.insert(user.to_string(), value.clone());
        } else if STORED_HEADERS.contains(&name.as_str()) {
            meta.headers.insert(name.clone(), value.clone());
        }
    }
    check_user_metadata(meta.user_meta.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;

    let (min, max) = policy.content_length_range().unwrap_or((0, MAX_PUT_SIZE));
    let sealing = super::sse::for_post(&req, fields).await?.sealing(&req)?;
    let (body, errors) = VerifiedBody::bounded(form.file, min, max.min(MAX_PUT_SIZE));
    let (body, sealed) = super::sse::seal_body(futures::StreamExt::boxed(body), sealing);
    let conditions = PutConditions::default();
    let mut written = write_stream(&req, &req.bucket, &key, body, &errors, &conditions).await?;
    if let Some(sealed) = sealed {
        sealed.finish(&mut written, &mut meta)?;
    }
    let resource = format!("/{}/{key}", req.bucket);
    let node = req
        .client
        .commit_object(&req.bucket, key.as_bytes(), &written, meta, conditions)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let etag = quoted_etag(&node.etag);
    let location = format!(
        "/{}/{}",
        req.bucket,
        crate::signature::canonical::uri_encode(&key).replace("%2F", "/")
    );

    let mut response = if let Some(redirect) = fields
        .get("success_action_redirect")
        .filter(|r| !r.is_empty())
    {
        let sep = if redirect.contains('?') { '&' } else { '?' };
        let target = format!(
            "{redirect}{sep}bucket={}&key={}&etag={}",
            crate::signature::canonical::uri_encode(&req.bucket),
            crate::signature::canonical::uri_encode(&key),
            crate::signature::canonical::uri_encode(&etag)
        );
        let mut r = empty(StatusCode::SEE_OTHER);
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        r
    } else {
        match fields.get("success_action_status").map(String::as_str) {
            Some("200") => empty(StatusCode::OK),
            Some("201") => {
                let mut r = xml(to_xml(&PostResponse {
                    location: location.clone(),
                    bucket: req.bucket.clone(),
                    key: key.clone(),
                    etag: etag.clone(),
                })?);
                *r.status_mut() = StatusCode::CREATED;
                r
            }
            _ => empty(StatusCode::NO_CONTENT),
        }
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(http::header::ETAG, v);
    }
    if let Some(sse) = super::sse::of_node(&node)? {
        super::sse::insert_response_headers(response.headers_mut(), &sse);
    }
    if !response.headers().contains_key(http::header::LOCATION) {
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(http::header::LOCATION, v);
        }
    }
    Ok(response)
}
