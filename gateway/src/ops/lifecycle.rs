//! Bucket lifecycle configuration.

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

pub async fn get_bucket_lifecycle(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("get_bucket_lifecycle"))
}

pub async fn put_bucket_lifecycle(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("put_bucket_lifecycle"))
}

pub async fn delete_bucket_lifecycle(_req: Request) -> S3Result<Response<Body>> {
    Err(not_yet("delete_bucket_lifecycle"))
}
