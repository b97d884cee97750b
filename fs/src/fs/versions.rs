//! The `.versions` tree of a bucket (see [`crate::version_tree`]) as
//! filesystem operations: lookups, attributes, listings and read-only opens
//! of old versions, all answered from the MDS's version listings. Every
//! change inside the tree answers EROFS.

use super::*;
use crate::version_tree::{
    below, child_path, is_virtual, looks_like_version_id, past_subtree, segment, Virtual,
    VERSIONS_DIR,
};
use cairn_client::ObjectVersion;

/// Most entries one directory of the tree lists: bounds the calls a
/// listing makes (a key with more versions shows its newest ones).
const MAX_LISTED: usize = 100_000;
/// Versions asked per call.
const VERSIONS_PAGE: u32 = 1000;

impl<B: Backend> Fs<B> {
    /// EROFS for a change inside the tree.
    pub(super) fn refuse_virtual(&self, ino: u64) -> Result<()> {
        if is_virtual(ino) {
            return Err(Error::ReadOnly(
                "old versions under .versions cannot be changed".into(),
            ));
        }
        Ok(())
    }

    /// Remembers that directory `ino` is bucket `name` (seen at the top).
    pub(super) fn record_bucket(&self, ino: u64, name: &[u8]) {
        if let Ok(name) = std::str::from_utf8(name) {
            locked(&self.buckets).insert(ino, name.to_string());
        }
    }

    /// The bucket whose directory is `ino`, if it is one.
    async fn bucket_of_dir(&self, ino: u64) -> Result<Option<String>> {
        if let Some(name) = locked(&self.buckets).get(&ino) {
            return Ok(Some(name.clone()));
        }
        // Not seen at the top yet (the kernel kept the entry across a
        // listing): read the top level, which holds buckets only.
        let mut after = Vec::new();
        for _ in 0..1000 {
            let (page, more) = self
                .ask("readdir", self.backend.readdir(ROOT_INO, &after, PAGE))
                .await?;
            for (name, node) in &page {
                self.record_bucket(node.ino, name);
            }
            match page.last() {
                Some((last, _)) if more => after.clone_from(last),
                _ => break,
            }
        }
        Ok(locked(&self.buckets).get(&ino).cloned())
    }

    fn virtual_ino(&self, what: Virtual) -> u64 {
        locked(&self.virtuals).ino(what)
    }

    fn virtual_of(&self, ino: u64) -> Result<Virtual> {
        locked(&self.virtuals)
            .get(ino)
            .ok_or_else(|| ClusterError::NotFound(format!("inode {ino}")).into())
    }

    /// A directory of the tree: the bucket directory's owner and times,
    /// read-only.
    async fn virtual_dir_node(&self, ino: u64, bucket_ino: u64) -> Result<Node> {
        let mut node = self
            .ask("getattr", self.backend.getattr(bucket_ino))
            .await?;
        node.ino = ino;
        node.mode = 0o555;
        node.nlink = 2;
        node.size = 0;
        node.extents.clear();
        node.xattrs.clear();
        node.user_meta.clear();
        Ok(node)
    }

    /// A version as a read-only file of the tree.
    fn version_node(ino: u64, version: ObjectVersion) -> Node {
        let mut node = version.node;
        node.ino = ino;
        node.nlink = 1;
        node.mode &= !0o222;
        node.xattrs.clear();
        node
    }

    /// lookup inside the tree, or of `.versions` in a bucket directory;
    /// `None` when the name is not the tree's.
    pub(super) async fn lookup_virtual(
        &self,
        parent: u64,
        name: &[u8],
    ) -> Option<Result<(Node, Duration)>> {
        if is_virtual(parent) {
            return Some(self.lookup_in_tree(parent, name).await.map(|n| (n, TTL)));
        }
        if name != VERSIONS_DIR || is_top(parent) {
            return None;
        }
        match self.bucket_of_dir(parent).await {
            Ok(Some(bucket)) => {
                let ino = self.virtual_ino(Virtual::Dir {
                    bucket,
                    bucket_ino: parent,
                    path: Vec::new(),
                });
                Some(self.virtual_dir_node(ino, parent).await.map(|n| (n, TTL)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    async fn lookup_in_tree(&self, parent: u64, name: &[u8]) -> Result<Node> {
        let Virtual::Dir {
            bucket,
            bucket_ino,
            path,
        } = self.virtual_of(parent)?
        else {
            return Err(ClusterError::NotDir(format!("inode {parent}")).into());
        };
        if !path.is_empty() && looks_like_version_id(name) {
            let id = String::from_utf8_lossy(name).into_owned();
            match self.backend.get_version(&bucket, &path, &id).await {
                Ok(v) if !v.delete_marker => {
                    let ino = self.virtual_ino(Virtual::Version {
                        bucket,
                        bucket_ino,
                        key: path,
                        version_id: id,
                    });
                    return Ok(Self::version_node(ino, v));
                }
                Ok(_) | Err(ClusterError::NotFound(_)) | Err(ClusterError::Invalid(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let child = child_path(&path, name);
        if self.has_versions_at(&bucket, &child).await? {
            let ino = self.virtual_ino(Virtual::Dir {
                bucket,
                bucket_ino,
                path: child,
            });
            return self.virtual_dir_node(ino, bucket_ino).await;
        }
        Err(not_found(name))
    }

    /// Whether key `path`, or any key below `path/`, has a version.
    async fn has_versions_at(&self, bucket: &str, path: &[u8]) -> Result<bool> {
        let (own, _) = self
            .ask(
                "list versions",
                self.backend.list_versions(bucket, path, b"", "", 1),
            )
            .await?;
        if own.first().is_some_and(|v| v.key == path) {
            return Ok(true);
        }
        let (below_it, _) = self
            .ask(
                "list versions",
                self.backend.list_versions(bucket, &below(path), b"", "", 1),
            )
            .await?;
        Ok(!below_it.is_empty())
    }

    /// getattr of an inode of the tree; `None` for any other inode.
    pub(super) async fn getattr_virtual(&self, ino: u64) -> Option<Result<Node>> {
        if !is_virtual(ino) {
            return None;
        }
        Some(self.getattr_in_tree(ino).await)
    }

    async fn getattr_in_tree(&self, ino: u64) -> Result<Node> {
        match self.virtual_of(ino)? {
            Virtual::Dir { bucket_ino, .. } => self.virtual_dir_node(ino, bucket_ino).await,
            Virtual::Version {
                bucket,
                key,
                version_id,
                ..
            } => {
                let v = self
                    .ask(
                        "get version",
                        self.backend.get_version(&bucket, &key, &version_id),
                    )
                    .await?;
                Ok(Self::version_node(ino, v))
            }
        }
    }

    /// open of a version: read-only (EROFS when asked to write).
    pub(super) async fn open_virtual(&self, ino: u64, flags: i32) -> Option<Result<u64>> {
        if !is_virtual(ino) {
            return None;
        }
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return Some(self.refuse_virtual(ino).map(|()| 0));
        }
        let node = match self.getattr_in_tree(ino).await {
            Ok(node) if node.kind == NodeKind::Dir => {
                return Some(Err(ClusterError::IsDir(format!("inode {ino}")).into()))
            }
            Ok(node) => node,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(self.open_node(node, flags)))
    }

    /// The whole listing of a directory of the tree, for opendir.
    pub(super) async fn listing_virtual(&self, ino: u64) -> Option<Result<Listing>> {
        if !is_virtual(ino) {
            return None;
        }
        Some(self.list_in_tree(ino).await)
    }

    async fn list_in_tree(&self, ino: u64) -> Result<Listing> {
        let Virtual::Dir {
            bucket,
            bucket_ino,
            path,
        } = self.virtual_of(ino)?
        else {
            return Err(ClusterError::NotDir(format!("inode {ino}")).into());
        };
        let dir = self.virtual_dir_node(ino, bucket_ino).await?;
        let mut entries: Vec<(Vec<u8>, Node)> = Vec::new();
        if !path.is_empty() {
            for v in self.versions_of_key(&bucket, &path).await? {
                let version_id = v.version_id.clone();
                let vino = self.virtual_ino(Virtual::Version {
                    bucket: bucket.clone(),
                    bucket_ino,
                    key: path.clone(),
                    version_id: version_id.clone(),
                });
                entries.push((version_id.into_bytes(), Self::version_node(vino, v)));
            }
        }
        let prefix = below(&path);
        let mut seen = std::collections::HashSet::new();
        let mut marker: Vec<u8> = Vec::new();
        while entries.len() < MAX_LISTED {
            let (page, more) = self
                .ask(
                    "list versions",
                    self.backend
                        .list_versions(&bucket, &prefix, &marker, "", VERSIONS_PAGE),
                )
                .await?;
            let Some(last) = page.last().map(|v| v.key.clone()) else {
                break;
            };
            let mut jumped = false;
            for v in &page {
                let Some((name, deeper)) = segment(&prefix, &v.key) else {
                    continue;
                };
                if seen.insert(name.to_vec()) {
                    let child = Virtual::Dir {
                        bucket: bucket.clone(),
                        bucket_ino,
                        path: child_path(&path, name),
                    };
                    let mut node = dir.clone();
                    node.ino = self.virtual_ino(child);
                    entries.push((name.to_vec(), node));
                }
                if deeper {
                    // Everything below `name/` adds nothing: skip it.
                    marker = past_subtree(&prefix, name);
                    jumped = true;
                    break;
                }
            }
            if !jumped {
                if !more {
                    break;
                }
                marker = last;
            }
        }
        let mut listing = Listing::new(dir);
        listing.add_page(entries, false);
        Ok(listing)
    }

    /// The versions of exactly `key` (delete markers left out), newest
    /// first, at most [`MAX_LISTED`].
    async fn versions_of_key(&self, bucket: &str, key: &[u8]) -> Result<Vec<ObjectVersion>> {
        let mut out = Vec::new();
        let mut marker_version = String::new();
        while out.len() < MAX_LISTED {
            let (page, more) = self
                .ask(
                    "list versions",
                    self.backend.list_versions(
                        bucket,
                        key,
                        if marker_version.is_empty() { b"" } else { key },
                        &marker_version,
                        VERSIONS_PAGE,
                    ),
                )
                .await?;
            let Some(last) = page.last().map(|v| v.version_id.clone()) else {
                break;
            };
            let past_key = page.iter().any(|v| v.key != key);
            out.extend(
                page.into_iter()
                    .filter(|v| v.key == key && !v.delete_marker),
            );
            if past_key || !more {
                break;
            }
            marker_version = last;
        }
        Ok(out)
    }
}
