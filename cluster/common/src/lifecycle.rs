//! The S3 lifecycle rule model, shared by the S3 door (which parses and
//! validates `LifecycleConfiguration` bodies, see the gateway's
//! `xml::lifecycle`) and the MDS (whose lifecycle runner applies exactly
//! the rules the door accepted): typed rules, their validation, and the
//! pure functions a runner needs.
//!
//! Rules as S3 states them (user guide, "Lifecycle configuration
//! elements"; API reference, LifecycleRule and its parts): a rule applies
//! to the objects its filter selects (prefix, tags, size bounds), only
//! while `Enabled`; `Expiration` expires current versions (Days after
//! creation or on a Date) or removes expired object delete markers;
//! `NoncurrentVersionExpiration` removes noncurrent versions NoncurrentDays
//! after they became noncurrent, keeping the NewerNoncurrentVersions newest;
//! `AbortIncompleteMultipartUpload` aborts uploads DaysAfterInitiation
//! after they began.
//!
//! Self-contained on purpose: `std` and `serde` only, no gateway type.
//! Faults are [`RuleError`]s, a kind and S3's message; the gateway turns
//! them into S3 errors.
//!
//! Instants are nanoseconds since the Unix epoch (UTC). S3's timing
//! rule ("Lifecycle configuration elements"): an action due N days after
//! an instant is due at that instant plus N days, rounded up to the next
//! midnight UTC ([`due_after_days`]). The `*_with` forms take the length
//! of a day, which only tests shorten ([`NANOS_PER_DAY`] otherwise).
//!
//! Stored form: the MDS keeps a bucket's configuration as an opaque bucket
//! setting named [`SETTING`], [`encode`]d in a versioned envelope
//! ([`Stored`]) so that a later format decodes the old one.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Most rules in a configuration ("up to 1,000 rules per bucket. This
/// limit is not adjustable").
pub const MAX_RULES: usize = 1000;
/// Longest rule ID, in characters ("ID length is limited to 255
/// characters").
pub const MAX_ID_CHARS: usize = 255;
/// Longest prefix in bytes: the longest object key (1,024 bytes); S3
/// refuses a longer one.
pub const MAX_PREFIX_BYTES: usize = 1024;
/// Longest tag key in a filter, in UTF-16 code units (the tag rules).
pub const MAX_TAG_KEY_UNITS: usize = 128;
/// Longest tag value in a filter, in UTF-16 code units.
pub const MAX_TAG_VALUE_UNITS: usize = 256;
/// Most noncurrent versions kept ("You can specify up to 100 noncurrent
/// versions to retain", API reference, NoncurrentVersionExpiration).
pub const MAX_NEWER_NONCURRENT_VERSIONS: u32 = 100;
/// Largest size bound of a filter, in bytes, as S3 states it:
/// "'ObjectSizeLessThan' should be between 1 and 1099511627776000."
pub const MAX_OBJECT_SIZE: u64 = 1_099_511_627_776_000;
/// Largest day count: the schema's type is `int`.
pub const MAX_DAYS: u32 = i32::MAX as u32;

/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A bucket's lifecycle rules, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleStatus {
    Enabled,
    Disabled,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Enabled => "Enabled",
            RuleStatus::Disabled => "Disabled",
        }
    }
}

/// One rule: which objects (`filter`) and what happens to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique among the rules; empty until given one
    /// ([`LifecycleConfiguration::fill_missing_ids`]).
    pub id: String,
    pub status: RuleStatus,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
}

/// Which objects a rule applies to, in the form it was sent (so that it
/// is given back the same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    /// The deprecated rule-level `<Prefix>` (lifecycle "V1").
    RulePrefix(String),
    /// An empty `<Filter/>`: every object.
    All,
    Prefix(String),
    /// Matches objects carrying this tag with this value exactly.
    Tag {
        key: String,
        value: String,
    },
    /// Objects strictly larger than this many bytes.
    ObjectSizeGreaterThan(u64),
    /// Objects strictly smaller than this many bytes.
    ObjectSizeLessThan(u64),
    And(AndOperator),
}

/// Every predicate must hold; at least two are given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AndOperator {
    pub prefix: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub object_size_greater_than: Option<u64>,
    pub object_size_less_than: Option<u64>,
}

/// What happens to an object's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Expire this many days after the version was created.
    Days(u32),
    /// Expire on this date (an instant at midnight UTC) and after.
    Date(i64),
    /// Remove a delete marker that has no noncurrent version left
    /// (`false`: the element was sent, and asks for nothing).
    ExpiredObjectDeleteMarker(bool),
}

/// What happens to noncurrent versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentVersionExpiration {
    /// Days after the version became noncurrent.
    pub noncurrent_days: u32,
    /// How many newer noncurrent versions are kept whatever their age.
    pub newer_noncurrent_versions: Option<u32>,
}

/// When incomplete multipart uploads are aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortIncompleteMultipartUpload {
    pub days_after_initiation: u32,
}

/// How a fault is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The document does not follow S3's schema.
    MalformedXml,
    InvalidArgument,
    InvalidRequest,
}

/// A configuration S3 would refuse, with S3's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleError {
    pub kind: ErrorKind,
    pub message: &'static str,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for RuleError {}

fn fault(kind: ErrorKind, message: &'static str) -> Result<(), RuleError> {
    Err(RuleError { kind, message })
}

fn malformed() -> Result<(), RuleError> {
    fault(
        ErrorKind::MalformedXml,
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

impl LifecycleConfiguration {
    /// Checks the configuration as S3 does; the first fault found is
    /// returned.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.rules.is_empty() {
            return fault(
                ErrorKind::InvalidRequest,
                "At least one lifecycle rule must be specified.",
            );
        }
        if self.rules.len() > MAX_RULES {
            return fault(
                ErrorKind::InvalidRequest,
                "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.",
            );
        }
        for rule in &self.rules {
            rule.validate()?;
        }
        // One form for the whole configuration, the first rule's.
        let v1 = matches!(self.rules[0].filter, Filter::RulePrefix(_));
        for rule in &self.rules {
            match (v1, matches!(rule.filter, Filter::RulePrefix(_))) {
                (true, false) => {
                    return fault(
                        ErrorKind::InvalidRequest,
                        "Filter element can only be used in Lifecycle V2.",
                    )
                }
                (false, true) => {
                    return fault(
                        ErrorKind::InvalidRequest,
                        "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.",
                    )
                }
                _ => {}
            }
        }
        let mut ids: Vec<&str> = self
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return fault(
                ErrorKind::InvalidArgument,
                "Rule ID must be unique. Found same ID for more than one rule",
            );
        }
        Ok(())
    }

    /// Gives every rule without an ID one from `new_id` (S3 makes a
    /// random one; the caller chooses, so that the change stays a plain
    /// value). An ID already used is not reused.
    pub fn fill_missing_ids(&mut self, mut new_id: impl FnMut() -> String) {
        for i in 0..self.rules.len() {
            if !self.rules[i].id.is_empty() {
                continue;
            }
            let id = loop {
                let id = new_id();
                if !id.is_empty() && !self.rules.iter().any(|r| r.id == id) {
                    break id;
                }
            };
            self.rules[i].id = id;
        }
    }
}

impl Rule {
    /// Checks one rule as S3 does.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.id.chars().count() > MAX_ID_CHARS {
            return fault(
                ErrorKind::InvalidArgument,
                "ID length should not exceed allowed limit of 255",
            );
        }
        self.filter.validate()?;
        if self.expiration.is_none()
            && self.noncurrent_version_expiration.is_none()
            && self.abort_incomplete_multipart_upload.is_none()
        {
            return fault(
                ErrorKind::InvalidRequest,
                "At least one action needs to be specified in a rule",
            );
        }
        let (tags, sizes) = (self.filter.has_tags(), self.filter.has_sizes());
        match self.expiration {
            Some(Expiration::Days(days)) => check_days(
                days,
                "'Days' for Expiration action must be a positive integer",
            )?,
            Some(Expiration::Date(ns)) if ns.rem_euclid(NANOS_PER_DAY) != 0 => {
                return fault(ErrorKind::InvalidArgument, "'Date' must be at midnight GMT")
            }
            Some(Expiration::ExpiredObjectDeleteMarker(_)) if tags => {
                return fault(
                    ErrorKind::InvalidRequest,
                    "ExpiredObjectDeleteMarker cannot be specified with Tags.",
                )
            }
            Some(Expiration::ExpiredObjectDeleteMarker(_)) if sizes => {
                return fault(
                    ErrorKind::InvalidRequest,
                    "ExpiredObjectDeleteMarker cannot be specified with Object Size.",
                )
            }
            _ => {}
        }
        if let Some(nve) = &self.noncurrent_version_expiration {
            check_days(
                nve.noncurrent_days,
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            )?;
            if let Some(newer) = nve.newer_noncurrent_versions {
                if matches!(self.filter, Filter::RulePrefix(_)) {
                    return fault(
                        ErrorKind::InvalidRequest,
                        "NewerNoncurrentVersions element can only be used in Lifecycle V2.",
                    );
                }
                if !(1..=MAX_NEWER_NONCURRENT_VERSIONS).contains(&newer) {
                    return fault(
                        ErrorKind::InvalidArgument,
                        "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to 100",
                    );
                }
            }
        }
        if let Some(abort) = &self.abort_incomplete_multipart_upload {
            check_days(
                abort.days_after_initiation,
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            )?;
            if tags {
                return fault(
                    ErrorKind::InvalidRequest,
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                );
            }
            if sizes {
                return fault(
                    ErrorKind::InvalidRequest,
                    "AbortIncompleteMultipartUpload cannot be specified with Object Size.",
                );
            }
        }
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        self.status == RuleStatus::Enabled
    }

    /// Whether the rule's filter selects the object `key` of `size`
    /// bytes carrying `tags`. The filter only: a runner also checks
    /// [`Rule::is_enabled`] and the action's own conditions.
    pub fn matches(&self, key: &[u8], size: u64, tags: &BTreeMap<String, String>) -> bool {
        self.filter.matches(key, size, tags)
    }

    /// The key prefix the rule is limited to ("" for none): all that
    /// selects multipart uploads, which have neither tags nor a size.
    pub fn prefix(&self) -> &str {
        self.filter.prefix()
    }
}

fn check_days(days: u32, message: &'static str) -> Result<(), RuleError> {
    if days == 0 {
        return fault(ErrorKind::InvalidArgument, message);
    }
    if days > MAX_DAYS {
        return malformed();
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<(), RuleError> {
    if prefix.len() > MAX_PREFIX_BYTES {
        return fault(
            ErrorKind::InvalidRequest,
            "The maximum size of a prefix is 1024.",
        );
    }
    Ok(())
}

fn check_tag(key: &str, value: &str) -> Result<(), RuleError> {
    if key.is_empty() {
        return malformed();
    }
    if utf16_len(key) > MAX_TAG_KEY_UNITS {
        return fault(
            ErrorKind::InvalidRequest,
            "The maximum size of a tag key is 128.",
        );
    }
    if utf16_len(value) > MAX_TAG_VALUE_UNITS {
        return fault(
            ErrorKind::InvalidRequest,
            "The maximum size of a tag value is 256.",
        );
    }
    Ok(())
}

fn check_sizes(greater_than: Option<u64>, less_than: Option<u64>) -> Result<(), RuleError> {
    if greater_than.is_some_and(|n| n > MAX_OBJECT_SIZE) {
        return fault(
            ErrorKind::InvalidRequest,
            "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000.",
        );
    }
    if less_than.is_some_and(|n| n == 0 || n > MAX_OBJECT_SIZE) {
        return fault(
            ErrorKind::InvalidRequest,
            "'ObjectSizeLessThan' should be between 1 and 1099511627776000.",
        );
    }
    if let (Some(gt), Some(lt)) = (greater_than, less_than) {
        if gt >= lt {
            return fault(
                ErrorKind::InvalidRequest,
                "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
            );
        }
    }
    Ok(())
}

impl Filter {
    fn validate(&self) -> Result<(), RuleError> {
        match self {
            Filter::All => Ok(()),
            Filter::RulePrefix(p) | Filter::Prefix(p) => check_prefix(p),
            Filter::Tag { key, value } => check_tag(key, value),
            Filter::ObjectSizeGreaterThan(n) => check_sizes(Some(*n), None),
            Filter::ObjectSizeLessThan(n) => check_sizes(None, Some(*n)),
            Filter::And(and) => {
                let predicates = usize::from(and.prefix.is_some())
                    + and.tags.len()
                    + usize::from(and.object_size_greater_than.is_some())
                    + usize::from(and.object_size_less_than.is_some());
                if predicates < 2 {
                    return malformed();
                }
                if let Some(p) = &and.prefix {
                    check_prefix(p)?;
                }
                for (key, value) in &and.tags {
                    check_tag(key, value)?;
                }
                check_sizes(and.object_size_greater_than, and.object_size_less_than)
            }
        }
    }

    fn has_tags(&self) -> bool {
        match self {
            Filter::Tag { .. } => true,
            Filter::And(and) => !and.tags.is_empty(),
            _ => false,
        }
    }

    fn has_sizes(&self) -> bool {
        match self {
            Filter::ObjectSizeGreaterThan(_) | Filter::ObjectSizeLessThan(_) => true,
            Filter::And(and) => {
                and.object_size_greater_than.is_some() || and.object_size_less_than.is_some()
            }
            _ => false,
        }
    }

    /// See [`Rule::matches`]. Prefixes compare bytes; size bounds are
    /// exclusive; a tag matches when the object has the key with exactly
    /// the value, whatever its other tags.
    pub fn matches(&self, key: &[u8], size: u64, tags: &BTreeMap<String, String>) -> bool {
        let has_tag = |k: &String, v: &String| tags.get(k) == Some(v);
        match self {
            Filter::All => true,
            Filter::RulePrefix(p) | Filter::Prefix(p) => key.starts_with(p.as_bytes()),
            Filter::Tag { key: k, value: v } => has_tag(k, v),
            Filter::ObjectSizeGreaterThan(n) => size > *n,
            Filter::ObjectSizeLessThan(n) => size < *n,
            Filter::And(and) => {
                and.prefix
                    .as_ref()
                    .is_none_or(|p| key.starts_with(p.as_bytes()))
                    && and.tags.iter().all(|(k, v)| has_tag(k, v))
                    && and.object_size_greater_than.is_none_or(|n| size > n)
                    && and.object_size_less_than.is_none_or(|n| size < n)
            }
        }
    }

    /// The key prefix of the filter, "" when it has none.
    pub fn prefix(&self) -> &str {
        match self {
            Filter::RulePrefix(p) | Filter::Prefix(p) => p,
            Filter::And(and) => and.prefix.as_deref().unwrap_or(""),
            _ => "",
        }
    }
}

/// `since_ns` plus `days` days, rounded up to the next midnight UTC (an
/// instant already at midnight stays): when S3 makes an action due.
/// Saturates at `i64::MAX`, "never".
pub fn due_after_days(since_ns: i64, days: u32) -> i64 {
    due_after_days_with(since_ns, days, NANOS_PER_DAY)
}

/// [`due_after_days`] with days of `day_ns` nanoseconds (at least 1):
/// `since_ns` plus `days` such days, rounded up to a multiple of `day_ns`.
pub fn due_after_days_with(since_ns: i64, days: u32, day_ns: i64) -> i64 {
    let day_ns = day_ns.max(1);
    let t = since_ns.saturating_add(i64::from(days).saturating_mul(day_ns));
    match t.rem_euclid(day_ns) {
        0 => t,
        r => t.saturating_sub(r).saturating_add(day_ns),
    }
}

impl Expiration {
    /// When a current version last modified at `modified_ns` expires;
    /// `None` for the delete-marker action, which has no date.
    pub fn due_ns(&self, modified_ns: i64) -> Option<i64> {
        self.due_ns_with(modified_ns, NANOS_PER_DAY)
    }

    /// [`Expiration::due_ns`] with days of `day_ns` nanoseconds.
    pub fn due_ns_with(&self, modified_ns: i64, day_ns: i64) -> Option<i64> {
        match *self {
            Expiration::Days(days) => Some(due_after_days_with(modified_ns, days, day_ns)),
            Expiration::Date(ns) => Some(ns),
            Expiration::ExpiredObjectDeleteMarker(_) => None,
        }
    }
}

impl NoncurrentVersionExpiration {
    /// When a version that became noncurrent at `noncurrent_since_ns`
    /// (its successor's creation) may expire, `newer_noncurrent_versions`
    /// permitting.
    pub fn due_ns(&self, noncurrent_since_ns: i64) -> i64 {
        self.due_ns_with(noncurrent_since_ns, NANOS_PER_DAY)
    }

    /// [`NoncurrentVersionExpiration::due_ns`] with days of `day_ns` ns.
    pub fn due_ns_with(&self, noncurrent_since_ns: i64, day_ns: i64) -> i64 {
        due_after_days_with(noncurrent_since_ns, self.noncurrent_days, day_ns)
    }
}

impl AbortIncompleteMultipartUpload {
    /// When an upload initiated at `initiated_ns` is aborted.
    pub fn due_ns(&self, initiated_ns: i64) -> i64 {
        self.due_ns_with(initiated_ns, NANOS_PER_DAY)
    }

    /// [`AbortIncompleteMultipartUpload::due_ns`] with days of `day_ns` ns.
    pub fn due_ns_with(&self, initiated_ns: i64, day_ns: i64) -> i64 {
        due_after_days_with(initiated_ns, self.days_after_initiation, day_ns)
    }
}

/// The bucket setting a configuration is stored under.
pub const SETTING: &str = "lifecycle";

/// The stored form of a bucket's configuration: a versioned envelope, so
/// that a later format can decode this one (add `V2`, never change `V1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stored {
    V1(LifecycleConfiguration),
}

/// A stored configuration that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("stored lifecycle configuration does not decode: {0}")]
pub struct DecodeError(String);

/// The bytes stored under [`SETTING`] for `config`.
pub fn encode(config: &LifecycleConfiguration) -> Vec<u8> {
    // A Vec sink cannot fail and every field serialises.
    postcard::to_allocvec(&Stored::V1(config.clone())).unwrap_or_default()
}

/// Reads what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<LifecycleConfiguration, DecodeError> {
    match postcard::from_bytes::<Stored>(bytes) {
        Ok(Stored::V1(config)) => Ok(config),
        Err(e) => Err(DecodeError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = NANOS_PER_DAY;
    /// 2014-01-15T10:30:00Z and friends, as nanoseconds.
    const JAN_15_2014_1030: i64 = (1_389_744_000 + 10 * 3600 + 1800) * 1_000_000_000;
    const JAN_19_2014: i64 = (1_389_744_000 + 4 * 86_400) * 1_000_000_000;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rule_with(filter: Filter) -> Rule {
        Rule {
            id: "r".into(),
            status: RuleStatus::Enabled,
            filter,
            expiration: Some(Expiration::Days(1)),
            noncurrent_version_expiration: None,
            abort_incomplete_multipart_upload: None,
        }
    }

    #[test]
    fn filters_match() {
        let none = tags(&[]);
        let all = rule_with(Filter::All);
        assert!(all.matches(b"anything", 0, &none));
        let prefix = rule_with(Filter::Prefix("logs/".into()));
        assert!(prefix.matches(b"logs/a", 1, &none));
        assert!(!prefix.matches(b"log", 1, &none));
        assert!(prefix.matches(b"logs/\xff\xfe", 1, &none));
        assert_eq!(prefix.prefix(), "logs/");
        let legacy = rule_with(Filter::RulePrefix("a".into()));
        assert!(legacy.matches(b"ab", 0, &none) && !legacy.matches(b"ba", 0, &none));
        let tag = rule_with(Filter::Tag {
            key: "k".into(),
            value: "v".into(),
        });
        assert!(tag.matches(b"x", 0, &tags(&[("k", "v"), ("other", "1")])));
        assert!(!tag.matches(b"x", 0, &tags(&[("k", "V")])));
        assert!(!tag.matches(b"x", 0, &none));
        let empty_value = rule_with(Filter::Tag {
            key: "k".into(),
            value: String::new(),
        });
        assert!(empty_value.matches(b"x", 0, &tags(&[("k", "")])));
        assert!(!empty_value.matches(b"x", 0, &tags(&[("k", "v")])));
        let gt = rule_with(Filter::ObjectSizeGreaterThan(100));
        assert!(!gt.matches(b"x", 100, &none) && gt.matches(b"x", 101, &none));
        let lt = rule_with(Filter::ObjectSizeLessThan(100));
        assert!(lt.matches(b"x", 99, &none) && !lt.matches(b"x", 100, &none));
        let and = rule_with(Filter::And(AndOperator {
            prefix: Some("a/".into()),
            tags: tags(&[("k1", "v1"), ("k2", "v2")]),
            object_size_greater_than: Some(10),
            object_size_less_than: Some(20),
        }));
        let both = tags(&[("k1", "v1"), ("k2", "v2"), ("k3", "x")]);
        assert!(and.matches(b"a/b", 15, &both));
        assert!(!and.matches(b"b/a", 15, &both));
        assert!(!and.matches(b"a/b", 10, &both));
        assert!(!and.matches(b"a/b", 20, &both));
        assert!(!and.matches(b"a/b", 15, &tags(&[("k1", "v1")])));
        assert_eq!(and.prefix(), "a/");
        assert_eq!(rule_with(Filter::All).prefix(), "");
        let disabled = Rule {
            status: RuleStatus::Disabled,
            ..rule_with(Filter::All)
        };
        assert!(!disabled.is_enabled() && all.is_enabled());
    }

    #[test]
    fn actions_fall_due_at_midnight_utc() {
        // The user guide's example: created 1/15/2014 10:30 UTC, 3 days:
        // due 1/19/2014 00:00 UTC.
        assert_eq!(due_after_days(JAN_15_2014_1030, 3), JAN_19_2014);
        let nve = NoncurrentVersionExpiration {
            noncurrent_days: 5,
            newer_noncurrent_versions: None,
        };
        assert_eq!(
            nve.due_ns(JAN_15_2014_1030 - 4 * DAY),
            JAN_19_2014 - 2 * DAY
        );
        assert_eq!(due_after_days(JAN_19_2014, 1), JAN_19_2014 + DAY);
        let date = JAN_19_2014 + 5000 * DAY;
        assert_eq!(Expiration::Date(date).due_ns(0), Some(date));
        assert_eq!(Expiration::Days(1).due_ns(0), Some(DAY));
        assert_eq!(Expiration::ExpiredObjectDeleteMarker(true).due_ns(0), None);
        let abort = AbortIncompleteMultipartUpload {
            days_after_initiation: 7,
        };
        assert_eq!(abort.due_ns(1), 8 * DAY);
        // Beyond the representable range: never (the far end of time).
        assert_eq!(due_after_days(i64::MAX - 5, 10), i64::MAX);
    }

    #[test]
    fn short_days_for_tests_round_to_their_own_midnight() {
        let second = 1_000_000_000;
        assert_eq!(due_after_days_with(2_500_000_000, 1, second), 4 * second);
        assert_eq!(Expiration::Days(2).due_ns_with(0, second), Some(2 * second));
        assert_eq!(due_after_days_with(5, 1, 0), 6, "a zero day counts as 1 ns");
    }

    #[test]
    fn the_model_validates_without_xml() {
        let mut rule = rule_with(Filter::All);
        rule.expiration = Some(Expiration::Days(0));
        let e = LifecycleConfiguration { rules: vec![rule] }
            .validate()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let malformed_and = rule_with(Filter::And(AndOperator {
            prefix: Some(String::new()),
            ..AndOperator::default()
        }));
        assert_eq!(
            malformed_and.validate().unwrap_err().kind,
            ErrorKind::MalformedXml
        );
    }

    #[test]
    fn the_stored_form_round_trips() {
        let config = LifecycleConfiguration {
            rules: vec![rule_with(Filter::Prefix("p".into()))],
        };
        assert_eq!(decode(&encode(&config)).unwrap(), config);
        // `decode` has one error (postcard's refusal): any error is the claim.
        assert!(decode(b"\xff\xff").is_err());
    }
}
