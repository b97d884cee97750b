//! Object Lock: the bucket's configuration, and the retention and legal
//! hold of one object version (S3 API reference:
//! PutObjectLockConfiguration, GetObjectLockConfiguration,
//! PutObjectRetention, GetObjectRetention, PutObjectLegalHold,
//! GetObjectLegalHold; user guide "Locking objects with Object Lock").
//!
//! Rules (the MDS enforces those on versions, `apply::versions`):
//! - PUT bodies need an integrity header (`Content-MD5`, an
//!   `x-amz-checksum-*` value or a trailing checksum): without one,
//!   `InvalidRequest` "Missing required header for this request:
//!   Content-MD5". Every declared check is verified on the body;
//! - PutObjectLockConfiguration turns Object Lock on (it is never turned
//!   off) and sets the default retention. The bucket's versioning must be
//!   `Enabled`, else `InvalidBucketState` (409) "Versioning must be
//!   'Enabled' on the bucket to apply a Object Lock configuration" (S3 has
//!   allowed Object Lock on existing versioned buckets since 2023). A
//!   bucket without Object Lock answers GetObjectLockConfiguration with
//!   `ObjectLockConfigurationNotFoundError` (404);
//! - retention and legal hold calls on a bucket without Object Lock are
//!   `InvalidRequest` "Bucket is missing Object Lock Configuration" (S3's
//!   text for these calls; PutObject's differs, `xml::lock`);
//! - a retention may always be extended, or raised from GOVERNANCE to
//!   COMPLIANCE; a COMPLIANCE one is never shortened or removed before its
//!   date; a GOVERNANCE one only with `x-amz-bypass-governance-retention:
//!   true` from a key that may bypass it ([`may_bypass_governance`]). A
//!   refusal is `AccessDenied` (403). A new date must be in the future
//!   (`InvalidArgument`). The empty `<Retention/>` removes a retention;
//! - GetObjectRetention of a version without retention is
//!   `NoSuchObjectLockConfiguration` (404);
//! - GetObjectLegalHold answers the version's status. S3 answers
//!   `NoSuchObjectLockConfiguration` for a version whose hold was never
//!   set and `OFF` once it was set and released; Cairn keeps the hold as
//!   one flag, so it cannot tell the two apart and answers `OFF` for both:
//!   an answer that is true, and never an error for a version whose hold a
//!   client has just released.
//!
//! Who may bypass governance: S3 grants it with the IAM permission
//! `s3:BypassGovernanceRetention`. Cairn has no IAM: the bucket's owner,
//! a key with the owner grant on it, or an admin key on a bucket without an
//! owner, i.e. exactly the keys `Access::Owner` admits (`crate::access`).

use axum::body::Body;
use cairn_client::{LockMode, ProtectionChange, Retention as ClientRetention};
use cairn_common::ClusterError;
use http::{Response, StatusCode};

use super::cluster_error::{to_s3, Missing};
use super::protection::{
    change_error, object_version, pinned_id, read_xml_body, shown_version_id, with_version_header,
};
use super::{empty, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::router::Access;
use crate::xml::lock::{
    lock_needs_versioning, DefaultRetention, LegalHold, LegalHoldStatus, ObjectLockConfiguration,
    Retention, RetentionMode, RetentionPeriod,
};

/// `x-amz-bypass-governance-retention`.
pub const BYPASS_HEADER: &str = "x-amz-bypass-governance-retention";

/// Whether the request asks to bypass governance retention
/// (`x-amz-bypass-governance-retention: true`, in any case).
pub fn bypass_requested(headers: &http::HeaderMap) -> bool {
    headers
        .get(BYPASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// True only when the request asks to bypass governance retention AND its
/// key may: the keys `Access::Owner` admits (`crate::access`). For
/// PutObjectRetention here and DeleteObject / DeleteObjects by version.
pub async fn may_bypass_governance(req: &Request) -> bool {
    if !bypass_requested(&req.headers) {
        return false;
    }
    let Some(key) = &req.access_key else {
        return false;
    };
    if key.permission(&req.bucket).owner {
        return true;
    }
    match req.client.get_bucket(&req.bucket).await {
        Ok(bucket) => crate::access::allows(key, &req.bucket, &bucket.owner, Access::Owner),
        Err(e) => {
            tracing::debug!(bucket = %req.bucket, error = %e, "bucket lookup for governance bypass");
            false
        }
    }
}

/// Retention and legal hold calls on a bucket without Object Lock.
pub fn missing_lock_configuration() -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

fn mode_to_client(mode: RetentionMode) -> LockMode {
    match mode {
        RetentionMode::Governance => LockMode::Governance,
        RetentionMode::Compliance => LockMode::Compliance,
    }
}

fn mode_from_client(mode: LockMode) -> RetentionMode {
    match mode {
        LockMode::Governance => RetentionMode::Governance,
        LockMode::Compliance => RetentionMode::Compliance,
    }
}

/// The MDS's default retention (mode, days, years) as S3's.
fn default_from_client((mode, days, years): (LockMode, u32, u32)) -> DefaultRetention {
    DefaultRetention {
        mode: mode_from_client(mode),
        period: if days > 0 {
            RetentionPeriod::Days(days)
        } else {
            RetentionPeriod::Years(years)
        },
    }
}

fn default_to_client(default: DefaultRetention) -> (LockMode, u32, u32) {
    let mode = mode_to_client(default.mode);
    match default.period {
        RetentionPeriod::Days(days) => (mode, days, 0),
        RetentionPeriod::Years(years) => (mode, 0, years),
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Whether the bucket has Object Lock.
async fn lock_enabled(req: &Request) -> S3Result<bool> {
    req.client
        .bucket_protection(&req.bucket)
        .await
        .map(|p| p.object_lock)
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))
}

/// Refuses retention and legal hold calls on a bucket without Object Lock.
async fn require_lock(req: &Request) -> S3Result<()> {
    if lock_enabled(req).await? {
        Ok(())
    } else {
        Err(missing_lock_configuration().resource(req.resource()))
    }
}

pub async fn get_object_lock_configuration(req: Request) -> S3Result<Response<Body>> {
    let protection = req
        .client
        .bucket_protection(&req.bucket)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    if !protection.object_lock {
        return Err(
            S3Error::new(ErrorCode::ObjectLockConfigurationNotFoundError).resource(req.resource()),
        );
    }
    let config = ObjectLockConfiguration {
        default_retention: protection.default_retention.map(default_from_client),
    };
    Ok(xml(config.to_xml()))
}

pub async fn put_object_lock_configuration(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, true).await?;
    let config = ObjectLockConfiguration::parse(&body)?;
    req.client
        .set_object_lock(&req.bucket, config.default_retention.map(default_to_client))
        .await
        .map_err(|e| match e {
            ClusterError::Conflict(_) => lock_needs_versioning().resource(req.resource()),
            e => to_s3(e, Missing::Bucket, &req.resource()),
        })?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_object_retention(req: Request) -> S3Result<Response<Body>> {
    require_lock(&req).await?;
    let version = object_version(&req).await?;
    let Some(retention) = version.node.protection.retention else {
        return Err(S3Error::new(ErrorCode::NoSuchObjectLockConfiguration).resource(req.resource()));
    };
    let answer = Retention {
        mode: mode_from_client(retention.mode),
        retain_until_ns: retention.until_ns,
    };
    Ok(with_version_header(
        xml(answer.to_xml()),
        shown_version_id(&version),
    ))
}

/// Applies `change` to the version the request names.
async fn change_version(req: &Request, change: &ProtectionChange, bypass: bool) -> S3Result<()> {
    let key = req.object_key()?;
    let version = object_version(req).await?;
    req.client
        .set_protection(
            &req.bucket,
            key.as_bytes(),
            Some(pinned_id(&version)),
            change,
            bypass,
        )
        .await
        .map_err(|e| change_error(e, req, true))
}

pub async fn put_object_retention(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, true).await?;
    let wanted = Retention::parse(&body)?;
    require_lock(&req).await?;
    if let Some(retention) = &wanted {
        retention.check_in_future(now_ns())?;
    }
    let bypass = may_bypass_governance(&req).await;
    let change = ProtectionChange {
        retention: Some(wanted.map(|r| ClientRetention {
            mode: mode_to_client(r.mode),
            until_ns: r.retain_until_ns,
        })),
        ..ProtectionChange::default()
    };
    change_version(&req, &change, bypass).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_object_legal_hold(req: Request) -> S3Result<Response<Body>> {
    require_lock(&req).await?;
    let version = object_version(&req).await?;
    let status = if version.node.protection.legal_hold {
        LegalHoldStatus::On
    } else {
        LegalHoldStatus::Off
    };
    Ok(with_version_header(
        xml(LegalHold { status }.to_xml()),
        shown_version_id(&version),
    ))
}

pub async fn put_object_legal_hold(req: Request) -> S3Result<Response<Body>> {
    let body = read_xml_body(&req, true).await?;
    let hold = LegalHold::parse(&body)?;
    require_lock(&req).await?;
    let change = ProtectionChange {
        legal_hold: Some(hold.status == LegalHoldStatus::On),
        ..ProtectionChange::default()
    };
    change_version(&req, &change, false).await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn bypass_header_must_say_true() {
        let mut headers = HeaderMap::new();
        assert!(!bypass_requested(&headers));
        for (value, wanted) in [
            ("true", true),
            ("TRUE", true),
            ("false", false),
            ("1", false),
        ] {
            headers.insert(BYPASS_HEADER, HeaderValue::from_static(value));
            assert_eq!(bypass_requested(&headers), wanted, "{value}");
        }
    }

    #[test]
    fn default_retention_round_trips_through_the_client_form() {
        for default in [
            DefaultRetention {
                mode: RetentionMode::Governance,
                period: RetentionPeriod::Days(3),
            },
            DefaultRetention {
                mode: RetentionMode::Compliance,
                period: RetentionPeriod::Years(2),
            },
        ] {
            assert_eq!(default_from_client(default_to_client(default)), default);
        }
    }

    #[test]
    fn operations_name_the_missing_configuration() {
        let err = missing_lock_configuration();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert_eq!(err.message, "Bucket is missing Object Lock Configuration");
    }
}
