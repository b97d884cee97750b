//! S3's multipart uploads: created, filled part by part, completed into
//! an object (through PutKey) or aborted.
//!
//! Chunk references: each part holds one reference on each chunk its extents
//! name, from PutPart until the upload ends. CompleteUpload first places the
//! object (whose inode takes its own references), then releases every part,
//! so the listed parts' chunks pass from the upload to the object without
//! ever reaching zero, and the unlisted ones are freed.

use std::collections::BTreeMap;

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::objects::{bucket_info, check_key};
use super::{chunks, put, requests, Tables};
use crate::command::{CommandReply, ObjectSpec};
use crate::error::OrIo;
use crate::schema::{self, Extent, PartInfo, Protection, Stored, UploadInfo};

/// S3's limit on part numbers.
pub const MAX_PART_NUMBER: u32 = 10_000;

fn get_upload(t: &Tables, upload_id: &str) -> Result<UploadInfo, ClusterError> {
    schema::get_record::<&str, _, UploadInfo>(&t.uploads, upload_id)?
        .ok_or_else(|| ClusterError::NotFound(format!("upload {upload_id}")))
}

fn put_upload(t: &mut Tables, upload: &UploadInfo) -> Result<(), ClusterError> {
    let bytes = upload.encode()?;
    t.uploads
        .insert(upload.upload_id.as_str(), bytes.as_slice())
        .io()?;
    Ok(())
}

/// Removes an upload and releases all its parts.
fn end_upload(t: &mut Tables, upload: &UploadInfo) -> Result<(), ClusterError> {
    for part in upload.parts.values() {
        chunks::release_chunks(t, &part.extents)?;
    }
    t.uploads.remove(upload.upload_id.as_str()).io()?;
    t.upload_index
        .remove((
            upload.bucket.as_str(),
            upload.key.as_slice(),
            upload.upload_id.as_str(),
        ))
        .io()?;
    Ok(())
}

pub(super) fn create_upload(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    object: &ObjectSpec,
    upload_id: &str,
    created_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_key(key)?;
    bucket_info(t, bucket)?;
    if upload_id.is_empty() || upload_id.len() > 256 {
        return Err(ClusterError::Invalid(
            "an upload id has 1 to 256 bytes".into(),
        ));
    }
    if t.uploads.get(upload_id).io()?.is_some() {
        return Err(ClusterError::Exists(format!("upload {upload_id}")));
    }
    let upload = UploadInfo {
        bucket: bucket.to_string(),
        key: key.to_vec(),
        upload_id: upload_id.to_string(),
        created_ns,
        // The layout comes from the parts; whatever extents the caller sent
        // are not the object's.
        object: ObjectSpec {
            extents: Vec::new(),
            size: 0,
            ..object.clone()
        },
        parts: Default::default(),
    };
    put_upload(t, &upload)?;
    t.upload_index.insert((bucket, key, upload_id), ()).io()?;
    Ok(CommandReply::Upload(upload))
}

pub(super) fn put_part(
    t: &mut Tables,
    upload_id: &str,
    part: &PartInfo,
    chunk_lengths: &[(u64, u64)],
) -> Result<CommandReply, ClusterError> {
    let mut upload = get_upload(t, upload_id)?;
    if part.part_number == 0 || part.part_number > MAX_PART_NUMBER {
        return Err(ClusterError::Invalid(format!(
            "part number {}: 1 to {MAX_PART_NUMBER}",
            part.part_number
        )));
    }
    chunks::check_extents(&part.extents, t.chunk_size()?)?;
    if part.extents.last().is_some_and(|e| e.end() > part.size) {
        return Err(ClusterError::Invalid(format!(
            "part {}: extents reach past its {} bytes",
            part.part_number, part.size
        )));
    }
    chunks::raise_lengths(t, chunk_lengths)?;
    chunks::raise_lengths_to_extents(t, &part.extents)?;
    // Hold the new part's chunks before releasing the old part's, in case
    // they share one.
    chunks::hold_chunks(t, &part.extents)?;
    if let Some(old) = upload.parts.insert(part.part_number, part.clone()) {
        chunks::release_chunks(t, &old.extents)?;
    }
    put_upload(t, &upload)?;
    Ok(CommandReply::Done)
}

/// Arguments of CompleteUpload.
pub(super) struct Complete<'a> {
    pub upload_id: &'a str,
    pub part_numbers: &'a [u32],
    pub etag: &'a str,
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub mtime_ns: i64,
    pub request_id: u64,
    pub set_headers: Option<&'a BTreeMap<String, String>>,
    pub remove_headers: &'a [String],
    pub protection: Option<&'a Protection>,
}

pub(super) fn complete_upload(
    t: &mut Tables,
    c: Complete,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if let Some(reply) = requests::recall(t, c.request_id)? {
        return Ok(reply);
    }
    let upload = get_upload(t, c.upload_id)?;
    if c.part_numbers.is_empty() {
        return Err(ClusterError::Invalid(
            "a multipart upload completes with at least one part".into(),
        ));
    }
    let mut extents: Vec<Extent> = Vec::new();
    let mut offset = 0u64;
    let mut previous = 0u32;
    for &number in c.part_numbers {
        if number <= previous {
            return Err(ClusterError::Invalid(format!(
                "part {number} listed after part {previous}: parts must be in ascending order"
            )));
        }
        previous = number;
        let part = upload.parts.get(&number).ok_or_else(|| {
            ClusterError::Invalid(format!(
                "part {number} was not uploaded to upload {}",
                c.upload_id
            ))
        })?;
        extents.extend(part.extents.iter().map(|e| Extent {
            file_offset: e.file_offset + offset,
            ..*e
        }));
        offset = offset
            .checked_add(part.size)
            .ok_or_else(|| ClusterError::Invalid("object size overflows".into()))?;
    }
    let mut object = ObjectSpec {
        size: offset,
        etag: c.etag.to_string(),
        mtime_ns: c.mtime_ns,
        extents,
        ..upload.object.clone()
    };
    for name in c.remove_headers {
        object.headers.remove(name);
    }
    if let Some(set) = c.set_headers {
        object
            .headers
            .extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let reply = put::put_key(
        t,
        put::PutKey {
            bucket: &upload.bucket,
            key: &upload.key,
            object: &object,
            if_match: c.if_match,
            if_none_match: c.if_none_match,
            request_id: 0,
            protection: c.protection,
        },
        now_ns,
    )?;
    end_upload(t, &upload)?;
    if c.request_id != 0 {
        requests::remember(t, c.request_id, &reply)?;
    }
    Ok(reply)
}

pub(super) fn abort_upload(t: &mut Tables, upload_id: &str) -> Result<CommandReply, ClusterError> {
    let upload = get_upload(t, upload_id)?;
    end_upload(t, &upload)?;
    Ok(CommandReply::Done)
}

/// Whether a multipart upload of `bucket` is in progress.
pub(super) fn bucket_has_uploads(t: &Tables, bucket: &str) -> Result<bool, ClusterError> {
    let start: (&str, &[u8], &str) = (bucket, &[], "");
    match t.upload_index.range(start..).io()?.next() {
        Some(entry) => Ok(entry.io()?.0.value().0 == bucket),
        None => Ok(false),
    }
}
