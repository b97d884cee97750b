//! Bucket operations: ListBuckets (paged by `max-buckets` and
//! `continuation-token`, filtered by `prefix` and `bucket-region`),
//! CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning.

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
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

/// The region whose quirks S3 keeps for compatibility.
const US_EAST_1: &str = "us-east-1";

/// The owner element for a key.
pub fn owner(id: &str) -> Owner {
    Owner {
        id: id.to_string(),
        display_name: id.to_string(),
    }
}

/// Most buckets one ListBuckets answer holds (`max-buckets` is 1..=10,000).
const MAX_BUCKETS: usize = 10_000;

/// `max-buckets`: 1..=10,000, or every bucket when absent.
fn max_buckets(req: &Request) -> S3Result<usize> {
    match req.query.get("max-buckets") {
        None => Ok(MAX_BUCKETS),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS).contains(n))
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "Argument max-buckets must be an integer between 1 and 10000.",
                )
            }),
    }
}

/// Buckets the key may reach (`crate::access::reaches`), by name, from
/// `prefix` and after `continuation-token` (the last name of the page
/// before, base64url), `max-buckets` of them, in `bucket-region` if given.
pub async fn list_buckets(req: Request) -> S3Result<Response<Body>> {
    let key = req
        .access_key
        .as_ref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    let max = max_buckets(&req)?;
    let prefix = req.query.get("prefix").map(str::to_string);
    let after = match req.query.get("continuation-token") {
        Some(token) => {
            let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "The continuation token provided is incorrect",
                )
            })?;
            Some(String::from_utf8_lossy(&raw).into_owned())
        }
        None => None,
    };
    // Every bucket is in the gateway's region: another lists none.
    let other_region = req
        .query
        .get("bucket-region")
        .is_some_and(|r| r != req.region);
    let buckets = if other_region {
        Vec::new()
    } else {
        req.client
            .list_buckets()
            .await
            .map_err(|e| to_s3(e, Missing::Bucket, "/"))?
    };
    let mut entries: Vec<BucketEntry> = buckets
        .into_iter()
        .filter(|b| crate::access::reaches(key, &b.name, &b.owner))
        .filter(|b| prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
        .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
        .map(|b| BucketEntry {
            name: b.name,
            creation_date: format_iso8601_ns(b.created_ns),
            bucket_region: req.region.clone(),
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let continuation_token = if entries.len() > max {
        entries.truncate(max);
        entries.last().map(|e| URL_SAFE_NO_PAD.encode(&e.name))
    } else {
        None
    };
    Ok(xml(to_xml(&ListAllMyBucketsResult {
        xmlns: (),
        owner: owner(&key.id),
        buckets: Buckets { buckets: entries },
        continuation_token,
        prefix,
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
                // us-east-1 answers a repeated creation by the owner with
                // success (S3's legacy behaviour there); other regions
                // refuse it.
                Some(b) if b.owner == key.id && req.region == US_EAST_1 => None,
                Some(b) if b.owner == key.id => Some(ErrorCode::BucketAlreadyOwnedByYou),
                _ => Some(ErrorCode::BucketAlreadyExists),
            };
            if let Some(code) = code {
                return Err(S3Error::new(code).resource(resource));
            }
            tracing::debug!(bucket = %req.bucket, "bucket already owned by the caller: created again");
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
    let region = if req.region == US_EAST_1 {
        String::new()
    } else {
        req.region.clone()
    };
    Ok(xml(to_xml(&LocationConstraint { xmlns: (), region })?))
}
