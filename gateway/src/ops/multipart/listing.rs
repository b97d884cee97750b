//! ListParts and ListMultipartUploads.

use super::*;
use crate::ops::list::url_encoding;

fn max_param(req: &Request, name: &str) -> S3Result<usize> {
    match req.query.get(name) {
        None => Ok(MAX_LIST_KEYS),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(MAX_LIST_KEYS))
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    format!("Provided {name} not an integer or within integer range"),
                )
            }),
    }
}

pub async fn list_parts(req: Request, upload_id: &str) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let upload = upload_for(&req, upload_id).await?;
    let checksum_of = upload_algorithm(&upload);
    let max_parts = max_param(&req, "max-parts")?;
    let marker = match req.query.get("part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Provided part-number-marker not an integer or within integer range",
            )
        })?,
    };
    let mut parts: Vec<&cairn_client::Part> = upload
        .parts
        .iter()
        .filter(|p| p.part_number > marker)
        .collect();
    parts.sort_by_key(|p| p.part_number);
    let truncated = parts.len() > max_parts;
    parts.truncate(max_parts);
    let next = parts.last().map_or(marker, |p| p.part_number);
    let who = req
        .access_key
        .as_ref()
        .map(|k| k.id.clone())
        .unwrap_or_default();
    let entries = parts
        .iter()
        .map(|p| PartEntry {
            part_number: p.part_number,
            last_modified: format_iso8601_ns(p.modified_ns),
            etag: quoted_etag(&p.etag),
            size: p.size,
            checksum: checksum_of
                .and_then(|(a, _)| Some((a, p.checksums.get(a.header_name())?.clone())))
                .map(|(a, value)| ChecksumElements::of(a, value))
                .unwrap_or_default(),
        })
        .collect();
    Ok(xml(to_xml(&ListPartsResult {
        xmlns: (),
        bucket: req.bucket.clone(),
        key,
        upload_id: upload.upload_id.clone(),
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts,
        is_truncated: truncated,
        parts: entries,
        initiator: owner(&who),
        owner: owner(&who),
        storage_class: "STANDARD",
        checksum_algorithm: checksum_of.map(|(a, _)| a.as_str()),
        checksum_type: checksum_of.map(|(_, kind)| kind.as_str()),
    })?))
}

/// One page of in-progress uploads, grouped by delimiter.
#[derive(Debug, Default)]
struct UploadPage {
    uploads: Vec<Upload>,
    prefixes: Vec<String>,
    truncated: bool,
    next_key: String,
    next_upload_id: String,
}

pub async fn list_uploads(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let prefix = req.query.get("prefix").unwrap_or("").to_string();
    let delimiter = req
        .query
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let key_marker = req.query.get("key-marker").unwrap_or("").to_string();
    // An upload-id-marker means nothing without a key-marker.
    let upload_id_marker = if key_marker.is_empty() {
        String::new()
    } else {
        req.query.get("upload-id-marker").unwrap_or("").to_string()
    };
    let max_uploads = max_param(&req, "max-uploads")?;
    let encode = url_encoding(&req)?;

    let mut page = UploadPage::default();
    let mut cursor_key = key_marker.as_bytes().to_vec();
    let mut cursor_id = upload_id_marker.clone();
    let mut count = 0usize;
    'fetch: loop {
        let (batch, more) = req
            .client
            .list_uploads(
                &req.bucket,
                prefix.as_bytes(),
                &cursor_key,
                &cursor_id,
                MAX_LIST_KEYS as u32,
            )
            .await
            .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
        let batch_len = batch.len();
        for upload in batch {
            if count == max_uploads {
                page.truncated = true;
                break 'fetch;
            }
            let key = String::from_utf8_lossy(&upload.key).into_owned();
            let common = delimiter.as_deref().and_then(|d| {
                let rest = key.get(prefix.len()..)?;
                let at = rest.find(d)?;
                key.get(..prefix.len() + at + d.len()).map(str::to_string)
            });
            count += 1;
            if let Some(common) = common {
                // Everything under it is answered by the prefix: go on
                // after it.
                page.next_key = common.clone();
                page.next_upload_id = String::new();
                cursor_key = past_prefix(&common);
                cursor_id = String::new();
                page.prefixes.push(common);
                continue 'fetch;
            }
            page.next_key = key;
            page.next_upload_id = upload.upload_id.clone();
            cursor_key = upload.key.clone();
            cursor_id = upload.upload_id.clone();
            page.uploads.push(upload);
        }
        if !more || batch_len == 0 {
            break;
        }
    }
    if !page.truncated {
        page.next_key = String::new();
        page.next_upload_id = String::new();
    }

    let enc = |s: &str| {
        if encode {
            uri_encode(s)
        } else {
            s.to_string()
        }
    };
    let who = req
        .access_key
        .as_ref()
        .map(|k| k.id.clone())
        .unwrap_or_default();
    let uploads = page
        .uploads
        .iter()
        .map(|u| UploadEntry {
            key: enc(&String::from_utf8_lossy(&u.key)),
            upload_id: u.upload_id.clone(),
            initiator: owner(&who),
            owner: owner(&who),
            storage_class: "STANDARD",
            initiated: format_iso8601_ns(u.created_ns),
            checksum_algorithm: upload_algorithm(u).map(|(a, _)| a.as_str()),
            checksum_type: upload_algorithm(u).map(|(_, kind)| kind.as_str()),
        })
        .collect();
    Ok(xml(to_xml(&ListMultipartUploadsResult {
        xmlns: (),
        bucket: req.bucket.clone(),
        key_marker: enc(&key_marker),
        upload_id_marker,
        next_key_marker: enc(&page.next_key),
        next_upload_id_marker: page.next_upload_id,
        prefix: enc(&prefix),
        delimiter: delimiter.as_deref().map(enc),
        max_uploads,
        is_truncated: page.truncated,
        encoding_type: encode.then_some("url"),
        uploads,
        common_prefixes: page
            .prefixes
            .iter()
            .map(|p| CommonPrefix { prefix: enc(p) })
            .collect(),
    })?))
}
