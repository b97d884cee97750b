//! S3 lifecycle changes: the conditional commands the leader's lifecycle
//! runner (`crate::lifecycle`) chooses from a snapshot.
//!
//! Invariant: each change is made only while the state still is what the
//! runner saw ([`LifecycleAction`] states each condition), and a version
//! under legal hold or unexpired retention at the command's `now_ns` is
//! never removed nor expired (lifecycle never bypasses governance). A
//! command whose condition fails changes nothing and answers
//! [`LifecycleOutcome::Skipped`], so a command applied twice (a retry, a new
//! leader's pass over what the old one did) is applied at most once.
//!
//! The changes themselves are S3's DeleteObject (`versions::delete_object`):
//! without a version id for an expiration, with the version's id for a
//! removal, so that lifecycle and a client's delete do exactly the same.

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::{uploads, versions, Tables};
use crate::command::{CommandReply, LifecycleAction, LifecycleOutcome};
use crate::error::OrIo;
use crate::schema::{self, ObjectVersion, Stored, UploadInfo, VersionId};

/// The rows of `key` in `versions`, newest first.
fn rows(t: &Tables, bucket: &str, key: &[u8]) -> Result<Vec<ObjectVersion>, ClusterError> {
    let mut out = Vec::new();
    let start: (&str, &[u8], u64) = (bucket, key, 0);
    for entry in t.versions.range(start..).io()? {
        let (k, v) = entry.io()?;
        let (b, k_key, _) = k.value();
        if b != bucket || k_key != key {
            break;
        }
        out.push(ObjectVersion::decode(v.value())?);
    }
    Ok(out)
}

fn done(outcome: LifecycleOutcome) -> Result<CommandReply, ClusterError> {
    Ok(CommandReply::Lifecycle(outcome))
}

fn skipped() -> Result<CommandReply, ClusterError> {
    done(LifecycleOutcome::Skipped)
}

pub(super) fn apply(
    t: &mut Tables,
    bucket: &str,
    action: &LifecycleAction,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    // A bucket deleted since the runner read it: nothing to do.
    if schema::get_record::<&str, _, schema::BucketInfo>(&t.buckets, bucket)?.is_none() {
        return skipped();
    }
    match action {
        LifecycleAction::ExpireCurrent {
            key,
            version,
            ino,
            mtime_ns,
            etag,
        } => {
            let Some(current) = t.key(bucket, key)? else {
                return skipped();
            };
            let node = t.inode(current)?;
            let same = current == *ino
                && node.version == *version
                && node.mtime_ns == *mtime_ns
                && node.etag == *etag;
            // A locked version is only ever hidden behind a marker, never
            // removed (object lock keeps versioning enabled; checked again
            // here all the same).
            let locked = node.protection.forbids_delete(now_ns, false).is_some();
            let hides = super::settings::bucket_protection(t, bucket)?.versioning
                == schema::Versioning::Enabled;
            if !same || (locked && !hides) {
                return skipped();
            }
            match versions::delete_object(t, bucket, key, None, false, now_ns)? {
                CommandReply::Deleted {
                    delete_marker: true,
                    ..
                } => done(LifecycleOutcome::MarkerAdded),
                _ => done(LifecycleOutcome::CurrentDeleted),
            }
        }
        LifecycleAction::RemoveNoncurrent {
            key,
            version,
            keep_newer,
        } => {
            let rows = rows(t, bucket, key)?;
            let has_current = t.key(bucket, key)?.is_some();
            // Without a current object the newest row (a marker) is the
            // current version: only the rows after it are noncurrent.
            let noncurrent = if has_current {
                &rows[..]
            } else {
                rows.get(1..).unwrap_or(&[])
            };
            let Some(index) = noncurrent.iter().position(|r| r.id == *version) else {
                return skipped();
            };
            let row = &noncurrent[index];
            if index < *keep_newer as usize
                || (!row.delete_marker && row.protection.forbids_delete(now_ns, false).is_some())
            {
                return skipped();
            }
            remove_version(t, bucket, key, row.id, now_ns)?;
            if row.delete_marker {
                done(LifecycleOutcome::MarkerRemoved)
            } else {
                done(LifecycleOutcome::NoncurrentRemoved)
            }
        }
        LifecycleAction::RemoveSoleMarker { key, version } => {
            if t.key(bucket, key)?.is_some() {
                return skipped();
            }
            let rows = rows(t, bucket, key)?;
            match rows.as_slice() {
                [only] if only.delete_marker && only.id == *version => {
                    remove_version(t, bucket, key, only.id, now_ns)?;
                    done(LifecycleOutcome::MarkerRemoved)
                }
                _ => skipped(),
            }
        }
        LifecycleAction::AbortUpload {
            upload_id,
            created_ns,
        } => {
            let upload = schema::get_record::<&str, _, UploadInfo>(&t.uploads, upload_id.as_str())?;
            match upload {
                Some(u) if u.bucket == bucket && u.created_ns == *created_ns => {
                    uploads::abort_upload(t, upload_id)?;
                    done(LifecycleOutcome::UploadAborted)
                }
                _ => skipped(),
            }
        }
    }
}

/// Removes the version `id` of `key` as DeleteObject with its version id
/// does. The caller checked that `id` is the version meant: at most one
/// version of a key is null, so the wire id names exactly it.
fn remove_version(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    id: VersionId,
    now_ns: i64,
) -> Result<(), ClusterError> {
    versions::delete_object(t, bucket, key, Some(&id.to_wire()), false, now_ns)?;
    Ok(())
}
