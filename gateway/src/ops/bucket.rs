//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning.

use axum::body::Body;
use cairn_common::ClusterError;
use http::{HeaderValue, Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::{empty, xml, Request};
use crate::body::read_bounded;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{check_bucket_name, MAX_XML_BODY};
use crate::signature::time::format_iso8601_ns;
use crate::xml::request::CreateBucketConfiguration;
use crate::xml::response::{
    to_xml, BucketEntry, Buckets, ListAllMyBucketsResult, LocationConstraint, Owner,
};

/// The owner element for a key.
pub fn owner(id: &str) -> Owner {
    Owner {
        id: id.to_string(),
        display_name: id.to_string(),
    }
}

/// Buckets the key may reach (`crate::access::reaches`), by name.
pub async fn list_buckets(req: Request) -> S3Result<Response<Body>> {
    let key = req
        .access_key
        .as_ref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    let buckets = req
        .client
        .list_buckets()
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, "/"))?;
    let mut entries: Vec<BucketEntry> = buckets
        .into_iter()
        .filter(|b| crate::access::reaches(key, &b.name, &b.owner))
        .map(|b| BucketEntry {
            name: b.name,
            creation_date: format_iso8601_ns(b.created_ns),
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(xml(to_xml(&ListAllMyBucketsResult {
        xmlns: (),
        owner: owner(&key.id),
        buckets: Buckets { buckets: entries },
    })?))
}

pub async fn create_bucket(req: Request) -> S3Result<Response<Body>> {
    let key = req
        .access_key
        .clone()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    check_bucket_name(&req.bucket)?;
    crate::ops::meta::check_acl(&req.headers)?;
    let resource = req.resource();
    let body = read_bounded(req.take_body(), MAX_XML_BODY).await?;
    let config = CreateBucketConfiguration::parse(&body)?;
    if let Some(location) = config.location_constraint.as_deref() {
        if !location.is_empty() && location != req.region {
            return Err(S3Error::with_message(
                ErrorCode::IllegalLocationConstraintException,
                format!(
                    "The {location} location constraint is incompatible for the region specific endpoint this request was sent to ({}).",
                    req.region
                ),
            )
            .resource(resource));
        }
    }
    // `x-amz-bucket-object-lock-enabled: true` makes the bucket with object
    // lock, and so versioning, on from the start.
    let object_lock = match req.header("x-amz-bucket-object-lock-enabled") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "x-amz-bucket-object-lock-enabled must be true or false",
            ))
        }
    };
    match req
        .client
        .create_bucket_with(&req.bucket, &key.id, object_lock)
        .await
    {
        Ok(_) => {}
        Err(ClusterError::Exists(_)) => {
            let existing = req.client.get_bucket(&req.bucket).await.ok();
            let code = match existing {
                Some(b) if b.owner == key.id => ErrorCode::BucketAlreadyOwnedByYou,
                _ => ErrorCode::BucketAlreadyExists,
            };
            return Err(S3Error::new(code).resource(resource));
        }
        Err(e) => return Err(to_s3(e, Missing::Bucket, &resource)),
    }
    let mut response = empty(StatusCode::OK);
    if let Ok(location) = HeaderValue::from_str(&format!("/{}", req.bucket)) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    Ok(response)
}

/// The bucket exists and the key may read it (checked before dispatch).
pub async fn head_bucket(req: Request) -> S3Result<Response<Body>> {
    let mut response = empty(StatusCode::OK);
    if let Ok(region) = HeaderValue::from_str(&req.region) {
        response.headers_mut().insert("x-amz-bucket-region", region);
    }
    Ok(response)
}

pub async fn delete_bucket(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    req.client
        .delete_bucket(&req.bucket)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// S3 answers an empty constraint for us-east-1.
pub async fn get_bucket_location(req: Request) -> S3Result<Response<Body>> {
    let region = if req.region == "us-east-1" {
        String::new()
    } else {
        req.region.clone()
    };
    Ok(xml(to_xml(&LocationConstraint { xmlns: (), region })?))
}
