//! Bucket lifecycle configuration: PutBucketLifecycleConfiguration,
//! GetBucketLifecycleConfiguration, DeleteBucketLifecycle, and the
//! `x-amz-expiration` value of an object (S3 API reference of the three
//! operations; user guide, "Lifecycle configuration elements").
//!
//! Rules:
//! * the PUT body is parsed and validated by `xml::lifecycle` (S3's
//!   errors: `MalformedXML`, `InvalidArgument`, `InvalidRequest`,
//!   `NotImplemented` for transitions); it must carry `Content-MD5` or a
//!   flexible checksum (header or trailer), as S3 requires, checked by the
//!   gateway's body checks (`body::incoming`);
//! * rules sent without an `ID` get a random one here, in the door, never
//!   in the MDS: the stored configuration is a plain value;
//! * the configuration is stored whole as the bucket setting
//!   [`model::SETTING`] in the model's stored form ([`model::encode`]): the
//!   MDS's lifecycle runner reads it from there. A PUT replaces it; DELETE
//!   removes it (204 even when there was none, as S3);
//! * GET with none stored answers 404 `NoSuchLifecycleConfiguration`.
//!
//! `x-amz-expiration` on object responses (PUT, GET, HEAD of the current
//! version) is set by the object handlers with [`insert_expiration`].

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use http::{Response, StatusCode};
use rand::Rng;

use super::cluster_error::{to_s3, Missing};
use super::{empty, setting, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::MAX_XML_BODY;
use crate::xml::lifecycle::{self, model, Expiration, Rule};

/// Length of the IDs given to rules sent without one.
const RULE_ID_LEN: usize = 24;

fn random_rule_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..RULE_ID_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub async fn put_bucket_lifecycle(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let body = setting::read_document(&req, true, MAX_XML_BODY).await?;
    let mut config = lifecycle::parse(&body)?;
    config.fill_missing_ids(random_rule_id);
    req.client
        .set_bucket_setting(&req.bucket, model::SETTING, Some(model::encode(&config)))
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_bucket_lifecycle(req: Request) -> S3Result<Response<Body>> {
    let resource = req.resource();
    let stored = req
        .client
        .bucket_setting(&req.bucket, model::SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))?;
    let Some(bytes) = stored else {
        return Err(S3Error::new(ErrorCode::NoSuchLifecycleConfiguration).resource(resource));
    };
    let config = model::decode(&bytes).map_err(|e| {
        tracing::error!(bucket = %req.bucket, error = %e, "stored lifecycle configuration unreadable");
        S3Error::new(ErrorCode::InternalError)
    })?;
    Ok(xml(lifecycle::to_xml(&config)))
}

pub async fn delete_bucket_lifecycle(req: Request) -> S3Result<Response<Body>> {
    setting::delete(&req, model::SETTING).await
}

/// Adds `x-amz-expiration` to the response about `node`, the current
/// version of `key`, when a lifecycle rule of its bucket will expire it.
/// The rules come from the client's short cache of bucket settings, so a
/// request costs no extra MDS call; a configuration that cannot be read
/// leaves the header out (it only informs).
pub async fn insert_expiration(
    headers: &mut http::HeaderMap,
    req: &Request,
    key: &str,
    node: &cairn_client::Node,
) {
    let stored = match req
        .client
        .bucket_setting_recent(&req.bucket, model::SETTING)
        .await
    {
        Ok(Some(stored)) => stored,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(bucket = %req.bucket, error = %e, "lifecycle rules not read for x-amz-expiration");
            return;
        }
    };
    let Ok(config) = model::decode(&stored) else {
        return;
    };
    let value = expiration_header(
        &config.rules,
        key.as_bytes(),
        cairn_client::sse::plain_size(node),
        &node.protection.tags,
        node.mtime_ns,
    );
    if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        headers.insert("x-amz-expiration", v);
    }
}

/// The `x-amz-expiration` value of the current version of `key` (`size`
/// bytes, `tags`, last modified at `mtime_ns`) under `rules`: the earliest
/// expiration of an enabled rule whose filter selects it, as S3 writes it
/// (`expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="..."`). `None`
/// when no rule expires it. Ties go to the first rule in order.
pub fn expiration_header(
    rules: &[Rule],
    key: &[u8],
    size: u64,
    tags: &BTreeMap<String, String>,
    mtime_ns: i64,
) -> Option<String> {
    let (due_ns, rule) = rules
        .iter()
        .filter(|r| r.is_enabled() && r.matches(key, size, tags))
        .filter_map(|r| match r.expiration {
            Some(e @ (Expiration::Days(_) | Expiration::Date(_))) => {
                e.due_ns(mtime_ns).map(|due| (due, r))
            }
            _ => None,
        })
        .min_by_key(|(due, _)| *due)?;
    let when = UNIX_EPOCH + Duration::from_nanos(u64::try_from(due_ns).unwrap_or(0));
    Some(format!(
        "expiry-date=\"{}\", rule-id=\"{}\"",
        httpdate::fmt_http_date(when),
        rule.id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::lifecycle::{Filter, RuleStatus};

    const DAY: i64 = model::NANOS_PER_DAY;
    /// 2012-12-19T10:00:00Z: three days later, rounded up, is 23 Dec.
    const DEC_19_2012_10H: i64 = (1_355_875_200 + 10 * 3600) * 1_000_000_000;

    fn rule(id: &str, filter: Filter, expiration: Option<Expiration>) -> Rule {
        Rule {
            id: id.into(),
            status: RuleStatus::Enabled,
            filter,
            expiration,
            noncurrent_version_expiration: None,
            abort_incomplete_multipart_upload: None,
        }
    }

    #[test]
    fn the_earliest_matching_expiration_is_named() {
        let none = BTreeMap::new();
        let rules = vec![
            rule("late", Filter::All, Some(Expiration::Days(30))),
            rule(
                "picture-deletion-rule",
                Filter::Prefix("pics/".into()),
                Some(Expiration::Days(3)),
            ),
            rule(
                "marker",
                Filter::All,
                Some(Expiration::ExpiredObjectDeleteMarker(true)),
            ),
        ];
        assert_eq!(
            expiration_header(&rules, b"pics/a.jpg", 10, &none, DEC_19_2012_10H).as_deref(),
            Some(r#"expiry-date="Sun, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule""#)
        );
        let other = expiration_header(&rules, b"docs/a", 10, &none, DEC_19_2012_10H).unwrap();
        assert!(other.contains("rule-id=\"late\""), "{other}");
        let mut disabled = rules[0].clone();
        disabled.status = RuleStatus::Disabled;
        assert_eq!(
            expiration_header(&[disabled], b"x", 1, &none, 0),
            None,
            "a disabled rule promises nothing"
        );
        assert_eq!(expiration_header(&rules[2..], b"x", 1, &none, 0), None);
        let date = rule("d", Filter::All, Some(Expiration::Date(DAY * 20_000)));
        assert!(expiration_header(&[date], b"x", 1, &none, 0)
            .unwrap()
            .starts_with("expiry-date=\"Fri, 04 Oct 2024"));
    }

    #[test]
    fn rule_ids_are_random_and_full_length() {
        let a = random_rule_id();
        assert_eq!(a.len(), RULE_ID_LEN);
        assert_ne!(a, random_rule_id());
    }
}
