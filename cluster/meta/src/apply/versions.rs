//! S3 versioning and object protection: what PUT and DELETE do to the
//! versions of a key, deleting one version, and tags, retention and legal
//! hold of a version. The storage is described in `schema::versions`.
//!
//! Rules (the S3 API reference's, "Using versioning in S3 buckets" and
//! "Locking objects with Object Lock"):
//! * versioning `Enabled`: a PUT keeps the current object as a noncurrent
//!   version and makes a new one with a fresh id; a DELETE without a
//!   version id keeps it too and makes a delete marker the current version;
//! * `Suspended`: a PUT or DELETE makes the null version (an object, or a
//!   delete marker), replacing the key's previous null version wherever it
//!   is; a current version that is not null is kept as noncurrent;
//! * a DELETE naming a version removes exactly that version (or marker);
//!   when it was the current one, the newest remaining version becomes
//!   current (an object is put back in the tree; a marker hides the key);
//! * a version under legal hold, or under retention until a later instant,
//!   is never removed: COMPLIANCE for nobody, GOVERNANCE only for a caller
//!   allowed to bypass it. Retention may always be extended; COMPLIANCE may
//!   never be shortened or removed.
//!
//! Invariant: the current object of a key (its inode) is newer than every
//! row of the key in `versions` (promotion takes the newest row).

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::objects::{self, bucket_info, check_key};
use super::{chunks, settings, Tables};
use crate::command::{CommandReply, ObjectSpec, ProtectionChange};
use crate::error::OrIo;
use crate::names::display;
use crate::schema::versions::{VersionCounter, VersionRef, META_VERSION_SEQ};
use crate::schema::{
    self, BucketInfo, BucketProtection, Inode, LockMode, NodeKind, ObjectVersion, Protection,
    Stored, VersionId, Versioning,
};

// ---------------------------------------------------------- version rows ---

fn next_version(t: &mut Tables, null: bool) -> Result<VersionId, ClusterError> {
    let seq = schema::get_record::<&str, _, VersionCounter>(&t.meta, META_VERSION_SEQ)?
        .map_or(1, |c| c.next);
    let bytes = VersionCounter { next: seq + 1 }.encode()?;
    t.meta.insert(META_VERSION_SEQ, bytes.as_slice()).io()?;
    Ok(VersionId { seq, null })
}

/// The rows of `key`, newest first.
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

fn put_row(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    row: &ObjectVersion,
) -> Result<(), ClusterError> {
    let bytes = row.encode()?;
    t.versions
        .insert((bucket, key, row.id.rank()), bytes.as_slice())
        .io()?;
    Ok(())
}

/// Removes a row and releases the chunks it held.
fn remove_row(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    row: &ObjectVersion,
) -> Result<(), ClusterError> {
    t.versions.remove((bucket, key, row.id.rank())).io()?;
    chunks::release_chunks(t, &row.layout)
}

/// Keeps the current object held by `node` as a noncurrent version: its
/// layout is referenced once more, by the row.
fn keep_as_noncurrent(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    node: &Inode,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let row = ObjectVersion {
        id: node.version,
        delete_marker: false,
        kind: node.kind,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        size: node.size,
        mtime_ns: node.mtime_ns,
        etag: node.etag.clone(),
        content_type: node.content_type.clone(),
        user_meta: node.user_meta.clone(),
        headers: node.headers.clone(),
        replicas: node.replicas,
        min_replicas: node.min_replicas,
        tier: node.tier,
        layout: node.layout.clone(),
        symlink_target: node.symlink_target.clone(),
        protection: node.protection.clone(),
        noncurrent_since_ns: now_ns,
    };
    chunks::hold_chunks(t, &row.layout)?;
    put_row(t, bucket, key, &row)
}

fn add_marker(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    id: VersionId,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let row = ObjectVersion {
        id,
        delete_marker: true,
        kind: NodeKind::File,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        mtime_ns: now_ns,
        etag: String::new(),
        content_type: String::new(),
        user_meta: Default::default(),
        headers: Default::default(),
        replicas: 0,
        min_replicas: 0,
        tier: 0,
        layout: Vec::new(),
        symlink_target: Vec::new(),
        protection: Protection::default(),
        noncurrent_since_ns: now_ns,
    };
    put_row(t, bucket, key, &row)
}

fn refuse_if_protected(
    protection: &Protection,
    now_ns: i64,
    bypass: bool,
    bucket: &str,
    key: &[u8],
    id: VersionId,
) -> Result<(), ClusterError> {
    match protection.forbids_delete(now_ns, bypass) {
        Some(why) => Err(ClusterError::PermissionDenied(format!(
            "version {} of {bucket}/{} cannot be removed: {why}",
            id.to_wire(),
            display(key)
        ))),
        None => Ok(()),
    }
}

/// Removes the noncurrent null version of `key`, if there is one.
fn drop_null_row(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    now_ns: i64,
    bypass: bool,
) -> Result<(), ClusterError> {
    if let Some(row) = rows(t, bucket, key)?.into_iter().find(|r| r.id.null) {
        if !row.delete_marker {
            refuse_if_protected(&row.protection, now_ns, bypass, bucket, key, row.id)?;
        }
        remove_row(t, bucket, key, &row)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ PUT ---

/// The protection of a new version: what the request asks, else the
/// bucket's default retention. Retention and legal hold need object lock.
pub(super) fn new_protection(
    settings: &BucketProtection,
    asked: Option<&Protection>,
    now_ns: i64,
) -> Result<Protection, ClusterError> {
    let mut protection = asked.cloned().unwrap_or_default();
    match settings.object_lock {
        None => {
            if protection.retention.is_some() || protection.legal_hold {
                return Err(ClusterError::Invalid(
                    "the bucket has no object lock configuration: no retention or legal hold"
                        .into(),
                ));
            }
        }
        Some(lock) => {
            if protection.retention.is_none() {
                protection.retention = lock.default_retention.map(|d| schema::Retention {
                    mode: d.mode,
                    until_ns: d.until(now_ns),
                });
            }
        }
    }
    Ok(protection)
}

/// Before a new object takes `key`: keeps or drops what the key holds as
/// its versioning says, and returns the new version's id.
pub(super) fn make_room(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    existing: Option<u64>,
    versioning: Versioning,
    now_ns: i64,
) -> Result<VersionId, ClusterError> {
    match versioning {
        Versioning::Unversioned => Ok(VersionId::UNVERSIONED),
        Versioning::Enabled => {
            if let Some(ino) = existing {
                let node = t.inode(ino)?;
                keep_as_noncurrent(t, bucket, key, &node, now_ns)?;
            }
            next_version(t, false)
        }
        Versioning::Suspended => {
            if let Some(ino) = existing {
                let node = t.inode(ino)?;
                if node.version.null {
                    // Replaced in place: its content goes with the overwrite.
                    refuse_if_protected(
                        &node.protection,
                        now_ns,
                        false,
                        bucket,
                        key,
                        node.version,
                    )?;
                } else {
                    keep_as_noncurrent(t, bucket, key, &node, now_ns)?;
                }
            }
            drop_null_row(t, bucket, key, now_ns, false)?;
            next_version(t, true)
        }
    }
}

// ------------------------------------------------- changes through paths ---

/// A change through the filesystem that would alter or remove `node`'s
/// content (write, truncate, unlink, rename from or over it) is refused
/// with EPERM while the version is under retention or legal hold: the
/// mount has no way to make such a change without touching the version.
pub(super) fn refuse_locked_change(
    node: &Inode,
    now_ns: i64,
    what: &str,
) -> Result<(), ClusterError> {
    match node.protection.forbids_delete(now_ns, false) {
        Some(why) if node.kind != NodeKind::Dir => Err(ClusterError::NotPermitted(format!(
            "{what} cannot be changed: {why}"
        ))),
        _ => Ok(()),
    }
}

/// The content of file `node` is about to change in place (a write commit
/// or a truncate through the mount). In a versioned bucket the content
/// before is kept as a noncurrent version, as an overwriting PUT keeps it,
/// and `node` becomes a new version; the caller changes and stores `node`
/// afterwards. Refused while the version is locked.
pub(super) fn on_rewrite(
    t: &mut Tables,
    node: &mut Inode,
    now_ns: i64,
) -> Result<(), ClusterError> {
    refuse_locked_change(node, now_ns, &format!("inode {}", node.ino))?;
    if node.bucket == 0 {
        return Ok(());
    }
    let bucket = t.bucket_name(node.bucket)?;
    let settings = settings::bucket_protection(t, &bucket)?;
    if settings.versioning == Versioning::Unversioned {
        return Ok(());
    }
    let Some((bucket, key)) = t.file_key(node)? else {
        tracing::warn!(
            ino = node.ino,
            bucket,
            "file of a versioned bucket without a known key: changed without a version"
        );
        return Ok(());
    };
    node.version = make_room(
        t,
        &bucket,
        &key,
        Some(node.ino),
        settings.versioning,
        now_ns,
    )?;
    node.protection = new_protection(&settings, None, now_ns)?;
    Ok(())
}

/// Before a write commit changes file `ino`: [`on_rewrite`], stored back;
/// unless `continues` names its current version (the writer's own, made
/// in the same window), which the write then changes in place.
pub(super) fn before_rewrite(
    t: &mut Tables,
    ino: u64,
    continues: &str,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let mut node = t.inode(ino)?;
    if node.kind != NodeKind::File {
        return Ok(());
    }
    if !continues.is_empty() && node.version.to_wire() == continues {
        return refuse_locked_change(&node, now_ns, &format!("inode {ino}"));
    }
    let version = node.version;
    on_rewrite(t, &mut node, now_ns)?;
    if node.version != version {
        t.put_inode(&node)?;
    }
    Ok(())
}

// --------------------------------------------------------------- DELETE ---

/// DeleteObject: without `version_id`, as the bucket's versioning says;
/// with one, removes that version. Answers `Deleted` with the version id
/// the S3 reply names and whether it is a delete marker.
pub(super) fn delete_object(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    version_id: Option<&str>,
    bypass: bool,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_key(key)?;
    let info = bucket_info(t, bucket)?;
    let settings = settings::bucket_protection(t, bucket)?;
    let current = t.key(bucket, key)?;
    let Some(version_id) = version_id else {
        return delete_current(t, &info, key, current, settings.versioning, now_ns);
    };
    let wanted = VersionRef::parse(version_id)?;
    if let Some(ino) = current {
        let node = t.inode(ino)?;
        if wanted.names(node.version) {
            refuse_if_protected(&node.protection, now_ns, bypass, bucket, key, node.version)?;
            objects::remove_current(t, &info, key, ino, now_ns)?;
            promote_newest(t, &info, key, now_ns)?;
            return Ok(deleted(node.version, false));
        }
    }
    let rows = rows(t, bucket, key)?;
    let Some(row) = rows.iter().find(|r| wanted.names(r.id)) else {
        // Deleting what is not there succeeds, as S3 does; the reply names
        // the version asked for.
        return Ok(CommandReply::Deleted {
            version_id: version_id.to_string(),
            delete_marker: false,
        });
    };
    if !row.delete_marker {
        refuse_if_protected(&row.protection, now_ns, bypass, bucket, key, row.id)?;
    }
    remove_row(t, bucket, key, row)?;
    let was_current_marker = current.is_none() && rows.first().is_some_and(|r| r.id == row.id);
    if was_current_marker {
        promote_newest(t, &info, key, now_ns)?;
    }
    Ok(deleted(row.id, row.delete_marker))
}

fn deleted(id: VersionId, delete_marker: bool) -> CommandReply {
    CommandReply::Deleted {
        version_id: id.to_wire(),
        delete_marker,
    }
}

/// DELETE without a version id.
fn delete_current(
    t: &mut Tables,
    info: &BucketInfo,
    key: &[u8],
    current: Option<u64>,
    versioning: Versioning,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    let bucket = info.name.as_str();
    if versioning == Versioning::Unversioned {
        let ino =
            current.ok_or_else(|| ClusterError::NotFound(format!("{bucket}/{}", display(key))))?;
        objects::remove_current(t, info, key, ino, now_ns)?;
        return Ok(deleted(VersionId::UNVERSIONED, false));
    }
    let node = current.map(|ino| t.inode(ino)).transpose()?;
    let marker = retire(t, bucket, key, node.as_ref(), versioning, now_ns)?;
    if let Some(ino) = current {
        objects::remove_current(t, info, key, ino, now_ns)?;
    }
    Ok(deleted(marker, true))
}

/// The current object `node` (if any) of `key` in a versioned bucket stops
/// being current: it is kept as a noncurrent version (or, the null one
/// while suspended, dropped), and a delete marker becomes the current
/// version. Returns the marker's id. The caller removes `node` from the
/// keys and the tree.
fn retire(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    node: Option<&Inode>,
    versioning: Versioning,
    now_ns: i64,
) -> Result<VersionId, ClusterError> {
    if let Some(node) = node {
        if versioning == Versioning::Suspended && node.version.null {
            refuse_if_protected(&node.protection, now_ns, false, bucket, key, node.version)?;
        } else {
            keep_as_noncurrent(t, bucket, key, node, now_ns)?;
        }
    }
    if versioning == Versioning::Suspended {
        drop_null_row(t, bucket, key, now_ns, false)?;
    }
    let id = next_version(t, versioning.makes_null())?;
    add_marker(t, bucket, key, id, now_ns)?;
    Ok(id)
}

/// The filesystem gave `key` to `node` (create, link, rename): in a
/// versioned bucket it becomes a new version, and what it displaces (a
/// key-only object) is kept as [`make_room`] says.
pub(super) fn on_claim(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    node: &mut Inode,
    displaced: Option<u64>,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let settings = settings::bucket_protection(t, bucket)?;
    if settings.versioning != Versioning::Unversioned {
        if node.kind != NodeKind::Dir && node.nlink > 1 {
            // One inode is one version: it cannot be the current version
            // of two keys whose histories differ.
            return Err(hard_links_refused(bucket));
        }
        node.version = make_room(t, bucket, key, displaced, settings.versioning, now_ns)?;
    }
    Ok(())
}

/// A hard link in a versioned bucket: refused (EPERM, as link(2) answers
/// on a filesystem without hard links).
pub(super) fn hard_links_refused(bucket: &str) -> ClusterError {
    ClusterError::NotPermitted(format!(
        "bucket {bucket} keeps S3 versions: a file there has one name (no hard links)"
    ))
}

/// Whether `bucket` keeps versions (versioning enabled or suspended).
pub(super) fn is_versioned(t: &Tables, bucket: &str) -> Result<bool, ClusterError> {
    Ok(settings::bucket_protection(t, bucket)?.versioning != Versioning::Unversioned)
}

/// The filesystem took `key` from inode `ino` (unlink, rmdir, rename): in
/// a versioned bucket the object is kept behind a delete marker, as an S3
/// DELETE would.
pub(super) fn on_release(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    ino: u64,
    now_ns: i64,
) -> Result<(), ClusterError> {
    let settings = settings::bucket_protection(t, bucket)?;
    if settings.versioning == Versioning::Unversioned {
        return Ok(());
    }
    let node = t.inode(ino)?;
    retire(t, bucket, key, Some(&node), settings.versioning, now_ns)?;
    Ok(())
}

/// After the current version went: the newest remaining version becomes
/// current. An object is put back as the key's inode (its row's chunk
/// references move to the inode); a delete marker stays a row and hides
/// the key.
fn promote_newest(
    t: &mut Tables,
    info: &BucketInfo,
    key: &[u8],
    now_ns: i64,
) -> Result<(), ClusterError> {
    let bucket = info.name.as_str();
    let Some(row) = rows(t, bucket, key)?.into_iter().next() else {
        return Ok(());
    };
    if row.delete_marker {
        return Ok(());
    }
    let spec = ObjectSpec {
        kind: Some(row.kind),
        mode: row.mode,
        uid: row.uid,
        gid: row.gid,
        size: row.size,
        mtime_ns: row.mtime_ns,
        etag: row.etag.clone(),
        content_type: row.content_type.clone(),
        user_meta: row.user_meta.clone(),
        headers: row.headers.clone(),
        replicas: row.replicas,
        extents: row.layout.clone(),
        symlink_target: row.symlink_target.clone(),
    };
    let marker = row.kind == NodeKind::Dir;
    let existing = t.key(bucket, key)?;
    let mut node = objects::place(t, info, key, &spec, marker, existing, now_ns)?;
    node.version = row.id;
    node.protection = row.protection.clone();
    node.min_replicas = row.min_replicas;
    t.put_inode(&node)?;
    remove_row(t, bucket, key, &row)
}

// ------------------------------------------------------------ protection ---

/// Changes the tags, retention or legal hold of one version (the current
/// one without `version_id`).
pub(super) fn set_protection(
    t: &mut Tables,
    bucket: &str,
    key: &[u8],
    version_id: Option<&str>,
    change: &ProtectionChange,
    bypass: bool,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    check_key(key)?;
    bucket_info(t, bucket)?;
    let settings = settings::bucket_protection(t, bucket)?;
    if (change.retention.is_some() || change.legal_hold.is_some()) && settings.object_lock.is_none()
    {
        return Err(ClusterError::Invalid(format!(
            "bucket {bucket} has no object lock configuration"
        )));
    }
    let wanted = version_id.map(VersionRef::parse).transpose()?;
    let not_found = || ClusterError::NotFound(format!("{bucket}/{}", display(key)));
    if let Some(ino) = t.key(bucket, key)? {
        let mut node = t.inode(ino)?;
        if wanted.is_none_or(|w| w.names(node.version)) {
            node.protection = changed(&node.protection, change, now_ns, bypass)?;
            t.put_inode(&node)?;
            return Ok(CommandReply::Node(node));
        }
    }
    let rows = rows(t, bucket, key)?;
    let row = match wanted {
        // No version named and no current object: the newest is a marker.
        None => rows.first().filter(|r| !r.delete_marker),
        Some(w) => rows.iter().find(|r| w.names(r.id)),
    };
    let mut row = row.cloned().ok_or_else(not_found)?;
    if row.delete_marker {
        return Err(ClusterError::NotSupported(format!(
            "version {} of {bucket}/{} is a delete marker",
            row.id.to_wire(),
            display(key)
        )));
    }
    row.protection = changed(&row.protection, change, now_ns, bypass)?;
    put_row(t, bucket, key, &row)?;
    Ok(CommandReply::Done)
}

/// `current` with `change` made, if the rules of retention allow it.
fn changed(
    current: &Protection,
    change: &ProtectionChange,
    now_ns: i64,
    bypass: bool,
) -> Result<Protection, ClusterError> {
    let mut next = current.clone();
    if let Some(tags) = &change.tags {
        next.tags = tags.clone();
    }
    if let Some(hold) = change.legal_hold {
        next.legal_hold = hold;
    }
    if let Some(wanted) = change.retention {
        if let Some(old) = current.retention.filter(|r| r.until_ns > now_ns) {
            let weaker = match wanted {
                None => true,
                Some(w) => w.until_ns < old.until_ns || w.mode != old.mode,
            };
            // Extending, or keeping, is always allowed; anything else only
            // under GOVERNANCE, by a caller allowed to bypass it.
            let allowed = !weaker
                || (old.mode == LockMode::Governance
                    && bypass
                    && wanted.is_none_or(|w| w.until_ns > now_ns || w.mode == old.mode));
            let raising_to_compliance = wanted.is_some_and(|w| {
                old.mode == LockMode::Governance
                    && w.mode == LockMode::Compliance
                    && w.until_ns >= old.until_ns
            });
            if !allowed && !raising_to_compliance {
                return Err(ClusterError::PermissionDenied(format!(
                    "{:?} retention until {} ns may only be extended",
                    old.mode, old.until_ns
                )));
            }
        }
        next.retention = wanted;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Retention;

    fn retention(mode: LockMode, until_ns: i64) -> Option<Retention> {
        Some(Retention { mode, until_ns })
    }

    fn with(r: Option<Retention>) -> Protection {
        Protection {
            retention: r,
            ..Protection::default()
        }
    }

    fn change(r: Option<Retention>) -> ProtectionChange {
        ProtectionChange {
            retention: Some(r),
            ..ProtectionChange::default()
        }
    }

    #[test]
    fn compliance_retention_is_only_extended() {
        let cur = with(retention(LockMode::Compliance, 100));
        assert!(changed(
            &cur,
            &change(retention(LockMode::Compliance, 200)),
            10,
            false
        )
        .is_ok());
        for (wanted, bypass) in [
            (retention(LockMode::Compliance, 50), true),
            (retention(LockMode::Governance, 200), true),
            (None, true),
        ] {
            let err = changed(&cur, &change(wanted), 10, bypass).unwrap_err();
            assert!(
                matches!(err, ClusterError::PermissionDenied(_)),
                "{wanted:?}"
            );
        }
        // Past its date the version is free again.
        assert!(changed(&cur, &change(None), 100, false).is_ok());
    }

    #[test]
    fn governance_retention_is_shortened_only_with_bypass() {
        let cur = with(retention(LockMode::Governance, 100));
        let shorter = change(retention(LockMode::Governance, 50));
        assert!(changed(&cur, &shorter, 10, false).is_err());
        assert!(changed(&cur, &shorter, 10, true).is_ok());
        assert!(changed(&cur, &change(None), 10, true).is_ok());
        assert!(changed(&cur, &change(None), 10, false).is_err());
        // Raising to COMPLIANCE is a strengthening: allowed to anyone.
        let stronger = change(retention(LockMode::Compliance, 100));
        assert!(changed(&cur, &stronger, 10, false).is_ok());
    }
}
