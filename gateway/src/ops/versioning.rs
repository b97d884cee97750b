//! S3 versioning at the door: Put/GetBucketVersioning, ListObjectVersions,
//! the `versionId` of object requests, delete markers as S3 answers them,
//! and the version and protection headers of object answers.
//!
//! Answers, as the S3 API reference gives them:
//! * an object request naming no version on a key whose current version
//!   is a delete marker: 404 `NoSuchKey` with `x-amz-delete-marker: true`
//!   and the marker's `x-amz-version-id`;
//! * a GET or HEAD naming a delete marker by id: 405 `MethodNotAllowed`
//!   with the same headers and `Last-Modified`;
//! * a version id Cairn never made: 400 `InvalidArgument`; one it made but
//!   no longer has: 404 `NoSuchVersion`.
//!
//! ListObjectVersions pages over the MDS's merge of current objects and
//! kept versions (`list_versions`), never loading more than a page: a
//! common prefix resumes the scan past every key under it.

use axum::body::Body;
use cairn_client::{ObjectProtection, ObjectVersion, Retention};
use cairn_common::ClusterError;
use http::{HeaderMap, Response, StatusCode};
use quick_xml::escape::escape;

use super::bucket::owner;
use super::cluster_error::{to_s3, Missing};
use super::list::{enc, max_keys, past_prefix, url_encoding};
use super::meta::{etag_of, last_modified_iso};
use super::{empty, quoted_etag, xml, Request};
use crate::body::read_bounded;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::MAX_XML_BODY;
use crate::xml::lock::{parse_lock_headers, LegalHoldStatus, RetentionMode};
use crate::xml::tagging::{TagSet, TagTarget};
use crate::xml::versioning::{VersioningConfiguration, VersioningStatus};

/// The tags (`x-amz-tagging`) and object lock (`x-amz-object-lock-*`) a
/// write asks for its new version; `None` when it asks for neither.
pub fn protection_from_headers(headers: &HeaderMap) -> S3Result<Option<ObjectProtection>> {
    let tags = headers
        .get("x-amz-tagging")
        .map(|v| TagSet::from_header(v.as_bytes(), TagTarget::Object))
        .transpose()?;
    let lock = parse_lock_headers(headers, cairn_common::time::now_ns())?;
    if tags.is_none() && lock.is_none() {
        return Ok(None);
    }
    if lock.is_some() && !super::setting::has_integrity_header(headers) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
        ));
    }
    let lock = lock.unwrap_or_default();
    Ok(Some(ObjectProtection {
        tags: tags.map(TagSet::into_map).unwrap_or_default(),
        retention: lock.retention.map(|r| Retention {
            mode: match r.mode {
                RetentionMode::Governance => cairn_client::LockMode::Governance,
                RetentionMode::Compliance => cairn_client::LockMode::Compliance,
            },
            until_ns: r.retain_until_ns,
        }),
        legal_hold: lock.legal_hold == Some(LegalHoldStatus::On),
    }))
}

// ------------------------------------------------------ bucket versioning ---

pub async fn get_bucket_versioning(req: Request) -> S3Result<Response<Body>> {
    let settings = req
        .client
        .bucket_protection(&req.bucket)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
    let status = match settings.versioning {
        cairn_client::Versioning::Unversioned => None,
        cairn_client::Versioning::Enabled => Some(VersioningStatus::Enabled),
        cairn_client::Versioning::Suspended => Some(VersioningStatus::Suspended),
    };
    Ok(xml(VersioningConfiguration { status }.to_xml()))
}

pub async fn put_bucket_versioning(req: Request) -> S3Result<Response<Body>> {
    let body = read_bounded(req.take_body(), MAX_XML_BODY).await?;
    let config = VersioningConfiguration::parse(&body)?;
    let Some(status) = config.status else {
        // No Status: nothing to change.
        return Ok(empty(StatusCode::OK));
    };
    let resource = req.resource();
    req.client
        .set_versioning(&req.bucket, status == VersioningStatus::Enabled)
        .await
        .map_err(|e| match e {
            ClusterError::Conflict(_) => {
                crate::xml::lock::versioning_locked().resource(resource.clone())
            }
            other => to_s3(other, Missing::Bucket, &resource),
        })?;
    Ok(empty(StatusCode::OK))
}

// ---------------------------------------------------- ListObjectVersions ---

/// One line of the answer, in order.
enum Line {
    Version(Box<ObjectVersion>),
    Prefix(String),
}

/// Versions, delete markers and common prefixes, in S3's order, and where
/// the next page starts when truncated.
struct VersionPage {
    lines: Vec<Line>,
    truncated: bool,
    next: Option<(String, Option<String>)>,
}

/// How many versions to ask the MDS for at once.
const PAGE: u32 = 1000;

async fn collect(
    req: &Request,
    prefix: &str,
    delimiter: Option<&str>,
    mut cursor: (Vec<u8>, String),
    max: usize,
) -> S3Result<VersionPage> {
    let mut page = VersionPage {
        lines: Vec::new(),
        truncated: false,
        next: None,
    };
    'pages: loop {
        let want = u32::try_from(max - page.lines.len() + 1)
            .unwrap_or(PAGE)
            .min(PAGE);
        let (versions, more) = req
            .client
            .list_versions(&req.bucket, prefix.as_bytes(), &cursor.0, &cursor.1, want)
            .await
            .map_err(|e| to_s3(e, Missing::Bucket, &req.resource()))?;
        for v in versions {
            let key = String::from_utf8_lossy(&v.key).into_owned();
            let folded = delimiter.and_then(|d| {
                key[prefix.len().min(key.len())..]
                    .find(d)
                    .map(|i| key[..prefix.len() + i + d.len()].to_string())
            });
            if page.lines.len() == max {
                page.truncated = true;
                break 'pages;
            }
            match folded {
                Some(common) => {
                    page.next = Some((common.clone(), None));
                    cursor = (past_prefix(&common), String::new());
                    page.lines.push(Line::Prefix(common));
                    // Resume past every key under it.
                    continue 'pages;
                }
                None => {
                    page.next = Some((key, Some(v.version_id.clone())));
                    cursor = (v.key.clone(), v.version_id.clone());
                    page.lines.push(Line::Version(Box::new(v)));
                }
            }
        }
        if !more {
            break;
        }
    }
    if !page.truncated {
        page.next = None;
    }
    Ok(page)
}

pub async fn list_object_versions(req: Request) -> S3Result<Response<Body>> {
    let url = url_encoding(&req)?;
    let max = max_keys(&req)?;
    let prefix = req.query.get("prefix").unwrap_or("").to_string();
    let delimiter = req
        .query
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let key_marker = req.query.get("key-marker").unwrap_or("").to_string();
    let version_marker = req.query.get("version-id-marker").unwrap_or("").to_string();
    if key_marker.is_empty() && !version_marker.is_empty() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    // A key marker that is a common prefix (as NextKeyMarker is) resumes
    // past it.
    let start = match &delimiter {
        Some(d) if version_marker.is_empty() && key_marker.ends_with(d.as_str()) => {
            past_prefix(&key_marker)
        }
        _ => key_marker.as_bytes().to_vec(),
    };
    let page = collect(
        &req,
        &prefix,
        delimiter.as_deref(),
        (start, version_marker.clone()),
        max,
    )
    .await
    .map_err(|e| {
        if e.code == ErrorCode::InvalidRequest {
            S3Error::with_message(ErrorCode::InvalidArgument, "Invalid version id specified")
        } else {
            e
        }
    })?;
    let owner_id = super::list::bucket_owner(&req).await;
    let owner = owner(&owner_id);
    let owner_xml = format!(
        "<Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner>",
        escape(&owner.id),
        escape(&owner.display_name)
    );
    let t = |s: &str| escape(enc(s, url)).into_owned();
    let mut out = String::with_capacity(256 + page.lines.len() * 320);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push_str("<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    out.push_str(&format!("<Name>{}</Name>", escape(&req.bucket)));
    out.push_str(&format!("<Prefix>{}</Prefix>", t(&prefix)));
    out.push_str(&format!("<KeyMarker>{}</KeyMarker>", t(&key_marker)));
    out.push_str(&format!(
        "<VersionIdMarker>{}</VersionIdMarker>",
        escape(&version_marker)
    ));
    if let Some((key, version)) = &page.next {
        out.push_str(&format!("<NextKeyMarker>{}</NextKeyMarker>", t(key)));
        if let Some(v) = version {
            out.push_str(&format!(
                "<NextVersionIdMarker>{}</NextVersionIdMarker>",
                escape(v)
            ));
        }
    }
    out.push_str(&format!("<MaxKeys>{max}</MaxKeys>"));
    if let Some(d) = &delimiter {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", t(d)));
    }
    out.push_str(&format!("<IsTruncated>{}</IsTruncated>", page.truncated));
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    for line in &page.lines {
        match line {
            Line::Prefix(p) => {
                out.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    t(p)
                ));
            }
            Line::Version(v) => {
                let key = t(&String::from_utf8_lossy(&v.key));
                let id = if v.version_id.is_empty() {
                    "null"
                } else {
                    v.version_id.as_str()
                };
                let common = format!(
                    "<Key>{key}</Key><VersionId>{}</VersionId><IsLatest>{}</IsLatest><LastModified>{}</LastModified>",
                    escape(id),
                    v.latest,
                    last_modified_iso(&v.node)
                );
                if v.delete_marker {
                    out.push_str(&format!("<DeleteMarker>{common}{owner_xml}</DeleteMarker>"));
                } else {
                    out.push_str(&format!(
                        "<Version>{common}<ETag>{}</ETag><Size>{}</Size>{owner_xml}<StorageClass>STANDARD</StorageClass></Version>",
                        escape(quoted_etag(&etag_of(&v.node))),
                        cairn_client::sse::plain_size(&v.node)
                    ));
                }
            }
        }
    }
    out.push_str("</ListVersionsResult>");
    Ok(xml(out))
}

// ------------------------------------------------- multipart protection ---

/// Upload-only stored headers holding what CreateMultipartUpload asked for
/// the object's version, until CompleteMultipartUpload gives it.
const UPLOAD_TAGGING: &str = "x-cairn-upload-tagging";
const UPLOAD_LOCK: &str = "x-cairn-upload-lock";
const UPLOAD_LEGAL_HOLD: &str = "x-cairn-upload-legal-hold";

/// Keeps `protection` with an upload being created.
pub fn stash_protection(
    headers: &mut std::collections::BTreeMap<String, String>,
    p: &ObjectProtection,
) {
    if !p.tags.is_empty() {
        if let Ok(tags) = TagSet::new(p.tags.clone(), TagTarget::Object) {
            headers.insert(UPLOAD_TAGGING.into(), tags.to_header());
        }
    }
    if let Some(r) = p.retention {
        headers.insert(
            UPLOAD_LOCK.into(),
            format!("{} {}", r.mode.as_str(), r.until_ns),
        );
    }
    if p.legal_hold {
        headers.insert(UPLOAD_LEGAL_HOLD.into(), "ON".into());
    }
}

/// The protection an upload keeps for its object, and the upload-only
/// headers to drop from it at completion.
pub fn unstash_protection(
    headers: &std::collections::BTreeMap<String, String>,
) -> (Option<ObjectProtection>, Vec<String>) {
    let names = [UPLOAD_TAGGING, UPLOAD_LOCK, UPLOAD_LEGAL_HOLD];
    if !names.iter().any(|n| headers.contains_key(*n)) {
        return (None, Vec::new());
    }
    let tags = headers
        .get(UPLOAD_TAGGING)
        .and_then(|t| TagSet::from_header(t.as_bytes(), TagTarget::Object).ok())
        .map(TagSet::into_map)
        .unwrap_or_default();
    let retention = headers.get(UPLOAD_LOCK).and_then(|l| {
        let (mode, until) = l.split_once(' ')?;
        let mode = match mode {
            "GOVERNANCE" => cairn_client::LockMode::Governance,
            "COMPLIANCE" => cairn_client::LockMode::Compliance,
            _ => return None,
        };
        Some(Retention {
            mode,
            until_ns: until.parse().ok()?,
        })
    });
    let protection = ObjectProtection {
        tags,
        retention,
        legal_hold: headers.contains_key(UPLOAD_LEGAL_HOLD),
    };
    (
        Some(protection),
        names.iter().map(|n| n.to_string()).collect(),
    )
}
