//! S3 versions and data protection as stored: version ids, the records of
//! noncurrent versions and delete markers, tags, retention and legal hold,
//! and a bucket's versioning and object lock settings.
//!
//! How a key's versions are kept:
//! * its *current* object, when it has one, is the inode `keys` names (the
//!   one the filesystem shows); [`super::Inode::version`] says which version
//!   it is;
//! * every other version, and every delete marker, is one row of
//!   `versions` under `(bucket, key, u64::MAX - seq)`: a range scan from
//!   `(bucket, key, 0)` gives them newest first, which is S3's order;
//! * a key whose newest version is a delete marker has no row in `keys`,
//!   and its marker is the first `versions` row of the key.
//!
//! No version can leak or lose its chunks: a row of `versions` holds one
//! reference on each distinct chunk of its `layout`, taken when the row is
//! written and released when it is removed, exactly as an inode's layout
//! does (`apply::chunks`). Making a version noncurrent therefore copies no
//! data: its layout moves from the inode into the row with one reference
//! more per chunk, and the inode's own references follow its new layout.
//! A chunk a row references is also never written in place, because it is
//! shared (`refs > 1`) as long as the current object still names it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cairn_common::ClusterError;
use serde::{Deserialize, Serialize};

use super::{decode_err, encode_err, Extent, NodeKind, Stored};

/// Which version of a key an object or a delete marker is.
///
/// `seq` comes from a counter of the state machine (`next_version_seq`),
/// so it only grows: the versions of a key sort by it. `null` is S3's
/// "null" version (made while versioning was off or suspended); at most
/// one version of a key is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionId {
    pub seq: u64,
    pub null: bool,
}

/// Digits of a version id's text: fixed width, so ids sort as they were made.
const ID_DIGITS: usize = 20;

impl VersionId {
    /// An object made while its bucket was never versioned.
    pub const UNVERSIONED: VersionId = VersionId { seq: 0, null: true };

    /// The row key of this version under its key in `versions`.
    pub fn rank(self) -> u64 {
        u64::MAX - self.seq
    }

    /// The id as S3 clients see it: `null`, or 20 decimal digits.
    pub fn to_wire(self) -> String {
        if self.null {
            "null".to_string()
        } else {
            format!("{:0width$}", self.seq, width = ID_DIGITS)
        }
    }
}

/// A version id a client names: the null version or one made with `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionRef {
    Null,
    Seq(u64),
}

impl VersionRef {
    /// Parses what [`VersionId::to_wire`] writes; anything else is EINVAL
    /// (S3: `InvalidArgument`, "Invalid version id specified").
    pub fn parse(text: &str) -> Result<VersionRef, ClusterError> {
        if text == "null" {
            return Ok(VersionRef::Null);
        }
        if text.len() == ID_DIGITS && text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(seq) = text.parse::<u64>() {
                if seq != 0 {
                    return Ok(VersionRef::Seq(seq));
                }
            }
        }
        Err(ClusterError::Invalid(format!(
            "invalid version id `{text}`"
        )))
    }

    pub fn names(self, id: VersionId) -> bool {
        match self {
            VersionRef::Null => id.null,
            VersionRef::Seq(seq) => !id.null && id.seq == seq,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Users with the right to bypass governance may delete or shorten it.
    Governance,
    /// Nobody may delete the version or shorten the date, not even an admin.
    Compliance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    /// The version may not be deleted before this instant (ns since epoch).
    pub until_ns: i64,
}

/// Tags, retention and legal hold of one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub tags: BTreeMap<String, String>,
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

impl Protection {
    /// Why the version may not be deleted at `now_ns`, if it may not;
    /// `bypass`: the caller may bypass governance retention.
    pub fn forbids_delete(&self, now_ns: i64, bypass: bool) -> Option<String> {
        if self.legal_hold {
            return Some("it is under a legal hold".into());
        }
        match self.retention {
            Some(r) if r.until_ns > now_ns => match r.mode {
                LockMode::Compliance => Some("it is under COMPLIANCE retention".into()),
                LockMode::Governance if !bypass => Some("it is under GOVERNANCE retention".into()),
                LockMode::Governance => None,
            },
            _ => None,
        }
    }
}

/// A version of a key that is not its current object, or a delete marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub id: VersionId,
    /// A delete marker: no content, only an id and a time.
    pub delete_marker: bool,
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Last modified (a delete marker: when it was made).
    pub mtime_ns: i64,
    pub etag: String,
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub replicas: u32,
    pub min_replicas: u32,
    pub tier: u32,
    /// Holds one reference on each distinct chunk it names.
    pub layout: Vec<Extent>,
    pub symlink_target: Vec<u8>,
    pub protection: Protection,
    /// When it stopped being current (lifecycle's noncurrent days count
    /// from here); for a delete marker, when it was made.
    pub noncurrent_since_ns: i64,
}

/// A bucket's versioning state. It starts `Unversioned`; once enabled it
/// can only be suspended, never return to unversioned (as S3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    /// Whether a new object (or delete marker) is the null version.
    pub fn makes_null(self) -> bool {
        self != Versioning::Enabled
    }
}

/// Default retention of new versions in a bucket with object lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    /// Exactly one of days and years is set (not 0).
    pub days: u32,
    pub years: u32,
}

impl DefaultRetention {
    /// The retain-until instant of a version made at `now_ns`. A year is
    /// 365 days, as S3 counts it.
    pub fn until(&self, now_ns: i64) -> i64 {
        const DAY_NS: i64 = 86_400 * 1_000_000_000;
        let days = i64::from(self.days) + 365 * i64::from(self.years);
        now_ns.saturating_add(days.saturating_mul(DAY_NS))
    }
}

/// Object lock of a bucket: once on, never off (as S3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    pub default_retention: Option<DefaultRetention>,
}

/// The bucket settings `apply` acts on, under [`BucketProtection::SETTING`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketProtection {
    pub versioning: Versioning,
    /// `Some`: object lock is enabled (versioning is then `Enabled`).
    pub object_lock: Option<ObjectLockConfig>,
}

impl BucketProtection {
    /// Its row name in `bucket_settings`.
    pub const SETTING: &'static str = "protection";
}

/// Setting names the doors may not write with SetBucketSetting: `apply`
/// owns their format.
pub fn is_reserved_setting(name: &str) -> bool {
    name == BucketProtection::SETTING
}

/// The version counter, in `meta` under [`META_VERSION_SEQ`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionCounter {
    pub next: u64,
}

/// `meta` row holding the [`VersionCounter`] (absent: 1).
pub const META_VERSION_SEQ: &str = "next_version_seq";

stored!(ObjectVersion, ObjectVersionRecord, "object version");
stored!(
    BucketProtection,
    BucketProtectionRecord,
    "bucket protection"
);
stored!(VersionCounter, VersionCounterRecord, "version counter");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_round_trip_and_sort_as_made() {
        let a = VersionId {
            seq: 7,
            null: false,
        };
        let b = VersionId {
            seq: 12_345,
            null: false,
        };
        assert_eq!(a.to_wire(), "00000000000000000007");
        assert!(a.to_wire() < b.to_wire());
        assert!(
            a.rank() > b.rank(),
            "newer versions come first in the table"
        );
        assert_eq!(
            VersionRef::parse(&b.to_wire()).unwrap(),
            VersionRef::Seq(12_345)
        );
        assert_eq!(VersionRef::parse("null").unwrap(), VersionRef::Null);
        assert_eq!(VersionId { seq: 3, null: true }.to_wire(), "null");
        assert_eq!(VersionId::UNVERSIONED.to_wire(), "null");
        for bad in [
            "",
            "7",
            "0000000000000000000x",
            "00000000000000000000",
            "NULL",
        ] {
            assert_eq!(
                VersionRef::parse(bad),
                Err(ClusterError::Invalid(format!("invalid version id `{bad}`"))),
            );
        }
        assert!(VersionRef::Null.names(VersionId::UNVERSIONED));
        assert!(!VersionRef::Seq(7).names(VersionId { seq: 7, null: true }));
    }

    #[test]
    fn protection_forbids_deletes_by_mode() {
        let until = |mode| Protection {
            retention: Some(Retention {
                mode,
                until_ns: 100,
            }),
            ..Protection::default()
        };
        assert!(until(LockMode::Compliance)
            .forbids_delete(99, true)
            .is_some());
        assert!(until(LockMode::Compliance)
            .forbids_delete(100, false)
            .is_none());
        assert!(until(LockMode::Governance)
            .forbids_delete(99, false)
            .is_some());
        assert!(until(LockMode::Governance)
            .forbids_delete(99, true)
            .is_none());
        let held = Protection {
            legal_hold: true,
            ..Protection::default()
        };
        assert!(held.forbids_delete(i64::MAX, true).is_some());
        assert!(Protection::default().forbids_delete(0, false).is_none());
    }

    #[test]
    fn default_retention_counts_years_of_365_days() {
        let r = DefaultRetention {
            mode: LockMode::Governance,
            days: 0,
            years: 1,
        };
        assert_eq!(r.until(0), 365 * 86_400 * 1_000_000_000);
    }
}
