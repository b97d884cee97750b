//! Object Lock: the bucket's `ObjectLockConfiguration`, an object version's
//! `Retention` and `LegalHold`, and the `x-amz-object-lock-*` headers of
//! PutObject, CopyObject and CreateMultipartUpload (S3 API reference:
//! PutObjectLockConfiguration, ObjectLockConfiguration, ObjectLockRule,
//! DefaultRetention, PutObjectRetention, ObjectLockRetention,
//! PutObjectLegalHold, ObjectLockLegalHold, PutObject; user guide: "Locking
//! objects with Object Lock").
//!
//! Rules, as S3 applies them:
//! - `ObjectLockConfiguration` holds `ObjectLockEnabled`, which must be
//!   `Enabled`, and an optional `Rule/DefaultRetention` with a `Mode`
//!   (`GOVERNANCE` or `COMPLIANCE`) and exactly one of `Days` or `Years`.
//!   Any other element or value, both periods or neither, is `MalformedXML`
//!   (S3 answers both periods that way);
//! - a period of 0 or less is `InvalidArgument` "Default retention period
//!   must be a positive integer value." naming the element in
//!   `<ArgumentName>` (S3's answer to `Days` 0); a period longer than 100
//!   years (36,500 days) is `InvalidRetentionPeriod`; one beyond an XML
//!   `int` is `MalformedXML`;
//! - `Retention` holds `Mode` and `RetainUntilDate` together, or neither
//!   (the empty document removes a governance-mode retention, with
//!   `x-amz-bypass-governance-retention`); one without the other, a bad
//!   mode or a date that does not parse is `MalformedXML`;
//! - `LegalHold` holds `Status`, `ON` or `OFF`; anything else is
//!   `MalformedXML`;
//! - the headers: a mode without a date or a date without a mode is
//!   `InvalidArgument` "x-amz-object-lock-retain-until-date and
//!   x-amz-object-lock-mode must both be supplied"; an unknown mode
//!   "Unknown wormMode directive."; a date not in the future "The retain
//!   until date must be in the future!" with `<ArgumentName>` and
//!   `<ArgumentValue>`; a legal hold other than `ON`/`OFF` "Legal Hold must
//!   be either of 'ON' or 'OFF'". All `InvalidArgument`, as S3 answers.
//!
//! Dates are ISO 8601 in UTC, `2030-01-01T00:00:00Z`, optionally with a
//! fraction of a second, read with the gateway's one ISO 8601 parser
//! (`signature::time`); S3 writes them with milliseconds,
//! `2030-01-01T00:00:00.000Z`. Instants are nanoseconds since the Unix
//! epoch, as everywhere in Cairn.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{MAX_RETENTION_DAYS, MAX_RETENTION_YEARS};
use crate::signature::time::{format_iso8601_ns, parse_iso8601};

use super::tree::{self, malformed, Element};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// `x-amz-object-lock-mode`.
pub const MODE_HEADER: &str = "x-amz-object-lock-mode";
/// `x-amz-object-lock-retain-until-date`.
pub const RETAIN_UNTIL_HEADER: &str = "x-amz-object-lock-retain-until-date";
/// `x-amz-object-lock-legal-hold`.
pub const LEGAL_HOLD_HEADER: &str = "x-amz-object-lock-legal-hold";

/// How strictly a retention binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionMode {
    /// Users with `s3:BypassGovernanceRetention` may shorten or remove it.
    Governance,
    /// No one may shorten or remove it before it ends.
    Compliance,
}

impl RetentionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    /// The exact S3 spelling, upper case.
    pub fn from_s3(text: &str) -> Option<RetentionMode> {
        match text {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }
}

/// The length of a bucket's default retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

/// The retention a new object version gets when its request names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: RetentionPeriod,
}

impl DefaultRetention {
    /// The retention of a version created at `now_ns`.
    pub fn retention_at(&self, now_ns: i64) -> Retention {
        Retention {
            mode: self.mode,
            retain_until_ns: self.retain_until_ns(now_ns),
        }
    }

    /// When a version created at `now_ns` stops being retained. Days are
    /// 24 hours; years are calendar years (the same day and time, 29
    /// February becoming 1 March), never shorter than `years` × 365 days.
    pub fn retain_until_ns(&self, now_ns: i64) -> i64 {
        match self.period {
            RetentionPeriod::Days(days) => {
                now_ns.saturating_add(i64::from(days).saturating_mul(NANOS_PER_DAY))
            }
            RetentionPeriod::Years(years) => add_years(now_ns, years).unwrap_or_else(|| {
                // Outside the four-digit years: err on the long side.
                now_ns.saturating_add(i64::from(years).saturating_mul(366 * NANOS_PER_DAY))
            }),
        }
    }
}

/// `now_ns` moved `years` calendar years on, through the gateway's date
/// formatter and parser.
fn add_years(now_ns: i64, years: u32) -> Option<i64> {
    let text = format_iso8601_ns(now_ns);
    let year: i64 = text.get(..4)?.parse().ok()?;
    let rest = text.get(4..)?;
    let target = year.checked_add(i64::from(years))?;
    if !(0..=9999).contains(&target) {
        return None;
    }
    let leap = (target % 4 == 0 && target % 100 != 0) || target % 400 == 0;
    let rest = match rest.strip_prefix("-02-29") {
        Some(time) if !leap => format!("-03-01{time}"),
        _ => rest.to_string(),
    };
    let secs = parse_iso8601(&format!("{target:04}{rest}"))?;
    secs.checked_mul(NANOS_PER_SEC)?
        .checked_add(now_ns.rem_euclid(NANOS_PER_SEC))
}

/// A bucket's Object Lock configuration. `ObjectLockEnabled` is always
/// `Enabled` (it cannot be turned off), so only the default retention
/// varies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectLockConfiguration {
    pub default_retention: Option<DefaultRetention>,
}

const LOCK_ROOT: &str = "ObjectLockConfiguration";

impl ObjectLockConfiguration {
    /// Parses and validates a PutObjectLockConfiguration body.
    pub fn parse(body: &[u8]) -> S3Result<ObjectLockConfiguration> {
        let doc = tree::parse(body, LOCK_ROOT)?;
        doc.only(&["ObjectLockEnabled", "Rule"])?;
        if doc.required("ObjectLockEnabled")?.leaf()? != "Enabled" {
            return Err(malformed());
        }
        let default_retention = match doc.child("Rule")? {
            None => None,
            Some(rule) => {
                rule.only(&["DefaultRetention"])?;
                Some(parse_default_retention(rule.required("DefaultRetention")?)?)
            }
        };
        Ok(ObjectLockConfiguration { default_retention })
    }

    /// The GetObjectLockConfiguration document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        tree::open_root(&mut out, LOCK_ROOT);
        tree::push_leaf(&mut out, "ObjectLockEnabled", "Enabled");
        if let Some(default) = &self.default_retention {
            out.push_str("<Rule><DefaultRetention>");
            tree::push_leaf(&mut out, "Mode", default.mode.as_str());
            match default.period {
                RetentionPeriod::Days(d) => tree::push_leaf(&mut out, "Days", &d.to_string()),
                RetentionPeriod::Years(y) => tree::push_leaf(&mut out, "Years", &y.to_string()),
            }
            out.push_str("</DefaultRetention></Rule>");
        }
        tree::push_close(&mut out, LOCK_ROOT);
        out
    }
}

fn parse_default_retention(el: &Element) -> S3Result<DefaultRetention> {
    el.only(&["Mode", "Days", "Years"])?;
    let mode = RetentionMode::from_s3(el.required("Mode")?.leaf()?).ok_or_else(malformed)?;
    let period = match (el.child("Days")?, el.child("Years")?) {
        (Some(days), None) => {
            RetentionPeriod::Days(period_value(days, "Days", MAX_RETENTION_DAYS)?)
        }
        (None, Some(years)) => {
            RetentionPeriod::Years(period_value(years, "Years", MAX_RETENTION_YEARS)?)
        }
        _ => return Err(malformed()),
    };
    Ok(DefaultRetention { mode, period })
}

fn period_value(el: &Element, name: &'static str, max: u32) -> S3Result<u32> {
    let value = el.integer()?;
    // The schema's type is `int`.
    if i32::try_from(value).is_err() {
        return Err(malformed());
    }
    if value <= 0 {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Default retention period must be a positive integer value.",
        )
        .extra("ArgumentName", name));
    }
    match u32::try_from(value) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(S3Error::with_message(
            ErrorCode::InvalidRetentionPeriod,
            "Default retention period is longer than 100 years.",
        )
        .extra("ArgumentName", name)),
    }
}

/// An object version's retention: kept until `retain_until_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: RetentionMode,
    pub retain_until_ns: i64,
}

const RETENTION_ROOT: &str = "Retention";

impl Retention {
    /// Parses a PutObjectRetention body. `None` is the empty document: the
    /// request to remove the version's retention.
    pub fn parse(body: &[u8]) -> S3Result<Option<Retention>> {
        let doc = tree::parse(body, RETENTION_ROOT)?;
        doc.only(&["Mode", "RetainUntilDate"])?;
        match (doc.child("Mode")?, doc.child("RetainUntilDate")?) {
            (None, None) => Ok(None),
            (Some(mode), Some(date)) => Ok(Some(Retention {
                mode: RetentionMode::from_s3(mode.leaf()?).ok_or_else(malformed)?,
                retain_until_ns: parse_retain_until(date.leaf()?).ok_or_else(malformed)?,
            })),
            _ => Err(malformed()),
        }
    }

    /// Refuses a retention that ends at or before `now_ns`, as S3 does for
    /// a new retention.
    pub fn check_in_future(&self, now_ns: i64) -> S3Result<()> {
        if self.retain_until_ns > now_ns {
            Ok(())
        } else {
            Err(past_date(
                "RetainUntilDate",
                format_retain_until(self.retain_until_ns),
            ))
        }
    }

    /// The GetObjectRetention document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(192);
        tree::open_root(&mut out, RETENTION_ROOT);
        tree::push_leaf(&mut out, "Mode", self.mode.as_str());
        tree::push_leaf(
            &mut out,
            "RetainUntilDate",
            &format_retain_until(self.retain_until_ns),
        );
        tree::push_close(&mut out, RETENTION_ROOT);
        out
    }
}

fn past_date(argument: &'static str, value: String) -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidArgument,
        "The retain until date must be in the future!",
    )
    .extra("ArgumentName", argument)
    .extra("ArgumentValue", value)
}

/// Whether an object version is under legal hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegalHoldStatus {
    On,
    Off,
}

impl LegalHoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LegalHoldStatus::On => "ON",
            LegalHoldStatus::Off => "OFF",
        }
    }

    pub fn from_s3(text: &str) -> Option<LegalHoldStatus> {
        match text {
            "ON" => Some(LegalHoldStatus::On),
            "OFF" => Some(LegalHoldStatus::Off),
            _ => None,
        }
    }
}

/// The body of PutObjectLegalHold and GetObjectLegalHold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegalHold {
    pub status: LegalHoldStatus,
}

const LEGAL_HOLD_ROOT: &str = "LegalHold";

impl LegalHold {
    /// Parses a PutObjectLegalHold body.
    pub fn parse(body: &[u8]) -> S3Result<LegalHold> {
        let doc = tree::parse(body, LEGAL_HOLD_ROOT)?;
        doc.only(&["Status"])?;
        let status = LegalHoldStatus::from_s3(doc.required("Status")?.leaf()?);
        Ok(LegalHold {
            status: status.ok_or_else(malformed)?,
        })
    }

    /// The GetObjectLegalHold document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128);
        tree::open_root(&mut out, LEGAL_HOLD_ROOT);
        tree::push_leaf(&mut out, "Status", self.status.as_str());
        tree::push_close(&mut out, LEGAL_HOLD_ROOT);
        out
    }
}

/// Parses `2030-01-01T00:00:00Z` or `2030-01-01T00:00:00.123Z` (up to nine
/// fraction digits) into nanoseconds since the epoch, kept to the
/// millisecond as S3 keeps and shows them (so what is stored is what a GET
/// answers).
pub fn parse_retain_until(text: &str) -> Option<i64> {
    let secs = parse_iso8601(text)?;
    // parse_iso8601 has checked the shape; it drops the fraction, read here.
    let nanos = match text.rsplit_once('.') {
        Some((_, frac)) => {
            let digits = frac.strip_suffix('Z')?;
            let value: i64 = digits.parse().ok()?;
            let scale = 10_i64.checked_pow(9 - u32::try_from(digits.len()).ok()?)?;
            let nanos = value * scale;
            nanos - nanos % 1_000_000
        }
        None => 0,
    };
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)
}

/// Formats an instant as S3 writes retain-until dates,
/// `2030-01-01T00:00:00.000Z`.
pub fn format_retain_until(unix_ns: i64) -> String {
    format_iso8601_ns(unix_ns)
}

/// What the Object Lock headers of a write ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectLockRequest {
    pub retention: Option<Retention>,
    pub legal_hold: Option<LegalHoldStatus>,
}

/// Reads `x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date`
/// and `x-amz-object-lock-legal-hold`. `None` when none is present (the
/// bucket's default retention then applies, if any). Whether the bucket has
/// Object Lock at all is the caller's check
/// ([`bucket_missing_lock_configuration`]).
pub fn parse_lock_headers(headers: &HeaderMap, now_ns: i64) -> S3Result<Option<ObjectLockRequest>> {
    let invalid =
        |message: &'static str| S3Error::with_message(ErrorCode::InvalidArgument, message);
    let text = |name: &'static str| -> S3Result<Option<&str>> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map_err(|_| {
                    invalid("Object Lock headers must be ASCII.").extra("ArgumentName", name)
                })
            })
            .transpose()
    };
    let mode = text(MODE_HEADER)?;
    let until = text(RETAIN_UNTIL_HEADER)?;
    let hold = text(LEGAL_HOLD_HEADER)?;
    if mode.is_none() && until.is_none() && hold.is_none() {
        return Ok(None);
    }
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(mode), Some(until)) => {
            let mode = RetentionMode::from_s3(mode)
                .ok_or_else(|| invalid("Unknown wormMode directive."))?;
            let retain_until_ns = parse_retain_until(until).ok_or_else(|| {
                invalid("The retain until date must be provided in ISO 8601 format.")
                    .extra("ArgumentName", RETAIN_UNTIL_HEADER)
                    .extra("ArgumentValue", until)
            })?;
            if retain_until_ns <= now_ns {
                return Err(past_date(RETAIN_UNTIL_HEADER, until.to_string()));
            }
            Some(Retention {
                mode,
                retain_until_ns,
            })
        }
        _ => return Err(invalid(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )),
    };
    let legal_hold = match hold {
        None => None,
        Some(hold) => Some(
            LegalHoldStatus::from_s3(hold)
                .ok_or_else(|| invalid("Legal Hold must be either of 'ON' or 'OFF'"))?,
        ),
    };
    Ok(Some(ObjectLockRequest {
        retention,
        legal_hold,
    }))
}

/// The Object Lock headers of a GetObject or HeadObject answer.
pub fn lock_response_headers(
    retention: Option<&Retention>,
    legal_hold: Option<LegalHoldStatus>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(3);
    if let Some(r) = retention {
        out.push((
            HeaderName::from_static(MODE_HEADER),
            HeaderValue::from_static(r.mode.as_str()),
        ));
        if let Ok(value) = HeaderValue::from_str(&format_retain_until(r.retain_until_ns)) {
            out.push((HeaderName::from_static(RETAIN_UNTIL_HEADER), value));
        }
    }
    if let Some(hold) = legal_hold {
        out.push((
            HeaderName::from_static(LEGAL_HOLD_HEADER),
            HeaderValue::from_static(hold.as_str()),
        ));
    }
    out
}

/// A lock header or lock operation on a bucket without Object Lock.
pub fn bucket_missing_lock_configuration() -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidRequest,
        "Bucket is missing ObjectLockConfiguration",
    )
}

/// PutObjectLockConfiguration on a bucket whose versioning is not enabled.
pub fn lock_needs_versioning() -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidBucketState,
        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
    )
}

/// PutBucketVersioning that would suspend versioning under Object Lock.
pub fn versioning_locked() -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidBucketState,
        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
    )
}

#[cfg(test)]
mod tests;
