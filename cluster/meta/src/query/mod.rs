//! Read-only queries, each on one redb read transaction (a consistent
//! snapshot), without going through the committer.

use cairn_common::ClusterError;
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};

mod lifecycle;
mod versions;

pub use versions::VersionView;

use crate::error::OrIo;
use crate::names::check_name;
use crate::schema::{
    self, AccessKeyInfo, BucketInfo, ChunkInfo, ChunkServerInfo, ClusterMeta, Inode, NodeKind,
    RevokedCert, Stored, UploadInfo,
};

/// Entries per Readdir page when the client leaves the limit to the server.
pub const DEFAULT_READDIR_LIMIT: usize = 1024;
/// Keys per ListKeys page by default (S3's max-keys default).
pub const DEFAULT_LIST_LIMIT: usize = 1000;
/// Upper bound on a page, whatever the client asks.
pub const MAX_PAGE: usize = 10_000;

/// One snapshot of the state.
pub struct Reader {
    txn: ReadTransaction,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<(Vec<u8>, Inode)>,
    /// More entries follow the last one.
    pub more: bool,
}

fn page_limit(limit: u32, default: usize) -> usize {
    match limit as usize {
        0 => default,
        n => n.min(MAX_PAGE),
    }
}

impl Reader {
    pub fn new(db: &Database) -> Result<Reader, ClusterError> {
        Ok(Reader {
            txn: db.begin_read().io()?,
        })
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, ClusterError> {
        self.txn.open_table(def).io()
    }

    pub fn cluster_meta(&self) -> Result<ClusterMeta, ClusterError> {
        schema::get_record::<&str, _, ClusterMeta>(
            &self.table(schema::META)?,
            schema::META_CLUSTER,
        )?
        .ok_or_else(|| ClusterError::Io("metadata store has no cluster record".into()))
    }

    pub fn inode(&self, ino: u64) -> Result<Inode, ClusterError> {
        schema::get_inode(&self.table(schema::INODES)?, ino)
    }

    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Inode, ClusterError> {
        check_name(name)?;
        let inodes = self.table(schema::INODES)?;
        let dir = schema::get_inode(&inodes, parent)?;
        if dir.kind != NodeKind::Dir {
            return Err(ClusterError::NotDir(format!("inode {parent}")));
        }
        let ino = schema::get_dentry(&self.table(schema::DENTRIES)?, parent, name)?
            .ok_or_else(|| ClusterError::NotFound(String::from_utf8_lossy(name).into_owned()))?;
        schema::get_inode(&inodes, ino)
    }

    /// Entries of a directory after `after` (exclusive), in name order.
    pub fn readdir(&self, ino: u64, after: &[u8], limit: u32) -> Result<Page, ClusterError> {
        let inodes = self.table(schema::INODES)?;
        let dir = schema::get_inode(&inodes, ino)?;
        if dir.kind != NodeKind::Dir {
            return Err(ClusterError::NotDir(format!("inode {ino}")));
        }
        let limit = page_limit(limit, DEFAULT_READDIR_LIMIT);
        let dentries = self.table(schema::DENTRIES)?;
        let start: (u64, &[u8]) = (ino, after);
        let mut page = Page::default();
        for entry in dentries.range(start..).io()? {
            let (k, v) = entry.io()?;
            let (parent, name) = k.value();
            if parent != ino {
                break;
            }
            if !after.is_empty() && name == after {
                continue;
            }
            if page.entries.len() == limit {
                page.more = true;
                break;
            }
            page.entries
                .push((name.to_vec(), schema::get_inode(&inodes, v.value())?));
        }
        Ok(page)
    }

    pub fn bucket(&self, name: &str) -> Result<BucketInfo, ClusterError> {
        schema::get_record::<&str, _, BucketInfo>(&self.table(schema::BUCKETS)?, name)?
            .ok_or_else(|| ClusterError::NotFound(format!("bucket {name}")))
    }

    pub fn buckets(&self) -> Result<Vec<BucketInfo>, ClusterError> {
        let table = self.table(schema::BUCKETS)?;
        let mut out = Vec::new();
        for entry in table.iter().io()? {
            let (_, v) = entry.io()?;
            out.push(<BucketInfo as schema::Stored>::decode(v.value())?);
        }
        Ok(out)
    }

    pub fn get_key(&self, bucket: &str, key: &[u8]) -> Result<Inode, ClusterError> {
        self.bucket(bucket)?;
        let ino = self
            .table(schema::KEYS)?
            .get((bucket, key))
            .io()?
            .map(|g| g.value())
            .ok_or_else(|| {
                ClusterError::NotFound(format!("{bucket}/{}", String::from_utf8_lossy(key)))
            })?;
        self.inode(ino)
    }

    /// Keys of a bucket starting with `prefix`, after `start_after`
    /// (exclusive), in byte order: a range scan of `keys`.
    pub fn list_keys(
        &self,
        bucket: &str,
        prefix: &[u8],
        start_after: &[u8],
        limit: u32,
    ) -> Result<Page, ClusterError> {
        self.bucket(bucket)?;
        let limit = page_limit(limit, DEFAULT_LIST_LIMIT);
        let inodes = self.table(schema::INODES)?;
        let keys = self.table(schema::KEYS)?;
        let from = if start_after > prefix {
            start_after
        } else {
            prefix
        };
        let start: (&str, &[u8]) = (bucket, from);
        let mut page = Page::default();
        for entry in keys.range(start..).io()? {
            let (k, v) = entry.io()?;
            let (b, key) = k.value();
            if b != bucket || !key.starts_with(prefix) {
                break;
            }
            if key <= start_after {
                continue;
            }
            if page.entries.len() == limit {
                page.more = true;
                break;
            }
            page.entries
                .push((key.to_vec(), schema::get_inode(&inodes, v.value())?));
        }
        Ok(page)
    }

    pub fn chunk(&self, chunk_id: u64) -> Result<ChunkInfo, ClusterError> {
        schema::get_record::<u64, _, ChunkInfo>(&self.table(schema::CHUNKS)?, chunk_id)?
            .ok_or_else(|| ClusterError::NotFound(format!("chunk {chunk_id}")))
    }

    /// Every chunk, for statistics.
    pub fn chunks(&self) -> Result<Vec<(u64, ChunkInfo)>, ClusterError> {
        let table = self.table(schema::CHUNKS)?;
        let mut out = Vec::new();
        for entry in table.iter().io()? {
            let (k, v) = entry.io()?;
            out.push((k.value(), <ChunkInfo as schema::Stored>::decode(v.value())?));
        }
        Ok(out)
    }

    pub fn chunk_server(&self, cs_id: u32) -> Result<Option<ChunkServerInfo>, ClusterError> {
        schema::get_record::<u32, _, ChunkServerInfo>(&self.table(schema::CHUNK_SERVERS)?, cs_id)
    }

    pub fn chunk_servers(&self) -> Result<Vec<ChunkServerInfo>, ClusterError> {
        let table = self.table(schema::CHUNK_SERVERS)?;
        let mut out = Vec::new();
        for entry in table.iter().io()? {
            let (_, v) = entry.io()?;
            out.push(<ChunkServerInfo as schema::Stored>::decode(v.value())?);
        }
        Ok(out)
    }

    /// Number of replicas the chunk map places on a CS.
    pub fn replica_count(&self, cs_id: u32) -> Result<u64, ClusterError> {
        Ok(schema::range_cs(&self.table(schema::REPLICA_INDEX)?, cs_id)?.len() as u64)
    }

    /// Whether deletions are queued for a CS.
    pub fn has_pending_deletes(&self, cs_id: u32) -> Result<bool, ClusterError> {
        let table = self.table(schema::REPLICA_DELETES)?;
        let mut range = table.range((cs_id, 0u64)..).io()?;
        match range.next() {
            Some(entry) => Ok(entry.io()?.0.value().0 == cs_id),
            None => Ok(false),
        }
    }

    /// Every queued replica deletion, as (cs id, chunk id).
    pub fn pending_deletes(&self) -> Result<std::collections::BTreeSet<(u32, u64)>, ClusterError> {
        let table = self.table(schema::REPLICA_DELETES)?;
        let mut out = std::collections::BTreeSet::new();
        for entry in table.iter().io()? {
            let (k, _) = entry.io()?;
            out.insert(k.value());
        }
        Ok(out)
    }

    /// (inode count, bytes in files) — a full scan, for Stat.
    /// Inodes in the namespace, without reading them (redb keeps a
    /// table's length).
    pub fn inode_count(&self) -> Result<u64, ClusterError> {
        redb::ReadableTableMetadata::len(&self.table(schema::INODES)?).io()
    }

    pub fn inode_totals(&self) -> Result<(u64, u64), ClusterError> {
        let table = self.table(schema::INODES)?;
        let mut count = 0u64;
        let mut bytes = 0u64;
        for entry in table.iter().io()? {
            let (_, v) = entry.io()?;
            let node = <Inode as schema::Stored>::decode(v.value())?;
            count += 1;
            if node.kind == NodeKind::File {
                bytes = bytes.saturating_add(node.size);
            }
        }
        Ok((count, bytes))
    }

    pub fn access_key(&self, key_id: &str) -> Result<AccessKeyInfo, ClusterError> {
        schema::get_record::<&str, _, AccessKeyInfo>(&self.table(schema::ACCESS_KEYS)?, key_id)?
            .ok_or_else(|| ClusterError::NotFound(format!("access key {key_id}")))
    }

    pub fn access_keys(&self) -> Result<Vec<AccessKeyInfo>, ClusterError> {
        let table = self.table(schema::ACCESS_KEYS)?;
        let mut out = Vec::new();
        for entry in table.iter().io()? {
            let (_, v) = entry.io()?;
            out.push(<AccessKeyInfo as schema::Stored>::decode(v.value())?);
        }
        Ok(out)
    }

    /// The revoked node certificates: (serial, row), by serial.
    pub fn revoked_certs(&self) -> Result<Vec<(Vec<u8>, RevokedCert)>, ClusterError> {
        let table = self.table(schema::REVOKED_CERTS)?;
        let mut out = Vec::new();
        for entry in table.iter().io()? {
            let (k, v) = entry.io()?;
            out.push((k.value().to_vec(), RevokedCert::decode(v.value())?));
        }
        Ok(out)
    }

    pub fn upload(&self, upload_id: &str) -> Result<UploadInfo, ClusterError> {
        schema::get_record::<&str, _, UploadInfo>(&self.table(schema::UPLOADS)?, upload_id)?
            .ok_or_else(|| ClusterError::NotFound(format!("upload {upload_id}")))
    }

    /// Uploads of a bucket whose key starts with `prefix`, in (key, upload
    /// id) order, after the markers as S3 defines them: with only
    /// `key_marker`, keys after it; with both, the marker key's uploads
    /// after `upload_id_marker`, then later keys. Returns (uploads, more).
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        upload_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<UploadInfo>, bool), ClusterError> {
        self.bucket(bucket)?;
        let limit = page_limit(limit, DEFAULT_LIST_LIMIT);
        let index = self.table(schema::UPLOAD_INDEX)?;
        let uploads = self.table(schema::UPLOADS)?;
        let from = if key_marker > prefix {
            key_marker
        } else {
            prefix
        };
        let start: (&str, &[u8], &str) = (bucket, from, "");
        let mut out = Vec::new();
        let mut more = false;
        for entry in index.range(start..).io()? {
            let (k, _) = entry.io()?;
            let (b, key, id) = k.value();
            if b != bucket || !key.starts_with(prefix) {
                break;
            }
            let before_marker = !key_marker.is_empty()
                && (key < key_marker
                    || (key == key_marker
                        && (upload_id_marker.is_empty() || id <= upload_id_marker)));
            if before_marker {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            let upload = schema::get_record::<&str, _, UploadInfo>(&uploads, id)?
                .ok_or_else(|| ClusterError::Io(format!("upload {id} is indexed but missing")))?;
            out.push(upload);
        }
        Ok((out, more))
    }
}
