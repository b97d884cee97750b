//! gRPC handlers of S3Meta: access keys and multipart uploads, for the S3
//! door. Behind the cluster credential like Metadata.

use cairn_common::{time::now_ns, ClusterError};
use cairn_proto as pb;
use cairn_proto::s3_meta_server::S3Meta;
use rand::Rng;
use tonic::{Request, Response};

use crate::command::{Command, ProtectionChange};
use crate::convert::{
    access_key_to_pb, bucket_protection_to_pb, default_retention_from_pb, object_from_pb,
    part_from_pb, retention_from_pb, upload_to_pb, version_to_pb,
};
use crate::reply::ObjectDeleted;
use crate::schema::BucketPermission;
use crate::schema::{AccessKeyInfo, UploadInfo};
use crate::schema::{ObjectLockConfig, Versioning};
use crate::service::{MdsService, Reply};

/// Alphabets of generated keys: the shapes S3 clients expect (a 20-character
/// id, a 40-character secret).
const KEY_ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

impl MdsService {
    async fn access_key(&self, command: Command) -> Reply<pb::AccessKey> {
        let key: AccessKeyInfo = self.state.submit_for(command).await?;
        Ok(Response::new(access_key_to_pb(&key)))
    }
}

#[tonic::async_trait]
impl S3Meta for MdsService {
    async fn create_access_key(
        &self,
        request: Request<pb::CreateAccessKeyRequest>,
    ) -> Reply<pb::AccessKey> {
        let r = request.into_inner();
        // Randomness is chosen here, before the command, never in apply.
        let (key_id, secret) = match (r.key_id.is_empty(), r.secret.is_empty()) {
            (true, true) => (
                format!("CK{}", random_string(KEY_ID_CHARS, 18)),
                random_string(SECRET_CHARS, 40),
            ),
            (false, false) => (r.key_id, r.secret),
            _ => {
                return Err(ClusterError::Invalid(
                    "give both the key id and the secret to import a key, or neither".into(),
                )
                .into())
            }
        };
        self.access_key(Command::CreateAccessKeyWith {
            key_id,
            secret,
            name: r.name,
            admin: r.admin,
            now_ns: now_ns(),
        })
        .await
    }

    async fn get_access_key(&self, request: Request<pb::AccessKeyRequest>) -> Reply<pb::AccessKey> {
        let key = self
            .state
            .read()
            .await?
            .access_key(&request.into_inner().key_id)?;
        Ok(Response::new(access_key_to_pb(&key)))
    }

    async fn list_access_keys(
        &self,
        _request: Request<pb::Empty>,
    ) -> Reply<pb::ListAccessKeysReply> {
        let keys = self.state.read().await?.access_keys()?;
        Ok(Response::new(pb::ListAccessKeysReply {
            keys: keys.iter().map(access_key_to_pb).collect(),
        }))
    }

    async fn delete_access_key(&self, request: Request<pb::AccessKeyRequest>) -> Reply<pb::Empty> {
        self.done(Command::DeleteAccessKey {
            key_id: request.into_inner().key_id,
        })
        .await
    }

    async fn set_bucket_permission(
        &self,
        request: Request<pb::BucketPermissionRequest>,
    ) -> Reply<pb::AccessKey> {
        let r = request.into_inner();
        self.access_key(Command::SetBucketPermission {
            key_id: r.key_id,
            permission: BucketPermission {
                bucket: r.bucket,
                read: r.read,
                write: r.write,
                owner: r.owner,
            },
        })
        .await
    }

    async fn create_upload(&self, request: Request<pb::CreateUploadRequest>) -> Reply<pb::Upload> {
        let r = request.into_inner();
        let object = object_from_pb(&r.node.unwrap_or_default())?;
        let upload: UploadInfo = self
            .state
            .submit_for(Command::CreateUpload {
                bucket: r.bucket,
                key: r.key,
                object,
                upload_id: r.upload_id,
                created_ns: if r.created_ns != 0 {
                    r.created_ns
                } else {
                    now_ns()
                },
            })
            .await?;
        Ok(Response::new(upload_to_pb(&upload, true)))
    }

    async fn put_part(&self, request: Request<pb::PutPartRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        let part = r
            .part
            .as_ref()
            .map(part_from_pb)
            .ok_or_else(|| ClusterError::Invalid("PutPart without a part".into()))?;
        self.done(Command::PutPart {
            upload_id: r.upload_id,
            part,
            chunk_lengths: r
                .chunk_lengths
                .iter()
                .map(|c| (c.chunk_id, c.length))
                .collect(),
        })
        .await
    }

    async fn get_upload(&self, request: Request<pb::UploadRequest>) -> Reply<pb::Upload> {
        let upload = self
            .state
            .read()
            .await?
            .upload(&request.into_inner().upload_id)?;
        Ok(Response::new(upload_to_pb(&upload, true)))
    }

    async fn list_uploads(
        &self,
        request: Request<pb::ListUploadsRequest>,
    ) -> Reply<pb::ListUploadsReply> {
        let r = request.into_inner();
        let (uploads, truncated) = self.state.read().await?.list_uploads(
            &r.bucket,
            &r.prefix,
            &r.key_marker,
            &r.upload_id_marker,
            r.limit,
        )?;
        Ok(Response::new(pb::ListUploadsReply {
            uploads: uploads.iter().map(|u| upload_to_pb(u, false)).collect(),
            truncated,
        }))
    }

    async fn complete_upload(
        &self,
        request: Request<pb::CompleteUploadRequest>,
    ) -> Reply<pb::Node> {
        let r = request.into_inner();
        self.node(Command::CompleteUploadWith {
            upload_id: r.upload_id,
            part_numbers: r.part_numbers,
            etag: r.etag,
            if_match: r.if_match,
            if_none_match: r.if_none_match,
            mtime_ns: r.mtime_ns,
            request_id: r.request_id,
            now_ns: now_ns(),
            set_headers: r.set_headers.into_iter().collect(),
            remove_headers: r.remove_headers,
            protection: r
                .protection
                .as_ref()
                .map(crate::convert::protection_from_pb)
                .transpose()?,
        })
        .await
    }

    async fn abort_upload(&self, request: Request<pb::UploadRequest>) -> Reply<pb::Empty> {
        self.done(Command::AbortUpload {
            upload_id: request.into_inner().upload_id,
        })
        .await
    }

    async fn get_bucket_protection(
        &self,
        request: Request<pb::BucketRequest>,
    ) -> Reply<pb::BucketProtection> {
        let r = request.into_inner();
        let settings = self.state.read().await?.bucket_protection(&r.name)?;
        Ok(Response::new(bucket_protection_to_pb(&settings)))
    }

    async fn set_bucket_versioning(
        &self,
        request: Request<pb::SetVersioningRequest>,
    ) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::SetBucketVersioning {
            bucket: r.bucket,
            versioning: if r.enabled {
                Versioning::Enabled
            } else {
                Versioning::Suspended
            },
        })
        .await
    }

    async fn set_object_lock(
        &self,
        request: Request<pb::SetObjectLockRequest>,
    ) -> Reply<pb::Empty> {
        let r = request.into_inner();
        let default_retention =
            default_retention_from_pb(&r.default_mode, r.default_days, r.default_years)?;
        self.done(Command::SetObjectLock {
            bucket: r.bucket,
            config: ObjectLockConfig { default_retention },
        })
        .await
    }

    async fn get_bucket_setting(
        &self,
        request: Request<pb::BucketSettingRequest>,
    ) -> Reply<pb::BucketSetting> {
        let r = request.into_inner();
        let value = self
            .state
            .read()
            .await?
            .bucket_setting(&r.bucket, &r.name)?;
        Ok(Response::new(pb::BucketSetting {
            present: value.is_some(),
            value: value.unwrap_or_default(),
            bucket: r.bucket,
            name: r.name,
        }))
    }

    async fn set_bucket_setting(&self, request: Request<pb::BucketSetting>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::SetBucketSetting {
            bucket: r.bucket,
            name: r.name,
            value: r.present.then_some(r.value),
        })
        .await
    }

    async fn get_version(&self, request: Request<pb::VersionRequest>) -> Reply<pb::ObjectVersion> {
        let r = request.into_inner();
        let version = (!r.version_id.is_empty()).then_some(r.version_id.as_str());
        let view = self
            .state
            .read()
            .await?
            .get_version(&r.bucket, &r.key, version)?;
        Ok(Response::new(version_to_pb(&view)))
    }

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Reply<pb::ListVersionsReply> {
        let r = request.into_inner();
        let (versions, truncated) = self.state.read().await?.list_versions(
            &r.bucket,
            &r.prefix,
            &r.key_marker,
            &r.version_id_marker,
            r.limit,
        )?;
        Ok(Response::new(pb::ListVersionsReply {
            versions: versions.iter().map(version_to_pb).collect(),
            truncated,
        }))
    }

    async fn delete_object(
        &self,
        request: Request<pb::DeleteObjectRequest>,
    ) -> Reply<pb::DeleteObjectReply> {
        let r = request.into_inner();
        let deleted: ObjectDeleted = self
            .state
            .submit_for(Command::DeleteObject {
                bucket: r.bucket,
                key: r.key,
                version_id: (!r.version_id.is_empty()).then_some(r.version_id),
                bypass_governance: r.bypass_governance,
                now_ns: now_ns(),
            })
            .await?;
        Ok(Response::new(pb::DeleteObjectReply {
            version_id: deleted.version_id,
            delete_marker: deleted.delete_marker,
        }))
    }

    async fn set_protection(&self, request: Request<pb::SetProtectionRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        let change = ProtectionChange {
            tags: r.set_tags.then(|| r.tags.into_iter().collect()),
            retention: if r.set_retention {
                Some(retention_from_pb(&r.lock_mode, r.retain_until_ns)?)
            } else {
                None
            },
            legal_hold: r.legal_hold,
        };
        self.done(Command::SetProtection {
            bucket: r.bucket,
            key: r.key,
            version_id: (!r.version_id.is_empty()).then_some(r.version_id),
            change,
            bypass_governance: r.bypass_governance,
            now_ns: now_ns(),
        })
        .await
    }
}
