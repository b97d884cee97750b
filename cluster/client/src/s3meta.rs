//! What only the S3 door needs from the MDS: access keys with per-bucket
//! permissions, and multipart uploads whose parts become the object's layout
//! without a copy.

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{
    node::{Extent, Node},
    retry::Retry,
    Client, PutConditions, WrittenData,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPermission {
    pub bucket: String,
    pub read: bool,
    pub write: bool,
    pub owner: bool,
}

/// An S3 access key. `secret` is the signing secret: it never goes to logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub key_id: String,
    pub secret: String,
    pub name: String,
    pub created_ns: i64,
    pub permissions: Vec<BucketPermission>,
    /// An operator's key: it stands in for the owner of a bucket that has
    /// none (and has no right on a bucket another key owns).
    pub admin: bool,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .field("admin", &self.admin)
            .finish()
    }
}

/// What a completed upload's object gets besides its parts.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub set_headers: std::collections::BTreeMap<String, String>,
    pub remove_headers: Vec<String>,
    pub protection: Option<crate::ObjectProtection>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
    /// Offsets relative to the start of the part.
    pub extents: Vec<Extent>,
    pub modified_ns: i64,
    pub checksums: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub bucket: String,
    pub key: Vec<u8>,
    pub upload_id: String,
    pub created_ns: i64,
    /// Attributes the object will get.
    pub node: Option<Node>,
    pub parts: Vec<Part>,
}

impl From<pb::BucketPermission> for BucketPermission {
    fn from(p: pb::BucketPermission) -> Self {
        BucketPermission {
            bucket: p.bucket,
            read: p.read,
            write: p.write,
            owner: p.owner,
        }
    }
}

impl From<pb::AccessKey> for AccessKey {
    fn from(k: pb::AccessKey) -> Self {
        AccessKey {
            key_id: k.key_id,
            secret: k.secret,
            name: k.name,
            created_ns: k.created_ns,
            permissions: k
                .permissions
                .into_iter()
                .map(BucketPermission::from)
                .collect(),
            admin: k.admin,
        }
    }
}

impl From<pb::Part> for Part {
    fn from(p: pb::Part) -> Self {
        Part {
            part_number: p.part_number,
            etag: p.etag,
            size: p.size,
            extents: p.extents.into_iter().map(Extent::from).collect(),
            modified_ns: p.modified_ns,
            checksums: p.checksums.into_iter().collect(),
        }
    }
}

impl From<pb::Upload> for Upload {
    fn from(u: pb::Upload) -> Self {
        Upload {
            bucket: u.bucket,
            key: u.key,
            upload_id: u.upload_id,
            created_ns: u.created_ns,
            node: u.node.map(Node::from),
            parts: u.parts.into_iter().map(Part::from).collect(),
        }
    }
}

impl Client {
    /// Creates an access key (an admin's with `admin`); with `key_id` and
    /// `secret` empty the MDS's caller must pass generated ones: this
    /// library generates them.
    pub async fn create_access_key(
        &self,
        name: &str,
        key_id: Option<&str>,
        secret: Option<&str>,
        admin: bool,
    ) -> Result<AccessKey, ClusterError> {
        let key_id = key_id.map(str::to_string).unwrap_or_else(generate_key_id);
        let secret = secret.map(str::to_string).unwrap_or_else(generate_secret);
        let req = pb::CreateAccessKeyRequest {
            name: name.into(),
            key_id,
            secret,
            admin,
        };
        // Once: no request id makes a replay recognisable, and a replay
        // of a create that was applied answers "exists" (EEXIST) for the
        // key it made.
        self.inner
            .mds
            .s3(Retry::Once, req, |mut m, r| async move {
                m.create_access_key(r).await
            })
            .await
            .map(AccessKey::from)
    }

    pub async fn get_access_key(&self, key_id: &str) -> Result<AccessKey, ClusterError> {
        let req = pb::AccessKeyRequest {
            key_id: key_id.into(),
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.get_access_key(r).await
            })
            .await
            .map(AccessKey::from)
    }

    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>, ClusterError> {
        self.inner
            .mds
            .s3(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.list_access_keys(r).await
            })
            .await
            .map(|r| r.keys.into_iter().map(AccessKey::from).collect())
    }

    pub async fn delete_access_key(&self, key_id: &str) -> Result<(), ClusterError> {
        let req = pb::AccessKeyRequest {
            key_id: key_id.into(),
        };
        self.inner
            .mds
            .s3(Retry::Once, req, |mut m, r| async move {
                m.delete_access_key(r).await
            })
            .await
            .map(|_| ())
    }

    pub async fn set_bucket_permission(
        &self,
        key_id: &str,
        permission: &BucketPermission,
    ) -> Result<AccessKey, ClusterError> {
        let req = pb::BucketPermissionRequest {
            key_id: key_id.into(),
            bucket: permission.bucket.clone(),
            read: permission.read,
            write: permission.write,
            owner: permission.owner,
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.set_bucket_permission(r).await
            })
            .await
            .map(AccessKey::from)
    }

    /// Starts a multipart upload of `bucket/key`; returns its id.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &[u8],
        node: &Node,
    ) -> Result<Upload, ClusterError> {
        let req = pb::CreateUploadRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
            node: Some(pb::Node::from(node)),
            upload_id: generate_upload_id(),
            created_ns: cairn_common::time::now_ns(),
        };
        // Once: a replay of a create that was applied finds its own upload
        // id taken and answers "exists" for the upload it made; no request
        // id lets the MDS recognise it. Unanswered, the caller gets
        // Unavailable and may start another; an upload left unused stays
        // until aborted (by a lifecycle rule or a client that lists it).
        self.inner
            .mds
            .s3(Retry::Once, req, |mut m, r| async move {
                m.create_upload(r).await
            })
            .await
            .map(Upload::from)
    }

    /// Records part `part_number` of an upload from data already written
    /// (with [`Client::writer`]); `etag` is the part's MD5.
    pub async fn put_part(
        &self,
        upload_id: &str,
        part_number: u32,
        written: &WrittenData,
        checksums: std::collections::BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        let req = pb::PutPartRequest {
            upload_id: upload_id.into(),
            part: Some(pb::Part {
                part_number,
                etag: written.md5_hex.clone(),
                size: written.size,
                extents: written
                    .extents
                    .iter()
                    .copied()
                    .map(pb::Extent::from)
                    .collect(),
                modified_ns: cairn_common::time::now_ns(),
                checksums: checksums.into_iter().collect(),
            }),
            chunk_lengths: written.chunk_lengths_pb(),
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.put_part(r).await
            })
            .await
            .map(|_| ())
    }

    pub async fn get_upload(&self, upload_id: &str) -> Result<Upload, ClusterError> {
        let req = pb::UploadRequest {
            upload_id: upload_id.into(),
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.get_upload(r).await
            })
            .await
            .map(Upload::from)
    }

    /// Uploads in progress in `bucket`, ordered by key then upload id.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        upload_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<Upload>, bool), ClusterError> {
        let req = pb::ListUploadsRequest {
            bucket: bucket.into(),
            prefix: prefix.to_vec(),
            key_marker: key_marker.to_vec(),
            upload_id_marker: upload_id_marker.into(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.list_uploads(r).await
            })
            .await?;
        Ok((
            reply.uploads.into_iter().map(Upload::from).collect(),
            reply.truncated,
        ))
    }

    /// Makes the listed parts, in order, the object's content.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        part_numbers: &[u32],
        etag: &str,
        conditions: PutConditions,
    ) -> Result<Node, ClusterError> {
        self.complete_upload_with(
            upload_id,
            part_numbers,
            etag,
            conditions,
            Completion::default(),
        )
        .await
    }

    /// [`Client::complete_upload`] that also sets and removes stored
    /// headers and gives the new version a protection, in one commit.
    pub async fn complete_upload_with(
        &self,
        upload_id: &str,
        part_numbers: &[u32],
        etag: &str,
        conditions: PutConditions,
        completion: Completion,
    ) -> Result<Node, ClusterError> {
        let req = pb::CompleteUploadRequest {
            upload_id: upload_id.into(),
            part_numbers: part_numbers.to_vec(),
            etag: etag.into(),
            if_match: conditions.if_match,
            if_none_match: conditions.if_none_match,
            mtime_ns: cairn_common::time::now_ns(),
            request_id: rand::random::<u64>() | 1,
            set_headers: completion.set_headers.into_iter().collect(),
            remove_headers: completion.remove_headers,
            protection: completion.protection.as_ref().map(pb::Protection::from),
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.complete_upload(r).await
            })
            .await
            .map(Node::from)
    }

    pub async fn abort_upload(&self, upload_id: &str) -> Result<(), ClusterError> {
        let req = pb::UploadRequest {
            upload_id: upload_id.into(),
        };
        self.inner
            .mds
            .s3(Retry::Once, req, |mut m, r| async move {
                m.abort_upload(r).await
            })
            .await
            .map(|_| ())
    }
}

const KEY_ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

/// An access key id in the shape S3 clients expect (20 characters).
pub fn generate_key_id() -> String {
    format!("CK{}", random_string(KEY_ID_CHARS, 18))
}

/// A 40-character secret.
pub fn generate_secret() -> String {
    random_string(SECRET_CHARS, 40)
}

fn generate_upload_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}
