//! Objects the S3 door stored encrypted (see cairn-client `sse` and
//! SEMANTICS.md): an SSE-S3 object reads through the mount as its
//! plaintext, with its plaintext size, decrypted with the cluster master
//! key this host holds; an SSE-C object cannot be opened (`EACCES`: its
//! key is the customer's, which the mount never has), and neither can be
//! written, truncated or opened for writing (`EACCES`): the mount does not
//! re-encrypt.

use bytes::Bytes;
use cairn_client::sse::{sealed_size, ObjectSse, SseMode};
use cairn_client::{Client, Node};
use cairn_common::ClusterError;
use futures::StreamExt;

/// The encryption of `node`, if any (malformed headers: refused).
fn of(node: &Node) -> Result<Option<ObjectSse>, ClusterError> {
    ObjectSse::from_headers(&node.headers).map_err(|e| ClusterError::Io(e.to_string()))
}

fn denied(node: &Node, why: &str) -> ClusterError {
    ClusterError::PermissionDenied(format!("inode {}: {why}", node.ino))
}

/// `node` as the mount shows it: an encrypted object has its plaintext
/// size.
pub fn view(mut node: Node) -> Node {
    if let Ok(Some(sse)) = of(&node) {
        node.size = sse.plain_size;
    }
    node
}

/// Refuses to open an encrypted object: SSE-C always, SSE-S3 for writing.
pub fn check_open(node: &Node, writes: bool) -> Result<(), ClusterError> {
    match of(node)? {
        None => Ok(()),
        Some(sse) if sse.mode == SseMode::Customer => Err(denied(
            node,
            "the object is encrypted with a customer's key (SSE-C)",
        )),
        Some(_) if writes => Err(denied(node, "an encrypted object is read-only here")),
        Some(_) => Ok(()),
    }
}

/// Refuses a change of size of an encrypted object.
pub fn check_resize(node: &Node) -> Result<(), ClusterError> {
    match of(node)? {
        None => Ok(()),
        Some(_) => Err(denied(node, "an encrypted object is read-only here")),
    }
}

/// Plaintext bytes `[offset, offset + len)` of an encrypted `node`
/// (`None`: a plain node, read as usual).
pub async fn read(
    client: &Client,
    node: &Node,
    offset: u64,
    len: u64,
) -> Option<Result<Vec<Bytes>, ClusterError>> {
    let sse = match of(node) {
        Ok(None) => return None,
        Ok(Some(sse)) => sse,
        Err(e) => return Some(Err(e)),
    };
    if sse.mode != SseMode::S3 {
        return Some(Err(denied(
            node,
            "the object is encrypted with a customer's key (SSE-C)",
        )));
    }
    let key = match client.s3_data_key(&sse.salt) {
        Ok(key) => key,
        Err(e) => return Some(Err(denied(node, &e.to_string()))),
    };
    let mut stored = node.clone();
    stored.size = sealed_size(sse.plain_size);
    let mut stream = std::pin::pin!(client.read_decrypted(&stored, &sse, key, offset, len));
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(p) => out.push(p),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(out))
}
