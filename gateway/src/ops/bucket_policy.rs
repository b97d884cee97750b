//! Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy,
//! GetBucketPolicyStatus (S3 API reference).
//!
//! Rules:
//! - the policy is the bucket setting [`policy::SETTING`], the JSON exactly
//!   as sent, once `policy::parse` accepts it (else 400 `MalformedPolicy`
//!   with the reason); GET answers it unchanged (`application/json`), or
//!   404 `NoSuchBucketPolicy`; PUT answers 204, DELETE 204 even when there
//!   was none;
//! - with the bucket's Public Access Block `BlockPublicPolicy`, a public
//!   policy is refused with 403 AccessDenied;
//! - GetBucketPolicyStatus answers `<PolicyStatus><IsPublic>` by S3's
//!   definition (`Policy::is_public`), or 404 `NoSuchBucketPolicy`.
//!
//! Who may call them is decided before (`server::authorize`): the owner
//! always, even past a Deny of the policy, so that a policy that locks
//! everyone out can be replaced.

use axum::body::Body;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::{empty, xml, Request};
use crate::body::{incoming, read_bounded};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::policy::{self, MAX_POLICY_BYTES};

/// What a PUT body may hold before it is read no further: the limit, with
/// room for the size error to be the policy's own.
const MAX_BODY: usize = 2 * MAX_POLICY_BYTES;

/// The stored policy of the request's bucket, as sent.
pub async fn stored_policy(req: &Request) -> S3Result<Option<Vec<u8>>> {
    req.client
        .bucket_setting(&req.bucket, policy::SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))
}

pub async fn put_bucket_policy(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let checked = incoming(req.take_body(), &req.headers, &req.payload, MAX_BODY as u64)?;
    let body = read_bounded(checked.stream.boxed(), MAX_BODY)
        .await
        .map_err(|e| match e.code {
            ErrorCode::InvalidRequest => S3Error::with_message(
                ErrorCode::MalformedPolicy,
                format!("Policies must be no larger than {MAX_POLICY_BYTES} bytes"),
            ),
            _ => e,
        })?;
    let parsed = policy::parse(&body, &req.bucket)
        .map_err(|m| S3Error::with_message(ErrorCode::MalformedPolicy, m.0))?;
    let block = super::public_access::stored(&req.client, &req.bucket).await?;
    if block.block_public_policy && parsed.is_public() {
        return Err(S3Error::new(ErrorCode::AccessDenied).resource(resource));
    }
    req.client
        .set_bucket_setting(&req.bucket, policy::SETTING, Some(body.to_vec()))
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_bucket_policy(req: Request) -> S3Result<Response<Body>> {
    let Some(stored) = stored_policy(&req).await? else {
        return Err(S3Error::new(ErrorCode::NoSuchBucketPolicy).resource(req.resource()));
    };
    let mut response = Response::new(Body::from(stored));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

pub async fn delete_bucket_policy(req: Request) -> S3Result<Response<Body>> {
    super::setting::delete(&req, policy::SETTING).await
}

pub async fn get_bucket_policy_status(req: Request) -> S3Result<Response<Body>> {
    let Some(stored) = stored_policy(&req).await? else {
        return Err(S3Error::new(ErrorCode::NoSuchBucketPolicy).resource(req.resource()));
    };
    // A stored policy that no longer parses counts as not public: it
    // denies everything (`policy::cache`).
    let public = policy::parse(&stored, &req.bucket).is_ok_and(|p| p.is_public());
    Ok(xml(status_xml(public)))
}

fn status_xml(public: bool) -> String {
    format!(
        "{}<PolicyStatus xmlns=\"{}\"><IsPublic>{public}</IsPublic></PolicyStatus>",
        crate::xml::DECLARATION,
        crate::xml::S3_NAMESPACE
    )
}
