//! The state machine: one deterministic function from (state, command) to
//! (new state, reply).
//!
//! Invariants of [`apply`]:
//! * it reads and writes only the redb transaction it is given: no clock,
//!   no randomness, no other I/O (logging aside), so every replica of the
//!   state that applies the same commands ends in the same state;
//! * ids come from the counters in `meta`, times from the command;
//! * on `Err` the caller aborts the transaction, so a failed command leaves
//!   no partial change. Code here may therefore fail half-way freely.

mod access;
mod buckets;
mod certs;
mod chunks;
mod clone;
mod cluster;
mod commit;
mod heal;
mod holes;
mod lifecycle;
mod namespace;
mod nodes;
mod objects;
mod put;
mod requests;
mod settings;
mod special;
mod uploads;
mod versions;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;

use cairn_common::{ClusterError, ROOT_INO};
use redb::{ReadableTable, Table, WriteTransaction};

use crate::command::{Command, CommandReply};
use crate::error::OrIo;
use crate::schema::{self, BucketInfo, Counters, Inode, Stored};

/// Applies one command inside `txn`. See the module invariants.
pub fn apply(txn: &WriteTransaction, command: &Command) -> Result<CommandReply, ClusterError> {
    let mut t = Tables::open(txn)?;
    match command {
        Command::InitCluster { meta, now_ns } => cluster::init(&mut t, meta, *now_ns),
        Command::CreateNode {
            parent,
            name,
            kind,
            mode,
            uid,
            gid,
            symlink_target,
            exclusive,
            now_ns,
        } => namespace::create(
            &mut t,
            namespace::NewNode {
                parent: *parent,
                name,
                kind: *kind,
                mode: *mode,
                uid: *uid,
                gid: *gid,
                symlink_target,
                exclusive: *exclusive,
            },
            *now_ns,
        ),
        Command::SetAttr {
            ino,
            change,
            now_ns,
        } => namespace::set_attr(&mut t, *ino, change, None, *now_ns),
        Command::SetAttrWithMinimum {
            ino,
            change,
            min_replicas,
            now_ns,
        } => namespace::set_attr(&mut t, *ino, change, Some(*min_replicas), *now_ns),
        Command::Unlink {
            parent,
            name,
            now_ns,
        } => namespace::unlink(&mut t, *parent, name, None, *now_ns),
        Command::UnlinkInode {
            parent,
            name,
            ino,
            now_ns,
        } => namespace::unlink(&mut t, *parent, name, Some(*ino), *now_ns),
        Command::Rmdir {
            parent,
            name,
            now_ns,
        } => namespace::rmdir(&mut t, *parent, name, *now_ns),
        Command::Rename {
            parent,
            name,
            new_parent,
            new_name,
            no_replace,
            now_ns,
        } => namespace::rename(
            &mut t,
            *parent,
            name,
            *new_parent,
            new_name,
            *no_replace,
            *now_ns,
        ),
        Command::Link {
            ino,
            new_parent,
            new_name,
            now_ns,
        } => namespace::link(&mut t, *ino, *new_parent, new_name, *now_ns),
        Command::CreateBucket {
            name,
            owner,
            now_ns,
        } => buckets::create_bucket(&mut t, name, owner, *now_ns),
        Command::DeleteBucket { name, now_ns } => buckets::delete_bucket(&mut t, name, *now_ns),
        Command::PutKey {
            bucket,
            key,
            object,
            if_match,
            if_none_match,
            request_id,
            now_ns,
        } => put::put_key(
            &mut t,
            put::PutKey {
                bucket,
                key,
                object,
                if_match: if_match.as_deref(),
                if_none_match: if_none_match.as_deref(),
                request_id: *request_id,
                protection: None,
            },
            *now_ns,
        ),
        Command::PutObject {
            bucket,
            key,
            object,
            protection,
            if_match,
            if_none_match,
            request_id,
            now_ns,
        } => put::put_key(
            &mut t,
            put::PutKey {
                bucket,
                key,
                object,
                if_match: if_match.as_deref(),
                if_none_match: if_none_match.as_deref(),
                request_id: *request_id,
                protection: Some(protection),
            },
            *now_ns,
        ),
        Command::DeleteKey {
            bucket,
            key,
            now_ns,
        } => versions::delete_object(&mut t, bucket, key, None, false, *now_ns)
            .map(|_| CommandReply::Done),
        Command::DeleteObject {
            bucket,
            key,
            version_id,
            bypass_governance,
            now_ns,
        } => versions::delete_object(
            &mut t,
            bucket,
            key,
            version_id.as_deref(),
            *bypass_governance,
            *now_ns,
        ),
        Command::SetProtection {
            bucket,
            key,
            version_id,
            change,
            bypass_governance,
            now_ns,
        } => versions::set_protection(
            &mut t,
            bucket,
            key,
            version_id.as_deref(),
            change,
            *bypass_governance,
            *now_ns,
        ),
        Command::CreateBucketWith {
            name,
            owner,
            object_lock,
            now_ns,
        } => {
            let reply = buckets::create_bucket(&mut t, name, owner, *now_ns)?;
            if *object_lock {
                settings::init_locked_bucket(&mut t, name)?;
            }
            Ok(reply)
        }
        Command::SetBucketVersioning { bucket, versioning } => {
            settings::set_versioning(&mut t, bucket, *versioning)
        }
        Command::SetObjectLock { bucket, config } => {
            settings::set_object_lock(&mut t, bucket, config)
        }
        Command::SetBucketSetting {
            bucket,
            name,
            value,
        } => settings::set_setting(&mut t, bucket, name, value.as_deref()),
        Command::AllocateChunk { owner, chain } => chunks::allocate(&mut t, *owner, chain),
        Command::AllocateChunks {
            owner,
            chain,
            count,
        } => chunks::allocate_many(&mut t, *owner, chain, *count),
        Command::CommitWrite { .. }
        | Command::CommitWriteIn { .. }
        | Command::CommitWriteAttrs { .. } => commit::apply(&mut t, command),
        Command::DropReplica {
            chunk_id,
            version,
            cs_id,
        } => chunks::drop_replica(&mut t, *chunk_id, *version, *cs_id, false),
        Command::DropBadReplica {
            chunk_id,
            version,
            cs_id,
        } => chunks::drop_replica(&mut t, *chunk_id, *version, *cs_id, true),
        Command::RegisterCs {
            host,
            tier,
            capacity,
            journal,
            now_ns,
        } => cluster::register_cs(&mut t, host, *tier, *capacity, *journal, *now_ns),
        Command::SetCsAddr { cs_id, addr } => cluster::set_cs_addr(&mut t, *cs_id, addr),
        Command::ReconcileReplicas { cs_id, report } => chunks::reconcile(&mut t, *cs_id, report),
        Command::TakeReplicaDeletes { cs_id } => chunks::take_deletes(&mut t, *cs_id),
        Command::AddReplica {
            chunk_id,
            version,
            cs_id,
            replaces,
        } => heal::add_replica(&mut t, *chunk_id, *version, *cs_id, *replaces),
        Command::TrimReplica {
            chunk_id,
            version,
            cs_id,
        } => chunks::drop_replica(&mut t, *chunk_id, *version, *cs_id, true),
        Command::SetCsDraining { cs_id, draining } => {
            heal::set_cs_draining(&mut t, *cs_id, *draining)
        }
        Command::RemoveCs { cs_id, force } => heal::remove_cs(&mut t, *cs_id, *force),
        Command::FreeChunks { chunk_ids } => heal::free_chunks(&mut t, chunk_ids),
        Command::CreateAccessKey {
            key_id,
            secret,
            name,
            now_ns,
        } => access::create_access_key(&mut t, key_id, secret, name, false, *now_ns),
        Command::CreateAccessKeyWith {
            key_id,
            secret,
            name,
            admin,
            now_ns,
        } => access::create_access_key(&mut t, key_id, secret, name, *admin, *now_ns),
        Command::DeleteAccessKey { key_id } => access::delete_access_key(&mut t, key_id),
        Command::SetBucketPermission { key_id, permission } => {
            access::set_bucket_permission(&mut t, key_id, permission)
        }
        Command::CreateUpload {
            bucket,
            key,
            object,
            upload_id,
            created_ns,
        } => uploads::create_upload(&mut t, bucket, key, object, upload_id, *created_ns),
        Command::PutPart {
            upload_id,
            part,
            chunk_lengths,
        } => uploads::put_part(&mut t, upload_id, part, chunk_lengths),
        Command::CompleteUpload {
            upload_id,
            part_numbers,
            etag,
            if_match,
            if_none_match,
            mtime_ns,
            request_id,
            now_ns,
        } => uploads::complete_upload(
            &mut t,
            uploads::Complete {
                upload_id,
                part_numbers,
                etag,
                if_match: if_match.as_deref(),
                if_none_match: if_none_match.as_deref(),
                mtime_ns: *mtime_ns,
                request_id: *request_id,
                set_headers: None,
                remove_headers: &[],
                protection: None,
            },
            *now_ns,
        ),
        Command::CompleteUploadWith {
            upload_id,
            part_numbers,
            etag,
            if_match,
            if_none_match,
            mtime_ns,
            request_id,
            now_ns,
            set_headers,
            remove_headers,
            protection,
        } => uploads::complete_upload(
            &mut t,
            uploads::Complete {
                upload_id,
                part_numbers,
                etag,
                if_match: if_match.as_deref(),
                if_none_match: if_none_match.as_deref(),
                mtime_ns: *mtime_ns,
                request_id: *request_id,
                set_headers: Some(set_headers),
                remove_headers,
                protection: protection.as_ref(),
            },
            *now_ns,
        ),
        Command::AbortUpload { upload_id } => uploads::abort_upload(&mut t, upload_id),
        Command::Lifecycle {
            bucket,
            action,
            now_ns,
        } => lifecycle::apply(&mut t, bucket, action, *now_ns),
        Command::CreateSpecial {
            parent,
            name,
            kind,
            mode,
            uid,
            gid,
            rdev,
            now_ns,
        } => special::create(
            &mut t,
            namespace::NewNode {
                parent: *parent,
                name,
                kind: *kind,
                mode: *mode,
                uid: *uid,
                gid: *gid,
                symlink_target: &[],
                exclusive: true,
            },
            *rdev,
            *now_ns,
        ),
        Command::PunchHole {
            ino,
            offset,
            length,
            now_ns,
        } => {
            // A hole changes the content: in a versioned bucket the content
            // before is kept as a version; a locked file refuses it.
            versions::before_rewrite(&mut t, *ino, "", *now_ns)?;
            holes::punch(&mut t, *ino, *offset, *length, *now_ns)
        }
        Command::RevokeCert {
            serial,
            subject,
            not_after,
            now_ns,
        } => certs::revoke(&mut t, serial, subject, *not_after, *now_ns),
        Command::SetEtag {
            ino,
            etag,
            size,
            mtime_ns,
        } => holes::set_etag(&mut t, *ino, etag, *size, *mtime_ns),
        Command::CloneRange {
            src,
            src_offset,
            dst,
            dst_offset,
            length,
            now_ns,
        } => {
            // New content for `dst`: as for a write, in a versioned bucket
            // the content before is kept; a locked file refuses it.
            versions::before_rewrite(&mut t, *dst, "", *now_ns)?;
            clone::clone_range(
                &mut t,
                clone::Range {
                    src: *src,
                    src_offset: *src_offset,
                    dst: *dst,
                    dst_offset: *dst_offset,
                    length: *length,
                },
                *now_ns,
            )
        }
    }
}

/// Creates every table, so that read transactions find them all. Idempotent;
/// run at creation and at every open (a newer version may add tables).
pub fn create_tables(txn: &WriteTransaction) -> Result<(), ClusterError> {
    txn.open_table(schema::INODES).io()?;
    txn.open_table(schema::DENTRIES).io()?;
    txn.open_table(schema::KEYS).io()?;
    txn.open_table(schema::BUCKETS).io()?;
    txn.open_table(schema::CHUNKS).io()?;
    txn.open_table(schema::REPLICA_INDEX).io()?;
    txn.open_table(schema::REPLICA_DELETES).io()?;
    txn.open_table(schema::CHUNK_SERVERS).io()?;
    txn.open_table(schema::META).io()?;
    txn.open_table(schema::REQUESTS).io()?;
    txn.open_table(schema::REQUEST_ORDER).io()?;
    txn.open_table(schema::ACCESS_KEYS).io()?;
    txn.open_table(schema::UPLOADS).io()?;
    txn.open_table(schema::UPLOAD_INDEX).io()?;
    txn.open_table(schema::VERSIONS).io()?;
    txn.open_table(schema::BUCKET_SETTINGS).io()?;
    txn.open_table(schema::REVOKED_CERTS).io()?;
    Ok(())
}

/// The tables of one write transaction, opened once per command.
pub(crate) struct Tables<'t> {
    pub inodes: Table<'t, u64, &'static [u8]>,
    pub dentries: Table<'t, (u64, &'static [u8]), u64>,
    pub keys: Table<'t, (&'static str, &'static [u8]), u64>,
    pub buckets: Table<'t, &'static str, &'static [u8]>,
    pub chunks: Table<'t, u64, &'static [u8]>,
    pub replica_index: Table<'t, (u32, u64), ()>,
    pub replica_deletes: Table<'t, (u32, u64), u64>,
    pub chunk_servers: Table<'t, u32, &'static [u8]>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub requests: Table<'t, u64, &'static [u8]>,
    pub request_order: Table<'t, u64, u64>,
    pub access_keys: Table<'t, &'static str, &'static [u8]>,
    pub uploads: Table<'t, &'static str, &'static [u8]>,
    pub upload_index: Table<'t, (&'static str, &'static [u8], &'static str), ()>,
    pub versions: Table<'t, (&'static str, &'static [u8], u64), &'static [u8]>,
    pub bucket_settings: Table<'t, (&'static str, &'static str), &'static [u8]>,
    pub revoked_certs: Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, ClusterError> {
        Ok(Tables {
            inodes: txn.open_table(schema::INODES).io()?,
            dentries: txn.open_table(schema::DENTRIES).io()?,
            keys: txn.open_table(schema::KEYS).io()?,
            buckets: txn.open_table(schema::BUCKETS).io()?,
            chunks: txn.open_table(schema::CHUNKS).io()?,
            replica_index: txn.open_table(schema::REPLICA_INDEX).io()?,
            replica_deletes: txn.open_table(schema::REPLICA_DELETES).io()?,
            chunk_servers: txn.open_table(schema::CHUNK_SERVERS).io()?,
            meta: txn.open_table(schema::META).io()?,
            requests: txn.open_table(schema::REQUESTS).io()?,
            request_order: txn.open_table(schema::REQUEST_ORDER).io()?,
            access_keys: txn.open_table(schema::ACCESS_KEYS).io()?,
            uploads: txn.open_table(schema::UPLOADS).io()?,
            upload_index: txn.open_table(schema::UPLOAD_INDEX).io()?,
            versions: txn.open_table(schema::VERSIONS).io()?,
            bucket_settings: txn.open_table(schema::BUCKET_SETTINGS).io()?,
            revoked_certs: txn.open_table(schema::REVOKED_CERTS).io()?,
        })
    }

    // ---- inodes

    pub fn inode(&self, ino: u64) -> Result<Inode, ClusterError> {
        schema::get_inode(&self.inodes, ino)
    }

    /// The directory `ino`, or ENOENT / ENOTDIR.
    pub fn dir(&self, ino: u64) -> Result<Inode, ClusterError> {
        let node = self.inode(ino)?;
        if node.kind != schema::NodeKind::Dir {
            return Err(ClusterError::NotDir(format!("inode {ino}")));
        }
        Ok(node)
    }

    pub fn put_inode(&mut self, inode: &Inode) -> Result<(), ClusterError> {
        let bytes = inode.encode()?;
        self.inodes.insert(inode.ino, bytes.as_slice()).io()?;
        Ok(())
    }

    /// Removes an inode that no name refers to any more, releasing its
    /// chunk references.
    pub fn free_inode(&mut self, mut inode: Inode) -> Result<(), ClusterError> {
        chunks::set_layout(self, &mut inode, Vec::new())?;
        self.inodes.remove(inode.ino).io()?;
        Ok(())
    }

    /// Updates a directory after a change of its entries: times, and its link
    /// count by `nlink_delta` (a subdirectory added or removed).
    pub fn touch_dir(
        &mut self,
        ino: u64,
        nlink_delta: i32,
        now_ns: i64,
    ) -> Result<(), ClusterError> {
        let mut dir = self.inode(ino)?;
        dir.nlink = dir.nlink.saturating_add_signed(nlink_delta);
        dir.mtime_ns = now_ns;
        dir.ctime_ns = now_ns;
        self.put_inode(&dir)
    }

    // ---- dentries

    pub fn dentry(&self, parent: u64, name: &[u8]) -> Result<Option<u64>, ClusterError> {
        schema::get_dentry(&self.dentries, parent, name)
    }

    pub fn has_children(&self, dir: u64) -> Result<bool, ClusterError> {
        schema::has_children(&self.dentries, dir)
    }

    /// The entries of a directory, in name order.
    pub fn children(&self, dir: u64) -> Result<Vec<(Vec<u8>, u64)>, ClusterError> {
        let start: (u64, &[u8]) = (dir, &[]);
        let mut out = Vec::new();
        for entry in self.dentries.range(start..).io()? {
            let (k, v) = entry.io()?;
            let (parent, name) = k.value();
            if parent != dir {
                break;
            }
            out.push((name.to_vec(), v.value()));
        }
        Ok(out)
    }

    // ---- keys

    /// Name of the bucket whose directory is `bucket_ino`.
    pub fn bucket_name(&self, bucket_ino: u64) -> Result<String, ClusterError> {
        let dir = self.inode(bucket_ino)?;
        String::from_utf8(dir.name).map_err(|_| {
            ClusterError::Io(format!(
                "bucket directory {bucket_ino} has a non-UTF-8 name"
            ))
        })
    }

    /// The key of entry `name` of directory `dir` (inside a bucket), with a
    /// trailing `/` for a directory.
    pub fn entry_key(
        &self,
        dir: &Inode,
        name: &[u8],
        is_dir: bool,
    ) -> Result<(String, Vec<u8>), ClusterError> {
        let rel = schema::dir_rel_path(&self.inodes, dir)?;
        let mut key = schema::join_key(&rel, name);
        if is_dir {
            key.push(b'/');
        }
        Ok((self.bucket_name(dir.bucket)?, key))
    }

    /// The bucket and key of a file or symlink, from the dentry it records
    /// (checked against `keys`); `None` when no single name is known (a
    /// file with hard links lost the one it recorded, or was made before
    /// files recorded theirs).
    pub fn file_key(&self, node: &Inode) -> Result<Option<(String, Vec<u8>)>, ClusterError> {
        if node.parent == 0 || node.key_only {
            return Ok(None);
        }
        let dir = self.inode(node.parent)?;
        let (bucket, key) = self.entry_key(&dir, &node.name, false)?;
        Ok((self.key(&bucket, &key)? == Some(node.ino)).then_some((bucket, key)))
    }

    /// The record of `bucket`; ENOENT when there is none.
    pub fn bucket_info(&self, bucket: &str) -> Result<BucketInfo, ClusterError> {
        schema::get_record::<&str, _, BucketInfo>(&self.buckets, bucket)?
            .ok_or_else(|| ClusterError::NotFound(format!("bucket {bucket}")))
    }

    pub fn key(&self, bucket: &str, key: &[u8]) -> Result<Option<u64>, ClusterError> {
        Ok(self.keys.get((bucket, key)).io()?.map(|g| g.value()))
    }

    /// Points `key` at `node`, which becomes its current version (a new
    /// version id in a versioned bucket: the caller writes `node`). A key-only object holding the key is replaced
    /// (released): a path made through the filesystem overwrites the object
    /// of the same name, as a PUT would.
    pub fn claim_key(
        &mut self,
        bucket: &str,
        key: &[u8],
        node: &mut Inode,
        now_ns: i64,
    ) -> Result<(), ClusterError> {
        if node.kind.is_special() {
            // FIFOs, sockets and devices are not objects: no key.
            return Ok(());
        }
        let ino = node.ino;
        let displaced = self.key(bucket, key)?.filter(|old| *old != ino);
        // Versions first: the displaced object may be kept as one.
        versions::on_claim(self, bucket, key, node, displaced, now_ns)?;
        if let Some(old) = displaced {
            {
                let node = self.inode(old)?;
                if !node.key_only {
                    return Err(ClusterError::Io(format!(
                        "key {bucket}/{} is held by inode {old}, which has a path: index out of step",
                        String::from_utf8_lossy(key)
                    )));
                }
                tracing::info!(
                    bucket,
                    key = %String::from_utf8_lossy(key),
                    ino = old,
                    "object replaced by a filesystem path of the same name"
                );
                self.free_inode(node)?;
            }
        }
        self.keys.insert((bucket, key), ino).io()?;
        Ok(())
    }

    /// Removes `key`, which must point at `ino`. In a versioned bucket the
    /// object is kept as a noncurrent version behind a delete marker.
    pub fn release_key(
        &mut self,
        bucket: &str,
        key: &[u8],
        ino: u64,
        now_ns: i64,
    ) -> Result<(), ClusterError> {
        if self.inode(ino)?.kind.is_special() {
            // Never claimed one (see `claim_key`).
            return Ok(());
        }
        let removed = self.keys.remove((bucket, key)).io()?.map(|g| g.value());
        match removed {
            Some(found) if found == ino => versions::on_release(self, bucket, key, ino, now_ns),
            found => Err(ClusterError::Io(format!(
                "key {bucket}/{} should point at inode {ino} but points at {found:?}: index out of step",
                String::from_utf8_lossy(key)
            ))),
        }
    }

    // ---- counters

    pub fn counters(&self) -> Result<Counters, ClusterError> {
        schema::get_record::<&str, _, Counters>(&self.meta, schema::META_COUNTERS)?.ok_or_else(
            || ClusterError::Io("metadata store has no counters: not initialised".into()),
        )
    }

    pub fn put_counters(&mut self, counters: &Counters) -> Result<(), ClusterError> {
        let bytes = counters.encode()?;
        self.meta
            .insert(schema::META_COUNTERS, bytes.as_slice())
            .io()?;
        Ok(())
    }

    pub fn next_ino(&mut self) -> Result<u64, ClusterError> {
        let mut c = self.counters()?;
        let ino = c.next_ino;
        c.next_ino += 1;
        self.put_counters(&c)?;
        Ok(ino)
    }

    pub fn chunk_size(&self) -> Result<u64, ClusterError> {
        let meta =
            schema::get_record::<&str, _, schema::ClusterMeta>(&self.meta, schema::META_CLUSTER)?
                .ok_or_else(|| ClusterError::Io("metadata store has no cluster record".into()))?;
        Ok(meta.chunk_size)
    }
}

/// A write commit: versions first (they read the file as it was), then
/// the layout.
/// Whether `ancestor` is `dir` or one of its ancestors.
pub(crate) fn is_ancestor(t: &Tables, ancestor: u64, dir: u64) -> Result<bool, ClusterError> {
    let mut cur = dir;
    for _ in 0..4096 {
        if cur == ancestor {
            return Ok(true);
        }
        if cur == ROOT_INO || cur == 0 {
            return Ok(false);
        }
        cur = t.inode(cur)?.parent;
    }
    Err(ClusterError::Io(format!(
        "directory {dir}: parent chain loops"
    )))
}
