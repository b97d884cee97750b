//! Bucket lifecycle: the `LifecycleConfiguration` body of
//! PutBucketLifecycleConfiguration and GetBucketLifecycleConfiguration (S3
//! API reference: PutBucketLifecycleConfiguration, LifecycleRule,
//! LifecycleRuleFilter, LifecycleRuleAndOperator, LifecycleExpiration,
//! NoncurrentVersionExpiration, AbortIncompleteMultipartUpload, Transition,
//! NoncurrentVersionTransition; user guide: "Lifecycle configuration
//! elements", "Setting lifecycle configuration filters").
//!
//! Two parts:
//! - [`model`]: the typed rules, their validation and the pure functions a
//!   runner needs (does a rule apply to an object, when is an action due).
//!   It depends on `std` and `serde` only, so that it can move to the
//!   cluster's common crate: the lifecycle runner will live on the MDS,
//!   which cannot depend on the gateway;
//! - this module: the XML, read with the gateway's element tree and
//!   written as S3 writes it, and the mapping of the model's faults to S3
//!   errors. On the move, [`parse`] and [`to_xml`] stay here.
//!
//! Rules, as S3 applies them (codes from S3's answers as recorded by SDK,
//! Terraform and test-suite issues where the reference names none):
//! - the root is `LifecycleConfiguration` holding `Rule` elements, 1 to
//!   1,000 (else `InvalidRequest`, the error table's "At least one
//!   lifecycle rule must be specified." / "... must not exceed the allowed
//!   limit of 1000 rules.");
//! - a rule holds `ID` (at most 255 characters, unique among the rules,
//!   else `InvalidArgument`), `Status` (`Enabled` or `Disabled`, else
//!   `MalformedXML`), exactly one of `Filter` or the deprecated rule-level
//!   `Prefix` (neither or both: `MalformedXML`), and at least one action
//!   (else `InvalidRequest` "At least one action needs to be specified in a
//!   rule"). Rules of both forms in one configuration are `InvalidRequest`;
//! - a `Filter` is empty (every object) or holds exactly one of `Prefix`,
//!   `Tag`, `ObjectSizeGreaterThan`, `ObjectSizeLessThan` or `And`; two are
//!   `MalformedXML`. `And` needs two predicates or more (else
//!   `MalformedXML`) and unique tag keys (else `InvalidRequest`
//!   "Duplicate Tag Keys are not allowed."). Sizes are exclusive bounds
//!   within 0 (1 for `ObjectSizeLessThan`) to 1099511627776000, the lower
//!   below the upper, else `InvalidRequest`; prefixes at most 1,024 bytes,
//!   tag keys 1 to 128 and values at most 256 characters, else
//!   `InvalidRequest`. A tag without `Value` matches the empty value;
//! - `Expiration` holds exactly one of `Days` (positive, else
//!   `InvalidArgument` "'Days' for Expiration action must be a positive
//!   integer"), `Date` (ISO 8601 at midnight UTC, else `InvalidArgument`
//!   "'Date' must be at midnight GMT"; unreadable: `MalformedXML`) or
//!   `ExpiredObjectDeleteMarker`; none or two (`Days` with the marker
//!   included) are `MalformedXML`. The marker with a tag or size filter is
//!   `InvalidRequest`;
//! - `NoncurrentVersionExpiration` holds `NoncurrentDays` (required,
//!   positive, else `InvalidArgument`) and optionally
//!   `NewerNoncurrentVersions` (1 to 100, else `InvalidArgument`; not with a
//!   rule-level `Prefix`: `InvalidRequest`);
//! - `AbortIncompleteMultipartUpload` holds `DaysAfterInitiation`
//!   (positive, else `InvalidArgument`); not with a tag or size filter
//!   (`InvalidRequest`: uploads have neither);
//! - a day count beyond an XML `int`, or any value that is not a number,
//!   is `MalformedXML`; so is any element S3 does not define.
//!
//! Refused on purpose: `Transition` and `NoncurrentVersionTransition`
//! answer `NotImplemented` (501). Cairn has one storage class, so there is
//! nowhere to transition to; accepting the rule would promise a cost saving
//! that never happens, and refusing it as invalid (`InvalidArgument`,
//! `InvalidStorageClass`) would tell the client that a valid S3 request is
//! wrong. `NotImplemented` says what is true: the request is fine, this
//! server does not do it.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::signature::time::format_iso8601_ns;

use super::lock::parse_retain_until;
use super::tree::{self, malformed, Element};

pub use model::{
    AbortIncompleteMultipartUpload, AndOperator, ErrorKind, Expiration, Filter,
    LifecycleConfiguration, NoncurrentVersionExpiration, Rule, RuleError, RuleStatus,
};

const ROOT: &str = "LifecycleConfiguration";

/// Parses and validates a PutBucketLifecycleConfiguration body. Rules sent
/// without an `ID` keep an empty one: give them one with
/// [`LifecycleConfiguration::fill_missing_ids`] before storing, as S3 does.
pub fn parse(body: &[u8]) -> S3Result<LifecycleConfiguration> {
    let doc = tree::parse(body, ROOT)?;
    doc.only(&["Rule"])?;
    let rules = doc
        .children
        .iter()
        .map(parse_rule)
        .collect::<S3Result<Vec<Rule>>>()?;
    let config = LifecycleConfiguration { rules };
    config.validate().map_err(to_s3_error)?;
    Ok(config)
}

/// The S3 error for a fault the model found.
pub fn to_s3_error(error: RuleError) -> S3Error {
    let code = match error.kind {
        ErrorKind::MalformedXml => return malformed(),
        ErrorKind::InvalidArgument => ErrorCode::InvalidArgument,
        ErrorKind::InvalidRequest => ErrorCode::InvalidRequest,
    };
    S3Error::with_message(code, error.message)
}

fn parse_rule(el: &Element) -> S3Result<Rule> {
    el.only(&[
        "ID",
        "Status",
        "Filter",
        "Prefix",
        "Expiration",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
        "Transition",
        "NoncurrentVersionTransition",
    ])?;
    if el
        .children
        .iter()
        .any(|c| c.name == "Transition" || c.name == "NoncurrentVersionTransition")
    {
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "Lifecycle transitions are not implemented: this server keeps every object in one storage class.",
        ));
    }
    let id = match el.child("ID")? {
        Some(id) => id.leaf()?.to_string(),
        None => String::new(),
    };
    let status = match el.required("Status")?.leaf()? {
        "Enabled" => RuleStatus::Enabled,
        "Disabled" => RuleStatus::Disabled,
        _ => return Err(malformed()),
    };
    let filter = match (el.child("Filter")?, el.child("Prefix")?) {
        (Some(filter), None) => parse_filter(filter)?,
        (None, Some(prefix)) => Filter::RulePrefix(prefix.leaf()?.to_string()),
        _ => return Err(malformed()),
    };
    Ok(Rule {
        id,
        status,
        filter,
        expiration: el.child("Expiration")?.map(parse_expiration).transpose()?,
        noncurrent_version_expiration: el
            .child("NoncurrentVersionExpiration")?
            .map(parse_noncurrent_expiration)
            .transpose()?,
        abort_incomplete_multipart_upload: el
            .child("AbortIncompleteMultipartUpload")?
            .map(parse_abort)
            .transpose()?,
    })
}

fn parse_filter(el: &Element) -> S3Result<Filter> {
    el.only(&[
        "Prefix",
        "Tag",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
        "And",
    ])?;
    let [predicate] = el.children.as_slice() else {
        return if el.children.is_empty() {
            Ok(Filter::All)
        } else {
            Err(malformed())
        };
    };
    Ok(match predicate.name.as_str() {
        "Prefix" => Filter::Prefix(predicate.leaf()?.to_string()),
        "Tag" => {
            let (key, value) = parse_tag(predicate)?;
            Filter::Tag { key, value }
        }
        "ObjectSizeGreaterThan" => Filter::ObjectSizeGreaterThan(parse_size(predicate)?),
        "ObjectSizeLessThan" => Filter::ObjectSizeLessThan(parse_size(predicate)?),
        _ => Filter::And(parse_and(predicate)?),
    })
}

fn parse_and(el: &Element) -> S3Result<AndOperator> {
    el.only(&[
        "Prefix",
        "Tag",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
    ])?;
    let mut and = AndOperator {
        prefix: el
            .child("Prefix")?
            .map(|p| p.leaf().map(str::to_string))
            .transpose()?,
        object_size_greater_than: el
            .child("ObjectSizeGreaterThan")?
            .map(parse_size)
            .transpose()?,
        object_size_less_than: el
            .child("ObjectSizeLessThan")?
            .map(parse_size)
            .transpose()?,
        ..AndOperator::default()
    };
    for tag in el.children_named("Tag") {
        let (key, value) = parse_tag(tag)?;
        if and.tags.insert(key, value).is_some() {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Duplicate Tag Keys are not allowed.",
            ));
        }
    }
    Ok(and)
}

fn parse_tag(el: &Element) -> S3Result<(String, String)> {
    el.only(&["Key", "Value"])?;
    let key = el.required("Key")?.leaf()?.to_string();
    let value = match el.child("Value")? {
        Some(v) => v.leaf()?.to_string(),
        None => String::new(),
    };
    Ok((key, value))
}

/// A size bound: an XML `long`; a negative one is out of range.
fn parse_size(el: &Element) -> S3Result<u64> {
    u64::try_from(el.integer()?).map_err(|_| {
        let message = if el.name == "ObjectSizeLessThan" {
            "'ObjectSizeLessThan' should be between 1 and 1099511627776000."
        } else {
            "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000."
        };
        S3Error::with_message(ErrorCode::InvalidRequest, message)
    })
}

/// A day count: an XML `int`. A negative count is read as 0, which the
/// model refuses with S3's "must be a positive integer" message.
fn parse_days(el: &Element) -> S3Result<u32> {
    let value = el.integer()?;
    if i32::try_from(value).is_err() {
        return Err(malformed());
    }
    Ok(u32::try_from(value).unwrap_or(0))
}

fn parse_expiration(el: &Element) -> S3Result<Expiration> {
    el.only(&["Days", "Date", "ExpiredObjectDeleteMarker"])?;
    let [action] = el.children.as_slice() else {
        return Err(malformed());
    };
    Ok(match action.name.as_str() {
        "Days" => Expiration::Days(parse_days(action)?),
        "Date" => Expiration::Date(parse_retain_until(action.leaf()?).ok_or_else(malformed)?),
        _ => Expiration::ExpiredObjectDeleteMarker(action.boolean()?),
    })
}

fn parse_noncurrent_expiration(el: &Element) -> S3Result<NoncurrentVersionExpiration> {
    el.only(&["NoncurrentDays", "NewerNoncurrentVersions"])?;
    Ok(NoncurrentVersionExpiration {
        noncurrent_days: parse_days(el.required("NoncurrentDays")?)?,
        newer_noncurrent_versions: el
            .child("NewerNoncurrentVersions")?
            .map(parse_days)
            .transpose()?,
    })
}

fn parse_abort(el: &Element) -> S3Result<AbortIncompleteMultipartUpload> {
    el.only(&["DaysAfterInitiation"])?;
    Ok(AbortIncompleteMultipartUpload {
        days_after_initiation: parse_days(el.required("DaysAfterInitiation")?)?,
    })
}

/// The GetBucketLifecycleConfiguration document: each rule as `ID`, the
/// filter (or rule-level `Prefix`) as sent, `Status`, then its actions.
pub fn to_xml(config: &LifecycleConfiguration) -> String {
    let mut out = String::with_capacity(256 + 256 * config.rules.len());
    tree::open_root(&mut out, ROOT);
    for rule in &config.rules {
        out.push_str("<Rule>");
        if !rule.id.is_empty() {
            tree::push_leaf(&mut out, "ID", &rule.id);
        }
        write_filter(&mut out, &rule.filter);
        tree::push_leaf(&mut out, "Status", rule.status.as_str());
        if let Some(expiration) = &rule.expiration {
            out.push_str("<Expiration>");
            match expiration {
                Expiration::Days(days) => tree::push_leaf(&mut out, "Days", &days.to_string()),
                Expiration::Date(ns) => tree::push_leaf(&mut out, "Date", &format_iso8601_ns(*ns)),
                Expiration::ExpiredObjectDeleteMarker(on) => {
                    tree::push_leaf(&mut out, "ExpiredObjectDeleteMarker", &on.to_string())
                }
            }
            out.push_str("</Expiration>");
        }
        if let Some(nve) = &rule.noncurrent_version_expiration {
            out.push_str("<NoncurrentVersionExpiration>");
            tree::push_leaf(&mut out, "NoncurrentDays", &nve.noncurrent_days.to_string());
            if let Some(newer) = nve.newer_noncurrent_versions {
                tree::push_leaf(&mut out, "NewerNoncurrentVersions", &newer.to_string());
            }
            out.push_str("</NoncurrentVersionExpiration>");
        }
        if let Some(abort) = &rule.abort_incomplete_multipart_upload {
            out.push_str("<AbortIncompleteMultipartUpload>");
            tree::push_leaf(
                &mut out,
                "DaysAfterInitiation",
                &abort.days_after_initiation.to_string(),
            );
            out.push_str("</AbortIncompleteMultipartUpload>");
        }
        out.push_str("</Rule>");
    }
    tree::push_close(&mut out, ROOT);
    out
}

fn write_tag(out: &mut String, key: &str, value: &str) {
    out.push_str("<Tag>");
    tree::push_leaf(out, "Key", key);
    tree::push_leaf(out, "Value", value);
    out.push_str("</Tag>");
}

fn write_filter(out: &mut String, filter: &Filter) {
    if let Filter::RulePrefix(prefix) = filter {
        tree::push_leaf(out, "Prefix", prefix);
        return;
    }
    out.push_str("<Filter>");
    match filter {
        Filter::RulePrefix(_) | Filter::All => {}
        Filter::Prefix(prefix) => tree::push_leaf(out, "Prefix", prefix),
        Filter::Tag { key, value } => write_tag(out, key, value),
        Filter::ObjectSizeGreaterThan(n) => {
            tree::push_leaf(out, "ObjectSizeGreaterThan", &n.to_string())
        }
        Filter::ObjectSizeLessThan(n) => tree::push_leaf(out, "ObjectSizeLessThan", &n.to_string()),
        Filter::And(and) => {
            out.push_str("<And>");
            if let Some(prefix) = &and.prefix {
                tree::push_leaf(out, "Prefix", prefix);
            }
            for (key, value) in &and.tags {
                write_tag(out, key, value);
            }
            if let Some(n) = and.object_size_greater_than {
                tree::push_leaf(out, "ObjectSizeGreaterThan", &n.to_string());
            }
            if let Some(n) = and.object_size_less_than {
                tree::push_leaf(out, "ObjectSizeLessThan", &n.to_string());
            }
            out.push_str("</And>");
        }
    }
    out.push_str("</Filter>");
}

pub mod model {
    //! The lifecycle rule model: typed rules, their validation, and the
    //! pure functions a lifecycle runner needs.
    //!
    //! Self-contained on purpose: `std` and `serde` only, no gateway type,
    //! so that this module can move unchanged to the cluster's common crate
    //! and the MDS's runner can apply exactly the rules the gateway
    //! accepted. Faults are [`RuleError`]s, a kind and S3's message; the
    //! gateway turns them into S3 errors.
    //!
    //! Instants are nanoseconds since the Unix epoch (UTC). S3's timing
    //! rule (user guide, "Lifecycle configuration elements"): an action
    //! due N days after an instant is due at that instant plus N days,
    //! rounded up to the next midnight UTC ([`due_after_days`]).

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

    const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

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
        let t = since_ns.saturating_add(i64::from(days).saturating_mul(NANOS_PER_DAY));
        match t.rem_euclid(NANOS_PER_DAY) {
            0 => t,
            r => t.saturating_sub(r).saturating_add(NANOS_PER_DAY),
        }
    }

    impl Expiration {
        /// When a current version last modified at `modified_ns` expires;
        /// `None` for the delete-marker action, which has no date.
        pub fn due_ns(&self, modified_ns: i64) -> Option<i64> {
            match *self {
                Expiration::Days(days) => Some(due_after_days(modified_ns, days)),
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
            due_after_days(noncurrent_since_ns, self.noncurrent_days)
        }
    }

    impl AbortIncompleteMultipartUpload {
        /// When an upload initiated at `initiated_ns` is aborted.
        pub fn due_ns(&self, initiated_ns: i64) -> i64 {
            due_after_days(initiated_ns, self.days_after_initiation)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::model::due_after_days;
    use super::*;

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn ns(text: &str) -> i64 {
        parse_retain_until(text).unwrap()
    }

    fn config(rules: &str) -> String {
        format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>")
    }

    /// A rule with `filter` (the whole filter element, or a rule-level
    /// prefix) and `actions`.
    fn rule(filter: &str, actions: &str) -> String {
        format!("<Rule><ID>r</ID>{filter}<Status>Enabled</Status>{actions}</Rule>")
    }

    const EXPIRE: &str = "<Expiration><Days>1</Days></Expiration>";

    fn err(body: &str) -> S3Error {
        parse(body.as_bytes()).unwrap_err()
    }

    fn code(body: &str) -> ErrorCode {
        err(body).code
    }

    fn one(filter: &str, actions: &str) -> ErrorCode {
        code(&config(&rule(filter, actions)))
    }

    #[test]
    fn every_form_round_trips() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule>
    <ID>logs</ID>
    <Filter><Prefix>logs/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>365</Days></Expiration>
    <NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration>
    <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>
  </Rule>
  <Rule><ID>all</ID><Filter/><Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>
  <Rule><ID>tag</ID><Filter><Tag><Key>class</Key><Value>tmp &amp; old</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>
  <Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1048576</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>
  <Rule><ID>small</ID><Filter><ObjectSizeLessThan>1</ObjectSizeLessThan></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule>
  <Rule><ID>and</ID><Filter><And><Prefix>a/</Prefix><Tag><Key>k1</Key><Value>v1</Value></Tag><Tag><Key>k2</Key></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>20</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>4</Days></Expiration></Rule>
  <Rule><ID>markers</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>
</LifecycleConfiguration>"#;
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.rules.len(), 7);
        assert_eq!(
            parsed.rules[1].expiration,
            Some(Expiration::Date(ns("2030-01-01T00:00:00Z")))
        );
        assert_eq!(
            parsed.rules[2].filter,
            Filter::Tag {
                key: "class".into(),
                value: "tmp & old".into()
            }
        );
        let Filter::And(and) = &parsed.rules[5].filter else {
            panic!("{:?}", parsed.rules[5].filter);
        };
        assert_eq!(and.tags.get("k2").map(String::as_str), Some(""));
        let xml = to_xml(&parsed);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>365</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"), "{xml}");
        assert!(xml.contains("<Filter></Filter><Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>"), "{xml}");
        assert!(xml.contains("<Value>tmp &amp; old</Value>"), "{xml}");
        assert_eq!(parse(xml.as_bytes()).unwrap(), parsed);
    }

    #[test]
    fn legacy_rule_prefix_round_trips() {
        let body = config(&format!(
            "{}{}",
            rule("<Prefix>projectdocs/</Prefix>", EXPIRE),
            "<Rule><ID>b</ID><Prefix></Prefix><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
        ));
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(
            parsed.rules[0].filter,
            Filter::RulePrefix("projectdocs/".into())
        );
        let xml = to_xml(&parsed);
        assert!(
            xml.contains("<Rule><ID>r</ID><Prefix>projectdocs/</Prefix><Status>Enabled</Status>"),
            "{xml}"
        );
        assert!(!xml.contains("<Filter>"));
        assert_eq!(parse(xml.as_bytes()).unwrap(), parsed);
    }

    #[test]
    fn rule_ids_are_optional_unique_and_filled() {
        let body = config(&format!(
            "<Rule><Filter/><Status>Enabled</Status>{EXPIRE}</Rule><Rule><ID></ID><Filter/><Status>Enabled</Status>{EXPIRE}</Rule>{}",
            rule("<Filter/>", EXPIRE)
        ));
        let mut parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.rules[0].id, "");
        let mut next = ["r", "", "x", "y"].into_iter().map(String::from);
        parsed.fill_missing_ids(|| next.next().unwrap_or_default());
        let ids: Vec<&str> = parsed.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "r"]);
        assert!(parsed.validate().is_ok());
        let xml = to_xml(&parsed);
        assert!(xml.contains("<Rule><ID>x</ID>"));

        let dup = config(&format!(
            "{}{}",
            rule("<Filter/>", EXPIRE),
            rule("<Filter/>", EXPIRE)
        ));
        let e = err(&dup);
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(
            e.message,
            "Rule ID must be unique. Found same ID for more than one rule"
        );
        let long = config(&format!(
            "<Rule><ID>{}</ID><Filter/><Status>Enabled</Status>{EXPIRE}</Rule>",
            "i".repeat(256)
        ));
        assert_eq!(code(&long), ErrorCode::InvalidArgument);
        let ok = config(&format!(
            "<Rule><ID>{}</ID><Filter/><Status>Enabled</Status>{EXPIRE}</Rule>",
            "\u{e9}".repeat(255)
        ));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn rule_counts() {
        assert_eq!(code(&config("")), ErrorCode::InvalidRequest);
        let rules: String = (0..1000)
            .map(|i| format!("<Rule><ID>{i}</ID><Filter/><Status>Enabled</Status>{EXPIRE}</Rule>"))
            .collect();
        assert_eq!(parse(config(&rules).as_bytes()).unwrap().rules.len(), 1000);
        let more = format!("{rules}<Rule><Filter/><Status>Enabled</Status>{EXPIRE}</Rule>");
        let e = err(&config(&more));
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("1000"), "{}", e.message);
    }

    #[test]
    fn structural_faults_are_malformed() {
        let cases = [
            config(&format!("<Rule><ID>r</ID><Filter/>{EXPIRE}</Rule>")),
            config(&rule("<Filter/>", EXPIRE).replace("Enabled", "enabled")),
            config(&rule("", EXPIRE)),
            config(&rule("<Filter/><Prefix>a</Prefix>", EXPIRE)),
            config(&rule("<Filter/><Filter/>", EXPIRE)),
            config(&rule("<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", EXPIRE)),
            config(&rule("<Filter><Prefix>a</Prefix><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></Filter>", EXPIRE)),
            config(&rule("<Filter><Prefix>a</Prefix><And><Prefix>a</Prefix><ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter>", EXPIRE)),
            config(&rule("<Filter><And><Prefix>a</Prefix></And></Filter>", EXPIRE)),
            config(&rule("<Filter><And><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>", EXPIRE)),
            config(&rule("<Filter><And/></Filter>", EXPIRE)),
            config(&rule("<Filter><Other/></Filter>", EXPIRE)),
            config(&rule("<Filter><Tag><Value>v</Value></Tag></Filter>", EXPIRE)),
            config(&rule("<Filter><Tag><Key></Key><Value>v</Value></Tag></Filter>", EXPIRE)),
            config(&rule("<Filter/>", "<Expiration/>")),
            config(&rule("<Filter/>", "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")),
            config(&rule("<Filter/>", "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
            config(&rule("<Filter/>", "<Expiration><Date>Fri, 01 Jan 2016 00:00:00 GMT</Date></Expiration>")),
            config(&rule("<Filter/>", "<Expiration><Days>2147483648</Days></Expiration>")),
            config(&rule("<Filter/>", "<Expiration><Days>one</Days></Expiration>")),
            config(&rule("<Filter/>", "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>")),
            config(&rule("<Filter/>", "<NoncurrentVersionExpiration/>")),
            config(&rule("<Filter/>", "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>")),
            config(&rule("<Filter/>", "<AbortIncompleteMultipartUpload/>")),
            config(&rule("<Filter/>", &format!("{EXPIRE}{EXPIRE}"))),
            config(&rule("<Filter/>", &format!("{EXPIRE}<Unknown/>"))),
            "<LifeCycleConfiguration><Rule/></LifeCycleConfiguration>".to_string(),
            "<LifecycleConfiguration><Other/></LifecycleConfiguration>".to_string(),
        ];
        for body in cases {
            assert_eq!(code(&body), ErrorCode::MalformedXML, "{body}");
        }
    }

    #[test]
    fn bad_values_are_invalid_argument() {
        for (actions, message) in [
            ("<Expiration><Days>0</Days></Expiration>", "'Days' for Expiration action must be a positive integer"),
            ("<Expiration><Days>-1</Days></Expiration>", "'Days' for Expiration action must be a positive integer"),
            ("<Expiration><Date>2030-01-01T00:00:01Z</Date></Expiration>", "'Date' must be at midnight GMT"),
            ("<Expiration><Date>2030-01-01T00:00:00.500Z</Date></Expiration>", "'Date' must be at midnight GMT"),
            ("<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"),
            ("<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"),
        ] {
            let e = err(&config(&rule("<Filter/>", actions)));
            assert_eq!((e.code, &*e.message), (ErrorCode::InvalidArgument, message), "{actions}");
        }
        for newer in ["0", "101"] {
            let actions = format!("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>{newer}</NewerNoncurrentVersions></NoncurrentVersionExpiration>");
            assert_eq!(
                one("<Filter/>", &actions),
                ErrorCode::InvalidArgument,
                "{newer}"
            );
        }
        let hundred = "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>100</NewerNoncurrentVersions></NoncurrentVersionExpiration>";
        assert!(parse(config(&rule("<Filter/>", hundred)).as_bytes()).is_ok());
    }

    #[test]
    fn combinations_s3_refuses_are_invalid_request() {
        let tag = "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>";
        let size = "<Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter>";
        let marker =
            "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>";
        let abort = "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>";
        let newer = "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>";
        for (filter, actions, message) in [
            ("<Filter/>", "", "At least one action needs to be specified in a rule"),
            (tag, abort, "AbortIncompleteMultipartUpload cannot be specified with Tags."),
            (size, abort, "AbortIncompleteMultipartUpload cannot be specified with Object Size."),
            (tag, marker, "ExpiredObjectDeleteMarker cannot be specified with Tags."),
            (size, marker, "ExpiredObjectDeleteMarker cannot be specified with Object Size."),
            ("<Prefix>a</Prefix>", newer, "NewerNoncurrentVersions element can only be used in Lifecycle V2."),
            ("<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter>", EXPIRE, "Duplicate Tag Keys are not allowed."),
            ("<Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>", EXPIRE, "'ObjectSizeLessThan' should be between 1 and 1099511627776000."),
            ("<Filter><ObjectSizeLessThan>-3</ObjectSizeLessThan></Filter>", EXPIRE, "'ObjectSizeLessThan' should be between 1 and 1099511627776000."),
            ("<Filter><ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan></Filter>", EXPIRE, "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000."),
            ("<Filter><ObjectSizeGreaterThan>1099511627776001</ObjectSizeGreaterThan></Filter>", EXPIRE, "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000."),
            ("<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter>", EXPIRE, "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."),
        ] {
            let e = err(&config(&rule(filter, actions)));
            assert_eq!((e.code, &*e.message), (ErrorCode::InvalidRequest, message), "{filter} {actions}");
        }
        let long_prefix = format!("<Filter><Prefix>{}</Prefix></Filter>", "p".repeat(1025));
        assert_eq!(one(&long_prefix, EXPIRE), ErrorCode::InvalidRequest);
        let max_prefix = format!("<Prefix>{}</Prefix>", "p".repeat(1024));
        assert!(parse(config(&rule(&max_prefix, EXPIRE)).as_bytes()).is_ok());
        let long_key = format!(
            "<Filter><Tag><Key>{}</Key><Value>v</Value></Tag></Filter>",
            "k".repeat(129)
        );
        assert_eq!(one(&long_key, EXPIRE), ErrorCode::InvalidRequest);
        let long_value = format!(
            "<Filter><Tag><Key>k</Key><Value>{}</Value></Tag></Filter>",
            "v".repeat(257)
        );
        assert_eq!(one(&long_value, EXPIRE), ErrorCode::InvalidRequest);
        // A size filter with a plain expiration, an empty-prefix And with one
        // other predicate: both accepted.
        assert!(parse(config(&rule(size, EXPIRE)).as_bytes()).is_ok());
        let and = "<Filter><And><Prefix></Prefix><ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter>";
        assert!(parse(config(&rule(and, abort)).as_bytes()).is_err());
        assert!(parse(config(&rule(and, EXPIRE)).as_bytes()).is_ok());
    }

    #[test]
    fn mixing_v1_and_v2_rules_is_invalid_request() {
        let v1 = "<Rule><ID>a</ID><Prefix>a</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>";
        let v2 = "<Rule><ID>b</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>";
        let e = err(&config(&format!("{v1}{v2}")));
        assert_eq!(
            (e.code, &*e.message),
            (
                ErrorCode::InvalidRequest,
                "Filter element can only be used in Lifecycle V2."
            )
        );
        let e = err(&config(&format!("{v2}{v1}")));
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.starts_with("Base level prefix"));
    }

    #[test]
    fn transitions_are_not_implemented() {
        for actions in [
            "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
            "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><StorageClass>STANDARD_IA</StorageClass></NoncurrentVersionTransition>",
            "<Expiration><Days>365</Days></Expiration><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
        ] {
            let e = err(&config(&rule("<Filter/>", actions)));
            assert_eq!(e.code, ErrorCode::NotImplemented, "{actions}");
            assert_eq!(e.status(), http::StatusCode::NOT_IMPLEMENTED);
        }
    }

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
        assert_eq!(
            due_after_days(ns("2014-01-15T10:30:00Z"), 3),
            ns("2014-01-19T00:00:00Z")
        );
        // Noncurrent since 1/2/2014 11:30, 5 days: 1/8/2014 00:00.
        let nve = NoncurrentVersionExpiration {
            noncurrent_days: 5,
            newer_noncurrent_versions: None,
        };
        assert_eq!(
            nve.due_ns(ns("2014-01-02T11:30:00Z")),
            ns("2014-01-08T00:00:00Z")
        );
        assert_eq!(
            due_after_days(ns("2014-01-02T00:00:00Z"), 1),
            ns("2014-01-03T00:00:00Z")
        );
        let date = ns("2030-01-01T00:00:00Z");
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
    fn the_model_validates_without_xml() {
        let mut rule = rule_with(Filter::All);
        rule.expiration = Some(Expiration::Days(0));
        let e = LifecycleConfiguration { rules: vec![rule] }
            .validate()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(to_s3_error(e).code, ErrorCode::InvalidArgument);
        let malformed_and = rule_with(Filter::And(AndOperator {
            prefix: Some(String::new()),
            ..AndOperator::default()
        }));
        let e = malformed_and.validate().unwrap_err();
        assert_eq!(to_s3_error(e).code, ErrorCode::MalformedXML);
        // Serialisable, for the MDS to store as it is.
        let config = LifecycleConfiguration {
            rules: vec![rule_with(Filter::Prefix("p".into()))],
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<LifecycleConfiguration>(&json).unwrap(),
            config
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        for input in [
            &b"<LifecycleConfiguration><Rule><Filter><And><And/></And></Filter></Rule></LifecycleConfiguration>"[..],
            b"<LifecycleConfiguration><Rule><Expiration><Date>9999-12-31T23:59:59.999999999Z</Date></Expiration></Rule></LifecycleConfiguration>",
            b"<LifecycleConfiguration><Rule><Expiration><Days>-9223372036854775808</Days></Expiration></Rule></LifecycleConfiguration>",
            b"<LifecycleConfiguration>",
        ] {
            let _ = parse(input);
        }
    }
}
