//! Every change to the MDS state is a [`Command`]: a plain serialisable value
//! applied by [`crate::apply::apply`] in one redb transaction.
//!
//! Invariant: a command carries everything that is not derived from the
//! state itself — the time (`now_ns`), chunk placement (`chain`), anything
//! random — so that applying the same commands in the same order to the same
//! state gives the same result on every MDS. This is what lets a replicated
//! log (openraft) sit in front of `apply` unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// Stored in an upload's record, so it lives with the records.
pub use crate::schema::ObjectSpec;
use crate::schema::{
    AccessKeyInfo, BucketInfo, BucketPermission, ChunkInfo, ClusterMeta, Extent, Inode, NodeKind,
    ObjectLockConfig, PartInfo, Protection, Retention, UploadInfo, VersionId, Versioning,
};

/// Attribute changes of SetAttr; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Truncate (down: extents past the end are trimmed and their chunk
    /// references released) or extend (up: only the size changes).
    pub size: Option<u64>,
    pub atime_ns: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub replicas: Option<u32>,
    pub tier: Option<u32>,
    pub set_xattrs: BTreeMap<String, Vec<u8>>,
    pub remove_xattrs: Vec<String>,
}

/// Changes to the protection of one version; `None` leaves a part as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionChange {
    /// The whole new tag set (empty: no tags).
    pub tags: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes the retention.
    pub retention: Option<Option<Retention>>,
    pub legal_hold: Option<bool>,
}

/// One change the lifecycle runner asks for (`crate::lifecycle`). Each is
/// conditional on what the runner saw in its snapshot, so that applying it
/// twice, late, or after a leader change does nothing wrong: when the
/// condition no longer holds the command changes nothing and answers
/// [`LifecycleOutcome::Skipped`]. Protection (retention, legal hold) is
/// checked again at the command's `now_ns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleAction {
    /// Expires the current version of `key` (a delete marker in a
    /// versioned bucket, a deletion in an unversioned one), only while it
    /// is still that version: same id, inode, mtime and etag (an
    /// unversioned bucket's objects all have the id `null`).
    ExpireCurrent {
        key: Vec<u8>,
        version: VersionId,
        ino: u64,
        mtime_ns: i64,
        etag: String,
    },
    /// Removes the noncurrent version (or delete marker) `version` of
    /// `key`, only while it is noncurrent and at least `keep_newer`
    /// noncurrent versions newer than it remain (NewerNoncurrentVersions).
    RemoveNoncurrent {
        key: Vec<u8>,
        version: VersionId,
        keep_newer: u32,
    },
    /// Removes the delete marker `version` of `key` only while it is the
    /// key's only version (ExpiredObjectDeleteMarker).
    RemoveSoleMarker { key: Vec<u8>, version: VersionId },
    /// Aborts an incomplete multipart upload, only while the upload of that
    /// id exists in the command's bucket and began at `created_ns`.
    AbortUpload { upload_id: String, created_ns: i64 },
}

/// What a [`Command::Lifecycle`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleOutcome {
    /// Its condition no longer held (already done, changed, or protected).
    Skipped,
    /// A current version was deleted (unversioned bucket, or the null
    /// version of a suspended one).
    CurrentDeleted,
    /// A current version became noncurrent behind a new delete marker.
    MarkerAdded,
    /// A noncurrent version was removed.
    NoncurrentRemoved,
    /// A delete marker was removed.
    MarkerRemoved,
    /// An incomplete multipart upload was aborted.
    UploadAborted,
}

/// A replica of a chunk as a CS reports it or is told to delete it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRef {
    pub chunk_id: u64,
    pub version: u64,
    pub length: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Creates the root directory, the cluster record and the counters.
    InitCluster {
        meta: ClusterMeta,
        now_ns: i64,
    },

    // ---- POSIX namespace
    CreateNode {
        parent: u64,
        name: Vec<u8>,
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        symlink_target: Vec<u8>,
        exclusive: bool,
        now_ns: i64,
    },
    SetAttr {
        ino: u64,
        change: AttrChange,
        now_ns: i64,
    },
    Unlink {
        parent: u64,
        name: Vec<u8>,
        now_ns: i64,
    },
    Rmdir {
        parent: u64,
        name: Vec<u8>,
        now_ns: i64,
    },
    Rename {
        parent: u64,
        name: Vec<u8>,
        new_parent: u64,
        new_name: Vec<u8>,
        no_replace: bool,
        now_ns: i64,
    },
    Link {
        ino: u64,
        new_parent: u64,
        new_name: Vec<u8>,
        now_ns: i64,
    },

    // ---- buckets and keys
    CreateBucket {
        name: String,
        owner: String,
        now_ns: i64,
    },
    DeleteBucket {
        name: String,
        now_ns: i64,
    },
    PutKey {
        bucket: String,
        key: Vec<u8>,
        object: ObjectSpec,
        if_match: Option<String>,
        if_none_match: Option<String>,
        /// 0: not deduplicated.
        request_id: u64,
        now_ns: i64,
    },
    DeleteKey {
        bucket: String,
        key: Vec<u8>,
        now_ns: i64,
    },

    // ---- chunks
    /// A new chunk for inode `owner` on the CS chain chosen by placement
    /// (before the command: placement reads live figures).
    AllocateChunk {
        owner: u64,
        chain: Vec<u32>,
    },
    CommitWrite {
        ino: u64,
        extents: Vec<Extent>,
        size: u64,
        etag: String,
        mtime_ns: i64,
        /// (chunk id, length reached).
        chunk_lengths: Vec<(u64, u64)>,
        replace_layout: bool,
        now_ns: i64,
    },
    /// A replica failed during a write: drop it and bump the version, if the
    /// writer saw the current version.
    DropReplica {
        chunk_id: u64,
        version: u64,
        cs_id: u32,
    },
    /// A replica returned bad data: drop it like DropReplica, except that the
    /// last replica is kept (a damaged copy beats none).
    DropBadReplica {
        chunk_id: u64,
        version: u64,
        cs_id: u32,
    },

    // ---- chunk servers
    RegisterCs {
        host: String,
        tier: u32,
        capacity: u64,
        journal: bool,
        now_ns: i64,
    },
    SetCsAddr {
        cs_id: u32,
        addr: String,
    },
    /// A CS's full replica report: returns what it should delete, drops from
    /// the chunk map the replicas it no longer has.
    ReconcileReplicas {
        cs_id: u32,
        report: Vec<ReplicaRef>,
    },
    /// Returns and forgets the deletions queued for a CS.
    TakeReplicaDeletes {
        cs_id: u32,
    },

    // ---- healing and balancing (chosen by the background work, which
    // reads liveness and figures outside the state machine)
    /// A CS made a verified copy of a chunk it was ordered to copy: it
    /// becomes a replica if the chunk is still at `version` and the CS is
    /// on a host no other replica uses (`replaces` aside). `replaces`: a
    /// replica the copy takes the place of (a move, or a lost replica on
    /// the same host), dropped in the same transaction.
    AddReplica {
        chunk_id: u64,
        version: u64,
        cs_id: u32,
        replaces: Option<u32>,
    },
    /// Drops a replica the chunk does not need (over the wanted count, on a
    /// lost or draining CS), without a version bump; never the last one.
    TrimReplica {
        chunk_id: u64,
        version: u64,
        cs_id: u32,
    },
    /// Starts (`draining`) or cancels the drain of a CS.
    SetCsDraining {
        cs_id: u32,
        draining: bool,
    },
    /// Removes a CS. Without `force` only once no committed chunk lists it
    /// (a drained CS); with `force` at once, dropping its replicas from
    /// every chunk.
    RemoveCs {
        cs_id: u32,
        force: bool,
    },
    /// Frees chunks nobody references (released past their grace period, or
    /// allocated and never committed past a timeout): removes them and
    /// queues the deletion of their replicas. Chunks referenced again
    /// meanwhile are skipped.
    FreeChunks {
        chunk_ids: Vec<u64>,
    },

    // ---- S3: access keys and multipart uploads
    /// The key id and secret are chosen by the caller (random), never here.
    CreateAccessKey {
        key_id: String,
        secret: String,
        name: String,
        now_ns: i64,
    },
    DeleteAccessKey {
        key_id: String,
    },
    /// Sets the key's permission on a bucket; all false removes it.
    SetBucketPermission {
        key_id: String,
        permission: BucketPermission,
    },
    CreateUpload {
        bucket: String,
        key: Vec<u8>,
        object: ObjectSpec,
        upload_id: String,
        created_ns: i64,
    },
    /// Records a part whose chunks are written; replaces a part with the same
    /// number, releasing its chunks.
    PutPart {
        upload_id: String,
        part: PartInfo,
        chunk_lengths: Vec<(u64, u64)>,
    },
    /// Places the listed parts, in order, as the object at the upload's key
    /// (no data copy) and ends the upload; unlisted parts are released.
    CompleteUpload {
        upload_id: String,
        part_numbers: Vec<u32>,
        etag: String,
        if_match: Option<String>,
        if_none_match: Option<String>,
        mtime_ns: i64,
        /// 0: not deduplicated.
        request_id: u64,
        now_ns: i64,
    },
    AbortUpload {
        upload_id: String,
    },

    // ---- chunks, continued (new variants go last: the log encodes the
    // variant's index)
    /// `count` new chunks for inode `owner`, all on `chain`.
    AllocateChunks {
        owner: u64,
        chain: Vec<u32>,
        count: u32,
    },

    // ---- namespace, continued
    /// Unlink `name` of `parent` only while it names `ino`.
    UnlinkInode {
        parent: u64,
        name: Vec<u8>,
        ino: u64,
        now_ns: i64,
    },
    /// SetAttr that also sets the minimum replica count (0: the default
    /// for the replica count), in the same transaction: `--replicas 3:2`.
    /// Plain SetAttr leaves the minimum as it is.
    SetAttrWithMinimum {
        ino: u64,
        change: AttrChange,
        min_replicas: u32,
        now_ns: i64,
    },

    // ---- S3 versions and protection (`apply::versions`)
    /// CreateBucket, with object lock (and so versioning) enabled from the
    /// start when `object_lock`.
    CreateBucketWith {
        name: String,
        owner: String,
        object_lock: bool,
        now_ns: i64,
    },
    SetBucketVersioning {
        bucket: String,
        versioning: Versioning,
    },
    SetObjectLock {
        bucket: String,
        config: ObjectLockConfig,
    },
    /// A bucket setting the doors own (tagging, lifecycle, ...); `None`
    /// removes it.
    SetBucketSetting {
        bucket: String,
        name: String,
        value: Option<Vec<u8>>,
    },
    /// PutKey with the tags, retention and legal hold of the new version.
    PutObject {
        bucket: String,
        key: Vec<u8>,
        object: ObjectSpec,
        protection: Protection,
        if_match: Option<String>,
        if_none_match: Option<String>,
        /// 0: not deduplicated.
        request_id: u64,
        now_ns: i64,
    },
    /// S3 DeleteObject: a delete marker, the null version, or the version
    /// named (see `apply::versions`). `bypass_governance`: the caller may
    /// remove a version under GOVERNANCE retention.
    DeleteObject {
        bucket: String,
        key: Vec<u8>,
        version_id: Option<String>,
        bypass_governance: bool,
        now_ns: i64,
    },
    SetProtection {
        bucket: String,
        key: Vec<u8>,
        version_id: Option<String>,
        change: ProtectionChange,
        bypass_governance: bool,
        now_ns: i64,
    },
    /// CompleteUpload that also sets and removes stored headers of the
    /// object and gives its version a protection, in the same commit.
    CompleteUploadWith {
        upload_id: String,
        part_numbers: Vec<u32>,
        etag: String,
        if_match: Option<String>,
        if_none_match: Option<String>,
        mtime_ns: i64,
        /// 0: not deduplicated.
        request_id: u64,
        now_ns: i64,
        set_headers: BTreeMap<String, String>,
        remove_headers: Vec<String>,
        protection: Option<Protection>,
    },

    // ---- S3 lifecycle (`apply::lifecycle`), chosen by the leader's runner
    /// One conditional lifecycle change in `bucket`; see [`LifecycleAction`].
    Lifecycle {
        bucket: String,
        action: LifecycleAction,
        now_ns: i64,
    },

    /// CommitWrite that may continue the file's current version in a
    /// versioned bucket: when `continues` names the current version (the
    /// writer made it, in the same open-to-close window), the write goes
    /// into it; otherwise the content before is kept as a noncurrent
    /// version and the write makes a new one (`apply::versions`).
    CommitWriteIn {
        ino: u64,
        extents: Vec<Extent>,
        size: u64,
        etag: String,
        mtime_ns: i64,
        chunk_lengths: Vec<(u64, u64)>,
        replace_layout: bool,
        /// Wire version id; empty: none.
        continues: String,
        now_ns: i64,
    },

    // ---- special files and holes (issue 19; `apply::special`, `apply::holes`)
    /// mknod/mkfifo/bind: a FIFO, socket or device node (`rdev` for a
    /// device). Always exclusive.
    CreateSpecial {
        parent: u64,
        name: Vec<u8>,
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        rdev: u64,
        now_ns: i64,
    },
    /// Cuts bytes `[offset, offset + length)` of file `ino` out of its
    /// layout (a hole); chunks no longer named are released. The size
    /// stays.
    PunchHole {
        ino: u64,
        offset: u64,
        length: u64,
        now_ns: i64,
    },

    // ---- S3 access, continued
    /// CreateAccessKey that says whether the key is an admin's (see
    /// [`AccessKeyInfo::admin`]).
    CreateAccessKeyWith {
        key_id: String,
        secret: String,
        name: String,
        admin: bool,
        now_ns: i64,
    },

    // ---- Cluster identity
    /// Adds a node certificate (its serial, DER bytes) to the list every
    /// process refuses, and drops the rows of certificates that expired
    /// before `now_ns`.
    RevokeCert {
        serial: Vec<u8>,
        subject: String,
        not_after: i64,
        now_ns: i64,
    },

    // ---- Namespace, continued
    /// Stores the ETag of file `ino`, hashed from its bytes after writes in
    /// place had left it stale, if the file is still as it was when read
    /// (its size and mtime); `PreconditionFailed` if it changed since.
    SetEtag {
        ino: u64,
        etag: String,
        size: u64,
        mtime_ns: i64,
    },
    /// Bytes `[src_offset, src_offset + length)` of file `src` (clamped to
    /// its size) become bytes from `dst_offset` of file `dst`, sharing the
    /// source's chunks (copy on write); `dst` grows to cover them.
    CloneRange {
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        length: u64,
        now_ns: i64,
    },

    /// CommitWriteIn with the attributes set on the open file since its
    /// last commit (mode, owner, atime; never a size, replicas or xattrs):
    /// the mount folds a chmod, chown or utimens of a file it is writing
    /// into the commit its close makes, as `tar -x` sets them on every
    /// file between its last write and its close. Applied after the write.
    CommitWriteAttrs {
        write: WriteCommit,
        attrs: AttrChange,
        now_ns: i64,
    },
}

/// What a writer's batch commits (see `Command::commit_write`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCommit {
    pub ino: u64,
    pub extents: Vec<Extent>,
    pub size: u64,
    pub etag: String,
    pub mtime_ns: i64,
    pub chunk_lengths: Vec<(u64, u64)>,
    pub replace_layout: bool,
    /// Wire version id; empty: none.
    pub continues: String,
}

impl Command {
    /// The command of a writer's commit: `CommitWriteAttrs` when
    /// attributes were folded into it, else `CommitWriteIn`.
    pub fn commit_write(write: WriteCommit, attrs: AttrChange, now_ns: i64) -> Command {
        if attrs != AttrChange::default() {
            return Command::CommitWriteAttrs {
                write,
                attrs,
                now_ns,
            };
        }
        let WriteCommit {
            ino,
            extents,
            size,
            etag,
            mtime_ns,
            chunk_lengths,
            replace_layout,
            continues,
        } = write;
        Command::CommitWriteIn {
            ino,
            extents,
            size,
            etag,
            mtime_ns,
            chunk_lengths,
            replace_layout,
            continues,
            now_ns,
        }
    }

    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::InitCluster { .. } => "init_cluster",
            Command::CreateNode { .. } => "create",
            Command::SetAttr { .. } | Command::SetAttrWithMinimum { .. } => "set_attr",
            Command::Unlink { .. } | Command::UnlinkInode { .. } => "unlink",
            Command::Rmdir { .. } => "rmdir",
            Command::Rename { .. } => "rename",
            Command::Link { .. } => "link",
            Command::CreateBucket { .. } => "create_bucket",
            Command::DeleteBucket { .. } => "delete_bucket",
            Command::PutKey { .. } => "put_key",
            Command::DeleteKey { .. } => "delete_key",
            Command::AllocateChunk { .. } => "allocate_chunk",
            Command::CommitWrite { .. } => "commit_write",
            Command::DropReplica { .. } => "drop_replica",
            Command::DropBadReplica { .. } => "drop_bad_replica",
            Command::RegisterCs { .. } => "register_cs",
            Command::SetCsAddr { .. } => "set_cs_addr",
            Command::ReconcileReplicas { .. } => "reconcile_replicas",
            Command::TakeReplicaDeletes { .. } => "take_replica_deletes",
            Command::AddReplica { .. } => "add_replica",
            Command::TrimReplica { .. } => "trim_replica",
            Command::SetCsDraining { .. } => "set_cs_draining",
            Command::RemoveCs { .. } => "remove_cs",
            Command::FreeChunks { .. } => "free_chunks",
            Command::CreateAccessKey { .. } | Command::CreateAccessKeyWith { .. } => {
                "create_access_key"
            }
            Command::DeleteAccessKey { .. } => "delete_access_key",
            Command::SetBucketPermission { .. } => "set_bucket_permission",
            Command::CreateUpload { .. } => "create_upload",
            Command::PutPart { .. } => "put_part",
            Command::CompleteUpload { .. } => "complete_upload",
            Command::AbortUpload { .. } => "abort_upload",
            Command::AllocateChunks { .. } => "allocate_chunks",
            Command::CreateBucketWith { .. } => "create_bucket",
            Command::SetBucketVersioning { .. } => "set_bucket_versioning",
            Command::SetObjectLock { .. } => "set_object_lock",
            Command::SetBucketSetting { .. } => "set_bucket_setting",
            Command::PutObject { .. } => "put_key",
            Command::DeleteObject { .. } => "delete_object",
            Command::SetProtection { .. } => "set_protection",
            Command::CompleteUploadWith { .. } => "complete_upload",
            Command::Lifecycle { .. } => "lifecycle",
            Command::CommitWriteIn { .. } | Command::CommitWriteAttrs { .. } => "commit_write",
            Command::CreateSpecial { .. } => "create",
            Command::PunchHole { .. } => "punch_hole",
            Command::RevokeCert { .. } => "revoke_cert",
            Command::SetEtag { .. } => "set_etag",
            Command::CloneRange { .. } => "clone_range",
        }
    }
}

/// What a command answers. (Not boxed: a reply is made once and moved once.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandReply {
    Done,
    Node(Inode),
    Bucket(BucketInfo),
    Chunk {
        chunk_id: u64,
        chunk: ChunkInfo,
    },
    CsRegistered {
        cs_id: u32,
    },
    Deletes(Vec<ReplicaRef>),
    /// A full report reconciled: replicas to delete, and replicas to bring
    /// to the chunk's version as (chunk id, old version, new version).
    Reconciled {
        deletes: Vec<ReplicaRef>,
        set_versions: Vec<(u64, u64, u64)>,
    },
    /// A CS removed; `chunks_lost`: chunks left with no replica (force).
    CsRemoved {
        chunks_lost: u64,
    },
    /// How many chunks FreeChunks freed.
    Freed(u64),
    AccessKey(AccessKeyInfo),
    Upload(UploadInfo),
    /// New chunks, in allocation order.
    Chunks(Vec<(u64, ChunkInfo)>),
    /// What DeleteObject removed or made: the version id an S3 reply
    /// names, and whether it is a delete marker.
    Deleted {
        version_id: String,
        delete_marker: bool,
    },
    /// What a lifecycle command did.
    Lifecycle(LifecycleOutcome),
}
