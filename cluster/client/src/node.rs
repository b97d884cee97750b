//! Domain types of the namespace as the doors see it. The protobuf types stop
//! here: everything above the client library works with these.

use std::collections::BTreeMap;

use cairn_proto as pb;

pub use cairn_common::extent::Extent;
pub use cairn_common::node_kind::NodeKind;

/// An inode with its attributes and layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
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
    /// Hex MD5 of the content (or `<hex>-N` for multipart); empty when stale.
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub replicas: u32,
    /// Fewest replicas a write may go on with; 0: the default for
    /// `replicas` (see `cairn_common::min_replicas`).
    pub min_replicas: u32,
    pub tier: u32,
    /// Ordered by `file_offset`, non-overlapping.
    pub extents: Vec<Extent>,
    pub symlink_target: Vec<u8>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The version of its S3 key this object is: "" when it was made
    /// outside versioning, `null`, or an id.
    pub version_id: String,
    /// Tags, retention and legal hold of that version.
    pub protection: ObjectProtection,
    /// Device number of a character or block device node; 0 otherwise.
    pub rdev: u64,
}

/// Name `name` of directory `parent`, as long as it names inode `ino`: what
/// a conditional unlink removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedInode {
    pub parent: u64,
    pub name: Vec<u8>,
    pub ino: u64,
}

/// A bucket: a top-level directory of the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub ino: u64,
    pub created_ns: i64,
    pub owner: String,
}

/// A chunk server as the data path sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CsAddr {
    pub cs_id: u32,
    pub addr: String,
    pub host: String,
}

/// A chunk's version, length and live replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLocation {
    pub chunk_id: u64,
    pub version: u64,
    pub length: u64,
    pub replicas: Vec<CsAddr>,
    /// Another file or upload part names the chunk too (a copy shares its
    /// source's chunks): it must never be written in place.
    pub shared: bool,
    /// A write goes on while at least this many replicas hold every byte
    /// (0 from an MDS that does not say: every replica).
    pub min_replicas: u32,
}

impl From<pb::Node> for Node {
    fn from(n: pb::Node) -> Self {
        // A reply of an older MDS may leave the kind out: a file.
        let kind = NodeKind::from_wire(n.kind)
            .ok()
            .flatten()
            .unwrap_or(NodeKind::File);
        Node {
            ino: n.ino,
            kind,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            size: n.size,
            atime_ns: n.atime_ns,
            mtime_ns: n.mtime_ns,
            ctime_ns: n.ctime_ns,
            nlink: n.nlink,
            etag: n.etag,
            content_type: n.content_type,
            user_meta: n.user_meta.into_iter().collect(),
            headers: n.headers.into_iter().collect(),
            replicas: n.replicas,
            min_replicas: n.min_replicas,
            tier: n.tier,
            extents: n.extents.into_iter().map(Extent::from).collect(),
            symlink_target: n.symlink_target,
            xattrs: n.xattrs.into_iter().collect(),
            version_id: n.version_id,
            protection: n.protection.map(ObjectProtection::from).unwrap_or_default(),
            rdev: n.rdev,
        }
    }
}

impl From<&Node> for pb::Node {
    fn from(n: &Node) -> Self {
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
            headers: n.headers.clone().into_iter().collect(),
            replicas: n.replicas,
            min_replicas: n.min_replicas,
            tier: n.tier,
            extents: n.extents.iter().copied().map(pb::Extent::from).collect(),
            symlink_target: n.symlink_target.clone(),
            xattrs: n.xattrs.clone().into_iter().collect(),
            version_id: n.version_id.clone(),
            protection: Some(pb::Protection::from(&n.protection)),
            rdev: n.rdev,
        }
    }
}

impl From<pb::Bucket> for Bucket {
    fn from(b: pb::Bucket) -> Self {
        Bucket {
            name: b.name,
            ino: b.ino,
            created_ns: b.created_ns,
            owner: b.owner,
        }
    }
}

impl From<pb::CsAddr> for CsAddr {
    fn from(c: pb::CsAddr) -> Self {
        CsAddr {
            cs_id: c.cs_id,
            addr: c.addr,
            host: c.host,
        }
    }
}

impl From<&CsAddr> for pb::CsAddr {
    fn from(c: &CsAddr) -> Self {
        pb::CsAddr {
            cs_id: c.cs_id,
            addr: c.addr.clone(),
            host: c.host.clone(),
        }
    }
}

impl From<pb::ChunkLocation> for ChunkLocation {
    fn from(l: pb::ChunkLocation) -> Self {
        ChunkLocation {
            chunk_id: l.chunk_id,
            version: l.version,
            length: l.length,
            replicas: l.replicas.into_iter().map(CsAddr::from).collect(),
            shared: l.shared,
            min_replicas: l.min_replicas,
        }
    }
}

// ------------------------------------------------------------ protection ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    /// The mode as S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    pub(crate) fn from_wire(text: &str) -> Option<LockMode> {
        match text {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// Not removable before this instant (ns since the epoch).
    pub until_ns: i64,
}

/// Tags, retention and legal hold of one version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectProtection {
    pub tags: BTreeMap<String, String>,
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

impl ObjectProtection {
    /// Whether the version cannot be changed or removed at `now_ns` (by
    /// anyone: a GOVERNANCE bypass is an S3 request header, which the
    /// mount never sends).
    pub fn locked_at(&self, now_ns: i64) -> bool {
        self.legal_hold || self.retention.is_some_and(|r| r.until_ns > now_ns)
    }
}

impl From<pb::Protection> for ObjectProtection {
    fn from(p: pb::Protection) -> Self {
        ObjectProtection {
            tags: p.tags.into_iter().collect(),
            retention: LockMode::from_wire(&p.lock_mode).map(|mode| Retention {
                mode,
                until_ns: p.retain_until_ns,
            }),
            legal_hold: p.legal_hold,
        }
    }
}

impl From<&ObjectProtection> for pb::Protection {
    fn from(p: &ObjectProtection) -> Self {
        pb::Protection {
            tags: p.tags.clone().into_iter().collect(),
            lock_mode: p.retention.map_or("", |r| r.mode.as_str()).to_string(),
            retain_until_ns: p.retention.map_or(0, |r| r.until_ns),
            legal_hold: p.legal_hold,
        }
    }
}
