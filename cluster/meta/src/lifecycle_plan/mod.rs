//! The lifecycle planner: a pure function from a bucket's rules, a
//! snapshot of some of its keys (or its uploads) and the time to the
//! conditional commands that are due. See the runner, `crate::lifecycle`,
//! for the rules it follows. Pure on purpose, and apart from the runner:
//! the queries that build its snapshots and the tests use it without the
//! server's state.

use std::collections::BTreeMap;

use cairn_common::lifecycle::{Expiration, Rule};

use crate::command::LifecycleAction;
use crate::schema::{Protection, VersionId};

/// The current object of a key as the planner needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentVersion {
    pub ino: u64,
    pub version: VersionId,
    pub size: u64,
    pub mtime_ns: i64,
    pub etag: String,
    pub protection: Protection,
}

/// A noncurrent version or a delete marker (a row of `versions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowVersion {
    pub id: VersionId,
    pub delete_marker: bool,
    pub size: u64,
    pub protection: Protection,
    pub noncurrent_since_ns: i64,
}

/// Every version of one key: its current object, if any, and its rows,
/// newest first (without a current object the first row, a delete marker,
/// is the key's current version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVersions {
    pub key: Vec<u8>,
    pub current: Option<CurrentVersion>,
    pub rows: Vec<RowVersion>,
}

/// An incomplete multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadSeen {
    pub upload_id: String,
    pub key: Vec<u8>,
    pub created_ns: i64,
}

/// When actions fall due: `now_ns`, and the length of a day (shortened
/// by tests only).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now_ns: i64,
    pub day_ns: i64,
}

fn enabled(rules: &[Rule]) -> impl Iterator<Item = &Rule> {
    rules.iter().filter(|r| r.is_enabled())
}

fn expiration_due(rules: &[Rule], key: &[u8], c: &CurrentVersion, clock: Clock) -> bool {
    let none = BTreeMap::new();
    let tags = if c.protection.tags.is_empty() {
        &none
    } else {
        &c.protection.tags
    };
    enabled(rules)
        .filter(|r| r.matches(key, c.size, tags))
        .filter_map(|r| match r.expiration {
            Some(e @ (Expiration::Days(_) | Expiration::Date(_))) => {
                e.due_ns_with(c.mtime_ns, clock.day_ns)
            }
            _ => None,
        })
        .any(|due| due <= clock.now_ns)
}

/// The actions due on one key's versions.
pub fn plan_key(rules: &[Rule], k: &KeyVersions, clock: Clock) -> Vec<LifecycleAction> {
    let mut out = Vec::new();
    let now = clock.now_ns;
    let locked = |p: &Protection| p.forbids_delete(now, false).is_some();
    // Expiration of the current object. A locked one too: retention and
    // legal hold exist only with object lock, so versioning is enabled and
    // the expiration only puts a delete marker in front, as S3's does.
    if let Some(c) = &k.current {
        if expiration_due(rules, &k.key, c, clock) {
            out.push(LifecycleAction::ExpireCurrent {
                key: k.key.clone(),
                version: c.version,
                ino: c.ino,
                mtime_ns: c.mtime_ns,
                etag: c.etag.clone(),
            });
        }
    }
    // A delete marker that is the key's only version.
    if let (None, [only]) = (&k.current, k.rows.as_slice()) {
        let wanted = enabled(rules).any(|r| {
            r.expiration == Some(Expiration::ExpiredObjectDeleteMarker(true))
                && r.matches(&k.key, 0, &BTreeMap::new())
        });
        if only.delete_marker && wanted {
            out.push(LifecycleAction::RemoveSoleMarker {
                key: k.key.clone(),
                version: only.id,
            });
        }
    }
    // Noncurrent versions, newest first; `index` counts the newer ones.
    let noncurrent = if k.current.is_some() {
        &k.rows[..]
    } else {
        k.rows.get(1..).unwrap_or(&[])
    };
    for (index, row) in noncurrent.iter().enumerate() {
        if !row.delete_marker && locked(&row.protection) {
            continue;
        }
        let keep = enabled(rules)
            .filter(|r| r.matches(&k.key, row.size, &row.protection.tags))
            .filter_map(|r| r.noncurrent_version_expiration)
            .filter(|nve| nve.due_ns_with(row.noncurrent_since_ns, clock.day_ns) <= now)
            .map(|nve| nve.newer_noncurrent_versions.unwrap_or(0))
            .filter(|keep| index >= *keep as usize)
            .min();
        if let Some(keep_newer) = keep {
            out.push(LifecycleAction::RemoveNoncurrent {
                key: k.key.clone(),
                version: row.id,
                keep_newer,
            });
        }
    }
    out
}

/// The uploads due to be aborted. Uploads have neither tags nor a size:
/// only a rule's prefix selects them (validation refuses the others).
pub fn plan_uploads(rules: &[Rule], uploads: &[UploadSeen], clock: Clock) -> Vec<LifecycleAction> {
    uploads
        .iter()
        .filter(|u| {
            enabled(rules).any(|r| {
                r.abort_incomplete_multipart_upload.is_some_and(|a| {
                    u.key.starts_with(r.prefix().as_bytes())
                        && a.due_ns_with(u.created_ns, clock.day_ns) <= clock.now_ns
                })
            })
        })
        .map(|u| LifecycleAction::AbortUpload {
            upload_id: u.upload_id.clone(),
            created_ns: u.created_ns,
        })
        .collect()
}

#[cfg(test)]
mod tests;
