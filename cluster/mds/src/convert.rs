//! Conversions between the wire types (`cairn_proto`) and the MDS's domain
//! types. Protobuf stops here: nothing past the service layer sees it.
//! Public for the mount's test backend, which answers with the MDS's own
//! conversions of the real state.

use std::collections::BTreeMap;

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::command::{AttrChange, ObjectSpec};
use crate::query::VersionView;
use crate::schema::versions::DefaultRetention;
use crate::schema::{
    AccessKeyInfo, BucketInfo, BucketPermission, BucketProtection, Extent, Inode, LockMode,
    NodeKind, PartInfo, Protection, Retention, UploadInfo, VersionId, Versioning,
};

pub fn node_to_pb(n: &Inode) -> pb::Node {
    pb::Node {
        ino: n.ino,
        kind: pb::NodeKind::from(n.kind) as i32,
        mode: n.mode,
        uid: n.uid,
        gid: n.gid,
        size: n.size,
        atime_ns: n.atime_ns,
        mtime_ns: n.mtime_ns,
        ctime_ns: n.ctime_ns,
        nlink: n.nlink,
        etag: n.etag.clone(),
        content_type: n.content_type.clone(),
        user_meta: n.user_meta.clone().into_iter().collect(),
        replicas: n.replicas,
        min_replicas: cairn_common::replicas::minimum(n.replicas, n.min_replicas),
        tier: n.tier,
        extents: n.layout.iter().copied().map(pb::Extent::from).collect(),
        symlink_target: n.symlink_target.clone(),
        xattrs: n.xattrs.clone().into_iter().collect(),
        headers: n.headers.clone().into_iter().collect(),
        version_id: if n.version == VersionId::UNVERSIONED {
            String::new()
        } else {
            n.version.to_wire()
        },
        protection: Some(protection_to_pb(&n.protection)),
        rdev: n.rdev,
    }
}

/// What PutKey takes from the Node it is sent: kind, mode, owner, size,
/// mtime, ETag, content type, user metadata, stored headers, replicas,
/// extents, symlink target. (ino, times other than mtime, nlink, tier and
/// xattrs are the MDS's to set.)
pub fn object_from_pb(n: &pb::Node) -> Result<ObjectSpec, ClusterError> {
    Ok(ObjectSpec {
        kind: NodeKind::from_wire(n.kind)?,
        mode: n.mode,
        uid: n.uid,
        gid: n.gid,
        size: n.size,
        mtime_ns: n.mtime_ns,
        etag: n.etag.clone(),
        content_type: n.content_type.clone(),
        user_meta: n.user_meta.clone().into_iter().collect(),
        headers: n.headers.clone().into_iter().collect(),
        replicas: n.replicas,
        extents: n.extents.iter().copied().map(Extent::from).collect(),
        symlink_target: n.symlink_target.clone(),
    })
}

pub fn attr_change_from_pb(r: &pb::SetAttrRequest) -> AttrChange {
    AttrChange {
        mode: r.mode,
        uid: r.uid,
        gid: r.gid,
        size: r.size,
        atime_ns: r.atime_ns,
        mtime_ns: r.mtime_ns,
        replicas: r.replicas,
        tier: r.tier,
        set_xattrs: r
            .set_xattrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        remove_xattrs: r.remove_xattrs.clone(),
    }
}

pub fn bucket_to_pb(b: &BucketInfo) -> pb::Bucket {
    pb::Bucket {
        name: b.name.clone(),
        ino: b.ino,
        created_ns: b.created_ns,
        owner: b.owner.clone(),
    }
}

/// The attributes an upload will give its object, as a Node (no ino yet).
pub fn object_to_pb(o: &ObjectSpec) -> pb::Node {
    pb::Node {
        kind: o.kind.map_or(pb::NodeKind::Unspecified, pb::NodeKind::from) as i32,
        mode: o.mode,
        uid: o.uid,
        gid: o.gid,
        size: o.size,
        mtime_ns: o.mtime_ns,
        etag: o.etag.clone(),
        content_type: o.content_type.clone(),
        user_meta: o.user_meta.clone().into_iter().collect(),
        headers: o.headers.clone().into_iter().collect(),
        replicas: o.replicas,
        extents: o.extents.iter().copied().map(pb::Extent::from).collect(),
        symlink_target: o.symlink_target.clone(),
        ..Default::default()
    }
}

pub fn permission_to_pb(p: &BucketPermission) -> pb::BucketPermission {
    pb::BucketPermission {
        bucket: p.bucket.clone(),
        read: p.read,
        write: p.write,
        owner: p.owner,
    }
}

pub fn access_key_to_pb(k: &AccessKeyInfo) -> pb::AccessKey {
    pb::AccessKey {
        key_id: k.key_id.clone(),
        secret: k.secret.clone(),
        name: k.name.clone(),
        created_ns: k.created_ns,
        permissions: k.permissions.iter().map(permission_to_pb).collect(),
        admin: k.admin,
    }
}

pub fn part_from_pb(p: &pb::Part) -> PartInfo {
    PartInfo {
        part_number: p.part_number,
        etag: p.etag.clone(),
        size: p.size,
        extents: p.extents.iter().copied().map(Extent::from).collect(),
        modified_ns: p.modified_ns,
        checksums: p.checksums.clone().into_iter().collect(),
    }
}

pub fn part_to_pb(p: &PartInfo) -> pb::Part {
    pb::Part {
        part_number: p.part_number,
        etag: p.etag.clone(),
        size: p.size,
        extents: p.extents.iter().copied().map(pb::Extent::from).collect(),
        modified_ns: p.modified_ns,
        checksums: p.checksums.clone().into_iter().collect(),
    }
}

/// An upload on the wire; `with_parts: false` for listings.
pub fn upload_to_pb(u: &UploadInfo, with_parts: bool) -> pb::Upload {
    pb::Upload {
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        upload_id: u.upload_id.clone(),
        created_ns: u.created_ns,
        node: Some(object_to_pb(&u.object)),
        parts: if with_parts {
            u.parts.values().map(part_to_pb).collect()
        } else {
            Vec::new()
        },
    }
}

pub fn lock_mode_to_pb(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

/// `""` is no mode; anything else but the two S3 modes is EINVAL.
pub fn lock_mode_from_pb(mode: &str) -> Result<Option<LockMode>, ClusterError> {
    match mode {
        "" => Ok(None),
        "GOVERNANCE" => Ok(Some(LockMode::Governance)),
        "COMPLIANCE" => Ok(Some(LockMode::Compliance)),
        other => Err(ClusterError::Invalid(format!(
            "unknown object lock mode `{other}`"
        ))),
    }
}

pub fn protection_to_pb(p: &Protection) -> pb::Protection {
    pb::Protection {
        tags: p.tags.clone().into_iter().collect(),
        lock_mode: p
            .retention
            .map_or("", |r| lock_mode_to_pb(r.mode))
            .to_string(),
        retain_until_ns: p.retention.map_or(0, |r| r.until_ns),
        legal_hold: p.legal_hold,
    }
}

pub fn retention_from_pb(mode: &str, until_ns: i64) -> Result<Option<Retention>, ClusterError> {
    Ok(lock_mode_from_pb(mode)?.map(|mode| Retention { mode, until_ns }))
}

pub fn protection_from_pb(p: &pb::Protection) -> Result<Protection, ClusterError> {
    Ok(Protection {
        tags: p.tags.clone().into_iter().collect(),
        retention: retention_from_pb(&p.lock_mode, p.retain_until_ns)?,
        legal_hold: p.legal_hold,
    })
}

pub fn version_to_pb(v: &VersionView) -> pb::ObjectVersion {
    pb::ObjectVersion {
        key: v.key.clone(),
        version_id: v.id.to_wire(),
        latest: v.latest,
        delete_marker: v.delete_marker,
        node: Some(node_to_pb(&v.node)),
    }
}

pub fn bucket_protection_to_pb(b: &BucketProtection) -> pb::BucketProtection {
    let default = b.object_lock.and_then(|l| l.default_retention);
    pb::BucketProtection {
        versioning: match b.versioning {
            Versioning::Unversioned => "",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
        .to_string(),
        object_lock: b.object_lock.is_some(),
        default_mode: default.map_or("", |d| lock_mode_to_pb(d.mode)).to_string(),
        default_days: default.map_or(0, |d| d.days),
        default_years: default.map_or(0, |d| d.years),
    }
}

/// A default retention: a mode and exactly one of days and years.
pub fn default_retention_from_pb(
    mode: &str,
    days: u32,
    years: u32,
) -> Result<Option<DefaultRetention>, ClusterError> {
    let Some(mode) = lock_mode_from_pb(mode)? else {
        return Ok(None);
    };
    if (days == 0) == (years == 0) {
        return Err(ClusterError::Invalid(
            "a default retention has either days or years".into(),
        ));
    }
    Ok(Some(DefaultRetention { mode, days, years }))
}
