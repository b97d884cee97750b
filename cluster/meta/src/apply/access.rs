//! S3 access keys and their per-bucket permissions.

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::objects::bucket_info;
use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::{self, AccessKeyInfo, BucketPermission, Stored};

fn get_key(t: &Tables, key_id: &str) -> Result<AccessKeyInfo, ClusterError> {
    schema::get_record::<&str, _, AccessKeyInfo>(&t.access_keys, key_id)?
        .ok_or_else(|| ClusterError::NotFound(format!("access key {key_id}")))
}

fn put_key_record(t: &mut Tables, key: &AccessKeyInfo) -> Result<(), ClusterError> {
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
    admin: bool,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    // Lenient, so that keys of other S3 stores can be imported: what must
    // hold is that both travel in headers and URLs unchanged.
    let id_ok = !key_id.is_empty()
        && key_id.len() <= 128
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !id_ok {
        return Err(ClusterError::Invalid(format!(
            "access key id `{key_id}`: 1 to 128 letters, digits, `.`, `_` or `-`"
        )));
    }
    if secret.is_empty() || secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ClusterError::Invalid(
            "an access key secret has 1 to 256 printable ASCII characters, no spaces".into(),
        ));
    }
    if t.access_keys.get(key_id).io()?.is_some() {
        return Err(ClusterError::Exists(format!("access key {key_id}")));
    }
    let key = AccessKeyInfo {
        key_id: key_id.to_string(),
        secret: secret.to_string(),
        name: name.to_string(),
        created_ns: now_ns,
        permissions: Vec::new(),
        admin,
    };
    put_key_record(t, &key)?;
    Ok(CommandReply::AccessKey(key))
}

pub(super) fn delete_access_key(
    t: &mut Tables,
    key_id: &str,
) -> Result<CommandReply, ClusterError> {
    if t.access_keys.remove(key_id).io()?.is_none() {
        return Err(ClusterError::NotFound(format!("access key {key_id}")));
    }
    Ok(CommandReply::Done)
}

pub(super) fn set_bucket_permission(
    t: &mut Tables,
    key_id: &str,
    permission: &BucketPermission,
) -> Result<CommandReply, ClusterError> {
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
pub(super) fn forget_bucket_permissions(t: &mut Tables, bucket: &str) -> Result<(), ClusterError> {
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
