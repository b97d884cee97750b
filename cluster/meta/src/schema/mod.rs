//! The MDS's persistent state: redb tables and the records stored in them.
//!
//! Every structured value is serialised with postcard inside a versioned
//! envelope (`XxxRecord::V1(..)`), so that a later format adds `V2` and
//! migrates `V1` on decode (the chain of Garage's `migrate.rs`) instead of
//! misreading old bytes. postcard is not self-describing: a field is never
//! added to a stored struct in place, a new version is added instead.
//!
//! Tables (all in the one file `mds.redb`):
//!
//! | table | key | value | invariant |
//! |---|---|---|---|
//! | `inodes` | ino | [`Inode`] | ino 1 is the root directory |
//! | `dentries` | (parent ino, name) | child ino | parent is a directory; readdir is a range scan |
//! | `keys` | (bucket, key bytes) | ino | every file, symlink and explicit directory inside a bucket has exactly one key per dentry (its path, `/`-suffixed for a directory); key-only inodes have one key and no dentry |
//! | `buckets` | name | [`BucketInfo`] | a bucket is the directory `name` under the root |
//! | `chunks` | chunk id | [`ChunkInfo`] | `refs` counts the inodes (and upload parts) whose layout names the chunk; a chunk whose count falls to 0 is marked `released` and kept for a grace period, then freed (`FreeChunks`): removed, its replicas queued in `replica_deletes` |
//! | `replica_index` | (cs id, chunk id) | () | mirrors `ChunkInfo::replicas`, so a CS's replicas are a range scan |
//! | `replica_deletes` | (cs id, chunk id) | version | replicas a CS should delete (chunk freed, replica dropped or stale); handed out in heartbeat replies; whoever gives a CS a chunk again (healing) must first remove its row here |
//! | `chunk_servers` | cs id | [`ChunkServerInfo`] | ids are never reused: a removed CS stays as a `Removed` row; no chunk lists a removed CS |
//! | `meta` | name | [`ClusterMeta`] / [`Counters`] | written once at creation / counters only grow |
//! | `requests`, `request_order` | request id / sequence | remembered reply (`apply::requests`) / request id | at most [`MAX_REMEMBERED_REQUESTS`] rows |
//! | `access_keys` | access key id | [`AccessKeyInfo`] | at most one permission row per bucket; no row for a bucket that does not exist |
//! | `uploads` | upload id | [`UploadInfo`] | each part holds one reference on each chunk its extents name |
//! | `upload_index` | (bucket, key, upload id) | () | mirrors `uploads`, for listing by key |
//! | `versions` | (bucket, key, u64::MAX - version seq) | [`ObjectVersion`] | the versions of a key that are not its current object (noncurrent versions and delete markers), newest first; each holds one reference on each chunk of its layout ([`versions`]) |
//! | `revoked_certs` | certificate serial (DER bytes) | [`RevokedCert`] | the node certificates every process of the cluster refuses; a row is dropped once its certificate has expired (refused anyway) |
//! | `bucket_settings` | (bucket, setting name) | a record per setting | versioning and object lock ([`BucketProtection`], typed); tagging, lifecycle and later ones as the door wrote them; removed with the bucket |

use std::{borrow::Cow, collections::BTreeMap};

use cairn_common::ClusterError;
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::OrIo;

pub use versions::{
    BucketProtection, LockMode, ObjectLockConfig, ObjectVersion, Protection, Retention, VersionId,
    Versioning,
};

pub const INODES: TableDefinition<u64, &[u8]> = TableDefinition::new("inodes");
pub const DENTRIES: TableDefinition<(u64, &[u8]), u64> = TableDefinition::new("dentries");
pub const KEYS: TableDefinition<(&str, &[u8]), u64> = TableDefinition::new("keys");
pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
pub const CHUNKS: TableDefinition<u64, &[u8]> = TableDefinition::new("chunks");
pub const REPLICA_INDEX: TableDefinition<(u32, u64), ()> = TableDefinition::new("replica_index");
pub const REPLICA_DELETES: TableDefinition<(u32, u64), u64> =
    TableDefinition::new("replica_deletes");
pub const CHUNK_SERVERS: TableDefinition<u32, &[u8]> = TableDefinition::new("chunk_servers");
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub const REQUESTS: TableDefinition<u64, &[u8]> = TableDefinition::new("requests");
pub const REQUEST_ORDER: TableDefinition<u64, u64> = TableDefinition::new("request_order");
pub const ACCESS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_keys");
pub const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
pub const UPLOAD_INDEX: TableDefinition<(&str, &[u8], &str), ()> =
    TableDefinition::new("upload_index");
pub const VERSIONS: TableDefinition<(&str, &[u8], u64), &[u8]> = TableDefinition::new("versions");
pub const BUCKET_SETTINGS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("bucket_settings");
pub const REVOKED_CERTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("revoked_certs");

/// `meta` row holding the [`ClusterMeta`].
pub const META_CLUSTER: &str = "cluster";
/// `meta` row holding the [`Counters`].
pub const META_COUNTERS: &str = "counters";

/// How many PutKey request ids are remembered for deduplication. A client
/// retries within seconds; thousands of later puts push an id out.
pub const MAX_REMEMBERED_REQUESTS: u64 = 8192;

/// Stored headers that describe an object's bytes as S3 received them (its
/// checksums): a change of the content through the mount drops them, or
/// S3 would serve a checksum of bytes the object no longer holds.
pub const CONTENT_CHECKSUM_PREFIX: &str = "x-amz-checksum-";

/// Drops the stored headers that described the content before a change.
pub fn forget_content_checksums(node: &mut Inode) {
    node.headers
        .retain(|name, _| !name.starts_with(CONTENT_CHECKSUM_PREFIX));
}

/// ETag of empty content (MD5 of nothing), given to new and emptied files.
pub const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

// ------------------------------------------------------------ domain types ---

pub use cairn_common::node_kind::NodeKind;

/// A file's layout is a list of these (stored with postcard: the field
/// order of the shared type is part of the schema).
pub use cairn_common::extent::Extent;

/// A file, directory or symlink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    pub ino: u64,
    pub kind: NodeKind,
    /// Permission bits only (07777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// Files: number of dentries. Directories: 2 + subdirectories.
    /// Key-only inodes: 1.
    pub nlink: u32,
    /// Hex MD5 (or `md5-N`); empty when stale (after a random write).
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Wanted replica count of the file's chunks (inherited from the parent).
    pub replicas: u32,
    /// Fewest replicas a write may go on with while hosts are missing
    /// (inherited from the parent); 0: the default for `replicas`
    /// ([`cairn_common::replicas::minimum`]). Never above `replicas`.
    pub min_replicas: u32,
    /// Wanted storage tier (inherited from the parent).
    pub tier: u32,
    /// Ordered by `file_offset`, non-overlapping.
    pub layout: Vec<Extent>,
    pub symlink_target: Vec<u8>,
    /// Ino of the bucket directory this inode lives in (its own ino for a
    /// bucket, 0 for the root). Fixed for life: nothing moves across buckets.
    pub bucket: u64,
    /// Directories only: parent directory and name in it (a directory has
    /// exactly one dentry), so that its path can be rebuilt for keys.
    pub parent: u64,
    pub name: Vec<u8>,
    /// Directories only: made by PutKey for a key below it, with no key of
    /// its own; DeleteKey removes it when it becomes empty.
    pub implicit: bool,
    /// Reachable only through `keys` (its key cannot be a POSIX path, or the
    /// path is taken by a node of another kind): no dentry.
    pub key_only: bool,
    /// Which version of its object the inode holds (S3 versioning, see
    /// [`versions`]); [`VersionId::UNVERSIONED`] when made outside it.
    pub version: VersionId,
    /// Tags, retention and legal hold of that version.
    pub protection: Protection,
    /// Device number of a character or block device node; 0 otherwise.
    pub rdev: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    pub ino: u64,
    pub created_ns: i64,
    pub owner: String,
}

/// A chunk as stored before replica count and tier were kept per chunk
/// (record version 1); decoded and migrated into [`ChunkInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfoV1 {
    pub version: u64,
    pub length: u64,
    pub replicas: Vec<u32>,
    pub refs: u32,
    pub owner: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// Grows whenever the replica set changes during a write.
    pub version: u64,
    /// High-water mark of bytes written.
    pub length: u64,
    /// CS ids holding a current replica, in chain order. Never two on one
    /// host: placement and the healer both keep it so (a copy that lands on
    /// the host of a lost replica replaces that replica in the same
    /// command).
    pub replicas: Vec<u32>,
    /// Number of inodes (and upload parts) whose layout names this chunk.
    /// 0 right after allocation until the first commit references it, and
    /// again once released.
    pub refs: u32,
    /// The inode the chunk was allocated for (diagnostics).
    pub owner: u64,
    /// Wanted number of replicas: the attribute of the inode that first
    /// referenced it (or was allocated for), raised to the largest count any
    /// later holder asks for; set exactly by SetAttr on its only holder. 0:
    /// unknown (a migrated record): the cluster's default.
    pub want: u32,
    /// Wanted storage tier, from the same inode (the last SetAttr wins).
    pub tier: u32,
    /// Its reference count fell to 0 after it was referenced: it is kept,
    /// readable, for a grace period (readers holding an old layout finish),
    /// then freed. A new reference during the grace takes it back.
    pub released: bool,
}

impl ChunkInfo {
    /// Whether a write must not change the chunk in place: another layout
    /// (a file, a version, an upload part) names it too, or, for a writer
    /// whose next commit keeps the current version, any layout does. Such a
    /// write goes to a new chunk (copy on write).
    pub fn shared(&self, writer_keeps_version: bool) -> bool {
        self.refs > 1 || (writer_keeps_version && self.refs > 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CsState {
    Active,
    /// Being emptied by `rm-cs`: gets no new chunks, its replicas are copied
    /// elsewhere and then trimmed from it.
    Draining,
    /// Gone from the cluster (drained, or removed by force). The row stays
    /// so that its id is never reused; no chunk lists it.
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkServerInfo {
    pub id: u32,
    /// Failure-domain label.
    pub host: String,
    pub tier: u32,
    /// Bytes it may use (0: the disk's size, as reported by heartbeats).
    pub capacity: u64,
    pub journal: bool,
    /// Where its ChunkService listens, as last reported.
    pub addr: String,
    pub state: CsState,
    pub registered_ns: i64,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMeta {
    pub name: String,
    pub cluster_id: String,
    /// The bearer-token secret of cluster RPC before mutual TLS: unused,
    /// kept so that stored records decode.
    pub secret: Vec<u8>,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub chunk_size: u64,
    pub mds_addrs: Vec<String>,
    pub created_ns: i64,
    /// Replica count of the root, inherited by everything made below it.
    pub default_replicas: u32,
}

impl std::fmt::Debug for ClusterMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterMeta")
            .field("name", &self.name)
            .field("cluster_id", &self.cluster_id)
            .field("secret", &"<redacted>")
            .field("password_hash", &"<redacted>")
            .field("chunk_size", &self.chunk_size)
            .field("mds_addrs", &self.mds_addrs)
            .finish()
    }
}

impl ClusterMeta {
    pub fn config(&self) -> cairn_common::ClusterConfig {
        cairn_common::ClusterConfig {
            name: self.name.clone(),
            cluster_id: self.cluster_id.clone(),
            mds_addrs: self.mds_addrs.clone(),
            chunk_size: self.chunk_size,
            dir: None,
        }
    }
}

/// Id counters: the next value to hand out. Only grow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub next_ino: u64,
    pub next_chunk: u64,
    pub next_cs: u32,
    pub next_request_seq: u64,
}

/// What an access key may do in one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPermission {
    pub bucket: String,
    pub read: bool,
    pub write: bool,
    pub owner: bool,
}

/// An S3 access key. The secret is the SigV4 signing secret: it is stored
/// because the gateway needs it to check signatures, and never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyInfo {
    pub key_id: String,
    pub secret: String,
    pub name: String,
    pub created_ns: i64,
    pub permissions: Vec<BucketPermission>,
    /// An operator's key (`cairn key create --admin`, the key `cairn up`
    /// makes): it stands in for the owner of a bucket that has none
    /// (made before owners were recorded, or by a mount without
    /// `--owner`), which no other key reaches. It has no right on a bucket
    /// another key owns.
    pub admin: bool,
}

impl std::fmt::Debug for AccessKeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyInfo")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .field("admin", &self.admin)
            .finish()
    }
}

/// One part of a multipart upload; extents are relative to the part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
    pub extents: Vec<Extent>,
    pub modified_ns: i64,
    pub checksums: BTreeMap<String, String>,
}

/// The content and metadata of an object placed by PutKey.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSpec {
    /// `None` or `File`: a file, or a directory marker when the key ends
    /// with `/` and the object is empty. `Dir`: a marker (the key must end
    /// with `/`, no content).
    pub kind: Option<NodeKind>,
    /// 0: the default (0644 files, 0755 directories, 0777 symlinks).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// 0: the command's time.
    pub mtime_ns: i64,
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    /// 0: inherit from the parent directory.
    pub replicas: u32,
    pub extents: Vec<Extent>,
    pub symlink_target: Vec<u8>,
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub bucket: String,
    pub key: Vec<u8>,
    pub upload_id: String,
    pub created_ns: i64,
    /// Attributes the object gets on completion.
    pub object: ObjectSpec,
    pub parts: BTreeMap<u32, PartInfo>,
}

// -------------------------------------------------------- stored envelopes ---

/// A type stored as a versioned postcard record.
pub trait Stored: Sized + Clone {
    /// What it is, for error messages.
    const WHAT: &'static str;
    fn encode(&self) -> Result<Vec<u8>, ClusterError>;
    fn decode(bytes: &[u8]) -> Result<Self, ClusterError>;
}

pub(crate) fn encode_err(what: &str, e: postcard::Error) -> ClusterError {
    ClusterError::Io(format!("cannot encode {what}: {e}"))
}

pub(crate) fn decode_err(what: &str, e: postcard::Error) -> ClusterError {
    ClusterError::Io(format!("damaged {what} record in the metadata store: {e}"))
}

/// Declares the envelope of a stored type. When a type changes, its envelope
/// gains a variant and `decode` migrates the old one (write the chain by hand
/// then; this macro covers the single-version case).
macro_rules! stored {
    ($ty:ty, $envelope:ident, $what:literal) => {
        #[derive(Serialize, Deserialize)]
        enum $envelope<'a> {
            V1(Cow<'a, $ty>),
        }

        impl Stored for $ty {
            const WHAT: &'static str = $what;

            fn encode(&self) -> Result<Vec<u8>, ClusterError> {
                postcard::to_allocvec(&$envelope::V1(Cow::Borrowed(self)))
                    .map_err(|e| encode_err($what, e))
            }

            fn decode(bytes: &[u8]) -> Result<Self, ClusterError> {
                match postcard::from_bytes::<$envelope>(bytes) {
                    Ok($envelope::V1(v)) => Ok(v.into_owned()),
                    Err(e) => Err(decode_err($what, e)),
                }
            }
        }
    };
}

// Declared after `stored!` so that they can use it.
mod legacy;
pub mod versions;

stored!(BucketInfo, BucketRecord, "bucket");

/// The chunk envelope: V1 (before per-chunk replica count and tier) is
/// migrated on decode; V2 is written.
#[derive(Serialize, Deserialize)]
enum ChunkRecord<'a> {
    V1(Cow<'a, ChunkInfoV1>),
    V2(Cow<'a, ChunkInfo>),
}

impl From<ChunkInfoV1> for ChunkInfo {
    fn from(v1: ChunkInfoV1) -> ChunkInfo {
        ChunkInfo {
            version: v1.version,
            length: v1.length,
            replicas: v1.replicas,
            refs: v1.refs,
            owner: v1.owner,
            want: 0,
            tier: 0,
            released: false,
        }
    }
}

impl Stored for ChunkInfo {
    const WHAT: &'static str = "chunk";

    fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        postcard::to_allocvec(&ChunkRecord::V2(Cow::Borrowed(self)))
            .map_err(|e| encode_err(Self::WHAT, e))
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClusterError> {
        match postcard::from_bytes::<ChunkRecord>(bytes) {
            Ok(ChunkRecord::V1(v)) => Ok(v.into_owned().into()),
            Ok(ChunkRecord::V2(v)) => Ok(v.into_owned()),
            Err(e) => Err(decode_err(Self::WHAT, e)),
        }
    }
}
stored!(ChunkServerInfo, ChunkServerRecord, "chunk server");
stored!(ClusterMeta, ClusterMetaRecord, "cluster");
stored!(Counters, CountersRecord, "counters");
stored!(UploadInfo, UploadRecord, "upload");
stored!(RevokedCert, RevokedCertRecord, "revoked certificate");

/// A node certificate the cluster refuses (`cairn cert revoke`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedCert {
    /// Who it was, for `cairn cert list`: its subject and role.
    pub subject: String,
    /// When the certificate ends (Unix seconds); the row goes after that.
    pub not_after: i64,
    pub revoked_ns: i64,
}

// ------------------------------------------------------ shared read helpers ---
//
// Generic over `ReadableTable` so that `apply` (write transaction) and the
// read queries (read transaction) share one implementation.

/// Reads and decodes one record.
pub fn get_record<'k, K, T, S>(
    table: &T,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
) -> Result<Option<S>, ClusterError>
where
    K: redb::Key + 'static,
    T: ReadableTable<K, &'static [u8]>,
    S: Stored,
{
    match table.get(key).io()? {
        Some(guard) => S::decode(guard.value()).map(Some),
        None => Ok(None),
    }
}

/// The inode `ino`, or ENOENT.
pub fn get_inode<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    ino: u64,
) -> Result<Inode, ClusterError> {
    get_record::<u64, _, Inode>(table, ino)?
        .ok_or_else(|| ClusterError::NotFound(format!("inode {ino}")))
}

/// The child named `name` in directory `parent`, if any.
pub fn get_dentry<T: ReadableTable<(u64, &'static [u8]), u64>>(
    table: &T,
    parent: u64,
    name: &[u8],
) -> Result<Option<u64>, ClusterError> {
    Ok(table.get((parent, name)).io()?.map(|g| g.value()))
}

/// Whether directory `dir` has any entry.
pub fn has_children<T: ReadableTable<(u64, &'static [u8]), u64>>(
    table: &T,
    dir: u64,
) -> Result<bool, ClusterError> {
    let start: (u64, &[u8]) = (dir, &[]);
    let mut range = table.range(start..).io()?;
    match range.next() {
        Some(entry) => {
            let (k, _) = entry.io()?;
            Ok(k.value().0 == dir)
        }
        None => Ok(false),
    }
}

/// Longest directory chain followed when rebuilding a path; a longer one
/// means a loop in damaged metadata.
const MAX_DEPTH: usize = 4096;

/// Path of directory `dir` relative to its bucket (`a/b`), empty for the
/// bucket itself. Walks the directories' parent pointers.
pub fn dir_rel_path<T: ReadableTable<u64, &'static [u8]>>(
    inodes: &T,
    dir: &Inode,
) -> Result<Vec<u8>, ClusterError> {
    if dir.ino == dir.bucket || dir.bucket == 0 {
        return Ok(Vec::new());
    }
    let mut names: Vec<Vec<u8>> = vec![dir.name.clone()];
    let mut parent = dir.parent;
    while parent != dir.bucket {
        if names.len() > MAX_DEPTH {
            return Err(ClusterError::Io(format!(
                "directory {} has no path to its bucket: damaged parent links",
                dir.ino
            )));
        }
        let node = get_inode(inodes, parent)?;
        names.push(node.name.clone());
        parent = node.parent;
    }
    names.reverse();
    Ok(names.join(&b'/'))
}

/// `rel/name`, or `name` when `rel` is empty.
pub fn join_key(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(rel.len() + 1 + name.len());
    if !rel.is_empty() {
        key.extend_from_slice(rel);
        key.push(b'/');
    }
    key.extend_from_slice(name);
    key
}

/// The rows of a `(cs id, chunk id)`-keyed table for one CS.
pub fn range_cs<V, T>(table: &T, cs_id: u32) -> Result<Vec<(u64, V)>, ClusterError>
where
    V: for<'a> redb::Value<SelfType<'a> = V> + 'static,
    T: ReadableTable<(u32, u64), V>,
{
    let mut out = Vec::new();
    for entry in table.range((cs_id, 0u64)..).io()? {
        let (k, v) = entry.io()?;
        let (cs, chunk_id) = k.value();
        if cs != cs_id {
            break;
        }
        out.push((chunk_id, v.value()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sample() -> Inode {
        Inode {
            ino: 7,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 1,
            gid: 2,
            size: 10,
            atime_ns: 1,
            mtime_ns: 2,
            ctime_ns: 3,
            nlink: 1,
            etag: "abc".into(),
            content_type: "text/plain".into(),
            user_meta: BTreeMap::from([("k".into(), "v".into())]),
            headers: BTreeMap::new(),
            xattrs: BTreeMap::from([("user.x".into(), vec![1, 2])]),
            replicas: 3,
            min_replicas: 2,
            tier: 0,
            layout: vec![Extent {
                file_offset: 0,
                chunk_id: 5,
                chunk_offset: 0,
                length: 10,
            }],
            symlink_target: vec![],
            bucket: 2,
            parent: 0,
            name: vec![],
            implicit: false,
            key_only: false,
            version: VersionId {
                seq: 9,
                null: false,
            },
            protection: Protection::default(),
            rdev: 0,
        }
    }

    #[test]
    fn records_round_trip_with_a_version_marker() {
        let inode = sample();
        let bytes = inode.encode().unwrap();
        // The envelope's variant index comes first: V3 = 2.
        assert_eq!(bytes[0], 2);
        assert_eq!(Inode::decode(&bytes).unwrap(), inode);
    }

    #[test]
    fn version_1_chunk_records_migrate() {
        let v1 = ChunkInfoV1 {
            version: 4,
            length: 100,
            replicas: vec![1, 2],
            refs: 1,
            owner: 9,
        };
        let bytes = postcard::to_allocvec(&ChunkRecord::V1(Cow::Borrowed(&v1))).unwrap();
        assert_eq!(bytes[0], 0);
        let chunk = ChunkInfo::decode(&bytes).unwrap();
        assert_eq!(chunk.version, 4);
        assert_eq!(chunk.replicas, vec![1, 2]);
        assert_eq!((chunk.want, chunk.tier, chunk.released), (0, 0, false));
        // Written as V2 (variant 1) from now on.
        let again = chunk.encode().unwrap();
        assert_eq!(again[0], 1);
        assert_eq!(ChunkInfo::decode(&again).unwrap(), chunk);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let err = Inode::decode(&[7, 1, 2]).unwrap_err();
        assert!(matches!(err, ClusterError::Io(ref m) if m.contains("damaged inode")));
        let empty = Inode::decode(&[]).unwrap_err();
        assert!(matches!(empty, ClusterError::Io(ref m) if m.contains("damaged inode")));
    }

    #[test]
    fn join_key_handles_bucket_level() {
        assert_eq!(join_key(b"", b"a"), b"a");
        assert_eq!(join_key(b"a/b", b"c"), b"a/b/c");
    }
}
