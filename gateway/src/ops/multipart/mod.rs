//! Multipart uploads over the MDS's uploads table (`Client::create_upload`
//! and friends): CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads and
//! ListParts.
//!
//! Data path: a part streams into new chunks, then `put_part` records its
//! layout (the MDS holds a reference on its chunks); a copied part names the
//! source's chunks, at any offset, without copying a byte (an upload with a
//! checksum algorithm reads the range once, to checksum it). Completion makes
//! the listed parts' layouts, end to end, the object's layout in one MDS
//! transaction: no byte is copied there either.
//!
//! What the gateway checks before the MDS completes an upload (the MDS
//! checks order and existence again, in its transaction): parts in strictly
//! ascending order (`InvalidPartOrder`), each uploaded with the ETag given
//! (`InvalidPart`), each but the last at least 5 MiB (`EntityTooSmall`). The
//! ETag is `hex(md5(part md5s, concatenated as bytes))-N`, as S3 makes it.
//!
//! Part sizes (for `partNumber` reads) and the composite checksum are only
//! known at completion, while the MDS takes the object's headers from the
//! upload's creation: the gateway sets them right after the completion, in
//! a second commit conditioned on the new ETag. Until then (a moment) the
//! object reads as one part.

use std::collections::BTreeMap;

use axum::body::Body;
use cairn_client::{Completion, Node, PutConditions, Upload, WrittenData};
use cairn_common::ClusterError;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};

use super::bucket::owner;
use super::cluster_error::{to_s3, Missing};
use super::copy::copy_source;
use super::layout::slice_extents;
use super::list::past_prefix;
use super::meta::{
    etag_of, object_meta_from_headers, COMPLETED_UPLOAD_HEADER, PART_CHECKSUMS_HEADER,
    PART_SIZES_HEADER,
};
use super::put::{put_conditions, receive, Received};
use super::{empty, quoted_etag, xml, Request};

mod listing;
mod object_checksum;
mod repeat;
use crate::body::read_bounded;
use crate::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{check_key, MAX_LIST_KEYS, MAX_PUT_SIZE, MAX_XML_BODY, MIN_PART_SIZE};
use crate::signature::canonical::uri_encode;
use crate::signature::time::format_iso8601_ns;
use crate::xml::request::{CompleteMultipartUpload, CompletedPart};
use crate::xml::response::{
    to_xml, to_xml_named, ChecksumElements, CommonPrefix, CompleteMultipartUploadResult,
    CopyPartResult, InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult,
    PartEntry, UploadEntry,
};
pub use listing::{list_parts, list_uploads};
use object_checksum::{
    check_claimed, object_checksum, upload_checksum, ChecksumType, UPLOAD_CHECKSUM_HEADER,
    UPLOAD_CHECKSUM_TYPE_HEADER,
};

/// Longest upload id we pass to the MDS (it makes ids of 32 hex digits and
/// refuses more than 256 bytes).
const MAX_UPLOAD_ID: usize = 256;

fn no_such_upload(resource: String) -> S3Error {
    S3Error::new(ErrorCode::NoSuchUpload).resource(resource)
}

/// The upload `upload_id` of the request's bucket and key, `NoSuchUpload`
/// when there is none (or it belongs to another key).
async fn upload_for(req: &Request, upload_id: &str) -> S3Result<Upload> {
    let key = req.object_key()?;
    let resource = req.resource();
    if upload_id.is_empty() || upload_id.len() > MAX_UPLOAD_ID {
        return Err(no_such_upload(resource));
    }
    let upload = req
        .client
        .get_upload(upload_id)
        .await
        .map_err(|e| to_s3(e, Missing::Upload, &resource))?;
    if upload.bucket != req.bucket || upload.key != key.as_bytes() {
        return Err(no_such_upload(resource));
    }
    Ok(upload)
}

/// The checksum algorithm and type the upload was created with, if any
/// (an upload made before types were kept is COMPOSITE).
fn upload_algorithm(upload: &Upload) -> Option<(ChecksumAlgorithm, ChecksumType)> {
    let headers = &upload.node.as_ref()?.headers;
    let algorithm = ChecksumAlgorithm::from_name(headers.get(UPLOAD_CHECKSUM_HEADER)?)?;
    let kind = headers
        .get(UPLOAD_CHECKSUM_TYPE_HEADER)
        .and_then(|t| ChecksumType::from_name(t))
        .unwrap_or(ChecksumType::Composite);
    Some((algorithm, kind))
}

fn insert_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

// ---------------------------------------------------------------- create ---

pub async fn create(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    check_key(&key)?;
    let resource = req.resource();
    let mut meta = object_meta_from_headers(&req.headers)?;
    if !matches!(
        crate::ops::sse::for_write(&req, &req.bucket).await?,
        crate::ops::sse::Wanted::Plain
    ) {
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "Multipart uploads with server-side encryption are not implemented yet.",
        )
        .resource(resource));
    }
    let checksum = upload_checksum(&req.headers).map_err(|e| e.resource(resource.clone()))?;
    if let Some((a, kind)) = checksum {
        meta.headers
            .insert(UPLOAD_CHECKSUM_HEADER.to_string(), a.as_str().to_string());
        meta.headers.insert(
            UPLOAD_CHECKSUM_TYPE_HEADER.to_string(),
            kind.as_str().to_string(),
        );
    }
    if let Some(p) = super::versioning::protection_from_headers(&req.headers)? {
        super::versioning::stash_protection(&mut meta.headers, &p);
    }
    let now = cairn_common::time::now_ns();
    let node = super::layout::shared_node(&[], 0, String::new(), meta, now);
    let upload = req
        .client
        .create_upload(&req.bucket, key.as_bytes(), &node)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    tracing::debug!(bucket = %req.bucket, upload_id = %upload.upload_id, "multipart upload created");
    let mut response = xml(to_xml(&InitiateMultipartUploadResult {
        xmlns: (),
        bucket: req.bucket.clone(),
        key,
        upload_id: upload.upload_id,
    })?);
    if let Some((a, kind)) = checksum {
        insert_header(
            response.headers_mut(),
            "x-amz-checksum-algorithm",
            a.as_str(),
        );
        insert_header(response.headers_mut(), "x-amz-checksum-type", kind.as_str());
    }
    Ok(response)
}

// ------------------------------------------------------------------ parts ---

/// The flexible checksum algorithm a part request declares, if any.
fn declared_algorithm(headers: &HeaderMap) -> S3Result<Option<ChecksumAlgorithm>> {
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        return Ok(ChecksumAlgorithm::from_header_name(trailer));
    }
    Ok(crate::checksum::Expected::from_headers(headers)?.flexible_algorithm())
}

fn record_part_error(e: ClusterError, resource: &str) -> S3Error {
    match e {
        ClusterError::NotFound(_) => no_such_upload(resource.to_string()),
        other => to_s3(other, Missing::Upload, resource),
    }
}

pub async fn upload_part(
    req: Request,
    part_number: u32,
    upload_id: &str,
) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let resource = req.resource();
    // Uploads are never encrypted (yet): SSE-C headers do not apply.
    crate::ops::sse::key_for_read(&req, None, crate::ops::sse::OWN)?;
    let upload = upload_for(&req, upload_id).await?;
    // A part of an upload created with a checksum algorithm carries that
    // checksum; when the client sends none, the gateway computes it.
    let mut headers = req.headers.clone();
    if let Some((wanted, _)) = upload_algorithm(&upload) {
        match declared_algorithm(&req.headers)? {
            Some(a) if a != wanted => {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        wanted.as_str().to_ascii_lowercase(),
                        a.as_str().to_ascii_lowercase()
                    ),
                )
                .resource(resource));
            }
            Some(_) => {}
            None => insert_header(
                &mut headers,
                "x-amz-sdk-checksum-algorithm",
                wanted.as_str(),
            ),
        }
    }
    let body = req.take_body();
    let payload = req.payload.clone();
    let bucket = req.bucket.clone();
    let Received {
        written, checksum, ..
    } = receive(
        &req,
        &bucket,
        &key,
        body,
        &headers,
        &payload,
        &PutConditions::default(),
        None,
    )
    .await?;
    let mut checksums = BTreeMap::new();
    if let Some(c) = &checksum {
        checksums.insert(c.algorithm.header_name().to_string(), c.to_base64());
    }
    req.client
        .put_part(upload_id, part_number, &written, checksums)
        .await
        .map_err(|e| record_part_error(e, &resource))?;
    let mut response = empty(StatusCode::OK);
    insert_header(
        response.headers_mut(),
        "etag",
        &quoted_etag(&written.md5_hex),
    );
    if let Some(c) = checksum {
        if let Ok(v) = HeaderValue::from_str(&c.to_base64()) {
            response.headers_mut().insert(c.algorithm.header_name(), v);
        }
    }
    Ok(response)
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against a source of
/// `size` bytes: the byte range `[first, last + 1)`.
pub fn parse_copy_range(value: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRange,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last + 1))
}

/// The ETag of a copied part. S3 answers the MD5 of the bytes; the gateway
/// reads none, so it answers the source's MD5 when the part is the whole of
/// a single-part source, and otherwise a digest that names the source's
/// version and the range (stable, unique, and as opaque to clients as an
/// MD5).
fn copied_part_etag(source: &Node, start: u64, end: u64) -> String {
    let etag = etag_of(source);
    let plain_md5 = etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit());
    if start == 0 && end == source.size && plain_md5 {
        return etag;
    }
    let mut h = Md5::new();
    h.update(b"cairn-copied-part\0");
    h.update(etag.as_bytes());
    h.update(source.mtime_ns.to_be_bytes());
    h.update(start.to_be_bytes());
    h.update(end.to_be_bytes());
    for e in &source.extents {
        h.update(e.chunk_id.to_be_bytes());
    }
    hex::encode(h.finalize())
}

/// The checksum of the bytes `[start, end)` of `source`, read once: a part
/// copied into an upload with a checksum algorithm needs its checksum as
/// much as an uploaded one (S3 computes it for copies too), and no stored
/// value covers an arbitrary range.
async fn copied_checksum(
    req: &Request,
    source: &Node,
    start: u64,
    end: u64,
    algorithm: ChecksumAlgorithm,
    resource: &str,
) -> S3Result<Checksum> {
    let mut checksummer = Checksummer::new().with_flexible(Some(algorithm));
    let mut stream = std::pin::pin!(req.client.read(source, start, end - start));
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| to_s3(e, Missing::Key, resource))?;
        checksummer.update(&piece);
    }
    checksummer
        .finish()
        .flexible
        .ok_or_else(|| S3Error::new(ErrorCode::InternalError))
}

pub async fn upload_part_copy(
    req: Request,
    part_number: u32,
    upload_id: &str,
) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let upload = upload_for(&req, upload_id).await?;
    let (_, _, source) = copy_source(&req).await?;
    if crate::ops::sse::of_node(&source)?.is_some() {
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "UploadPartCopy from an encrypted object is not implemented yet.",
        )
        .resource(resource));
    }
    crate::ops::sse::key_for_read(&req, None, crate::ops::sse::COPY_SOURCE)?;
    let (start, end) = match req.header("x-amz-copy-source-range") {
        Some(range) => parse_copy_range(range, source.size)?,
        None => (0, source.size),
    };
    if end - start > MAX_PUT_SIZE {
        return Err(S3Error::new(ErrorCode::EntityTooLarge).resource(resource));
    }
    let checksum = match upload_algorithm(&upload) {
        Some((algorithm, _)) => {
            Some(copied_checksum(&req, &source, start, end, algorithm, &resource).await?)
        }
        None => None,
    };
    let mut checksums = BTreeMap::new();
    if let Some(c) = &checksum {
        checksums.insert(c.algorithm.header_name().to_string(), c.to_base64());
    }
    let written = WrittenData {
        size: end - start,
        md5_hex: copied_part_etag(&source, start, end),
        extents: slice_extents(&source.extents, start, end),
        chunk_lengths: Vec::new(),
    };
    req.client
        .put_part(upload_id, part_number, &written, checksums)
        .await
        .map_err(|e| match e {
            // The source's chunks went away since it was looked up.
            ClusterError::Invalid(_) => S3Error::with_message(
                ErrorCode::NoSuchKey,
                "The copy source was deleted while being copied.",
            )
            .resource(resource.clone()),
            other => record_part_error(other, &resource),
        })?;
    let mut response = xml(to_xml_named(
        "CopyPartResult",
        &CopyPartResult {
            xmlns: (),
            last_modified: format_iso8601_ns(cairn_common::time::now_ns()),
            etag: quoted_etag(&written.md5_hex),
            checksum: checksum
                .map(|c| ChecksumElements::of(c.algorithm, c.to_base64()))
                .unwrap_or_default(),
        },
    )?);
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

// --------------------------------------------------------------- complete ---

/// An ETag as sent in a CompleteMultipartUpload body: quotes dropped.
fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// `hex(md5(concat(md5 of each part)))-N`.
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Md5::new();
    let mut n = 0usize;
    for etag in part_etags {
        n += 1;
        match hex::decode(etag) {
            Ok(raw) => h.update(&raw),
            // Not an MD5 (never made by this gateway): hash the text.
            Err(_) => h.update(etag.as_bytes()),
        }
    }
    format!("{}-{n}", hex::encode(h.finalize()))
}

/// The checksum a completed part list claims for `algorithm`, if given.
fn claimed_checksum(part: &CompletedPart, algorithm: ChecksumAlgorithm) -> Option<&str> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => part.checksum_crc32.as_deref(),
        ChecksumAlgorithm::Crc32c => part.checksum_crc32c.as_deref(),
        ChecksumAlgorithm::Crc64Nvme => part.checksum_crc64nvme.as_deref(),
        ChecksumAlgorithm::Sha1 => part.checksum_sha1.as_deref(),
        ChecksumAlgorithm::Sha256 => part.checksum_sha256.as_deref(),
    }
}

/// Checks the client's part list against the uploaded parts; returns the
/// part numbers, the parts' sizes and their ETags, in order.
pub fn check_parts(
    listed: &[CompletedPart],
    upload: &Upload,
) -> S3Result<(Vec<u32>, Vec<u64>, Vec<String>)> {
    let mut numbers = Vec::with_capacity(listed.len());
    let mut sizes = Vec::with_capacity(listed.len());
    let mut etags = Vec::with_capacity(listed.len());
    if listed
        .windows(2)
        .any(|w| w[1].part_number <= w[0].part_number)
    {
        return Err(S3Error::new(ErrorCode::InvalidPartOrder));
    }
    let last = listed.len().saturating_sub(1);
    for (i, claimed) in listed.iter().enumerate() {
        let part = upload
            .parts
            .iter()
            .find(|p| p.part_number == claimed.part_number)
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidPart,
                    format!(
                        "Part {} was not uploaded to this upload.",
                        claimed.part_number
                    ),
                )
            })?;
        if bare_etag(&claimed.etag) != part.etag {
            return Err(S3Error::with_message(
                ErrorCode::InvalidPart,
                format!(
                    "The ETag given for part {} is not the part's.",
                    claimed.part_number
                ),
            ));
        }
        for algorithm in ChecksumAlgorithm::ALL {
            if let Some(value) = claimed_checksum(claimed, algorithm) {
                if part
                    .checksums
                    .get(algorithm.header_name())
                    .map(String::as_str)
                    != Some(value.trim())
                {
                    return Err(S3Error::with_message(
                        ErrorCode::InvalidPart,
                        format!(
                            "The {} given for part {} is not the part's.",
                            algorithm.as_str(),
                            claimed.part_number
                        ),
                    ));
                }
            }
        }
        if i != last && part.size < MIN_PART_SIZE {
            return Err(S3Error::new(ErrorCode::EntityTooSmall)
                .extra("ProposedSize", part.size.to_string())
                .extra("MinSizeAllowed", MIN_PART_SIZE.to_string())
                .extra("PartNumber", part.part_number.to_string())
                .extra("ETag", part.etag.clone()));
        }
        numbers.push(part.part_number);
        sizes.push(part.size);
        etags.push(part.etag.clone());
    }
    Ok((numbers, sizes, etags))
}

/// `x-amz-mp-object-size`, when given, must be the object's size.
fn check_object_size(req: &Request, size: u64) -> S3Result<()> {
    let Some(claimed) = req.header("x-amz-mp-object-size") else {
        return Ok(());
    };
    match claimed.trim().parse::<u64>() {
        Ok(n) if n == size => Ok(()),
        Ok(n) => Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            format!("The provided 'x-amz-mp-object-size' header value {n} does not match what was computed: {size}"),
        )),
        Err(_) => Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Value for x-amz-mp-object-size header is invalid.",
        )),
    }
}

pub async fn complete(req: Request, upload_id: &str) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let resource = req.resource();
    let conditions = put_conditions(&req)?;
    let body = read_bounded(req.take_body(), MAX_XML_BODY).await?;
    let listed = CompleteMultipartUpload::parse(&body)?;
    let upload = match upload_for(&req, upload_id).await {
        Ok(upload) => upload,
        Err(e) if e.code == ErrorCode::NoSuchUpload => {
            return repeat::answer_again(&req, upload_id, &listed.parts, e).await
        }
        Err(e) => return Err(e),
    };
    let (numbers, sizes, etags) =
        check_parts(&listed.parts, &upload).map_err(|e| e.resource(resource.clone()))?;
    let etag = multipart_etag(etags.iter().map(String::as_str));
    let checksum_of = upload_algorithm(&upload);
    let part_checksums: Option<Vec<&str>> = checksum_of.and_then(|(a, _)| {
        numbers
            .iter()
            .map(|n| {
                let part = upload.parts.iter().find(|p| p.part_number == *n)?;
                part.checksums.get(a.header_name()).map(String::as_str)
            })
            .collect()
    });
    let checksum = checksum_of
        .zip(part_checksums.as_ref())
        .and_then(|((a, kind), values)| {
            let parts: Vec<(u64, Option<&str>)> = sizes
                .iter()
                .copied()
                .zip(values.iter().copied().map(Some))
                .collect();
            object_checksum(&parts, a, kind).map(|value| (a, value))
        });
    check_claimed(
        &req.headers,
        checksum_of,
        checksum.as_ref().map(|(_, v)| v.as_str()),
    )
    .and_then(|()| check_object_size(&req, sizes.iter().sum()))
    .map_err(|e| e.resource(resource.clone()))?;

    // What only completion knows (part sizes and checksums, the object's
    // checksum, the upload it came from) and what the upload kept for the
    // object's version, in the same commit.
    let mut completion = Completion::default();
    completion.remove_headers.extend([
        UPLOAD_CHECKSUM_HEADER.to_string(),
        UPLOAD_CHECKSUM_TYPE_HEADER.to_string(),
    ]);
    completion.set_headers.insert(
        PART_SIZES_HEADER.to_string(),
        sizes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(values) = &part_checksums {
        completion
            .set_headers
            .insert(PART_CHECKSUMS_HEADER.to_string(), values.join(","));
    }
    if let Some((a, value)) = &checksum {
        completion
            .set_headers
            .insert(a.header_name().to_string(), value.clone());
    }
    completion
        .set_headers
        .insert(COMPLETED_UPLOAD_HEADER.to_string(), upload_id.to_string());
    let kept = upload
        .node
        .as_ref()
        .map(|n| n.headers.clone())
        .unwrap_or_default();
    let (protection, upload_only) = super::versioning::unstash_protection(&kept);
    completion.protection = protection;
    completion.remove_headers.extend(upload_only);
    let completed = req
        .client
        .complete_upload_with(upload_id, &numbers, &etag, conditions, completion)
        .await;
    let node = match completed {
        Ok(node) => node,
        // Completed meanwhile by another request.
        Err(ClusterError::NotFound(m)) if m.starts_with("upload ") => {
            let missing = no_such_upload(resource.clone());
            return repeat::answer_again(&req, upload_id, &listed.parts, missing).await;
        }
        // If-Match on a key that does not exist.
        Err(ClusterError::NotFound(_)) => {
            return Err(S3Error::new(ErrorCode::NoSuchKey).resource(resource))
        }
        Err(ClusterError::Invalid(m)) => {
            return Err(S3Error::with_message(ErrorCode::InvalidPart, m).resource(resource))
        }
        Err(other) => return Err(to_s3(other, Missing::Bucket, &resource)),
    };
    completion_answer(&req, &key, &etag, checksum.as_ref(), &node.version_id)
}

/// The answer of a completion: where the object is, its ETag, checksum
/// and checksum type, and its version.
fn completion_answer(
    req: &Request,
    key: &str,
    etag: &str,
    checksum: Option<&(ChecksumAlgorithm, String)>,
    version_id: &str,
) -> S3Result<Response<Body>> {
    let host = req.header("host").unwrap_or("localhost");
    let kind = checksum.map(|(_, value)| ChecksumType::of_value(value));
    let result = CompleteMultipartUploadResult {
        xmlns: (),
        location: format!("http://{host}/{}/{}", req.bucket, uri_encode(key)),
        bucket: req.bucket.clone(),
        key: key.to_string(),
        etag: quoted_etag(etag),
        checksum: checksum
            .map(|(a, c)| ChecksumElements::of(*a, c.clone()))
            .unwrap_or_default(),
        checksum_type: kind.map(|k| k.as_str().to_string()),
    };
    let mut response = xml(to_xml_named("CompleteMultipartUploadResult", &result)?);
    if let Some(kind) = kind {
        insert_header(response.headers_mut(), "x-amz-checksum-type", kind.as_str());
    }
    super::meta::insert_version_id(response.headers_mut(), version_id);
    Ok(response)
}

// ------------------------------------------------------------------ abort ---

pub async fn abort(req: Request, upload_id: &str) -> S3Result<Response<Body>> {
    let resource = req.resource();
    upload_for(&req, upload_id).await?;
    req.client
        .abort_upload(upload_id)
        .await
        .map_err(|e| to_s3(e, Missing::Upload, &resource))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

// --------------------------------------------------------------- listings ---

#[cfg(test)]
mod tests;
