//! Buckets and objects by key (the S3 door's side of the tree): create,
//! head, list, put by streaming, commit, delete, and reading a range.

use bytes::Bytes;
use cairn_common::ClusterError;
use cairn_proto as pb;
use futures::{Stream, StreamExt};

use crate::{
    reader, retry::Retry, Bucket, Client, Node, NodeKind, ObjectProtection, StreamWriter,
    WrittenData,
};

/// Content attributes of an object written through the key index.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    pub content_type: String,
    pub user_meta: std::collections::BTreeMap<String, String>,
    /// Other stored headers (content-encoding, cache-control, checksums...).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Tags, retention and legal hold of the new version (`None`: none;
    /// the bucket's default retention applies either way).
    pub protection: Option<ObjectProtection>,
}

/// Preconditions of a put: checked by the MDS in the transaction that
/// swaps the layout.
#[derive(Debug, Clone, Default)]
pub struct PutConditions {
    /// The current ETag must be this (`*`: the key must exist).
    pub if_match: Option<String>,
    /// `*`: the key must not exist.
    pub if_none_match: Option<String>,
}

impl Client {
    pub async fn create_bucket(&self, name: &str, owner: &str) -> Result<Bucket, ClusterError> {
        self.create_bucket_with(name, owner, false).await
    }

    /// CreateBucket, with object lock (and versioning) on from the start
    /// when `object_lock`.
    pub async fn create_bucket_with(
        &self,
        name: &str,
        owner: &str,
        object_lock: bool,
    ) -> Result<Bucket, ClusterError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: owner.into(),
            object_lock,
        };
        self.inner
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move {
                m.create_bucket(r).await
            })
            .await
            .map(Bucket::from)
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<(), ClusterError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: String::new(),
            ..Default::default()
        };
        self.inner
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move {
                m.delete_bucket(r).await
            })
            .await
            .map(|_| ())
    }

    pub async fn get_bucket(&self, name: &str) -> Result<Bucket, ClusterError> {
        let req = pb::BucketRequest {
            name: name.into(),
            owner: String::new(),
            ..Default::default()
        };
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.get_bucket(r).await
            })
            .await
            .map(Bucket::from)
    }

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, ClusterError> {
        self.inner
            .mds
            .metadata(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.list_buckets(r).await
            })
            .await
            .map(|r| r.buckets.into_iter().map(Bucket::from).collect())
    }

    /// An object's current metadata, its ETag filled (see `etag`).
    pub async fn head_object(&self, bucket: &str, key: &[u8]) -> Result<Node, ClusterError> {
        let req = pb::KeyRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
        };
        let node = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.get_key(r).await
            })
            .await
            .map(Node::from)?;
        self.with_etag(node, true).await
    }

    /// A writer of new chunks whose replica and tier attributes come from
    /// inode `attr_ino` (the file, or the bucket of an object not yet
    /// committed). Nothing is visible until the data is committed.
    pub fn writer(&self, attr_ino: u64) -> StreamWriter {
        StreamWriter::new(self.inner.clone(), attr_ino)
    }

    /// Makes `written` the content of `bucket/key`, atomically: a reader
    /// sees the old object or the new one.
    pub async fn commit_object(
        &self,
        bucket: &str,
        key: &[u8],
        written: &WrittenData,
        meta: ObjectMeta,
        conditions: PutConditions,
    ) -> Result<Node, ClusterError> {
        let now = cairn_common::time::now_ns();
        let node = Node {
            ino: 0,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: written.size,
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
            nlink: 1,
            etag: written.md5_hex.clone(),
            content_type: meta.content_type,
            user_meta: meta.user_meta,
            headers: meta.headers,
            replicas: 0,
            min_replicas: 0,
            tier: 0,
            extents: written.extents.clone(),
            symlink_target: Vec::new(),
            xattrs: Default::default(),
            version_id: String::new(),
            protection: Default::default(),
            rdev: 0,
        };
        self.put_key_with(bucket, key, &node, conditions, meta.protection.as_ref())
            .await
    }

    /// Places `node` (attributes and layout, possibly made of other
    /// objects' chunks, as CopyObject and multipart do) at `bucket/key`.
    pub async fn put_key(
        &self,
        bucket: &str,
        key: &[u8],
        node: &Node,
        conditions: PutConditions,
    ) -> Result<Node, ClusterError> {
        self.put_key_with(bucket, key, node, conditions, None).await
    }

    /// [`Client::put_key`] with the new version's tags, retention and
    /// legal hold.
    pub async fn put_key_with(
        &self,
        bucket: &str,
        key: &[u8],
        node: &Node,
        conditions: PutConditions,
        protection: Option<&ObjectProtection>,
    ) -> Result<Node, ClusterError> {
        let req = pb::PutKeyRequest {
            protection: protection.map(pb::Protection::from),
            bucket: bucket.into(),
            key: key.to_vec(),
            node: Some(pb::Node::from(node)),
            if_match: conditions.if_match,
            if_none_match: conditions.if_none_match,
            // A retried call carries the same id; the MDS applies it once.
            request_id: rand::random::<u64>() | 1,
        };
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.put_key(r).await
            })
            .await
            .map(Node::from)
    }

    /// Streams `body` into the cluster as `bucket/key`.
    /// Stores `body` as `bucket/key` and commits it (see
    /// [`Client::write_object`] and [`Client::commit_object`]).
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &[u8],
        body: S,
        meta: ObjectMeta,
        conditions: PutConditions,
    ) -> Result<Node, ClusterError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let target = self.get_bucket(bucket).await?;
        let body = body
            .map(|piece| piece.map_err(|e| ClusterError::Io(format!("reading the upload: {e}"))));
        let written = self
            .write_object(&target, key, body, &conditions, |e| e)
            .await?;
        self.commit_object(bucket, key, &written, meta, conditions)
            .await
    }

    /// Writes `body` into new chunks for `bucket/key`, nothing visible
    /// until a commit: the one path every PUT of a whole object takes.
    /// `bucket` is the bucket as the caller read it (the gateway passes the
    /// one it authorized, so a PUT reads it once). A body error is returned
    /// as it came; a cluster error goes through `on_error`, which lets the
    /// caller answer in its own terms (an S3 error naming the resource).
    pub async fn write_object<S, E>(
        &self,
        bucket: &Bucket,
        key: &[u8],
        body: S,
        conditions: &PutConditions,
        on_error: impl Fn(ClusterError) -> E,
    ) -> Result<WrittenData, E>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        if conditions.if_none_match.as_deref() == Some("*")
            && self.head_object(&bucket.name, key).await.is_ok()
        {
            // Fail early, before moving the data; the MDS checks again when
            // the layout is swapped.
            return Err(on_error(ClusterError::PreconditionFailed(format!(
                "{}/{} exists",
                bucket.name,
                String::from_utf8_lossy(key)
            ))));
        }
        let mut writer = self.writer(bucket.ino);
        let mut body = std::pin::pin!(body);
        while let Some(piece) = body.next().await {
            writer.write(piece?).await.map_err(&on_error)?;
        }
        writer.finish().await.map_err(on_error)
    }

    pub async fn delete_object(&self, bucket: &str, key: &[u8]) -> Result<(), ClusterError> {
        let req = pb::KeyRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
        };
        self.inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.delete_key(r).await },
            )
            .await
            .map(|_| ())
    }

    /// One page of keys in byte order: those starting with `prefix`, after
    /// `start_after`; `truncated` when more follow.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &[u8],
        start_after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), ClusterError> {
        let req = pb::ListKeysRequest {
            bucket: bucket.into(),
            prefix: prefix.to_vec(),
            start_after: start_after.to_vec(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.list_keys(r).await
            })
            .await?;
        let mut entries = Vec::with_capacity(reply.entries.len());
        for e in reply.entries {
            if let Some(n) = e.node {
                entries.push((e.key, self.with_etag(Node::from(n), true).await?));
            }
        }
        Ok((entries, reply.truncated))
    }

    /// Streams bytes `[offset, offset + len)` of a file (clamped to its
    /// size), verified, failing over between replicas.
    pub fn read(
        &self,
        node: &Node,
        offset: u64,
        len: u64,
    ) -> impl Stream<Item = Result<Bytes, ClusterError>> + Send + 'static {
        reader::read_range(self.inner.clone(), node.clone(), offset, len)
    }
}
