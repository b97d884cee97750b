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
//!   It lives in the cluster's common crate (`cairn_common::lifecycle`):
//!   the lifecycle runner on the MDS applies the very same rules;
//! - this module: the XML, read with the gateway's element tree and
//!   written as S3 writes it, and the mapping of the model's faults to S3
//!   errors ([`parse`], [`to_xml`]).
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

/// The model lives in the cluster's common crate, where the MDS's
/// lifecycle runner uses it too.
pub use cairn_common::lifecycle as model;

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = err(&config(&rule(and, abort)));
        assert_eq!(
            (e.code, &*e.message),
            (
                ErrorCode::InvalidRequest,
                "AbortIncompleteMultipartUpload cannot be specified with Object Size."
            )
        );
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
