//! Object lock: the bucket's configuration, retention and legal hold.

use axum::body::Body;
use http::Response;

use super::Request;
use crate::error::{ErrorCode, S3Error, S3Result};

fn not_yet(what: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::NotImplemented,
        format!("{what} is not implemented yet."),
    )
}

pub async fn get_object_lock_configuration(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("get_object_lock_configuration"))
}

pub async fn put_object_lock_configuration(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("put_object_lock_configuration"))
}

pub async fn get_object_retention(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("get_object_retention"))
}

pub async fn put_object_retention(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("put_object_retention"))
}

pub async fn get_object_legal_hold(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("get_object_legal_hold"))
}

pub async fn put_object_legal_hold(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("put_object_legal_hold"))
}

/// Whether the request may remove or shorten GOVERNANCE retention: it asks
/// with `x-amz-bypass-governance-retention: true` and its key owns the
/// bucket (or the bucket has no owner).
pub async fn may_bypass_governance(req: &Request) -> bool {
    let asked = req
        .header("x-amz-bypass-governance-retention")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !asked {
        return false;
    }
    let Some(key) = &req.access_key else {
        return false;
    };
    match req.client.get_bucket(&req.bucket).await {
        Ok(b) => b.owner.is_empty() || b.owner == key.id || key.permission(&req.bucket).owner,
        Err(_) => false,
    }
}
