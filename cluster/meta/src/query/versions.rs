//! Reading S3 versions: one version of a key (the current one by
//! default), and ListObjectVersions' pages in S3's order — keys ascending,
//! and each key's versions newest first — as a merge of two range scans,
//! `keys` (current objects) and `versions` (the rest), so a page costs its
//! own size whatever the number of versions before it.

use std::iter::Peekable;

use cairn_common::ClusterError;

use super::{page_limit, Reader, DEFAULT_LIST_LIMIT};
use crate::error::OrIo;
use crate::schema::versions::VersionRef;
use crate::schema::{self, BucketProtection, Inode, ObjectVersion, Stored, VersionId};

/// One version of a key as the doors see it.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionView {
    pub key: Vec<u8>,
    pub id: VersionId,
    /// The key's current version (an object, or the marker hiding it).
    pub latest: bool,
    pub delete_marker: bool,
    /// The current object's inode, or a noncurrent version's content and
    /// attributes as an inode numbered 0 (a delete marker: empty).
    pub node: Inode,
}

fn row_as_inode(row: &ObjectVersion, bucket_ino: u64) -> Inode {
    Inode {
        ino: 0,
        kind: row.kind,
        mode: row.mode,
        uid: row.uid,
        gid: row.gid,
        size: row.size,
        atime_ns: row.mtime_ns,
        mtime_ns: row.mtime_ns,
        ctime_ns: row.mtime_ns,
        nlink: 1,
        etag: row.etag.clone(),
        content_type: row.content_type.clone(),
        user_meta: row.user_meta.clone(),
        headers: row.headers.clone(),
        xattrs: Default::default(),
        replicas: row.replicas,
        min_replicas: row.min_replicas,
        tier: row.tier,
        layout: row.layout.clone(),
        symlink_target: row.symlink_target.clone(),
        bucket: bucket_ino,
        parent: 0,
        name: Vec::new(),
        implicit: false,
        key_only: false,
        version: row.id,
        protection: row.protection.clone(),
        rdev: 0,
    }
}

fn row_view(key: &[u8], row: &ObjectVersion, latest: bool, bucket_ino: u64) -> VersionView {
    VersionView {
        key: key.to_vec(),
        id: row.id,
        latest,
        delete_marker: row.delete_marker,
        node: row_as_inode(row, bucket_ino),
    }
}

fn current_view(key: &[u8], node: Inode) -> VersionView {
    VersionView {
        key: key.to_vec(),
        id: node.version,
        latest: true,
        delete_marker: false,
        node,
    }
}

impl Reader {
    /// Whether a write into file `ino` may keep its current content as a
    /// version (its bucket's versioning says so): then no committed chunk
    /// of it may be written in place.
    pub fn rewrite_keeps_version(&self, ino: u64) -> Result<bool, ClusterError> {
        let node = self.inode(ino)?;
        if node.bucket == 0 {
            return Ok(false);
        }
        let bucket = self.inode(node.bucket)?;
        let name = String::from_utf8_lossy(&bucket.name);
        let settings = self.bucket_protection(&name)?;
        Ok(settings.versioning != schema::Versioning::Unversioned)
    }

    /// The versioning and object lock settings of a bucket.
    pub fn bucket_protection(&self, bucket: &str) -> Result<BucketProtection, ClusterError> {
        self.bucket(bucket)?;
        Ok(schema::get_record::<(&str, &str), _, BucketProtection>(
            &self.table(schema::BUCKET_SETTINGS)?,
            (bucket, BucketProtection::SETTING),
        )?
        .unwrap_or_default())
    }

    /// A setting the doors own, as they wrote it (`None`: never set).
    pub fn bucket_setting(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ClusterError> {
        self.bucket(bucket)?;
        Ok(self
            .table(schema::BUCKET_SETTINGS)?
            .get((bucket, name))
            .io()?
            .map(|g| g.value().to_vec()))
    }

    fn key_rows(&self, bucket: &str, key: &[u8]) -> Result<Vec<ObjectVersion>, ClusterError> {
        let table = self.table(schema::VERSIONS)?;
        let start: (&str, &[u8], u64) = (bucket, key, 0);
        let mut out = Vec::new();
        for entry in table.range(start..).io()? {
            let (k, v) = entry.io()?;
            let (b, k_key, _) = k.value();
            if b != bucket || k_key != key {
                break;
            }
            out.push(ObjectVersion::decode(v.value())?);
        }
        Ok(out)
    }

    /// The version `version_id` of `key`, or its current version (which may
    /// be a delete marker). ENOENT when there is no such version; EINVAL
    /// for an id Cairn never makes.
    pub fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: Option<&str>,
    ) -> Result<VersionView, ClusterError> {
        let info = self.bucket(bucket)?;
        let wanted = version_id.map(VersionRef::parse).transpose()?;
        let not_found = || {
            ClusterError::NotFound(format!(
                "{bucket}/{}{}",
                String::from_utf8_lossy(key),
                version_id
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default()
            ))
        };
        let current = self
            .table(schema::KEYS)?
            .get((bucket, key))
            .io()?
            .map(|g| g.value());
        if let Some(ino) = current {
            let node = self.inode(ino)?;
            if wanted.is_none_or(|w| w.names(node.version)) {
                return Ok(current_view(key, node));
            }
        }
        let rows = self.key_rows(bucket, key)?;
        let found = match wanted {
            None => rows.first().map(|r| (0, r)),
            Some(w) => rows.iter().enumerate().find(|(_, r)| w.names(r.id)),
        };
        let (index, row) = found.ok_or_else(not_found)?;
        Ok(row_view(
            key,
            row,
            current.is_none() && index == 0,
            info.ino,
        ))
    }

    /// ListObjectVersions' raw page: versions of keys starting with
    /// `prefix`, after (`key_marker`, `version_marker`) as S3 defines them
    /// (with only a key marker: keys after it; with both: that key's
    /// versions older than the one named, then later keys). Returns the
    /// versions and whether more follow.
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_marker: &str,
        limit: u32,
    ) -> Result<(Vec<VersionView>, bool), ClusterError> {
        let info = self.bucket(bucket)?;
        let limit = page_limit(limit, DEFAULT_LIST_LIMIT);
        // On the marker key, versions with a seq at or above this are
        // skipped (None: the whole key).
        let skip_from: Option<u64> = if key_marker.is_empty() || version_marker.is_empty() {
            None
        } else {
            match VersionRef::parse(version_marker)? {
                VersionRef::Seq(seq) => Some(seq),
                VersionRef::Null => {
                    let null = self.get_version(bucket, key_marker, Some("null"));
                    match null {
                        Ok(v) => Some(v.id.seq),
                        Err(ClusterError::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let from = key_marker.max(prefix);
        let keys_table = self.table(schema::KEYS)?;
        let rows_table = self.table(schema::VERSIONS)?;
        let key_start: (&str, &[u8]) = (bucket, from);
        let row_start: (&str, &[u8], u64) = (bucket, from, 0);
        let mut currents = keys_table
            .range(key_start..)
            .io()?
            .map(|e| {
                e.io().map(|(k, v)| {
                    let (b, key) = k.value();
                    (b == bucket, key.to_vec(), v.value())
                })
            })
            .take_while(|e| {
                e.as_ref()
                    .map_or(true, |(same, k, _)| *same && k.starts_with(prefix))
            })
            .peekable();
        let mut rows = rows_table
            .range(row_start..)
            .io()?
            .map(|e| {
                e.io().and_then(|(k, v)| {
                    let (b, key, _) = k.value();
                    Ok((b == bucket, key.to_vec(), ObjectVersion::decode(v.value())?))
                })
            })
            .take_while(|e| {
                e.as_ref()
                    .map_or(true, |(same, k, _)| *same && k.starts_with(prefix))
            })
            .peekable();
        let mut out: Vec<VersionView> = Vec::new();
        loop {
            let next_current = peek_key(&mut currents, |(_, k, _)| k)?;
            let next_row = peek_key(&mut rows, |(_, k, _)| k)?;
            let key = match (next_current, next_row) {
                (None, None) => break,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) => a.min(b),
            };
            let mut versions: Vec<VersionView> = Vec::new();
            if currents
                .peek()
                .is_some_and(|e| e.as_ref().is_ok_and(|(_, k, _)| *k == key))
            {
                if let Some(Ok((_, _, ino))) = currents.next() {
                    versions.push(current_view(&key, self.inode(ino)?));
                }
            }
            while rows
                .peek()
                .is_some_and(|e| e.as_ref().is_ok_and(|(_, k, _)| *k == key))
            {
                if let Some(Ok((_, _, row))) = rows.next() {
                    let latest = versions.is_empty();
                    versions.push(row_view(&key, &row, latest, info.ino));
                }
            }
            for v in versions {
                let skipped =
                    key.as_slice() == key_marker && skip_from.is_none_or(|seq| v.id.seq >= seq);
                if skipped {
                    continue;
                }
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(v);
            }
        }
        Ok((out, false))
    }
}

/// The key of the next entry, or the entry's error.
fn peek_key<I, T>(
    iter: &mut Peekable<I>,
    key_of: impl Fn(&T) -> &Vec<u8>,
) -> Result<Option<Vec<u8>>, ClusterError>
where
    I: Iterator<Item = Result<T, ClusterError>>,
{
    match iter.peek() {
        None => Ok(None),
        Some(Ok(entry)) => Ok(Some(key_of(entry).clone())),
        Some(Err(_)) => match iter.next() {
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        },
    }
}
