//! Records as older versions of Cairn wrote them, and their migration into
//! the current types: the chain of `From`s that `Inode::decode` runs, and
//! access keys from before the admin flag.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cairn_common::ClusterError;
use serde::{Deserialize, Serialize};

use super::{
    decode_err, encode_err, AccessKeyInfo, BucketPermission, Extent, Inode, NodeKind, Protection,
    Stored, VersionId,
};

/// An inode as stored before the minimum replica count was kept (record
/// version 1); decoded and migrated into [`Inode`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InodeV1 {
    pub ino: u64,
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub nlink: u32,
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub replicas: u32,
    pub tier: u32,
    pub layout: Vec<Extent>,
    pub symlink_target: Vec<u8>,
    pub bucket: u64,
    pub parent: u64,
    pub name: Vec<u8>,
    pub implicit: bool,
    pub key_only: bool,
}

/// An inode as stored before S3 versions, protection and device numbers
/// were kept (record version 2); decoded and migrated into [`Inode`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InodeV2 {
    pub ino: u64,
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub nlink: u32,
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub replicas: u32,
    pub min_replicas: u32,
    pub tier: u32,
    pub layout: Vec<Extent>,
    pub symlink_target: Vec<u8>,
    pub bucket: u64,
    pub parent: u64,
    pub name: Vec<u8>,
    pub implicit: bool,
    pub key_only: bool,
}

/// The inode envelope: V1 (before the minimum replica count) and V2
/// (before versions) are migrated on decode; V3 is written.
#[derive(Serialize, Deserialize)]
enum InodeRecord<'a> {
    V1(Cow<'a, InodeV1>),
    V2(Cow<'a, InodeV2>),
    V3(Cow<'a, Inode>),
}

impl From<InodeV1> for InodeV2 {
    fn from(v1: InodeV1) -> InodeV2 {
        InodeV2 {
            ino: v1.ino,
            kind: v1.kind,
            mode: v1.mode,
            uid: v1.uid,
            gid: v1.gid,
            size: v1.size,
            atime_ns: v1.atime_ns,
            mtime_ns: v1.mtime_ns,
            ctime_ns: v1.ctime_ns,
            nlink: v1.nlink,
            etag: v1.etag,
            content_type: v1.content_type,
            user_meta: v1.user_meta,
            headers: v1.headers,
            xattrs: v1.xattrs,
            replicas: v1.replicas,
            min_replicas: 0,
            tier: v1.tier,
            layout: v1.layout,
            symlink_target: v1.symlink_target,
            bucket: v1.bucket,
            parent: v1.parent,
            name: v1.name,
            implicit: v1.implicit,
            key_only: v1.key_only,
        }
    }
}

impl From<InodeV2> for Inode {
    fn from(v2: InodeV2) -> Inode {
        Inode {
            ino: v2.ino,
            kind: v2.kind,
            mode: v2.mode,
            uid: v2.uid,
            gid: v2.gid,
            size: v2.size,
            atime_ns: v2.atime_ns,
            mtime_ns: v2.mtime_ns,
            ctime_ns: v2.ctime_ns,
            nlink: v2.nlink,
            etag: v2.etag,
            content_type: v2.content_type,
            user_meta: v2.user_meta,
            headers: v2.headers,
            xattrs: v2.xattrs,
            replicas: v2.replicas,
            min_replicas: v2.min_replicas,
            tier: v2.tier,
            layout: v2.layout,
            symlink_target: v2.symlink_target,
            bucket: v2.bucket,
            parent: v2.parent,
            name: v2.name,
            implicit: v2.implicit,
            key_only: v2.key_only,
            version: VersionId::UNVERSIONED,
            protection: Protection::default(),
            rdev: 0,
        }
    }
}

impl Stored for Inode {
    const WHAT: &'static str = "inode";

    fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        postcard::to_allocvec(&InodeRecord::V3(Cow::Borrowed(self)))
            .map_err(|e| encode_err(Self::WHAT, e))
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClusterError> {
        match postcard::from_bytes::<InodeRecord>(bytes) {
            Ok(InodeRecord::V1(v)) => Ok(InodeV2::from(v.into_owned()).into()),
            Ok(InodeRecord::V2(v)) => Ok(v.into_owned().into()),
            Ok(InodeRecord::V3(v)) => Ok(v.into_owned()),
            Err(e) => Err(decode_err(Self::WHAT, e)),
        }
    }
}
/// An access key as stored before the admin flag (record version 1);
/// migrated as a key that is not an admin's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyInfoV1 {
    pub key_id: String,
    pub secret: String,
    pub name: String,
    pub created_ns: i64,
    pub permissions: Vec<BucketPermission>,
}

/// The access key envelope: V1 (before the admin flag) is migrated on
/// decode; V2 is written.
#[derive(Serialize, Deserialize)]
enum AccessKeyRecord<'a> {
    V1(Cow<'a, AccessKeyInfoV1>),
    V2(Cow<'a, AccessKeyInfo>),
}

impl From<AccessKeyInfoV1> for AccessKeyInfo {
    fn from(v1: AccessKeyInfoV1) -> AccessKeyInfo {
        AccessKeyInfo {
            key_id: v1.key_id,
            secret: v1.secret,
            name: v1.name,
            created_ns: v1.created_ns,
            permissions: v1.permissions,
            admin: false,
        }
    }
}

impl Stored for AccessKeyInfo {
    const WHAT: &'static str = "access key";

    fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        postcard::to_allocvec(&AccessKeyRecord::V2(Cow::Borrowed(self)))
            .map_err(|e| encode_err(Self::WHAT, e))
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClusterError> {
        match postcard::from_bytes::<AccessKeyRecord>(bytes) {
            Ok(AccessKeyRecord::V1(v)) => Ok(v.into_owned().into()),
            Ok(AccessKeyRecord::V2(v)) => Ok(v.into_owned()),
            Err(e) => Err(decode_err(Self::WHAT, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_inode_records_migrate_with_the_default_minimum() {
        let inode = super::super::tests::sample();
        let v1 = InodeV1 {
            ino: inode.ino,
            kind: inode.kind,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            size: inode.size,
            atime_ns: inode.atime_ns,
            mtime_ns: inode.mtime_ns,
            ctime_ns: inode.ctime_ns,
            nlink: inode.nlink,
            etag: inode.etag.clone(),
            content_type: inode.content_type.clone(),
            user_meta: inode.user_meta.clone(),
            headers: inode.headers.clone(),
            xattrs: inode.xattrs.clone(),
            replicas: inode.replicas,
            tier: inode.tier,
            layout: inode.layout.clone(),
            symlink_target: inode.symlink_target.clone(),
            bucket: inode.bucket,
            parent: inode.parent,
            name: inode.name.clone(),
            implicit: inode.implicit,
            key_only: inode.key_only,
        };
        let bytes = postcard::to_allocvec(&InodeRecord::V1(Cow::Borrowed(&v1))).unwrap();
        assert_eq!(bytes[0], 0);
        let migrated = Inode::decode(&bytes).unwrap();
        assert_eq!(
            migrated,
            Inode {
                min_replicas: 0,
                version: VersionId::UNVERSIONED,
                protection: Protection::default(),
                rdev: 0,
                ..inode
            }
        );
    }

    #[test]
    fn version_2_inode_records_migrate_as_unversioned() {
        let inode = super::super::tests::sample();
        let v2 = InodeV2 {
            ino: inode.ino,
            kind: inode.kind,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            size: inode.size,
            atime_ns: inode.atime_ns,
            mtime_ns: inode.mtime_ns,
            ctime_ns: inode.ctime_ns,
            nlink: inode.nlink,
            etag: inode.etag.clone(),
            content_type: inode.content_type.clone(),
            user_meta: inode.user_meta.clone(),
            headers: inode.headers.clone(),
            xattrs: inode.xattrs.clone(),
            replicas: inode.replicas,
            min_replicas: inode.min_replicas,
            tier: inode.tier,
            layout: inode.layout.clone(),
            symlink_target: inode.symlink_target.clone(),
            bucket: inode.bucket,
            parent: inode.parent,
            name: inode.name.clone(),
            implicit: inode.implicit,
            key_only: inode.key_only,
        };
        let bytes = postcard::to_allocvec(&InodeRecord::V2(Cow::Borrowed(&v2))).unwrap();
        assert_eq!(bytes[0], 1);
        let migrated = Inode::decode(&bytes).unwrap();
        assert_eq!(migrated.version, VersionId::UNVERSIONED);
        assert_eq!(migrated.protection, Protection::default());
        assert_eq!(
            migrated,
            Inode {
                version: VersionId::UNVERSIONED,
                protection: Protection::default(),
                rdev: 0,
                ..inode
            }
        );
    }

    #[test]
    fn version_1_access_keys_migrate_as_not_admin() {
        let v1 = AccessKeyInfoV1 {
            key_id: "CKOLD".into(),
            secret: "s".into(),
            name: "before admins".into(),
            created_ns: 5,
            permissions: vec![BucketPermission {
                bucket: "b".into(),
                read: true,
                write: false,
                owner: false,
            }],
        };
        let bytes = postcard::to_allocvec(&AccessKeyRecord::V1(Cow::Borrowed(&v1))).unwrap();
        assert_eq!(bytes[0], 0);
        let key = AccessKeyInfo::decode(&bytes).unwrap();
        assert_eq!(key, AccessKeyInfo::from(v1));
        assert!(!key.admin);
        // Written as V2 (variant 1) from now on, the flag kept.
        let admin = AccessKeyInfo { admin: true, ..key };
        let again = admin.encode().unwrap();
        assert_eq!(again[0], 1);
        assert_eq!(AccessKeyInfo::decode(&again).unwrap(), admin);
    }
}
