//! A bucket's default encryption: PutBucketEncryption,
//! GetBucketEncryption, DeleteBucketEncryption.
//!
//! The body is a `ServerSideEncryptionConfiguration` of one `Rule` with
//! `ApplyServerSideEncryptionByDefault/SSEAlgorithm` `AES256` (SSE-S3) and
//! an optional `BucketKeyEnabled`, accepted and answered as sent (Cairn
//! derives one key per object either way). `aws:kms` and `aws:kms:dsse`
//! are 501 `NotImplemented`, as is SSE-KMS on objects. The setting is the
//! bucket setting [`BUCKET_SETTING`] (`AES256`, or `AES256+bucket-key`
//! when `BucketKeyEnabled` is true); writes read it through the client's
//! 2-s cache. GET without one answers 404
//! `ServerSideEncryptionConfigurationNotFoundError`, S3's answer before
//! every bucket had SSE-S3 by default: Cairn stores objects written without
//! encryption in plaintext, so a default of AES256 would be untrue.

use axum::body::Body;
use http::{Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::sse::BUCKET_SETTING;
use super::{empty, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::encryption::{is_s3, parse, to_xml, BUCKET_KEY_SUFFIX};

pub async fn put_bucket_encryption(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let body = super::protection::read_xml_body(&req, false).await?;
    let stored = parse(&body).map_err(|e| e.resource(resource.clone()))?;
    req.client
        .set_bucket_setting(&req.bucket, BUCKET_SETTING, Some(stored))
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_bucket_encryption(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let stored = req
        .client
        .bucket_setting(&req.bucket, BUCKET_SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let Some(stored) = stored.filter(|s| is_s3(s)) else {
        return Err(
            S3Error::new(ErrorCode::ServerSideEncryptionConfigurationNotFoundError)
                .resource(resource),
        );
    };
    let out = to_xml(stored.ends_with(BUCKET_KEY_SUFFIX.as_bytes()));
    Ok(xml(out))
}

pub async fn delete_bucket_encryption(req: Request) -> S3Result<Response<Body>> {
    super::setting::delete(&req, BUCKET_SETTING).await
}
