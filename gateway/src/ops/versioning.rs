//! Bucket versioning and ListObjectVersions.

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

pub async fn list_object_versions(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("list_object_versions"))
}

pub async fn put_bucket_versioning(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("put_bucket_versioning"))
}
