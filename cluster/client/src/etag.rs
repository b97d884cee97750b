//! ETags of files whose bytes changed other than by a write from start to
//! end (a write in place through the mount, a punched hole): the MDS keeps
//! their ETag empty ("stale"), and whoever needs it first hashes the bytes
//! once and stores it (`SetEtag`), unless the file changed meanwhile. S3
//! never serves an empty ETag: every read of an object's metadata through
//! this library fills it first.

use cairn_common::ClusterError;
use cairn_proto as pb;
use futures::StreamExt;
use md5::{Digest, Md5};

use crate::{retry::Retry, Client, Node, NodeKind};

impl Client {
    /// `node` with its ETag: a stale one is hashed from the bytes and, with
    /// `store` (the current version of a file), kept by the MDS.
    pub async fn with_etag(&self, node: Node, store: bool) -> Result<Node, ClusterError> {
        if !needs_etag(&node) {
            return Ok(node);
        }
        let etag = self.content_md5(&node).await?;
        if !store {
            return Ok(Node { etag, ..node });
        }
        let req = pb::SetEtagRequest {
            ino: node.ino,
            etag: etag.clone(),
            size: node.size,
            mtime_ns: node.mtime_ns,
        };
        let stored = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.set_etag(r).await
            })
            .await;
        match stored {
            Ok(n) => Ok(Node::from(n)),
            // Written again while we read: the hash is of what was read,
            // which is what this caller was answering about.
            Err(ClusterError::PreconditionFailed(_)) => Ok(Node { etag, ..node }),
            Err(e) => Err(e),
        }
    }

    /// Hex MD5 of every byte of a file.
    async fn content_md5(&self, node: &Node) -> Result<String, ClusterError> {
        let mut md5 = Md5::new();
        let mut bytes = std::pin::pin!(self.read(node, 0, node.size));
        while let Some(piece) = bytes.next().await {
            md5.update(&piece?);
        }
        Ok(hex::encode(md5.finalize()))
    }
}

/// A regular file with bytes and a stale ETag (an empty file's ETag is the
/// MD5 of nothing, which the doors answer without reading).
pub fn needs_etag(node: &Node) -> bool {
    node.etag.is_empty() && node.size > 0 && node.kind == NodeKind::File
}
