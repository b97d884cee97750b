//! S3 versions and data protection as the doors see them: a bucket's
//! versioning and object lock, one version of a key, ListObjectVersions'
//! pages, deleting a version, and the tags, retention and legal hold of one.
//! The rules live in the MDS (`apply::versions`); this is their interface.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{
    node::{LockMode, Node, Retention},
    retry::Retry,
    Client,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// A bucket's versioning and object lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketProtection {
    pub versioning: Versioning,
    pub object_lock: bool,
    /// Default retention of new versions: a mode with days or years.
    pub default_retention: Option<(LockMode, u32, u32)>,
}

/// One version of a key: an object or a delete marker.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectVersion {
    pub key: Vec<u8>,
    /// `null` or an id.
    pub version_id: String,
    pub latest: bool,
    pub delete_marker: bool,
    /// Its attributes and layout (a marker: only its time).
    pub node: Node,
}

impl From<pb::ObjectVersion> for ObjectVersion {
    fn from(v: pb::ObjectVersion) -> Self {
        ObjectVersion {
            key: v.key,
            version_id: v.version_id,
            latest: v.latest,
            delete_marker: v.delete_marker,
            node: Node::from(v.node.unwrap_or_default()),
        }
    }
}

/// What DeleteObject removed or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the marker made; "" outside versioning.
    pub version_id: String,
    pub delete_marker: bool,
}

/// A change to one version's protection; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectionChange {
    pub tags: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes the retention.
    pub retention: Option<Option<Retention>>,
    pub legal_hold: Option<bool>,
}

fn version_arg(version_id: Option<&str>) -> String {
    version_id.unwrap_or_default().to_string()
}

/// How long a bucket setting read through
/// [`Client::bucket_setting_recent`] is used without asking again.
pub const SETTING_TTL: Duration = Duration::from_secs(2);
/// Settings kept at most; past that, expired ones go (all, if none has).
const MAX_RECENT_SETTINGS: usize = 10_000;

/// A setting as read: when, and its value (`None`: never set).
type ReadSetting = (Instant, Option<Vec<u8>>);

/// Bucket settings read lately, by (bucket, name).
#[derive(Default)]
pub(crate) struct RecentSettings {
    read: Mutex<HashMap<(String, String), ReadSetting>>,
}

impl RecentSettings {
    fn get(&self, bucket: &str, name: &str) -> Option<Option<Vec<u8>>> {
        let read = self.read.lock().ok()?;
        let (at, value) = read.get(&(bucket.to_string(), name.to_string()))?;
        (at.elapsed() < SETTING_TTL).then(|| value.clone())
    }

    fn put(&self, bucket: &str, name: &str, value: Option<Vec<u8>>) {
        let Ok(mut read) = self.read.lock() else {
            return;
        };
        if read.len() >= MAX_RECENT_SETTINGS {
            read.retain(|_, (at, _)| at.elapsed() < SETTING_TTL);
            if read.len() >= MAX_RECENT_SETTINGS {
                read.clear();
            }
        }
        read.insert(
            (bucket.to_string(), name.to_string()),
            (Instant::now(), value),
        );
    }

    fn forget(&self, bucket: &str, name: &str) {
        if let Ok(mut read) = self.read.lock() {
            read.remove(&(bucket.to_string(), name.to_string()));
        }
    }
}

impl Client {
    pub async fn bucket_protection(&self, bucket: &str) -> Result<BucketProtection, ClusterError> {
        let req = pb::BucketRequest {
            name: bucket.into(),
            ..Default::default()
        };
        let p = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.get_bucket_protection(r).await
            })
            .await?;
        Ok(BucketProtection {
            versioning: match p.versioning.as_str() {
                "Enabled" => Versioning::Enabled,
                "Suspended" => Versioning::Suspended,
                _ => Versioning::Unversioned,
            },
            object_lock: p.object_lock,
            default_retention: LockMode::from_wire(&p.default_mode)
                .map(|m| (m, p.default_days, p.default_years)),
        })
    }

    /// Enables (`true`) or suspends versioning.
    pub async fn set_versioning(&self, bucket: &str, enabled: bool) -> Result<(), ClusterError> {
        let req = pb::SetVersioningRequest {
            bucket: bucket.into(),
            enabled,
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.set_bucket_versioning(r).await
            })
            .await
            .map(|_| ())
    }

    /// Turns object lock on (versioning must be enabled) with a default
    /// retention of (mode, days, years), or none.
    pub async fn set_object_lock(
        &self,
        bucket: &str,
        default_retention: Option<(LockMode, u32, u32)>,
    ) -> Result<(), ClusterError> {
        let (mode, days, years) =
            default_retention.map_or(("", 0, 0), |(m, d, y)| (m.as_str(), d, y));
        let req = pb::SetObjectLockRequest {
            bucket: bucket.into(),
            default_mode: mode.into(),
            default_days: days,
            default_years: years,
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.set_object_lock(r).await
            })
            .await
            .map(|_| ())
    }

    /// A bucket setting the door owns (`None`: never set).
    pub async fn bucket_setting(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ClusterError> {
        let req = pb::BucketSettingRequest {
            bucket: bucket.into(),
            name: name.into(),
        };
        let s = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.get_bucket_setting(r).await
            })
            .await?;
        Ok(s.present.then_some(s.value))
    }

    /// [`Client::bucket_setting`], read at most [`SETTING_TTL`] ago: for
    /// what a door adds to every response (the lifecycle's
    /// `x-amz-expiration`), so that it costs no MDS call per request. A
    /// change made through this client is seen at once; one made
    /// elsewhere within the TTL.
    pub async fn bucket_setting_recent(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ClusterError> {
        if let Some(value) = self.inner.settings.get(bucket, name) {
            return Ok(value);
        }
        let value = self.bucket_setting(bucket, name).await?;
        self.inner.settings.put(bucket, name, value.clone());
        Ok(value)
    }

    /// Sets (or with `None` removes) a bucket setting the door owns.
    pub async fn set_bucket_setting(
        &self,
        bucket: &str,
        name: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), ClusterError> {
        let req = pb::BucketSetting {
            bucket: bucket.into(),
            name: name.into(),
            present: value.is_some(),
            value: value.unwrap_or_default(),
        };
        self.inner.settings.forget(bucket, name);
        let set = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.set_bucket_setting(r).await
            })
            .await
            .map(|_| ());
        self.inner.settings.forget(bucket, name);
        set
    }

    /// Version `version_id` of a key, or its current version (which may be
    /// a delete marker). ENOENT: no such key or version; EINVAL: an id
    /// Cairn never makes.
    pub async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: Option<&str>,
    ) -> Result<ObjectVersion, ClusterError> {
        let req = pb::VersionRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
            version_id: version_arg(version_id),
        };
        let version = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.get_version(r).await
            })
            .await
            .map(ObjectVersion::from)?;
        self.version_with_etag(version).await
    }

    /// A version with its ETag filled (stored for the current version).
    async fn version_with_etag(
        &self,
        mut version: ObjectVersion,
    ) -> Result<ObjectVersion, ClusterError> {
        if !version.delete_marker && crate::etag::needs_etag(&version.node) {
            version.node = self.with_etag(version.node.clone(), version.latest).await?;
        }
        Ok(version)
    }

    /// One page of versions (keys ascending, each key's newest first) of
    /// keys starting with `prefix`, after the markers; and whether more
    /// follow.
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &[u8],
        key_marker: &[u8],
        version_id_marker: &str,
        limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), ClusterError> {
        let req = pb::ListVersionsRequest {
            bucket: bucket.into(),
            prefix: prefix.to_vec(),
            key_marker: key_marker.to_vec(),
            version_id_marker: version_id_marker.into(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.list_versions(r).await
            })
            .await?;
        let mut versions = Vec::with_capacity(reply.versions.len());
        for v in reply.versions {
            versions.push(self.version_with_etag(ObjectVersion::from(v)).await?);
        }
        Ok((versions, reply.truncated))
    }

    /// S3 DeleteObject: without a version id, a delete marker (or, outside
    /// versioning, the object); with one, that version.
    pub async fn delete_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: Option<&str>,
        bypass_governance: bool,
    ) -> Result<Deleted, ClusterError> {
        let req = pb::DeleteObjectRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
            version_id: version_arg(version_id),
            bypass_governance,
        };
        // Not idempotent without a version id: a retry would make a second
        // marker.
        let reply = self
            .inner
            .mds
            .s3(
                // With a version id the same version goes; without, a
                // replay would add a second delete marker.
                if version_id.is_some() {
                    Retry::Idempotent
                } else {
                    Retry::Once
                },
                req,
                |mut m, r| async move { m.delete_object(r).await },
            )
            .await?;
        Ok(Deleted {
            version_id: reply.version_id,
            delete_marker: reply.delete_marker,
        })
    }

    /// Changes the tags, retention or legal hold of a version (the current
    /// one without an id).
    pub async fn set_protection(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: Option<&str>,
        change: &ProtectionChange,
        bypass_governance: bool,
    ) -> Result<(), ClusterError> {
        let retention = change.retention.flatten();
        let req = pb::SetProtectionRequest {
            bucket: bucket.into(),
            key: key.to_vec(),
            version_id: version_arg(version_id),
            set_tags: change.tags.is_some(),
            tags: change
                .tags
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            set_retention: change.retention.is_some(),
            lock_mode: retention.map_or("", |r| r.mode.as_str()).to_string(),
            retain_until_ns: retention.map_or(0, |r| r.until_ns),
            legal_hold: change.legal_hold,
            bypass_governance,
        };
        self.inner
            .mds
            .s3(Retry::Idempotent, req, |mut m, r| async move {
                m.set_protection(r).await
            })
            .await
            .map(|_| ())
    }
}
