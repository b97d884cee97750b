//! A bucket's settings: the versioning state and object lock that `apply`
//! acts on (typed, under `protection`), and the settings the doors own and
//! the MDS only stores (tagging, lifecycle, ...).

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::versions::is_reserved_setting;
use crate::schema::{self, BucketProtection, ObjectLockConfig, Stored, Versioning};

/// The versioning and object lock settings of `bucket` (defaults when it
/// never had any).
pub(super) fn bucket_protection(
    t: &Tables,
    bucket: &str,
) -> Result<BucketProtection, ClusterError> {
    Ok(schema::get_record::<(&str, &str), _, BucketProtection>(
        &t.bucket_settings,
        (bucket, BucketProtection::SETTING),
    )?
    .unwrap_or_default())
}

fn put_bucket_protection(
    t: &mut Tables,
    bucket: &str,
    settings: &BucketProtection,
) -> Result<(), ClusterError> {
    let bytes = settings.encode()?;
    t.bucket_settings
        .insert((bucket, BucketProtection::SETTING), bytes.as_slice())
        .io()?;
    Ok(())
}

pub(super) fn set_versioning(
    t: &mut Tables,
    bucket: &str,
    versioning: Versioning,
) -> Result<CommandReply, ClusterError> {
    t.bucket_info(bucket)?;
    let mut settings = bucket_protection(t, bucket)?;
    match versioning {
        Versioning::Unversioned => {
            return Err(ClusterError::Invalid(
                "versioning can be enabled or suspended, never turned back off".into(),
            ))
        }
        Versioning::Suspended if settings.object_lock.is_some() => {
            return Err(ClusterError::Conflict(format!(
                "bucket {bucket} has object lock: its versioning cannot be suspended"
            )))
        }
        _ => {}
    }
    settings.versioning = versioning;
    put_bucket_protection(t, bucket, &settings)?;
    Ok(CommandReply::Done)
}

pub(super) fn set_object_lock(
    t: &mut Tables,
    bucket: &str,
    config: &ObjectLockConfig,
) -> Result<CommandReply, ClusterError> {
    t.bucket_info(bucket)?;
    let mut settings = bucket_protection(t, bucket)?;
    if settings.versioning != Versioning::Enabled {
        return Err(ClusterError::Conflict(format!(
            "versioning must be enabled on bucket {bucket} before object lock"
        )));
    }
    settings.object_lock = Some(*config);
    put_bucket_protection(t, bucket, &settings)?;
    Ok(CommandReply::Done)
}

/// A new bucket made with object lock: versioning enabled, no default
/// retention yet.
pub(super) fn init_locked_bucket(t: &mut Tables, bucket: &str) -> Result<(), ClusterError> {
    put_bucket_protection(
        t,
        bucket,
        &BucketProtection {
            versioning: Versioning::Enabled,
            object_lock: Some(ObjectLockConfig::default()),
        },
    )
}

/// Sets (or with `None` removes) a setting the doors own (tagging,
/// lifecycle, ...), stored as they wrote it.
pub(super) fn set_setting(
    t: &mut Tables,
    bucket: &str,
    name: &str,
    value: Option<&[u8]>,
) -> Result<CommandReply, ClusterError> {
    t.bucket_info(bucket)?;
    if is_reserved_setting(name) || name.is_empty() {
        return Err(ClusterError::Invalid(format!(
            "bucket setting `{name}` cannot be set this way"
        )));
    }
    match value {
        Some(v) => {
            t.bucket_settings.insert((bucket, name), v).io()?;
        }
        None => {
            t.bucket_settings.remove((bucket, name)).io()?;
        }
    }
    Ok(CommandReply::Done)
}

/// Removes every setting of a bucket being deleted.
pub(super) fn forget_settings(t: &mut Tables, bucket: &str) -> Result<(), ClusterError> {
    let names: Vec<String> = {
        let mut names = Vec::new();
        for entry in t.bucket_settings.range((bucket, "")..).io()? {
            let (k, _) = entry.io()?;
            let (b, name) = k.value();
            if b != bucket {
                break;
            }
            names.push(name.to_string());
        }
        names
    };
    for name in names {
        t.bucket_settings.remove((bucket, name.as_str())).io()?;
    }
    Ok(())
}

/// Whether any version or delete marker of the bucket is kept.
pub(super) fn bucket_has_versions(t: &Tables, bucket: &str) -> Result<bool, ClusterError> {
    let start: (&str, &[u8], u64) = (bucket, &[], 0);
    match t.versions.range(start..).io()?.next() {
        Some(entry) => Ok(entry.io()?.0.value().0 == bucket),
        None => Ok(false),
    }
}
