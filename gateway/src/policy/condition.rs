//! Policy conditions: the operators, their values as parsed once at
//! PutBucketPolicy, and their test against a request's [`Context`].
//!
//! Rules (IAM user guide, "Condition operators"):
//! - within one operator block every key must hold (AND); a key holds when
//!   any of its values matches (OR). Negated operators (`StringNotEquals`,
//!   `StringNotLike`, `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`,
//!   `ArnNotEquals`, `ArnNotLike`) hold when no value matches;
//! - a key the request does not carry makes a positive operator false and
//!   a negated one true; `...IfExists` makes any operator true then;
//!   `Null` tests presence itself;
//! - `ForAnyValue:` is false on an absent key, `ForAllValues:` true; every
//!   key Cairn offers is single-valued, so otherwise they act as the plain
//!   operator;
//! - condition keys are compared without case; string values with case
//!   (except `...IgnoreCase`), with `*` and `?` in the `...Like` ones.

use std::borrow::Cow;
use std::net::IpAddr;

use super::glob;

/// What a request offers to conditions (and to principal and resource
/// matching, in `eval`).
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The access key id; None for an anonymous request.
    pub principal: Option<&'a str>,
    /// The IAM action (`s3:GetObject`).
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: Cow<'a, str>,
    /// The resource is every object of the bucket (DeleteObjects): a Deny
    /// on any object of the bucket applies, an Allow only if it covers
    /// them all.
    pub any_object: bool,
    pub source_ip: Option<IpAddr>,
    /// The request came over TLS (`aws:SecureTransport`).
    pub secure: bool,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// Seconds since the epoch (`aws:CurrentTime`, `aws:EpochTime`).
    pub now: i64,
    /// `s3:prefix`, `s3:delimiter`, `s3:max-keys` (ListBucket).
    pub prefix: Option<&'a str>,
    pub delimiter: Option<&'a str>,
    pub max_keys: Option<&'a str>,
    /// `s3:x-amz-acl`: the canned ACL the request carries.
    pub acl: Option<&'a str>,
    /// `s3:VersionId`.
    pub version_id: Option<&'a str>,
}

/// A value of a condition key as the request has it.
enum Found<'a> {
    Text(Cow<'a, str>),
    Ip(IpAddr),
}

impl<'a> Context<'a> {
    /// The value of condition key `key` (lowercase), None when absent.
    fn value(&self, key: &str) -> Option<Found<'a>> {
        let text = |v: Option<&'a str>| v.map(|v| Found::Text(Cow::Borrowed(v)));
        match key {
            "aws:sourceip" => self.source_ip.map(Found::Ip),
            "aws:securetransport" => Some(Found::Text(Cow::Borrowed(if self.secure {
                "true"
            } else {
                "false"
            }))),
            "aws:useragent" => text(self.user_agent),
            "aws:referer" => text(self.referer),
            "aws:currenttime" => Some(Found::Text(Cow::Owned(
                crate::signature::time::format_amz_date(self.now),
            ))),
            "aws:epochtime" => Some(Found::Text(Cow::Owned(self.now.to_string()))),
            "aws:username" | "aws:userid" => text(self.principal),
            "aws:principaltype" => Some(Found::Text(Cow::Borrowed(if self.principal.is_some() {
                "User"
            } else {
                "Anonymous"
            }))),
            "s3:prefix" => text(self.prefix),
            "s3:delimiter" => text(self.delimiter),
            "s3:max-keys" => text(self.max_keys),
            "s3:x-amz-acl" => text(self.acl),
            "s3:versionid" => text(self.version_id),
            _ => None,
        }
    }
}

/// A condition operator, without its `IfExists` and set qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Null,
}

impl Operator {
    pub fn parse(name: &str) -> Option<Operator> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "ArnEquals" => ArnEquals,
            "ArnNotEquals" => ArnNotEquals,
            "ArnLike" => ArnLike,
            "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Holds when no value matches (and on an absent key).
    pub fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// An IP range: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, `a.b.c.d` (/32), IPv6 likewise.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (
                a.trim().parse::<IpAddr>().ok()?,
                Some(p.trim().parse::<u8>().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A condition's values, parsed for its operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Nets(Vec<Cidr>),
}

/// One key under one operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    pub qualifier: SetQualifier,
    pub if_exists: bool,
    /// The condition key, lowercase.
    pub key: String,
    pub values: Values,
}

/// Parses a date value: ISO 8601 (`2026-01-01T00:00:00Z`, or a bare
/// date) or seconds since the epoch.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    if let Some(t) = crate::signature::time::parse_iso8601(text) {
        return Some(t);
    }
    if text.len() == 10 {
        return crate::signature::time::parse_iso8601(&format!("{text}T00:00:00Z"));
    }
    crate::signature::time::parse_amz_date(text)
}

impl Condition {
    /// Whether the condition holds for `ctx`.
    pub fn holds(&self, ctx: &Context<'_>) -> bool {
        let found = ctx.value(&self.key);
        if self.operator == Operator::Null {
            let want_absent = match &self.values {
                Values::Bools(b) => b.first().copied().unwrap_or(true),
                _ => true,
            };
            return found.is_none() == want_absent;
        }
        let Some(found) = found else {
            return match self.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => self.if_exists,
                SetQualifier::None => self.if_exists || self.operator.negated(),
            };
        };
        let any = self.any_matches(&found);
        if self.operator.negated() {
            !any
        } else {
            any
        }
    }

    /// Whether any value matches (the positive sense of the operator).
    fn any_matches(&self, found: &Found<'_>) -> bool {
        use Operator::*;
        match (&self.values, found) {
            (Values::Nets(nets), Found::Ip(ip)) => nets.iter().any(|n| n.contains(*ip)),
            (Values::Nets(nets), Found::Text(t)) => t
                .parse::<IpAddr>()
                .is_ok_and(|ip| nets.iter().any(|n| n.contains(ip))),
            (Values::Strings(values), Found::Text(t)) => {
                values.iter().any(|v| match self.operator {
                    StringEquals | StringNotEquals | ArnEquals | ArnNotEquals => v == t.as_ref(),
                    StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => v.eq_ignore_ascii_case(t),
                    _ => glob::matches(v, t, false),
                })
            }
            (Values::Bools(values), Found::Text(t)) => {
                let Ok(b) = t.to_ascii_lowercase().parse::<bool>() else {
                    return false;
                };
                values.contains(&b)
            }
            (Values::Numbers(values), Found::Text(t)) => {
                let Ok(n) = t.trim().parse::<f64>() else {
                    return false;
                };
                values.iter().any(|&v| compare(self.operator, n, v))
            }
            (Values::Dates(values), Found::Text(t)) => {
                let Some(d) = parse_date(t) else {
                    return false;
                };
                values
                    .iter()
                    .any(|&v| compare(self.operator, d as f64, v as f64))
            }
            _ => false,
        }
    }
}

/// `have OP want` for the numeric and date operators.
fn compare(op: Operator, have: f64, want: f64) -> bool {
    use Operator::*;
    match op {
        NumericEquals | NumericNotEquals | DateEquals | DateNotEquals => have == want,
        NumericLessThan | DateLessThan => have < want,
        NumericLessThanEquals | DateLessThanEquals => have <= want,
        NumericGreaterThan | DateGreaterThan => have > want,
        NumericGreaterThanEquals | DateGreaterThanEquals => have >= want,
        _ => false,
    }
}
