//! What only the S3 door needs: access keys with per-bucket permissions,
//! and multipart uploads.
//!
//! Chunk references: each part holds one reference on each chunk its extents
//! name, from PutPart until the upload ends. CompleteUpload first places the
//! object (whose inode takes its own references), then releases every part,
//! so the listed parts' chunks pass from the upload to the object without
//! ever reaching zero, and the unlisted ones are freed.

use std::collections::BTreeMap;

use cairn_common::FsError;
use redb::ReadableTable;

use super::keys::{self, bucket_info, check_key, remember};
use super::{chunks, Tables};
use crate::command::{CommandReply, ObjectSpec};
use crate::error::OrIo;
use crate::schema::{
    Protection,
    self, AccessKeyInfo, BucketPermission, Extent, PartInfo, RememberedRequest, Stored, UploadInfo,
};

/// S3's limit on part numbers.
pub const MAX_PART_NUMBER: u32 = 10_000;

// ------------------------------------------------------------ access keys ---

fn get_key(t: &Tables, key_id: &str) -> Result<AccessKeyInfo, FsError> {
    schema::get_record::<&str, _, AccessKeyInfo>(&t.access_keys, key_id)?
        .ok_or_else(|| FsError::NotFound(format!("access key {key_id}")))
}

fn put_key_record(t: &mut Tables, key: &AccessKeyInfo) -> Result<(), FsError> {
    let bytes = key.encode()?;
    t.access_keys
        .insert(key.key_id.as_str(), bytes.as_slice())
        .io()?;
    Ok(())
}

pub(super) fn create_access_key(
    t: &mut Tables,
    key_id: &str,
    secret: &str,
    name: &str,
    now_ns: i64,
) -> Result<CommandReply, FsError> {
    // Lenient, so that keys of other S3 stores can be imported: what must
    // hold is that both travel in headers and URLs unchanged.
    let id_ok = !key_id.is_empty()
        && key_id.len() <= 128
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !id_ok {
        return Err(FsError::Invalid(format!(
            "access key id `{key_id}`: 1 to 128 letters, digits, `.`, `_` or `-`"
        )));
    }
    if secret.is_empty() || secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FsError::Invalid(
            "an access key secret has 1 to 256 printable ASCII characters, no spaces".into(),
        ));
    }
    if t.access_keys.get(key_id).io()?.is_some() {
        return Err(FsError::Exists(format!("access key {key_id}")));
    }
    let key = AccessKeyInfo {
        key_id: key_id.to_string(),
        secret: secret.to_string(),
        name: name.to_string(),
        created_ns: now_ns,
        permissions: Vec::new(),
    };
    put_key_record(t, &key)?;
    Ok(CommandReply::AccessKey(key))
}

pub(super) fn delete_access_key(t: &mut Tables, key_id: &str) -> Result<CommandReply, FsError> {
    if t.access_keys.remove(key_id).io()?.is_none() {
        return Err(FsError::NotFound(format!("access key {key_id}")));
    }
    Ok(CommandReply::Done)
}

pub(super) fn set_bucket_permission(
    t: &mut Tables,
    key_id: &str,
    permission: &BucketPermission,
) -> Result<CommandReply, FsError> {
    let mut key = get_key(t, key_id)?;
    bucket_info(t, &permission.bucket)?;
    key.permissions.retain(|p| p.bucket != permission.bucket);
    if permission.read || permission.write || permission.owner {
        key.permissions.push(permission.clone());
        key.permissions.sort_by(|a, b| a.bucket.cmp(&b.bucket));
    }
    put_key_record(t, &key)?;
    Ok(CommandReply::AccessKey(key))
}

/// Drops every key's permission on a bucket that is going away, so that a
/// new bucket of the same name does not inherit them.
pub(super) fn forget_bucket_permissions(t: &mut Tables, bucket: &str) -> Result<(), FsError> {
    let mut changed = Vec::new();
    for entry in t.access_keys.iter().io()? {
        let (_, v) = entry.io()?;
        let mut key = AccessKeyInfo::decode(v.value())?;
        if key.permissions.iter().any(|p| p.bucket == bucket) {
            key.permissions.retain(|p| p.bucket != bucket);
            changed.push(key);
        }
    }
    for key in changed {
        put_key_record(t, &key)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- uploads ---

fn get_upload(t: &Tables, upload_id: &str) -> Result<UploadInfo, FsError> {
    schema::get_record::<&str, _, UploadInfo>(&t.uploads, upload_id)?
        .ok_or_else(|| FsError::NotFound(format!("upload {upload_id}")))
}

fn put_upload(t: &mut Tables, upload: &UploadInfo) -> Result<(), FsError> {
    let bytes = upload.encode()?;
    t.uploads
        .insert(upload.upload_id.as_str(), bytes.as_slice())
        .io()?;
    Ok(())
}

/// Removes an upload and releases all its parts.
fn end_upload(t: &mut Tables, upload: &UploadInfo) -> Result<(), FsError> {
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
) -> Result<CommandReply, FsError> {
    check_key(key)?;
    bucket_info(t, bucket)?;
    if upload_id.is_empty() || upload_id.len() > 256 {
        return Err(FsError::Invalid("an upload id has 1 to 256 bytes".into()));
    }
    if t.uploads.get(upload_id).io()?.is_some() {
        return Err(FsError::Exists(format!("upload {upload_id}")));
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
) -> Result<CommandReply, FsError> {
    let mut upload = get_upload(t, upload_id)?;
    if part.part_number == 0 || part.part_number > MAX_PART_NUMBER {
        return Err(FsError::Invalid(format!(
            "part number {}: 1 to {MAX_PART_NUMBER}",
            part.part_number
        )));
    }
    chunks::check_extents(&part.extents, t.chunk_size()?)?;
    if part.extents.last().is_some_and(|e| e.end() > part.size) {
        return Err(FsError::Invalid(format!(
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
) -> Result<CommandReply, FsError> {
    if c.request_id != 0 {
        if let Some(seen) =
            schema::get_record::<u64, _, RememberedRequest>(&t.requests, c.request_id)?
        {
            return Ok(seen.reply);
        }
    }
    let upload = get_upload(t, c.upload_id)?;
    if c.part_numbers.is_empty() {
        return Err(FsError::Invalid(
            "a multipart upload completes with at least one part".into(),
        ));
    }
    let mut extents: Vec<Extent> = Vec::new();
    let mut offset = 0u64;
    let mut previous = 0u32;
    for &number in c.part_numbers {
        if number <= previous {
            return Err(FsError::Invalid(format!(
                "part {number} listed after part {previous}: parts must be in ascending order"
            )));
        }
        previous = number;
        let part = upload.parts.get(&number).ok_or_else(|| {
            FsError::Invalid(format!(
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
            .ok_or_else(|| FsError::Invalid("object size overflows".into()))?;
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
    let reply = keys::put_key(
        t,
        keys::PutKey {
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
        remember(t, c.request_id, &reply)?;
    }
    Ok(reply)
}

pub(super) fn abort_upload(t: &mut Tables, upload_id: &str) -> Result<CommandReply, FsError> {
    let upload = get_upload(t, upload_id)?;
    end_upload(t, &upload)?;
    Ok(CommandReply::Done)
}

/// Aborts every upload of a bucket that is going away.
pub(super) fn abort_bucket_uploads(t: &mut Tables, bucket: &str) -> Result<(), FsError> {
    let start: (&str, &[u8], &str) = (bucket, &[], "");
    let mut ids = Vec::new();
    for entry in t.upload_index.range(start..).io()? {
        let (k, _) = entry.io()?;
        let (b, _, id) = k.value();
        if b != bucket {
            break;
        }
        ids.push(id.to_string());
    }
    for id in ids {
        let upload = get_upload(t, &id)?;
        end_upload(t, &upload)?;
    }
    Ok(())
}
