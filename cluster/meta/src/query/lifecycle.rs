//! Reads for the lifecycle runner: a bucket's keys with every version, a
//! page at a time in key order, and its incomplete uploads. Each call is
//! one snapshot.

use std::collections::BTreeSet;

use cairn_common::ClusterError;

use super::Reader;
use crate::error::OrIo;
use crate::lifecycle_plan::{CurrentVersion, KeyVersions, RowVersion, UploadSeen};
use crate::schema::{self, ObjectVersion, Stored};

impl Reader {
    /// Up to `limit` keys of `bucket` after `after` (exclusive; empty: from
    /// the first), each with its current object and its rows of
    /// `versions` newest first, and whether more keys follow.
    pub fn lifecycle_keys(
        &self,
        bucket: &str,
        after: &[u8],
        limit: usize,
    ) -> Result<(Vec<KeyVersions>, bool), ClusterError> {
        self.bucket(bucket)?;
        let limit = limit.max(1);
        let keys = self.table(schema::KEYS)?;
        let rows = self.table(schema::VERSIONS)?;
        // The next `limit + 1` distinct keys of either table.
        let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
        let key_start: (&str, &[u8]) = (bucket, after);
        for entry in keys.range(key_start..).io()? {
            let (k, _) = entry.io()?;
            let (b, key) = k.value();
            if b != bucket || names.len() > limit {
                break;
            }
            if key != after || after.is_empty() {
                names.insert(key.to_vec());
            }
        }
        let row_start: (&str, &[u8], u64) = (bucket, after, 0);
        let mut distinct_rows = 0usize;
        let mut last: Option<Vec<u8>> = None;
        for entry in rows.range(row_start..).io()? {
            let (k, _) = entry.io()?;
            let (b, key, _) = k.value();
            if b != bucket {
                break;
            }
            if (key == after && !after.is_empty()) || last.as_deref() == Some(key) {
                continue;
            }
            distinct_rows += 1;
            if distinct_rows > limit + 1 {
                break;
            }
            last = Some(key.to_vec());
            names.insert(key.to_vec());
        }
        let more = names.len() > limit;
        let mut out = Vec::with_capacity(limit);
        for key in names.into_iter().take(limit) {
            let current = match keys.get((bucket, key.as_slice())).io()? {
                Some(ino) => {
                    let node = self.inode(ino.value())?;
                    Some(CurrentVersion {
                        ino: node.ino,
                        version: node.version,
                        size: node.size,
                        mtime_ns: node.mtime_ns,
                        etag: node.etag.clone(),
                        protection: node.protection,
                    })
                }
                None => None,
            };
            let mut versions = Vec::new();
            let start: (&str, &[u8], u64) = (bucket, key.as_slice(), 0);
            for entry in rows.range(start..).io()? {
                let (k, v) = entry.io()?;
                let (b, k_key, _) = k.value();
                if b != bucket || k_key != key.as_slice() {
                    break;
                }
                let row = ObjectVersion::decode(v.value())?;
                versions.push(RowVersion {
                    id: row.id,
                    delete_marker: row.delete_marker,
                    size: row.size,
                    protection: row.protection,
                    noncurrent_since_ns: row.noncurrent_since_ns,
                });
            }
            out.push(KeyVersions {
                key,
                current,
                rows: versions,
            });
        }
        Ok((out, more))
    }

    /// Every incomplete multipart upload of `bucket`, in key order.
    pub fn lifecycle_uploads(&self, bucket: &str) -> Result<Vec<UploadSeen>, ClusterError> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (Vec::new(), String::new());
        loop {
            let (page, more) =
                self.list_uploads(bucket, &[], &key_marker, &id_marker, super::MAX_PAGE as u32)?;
            for u in &page {
                out.push(UploadSeen {
                    upload_id: u.upload_id.clone(),
                    key: u.key.clone(),
                    created_ns: u.created_ns,
                });
            }
            match page.last() {
                Some(u) if more => {
                    key_marker = u.key.clone();
                    id_marker = u.upload_id.clone();
                }
                _ => return Ok(out),
            }
        }
    }
}
