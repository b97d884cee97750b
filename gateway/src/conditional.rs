//! Conditional requests: If-Match, If-None-Match, If-Modified-Since and
//! If-Unmodified-Since on GetObject and HeadObject, and their
//! `x-amz-copy-source-if-*` forms on CopyObject and UploadPartCopy.
//!
//! Evaluation follows RFC 9110 section 13.2.2, which is also what S3 does:
//! 1. If-Match present and false -> 412; if absent, If-Unmodified-Since
//!    false -> 412 (so If-Match true wins over If-Unmodified-Since false);
//! 2. If-None-Match present and it matches -> 304 for GET/HEAD (412 for a
//!    copy source); if absent, If-Modified-Since not modified -> 304 (so
//!    If-None-Match false wins over If-Modified-Since true).
//!
//! Dates that do not parse are ignored, as the RFC says. Times compare at
//! one-second precision, the precision of `Last-Modified`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::error::{ErrorCode, S3Error, S3Result};

/// The four conditions, as read from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

/// Which header names the conditions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionSource {
    /// `If-Match` etc. on the object itself (GET, HEAD).
    Object,
    /// `x-amz-copy-source-if-match` etc. on a copy's source. A copy never
    /// answers 304: every failed condition is 412.
    CopySource,
}

/// Longest header value we read; ETag lists longer than this are hostile.
const MAX_CONDITION_HEADER: usize = 8 * 1024;

impl Conditions {
    pub fn from_headers(headers: &HeaderMap, source: ConditionSource) -> Conditions {
        let names = match source {
            ConditionSource::Object => [
                "if-match",
                "if-none-match",
                "if-modified-since",
                "if-unmodified-since",
            ],
            ConditionSource::CopySource => [
                "x-amz-copy-source-if-match",
                "x-amz-copy-source-if-none-match",
                "x-amz-copy-source-if-modified-since",
                "x-amz-copy-source-if-unmodified-since",
            ],
        };
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= MAX_CONDITION_HEADER)
                .map(str::to_string)
        };
        let date = |name: &str| text(name).and_then(|v| httpdate::parse_http_date(&v).ok());
        Conditions {
            if_match: text(names[0]),
            if_none_match: text(names[1]),
            if_modified_since: date(names[2]),
            if_unmodified_since: date(names[3]),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Checks the conditions against an existing object with `etag` (hex,
    /// without quotes) modified at `last_modified`.
    pub fn check(
        &self,
        etag: &str,
        last_modified: SystemTime,
        source: ConditionSource,
    ) -> S3Result<()> {
        let modified = truncate_to_second(last_modified);
        match &self.if_match {
            Some(list) if !etag_list_matches(list, etag) => {
                return Err(
                    S3Error::new(ErrorCode::PreconditionFailed).extra("Condition", "If-Match")
                )
            }
            Some(_) => {}
            None => {
                if let Some(since) = self.if_unmodified_since {
                    if modified > truncate_to_second(since) {
                        return Err(S3Error::new(ErrorCode::PreconditionFailed)
                            .extra("Condition", "If-Unmodified-Since"));
                    }
                }
            }
        }
        let not_modified = || match source {
            ConditionSource::Object => S3Error::new(ErrorCode::NotModified),
            ConditionSource::CopySource => S3Error::new(ErrorCode::PreconditionFailed),
        };
        match &self.if_none_match {
            Some(list) if etag_list_matches(list, etag) => return Err(not_modified()),
            Some(_) => {}
            None => {
                if let Some(since) = self.if_modified_since {
                    if modified <= truncate_to_second(since) {
                        return Err(not_modified());
                    }
                }
            }
        }
        Ok(())
    }
}

fn truncate_to_second(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Whether a comma-separated list of entity tags (or `*`) names `etag`.
/// Quotes and the weak prefix `W/` are ignored: S3 compares opaque strings.
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    let etag = normalize_etag(etag);
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || normalize_etag(candidate) == etag)
}

/// An ETag without its quotes or weak prefix.
pub fn normalize_etag(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

/// The fuzzing entry point: reads the four headers from `data` split at
/// newlines and evaluates them; never panics.
pub fn fuzz_conditional(data: &[u8]) {
    let mut headers = HeaderMap::new();
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ];
    for (name, line) in names.iter().zip(data.split(|b| *b == b'\n')) {
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            headers.insert(*name, value);
        }
    }
    let conditions = Conditions::from_headers(&headers, ConditionSource::Object);
    let _ = conditions.check("abc", UNIX_EPOCH, ConditionSource::Object);
    let _ = conditions.check("", SystemTime::now(), ConditionSource::CopySource);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn conds(pairs: &[(&'static str, &str)]) -> Conditions {
        let mut headers = HeaderMap::new();
        for (n, v) in pairs {
            headers.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        Conditions::from_headers(&headers, ConditionSource::Object)
    }

    fn code(c: &Conditions, modified: u64) -> Option<ErrorCode> {
        c.check(ETAG, at(modified), ConditionSource::Object)
            .err()
            .map(|e| e.code)
    }

    const T0: &str = "Sun, 06 Nov 1994 08:49:37 GMT"; // 784111777

    #[test]
    fn if_match() {
        assert_eq!(
            code(&conds(&[("if-match", &format!("\"{ETAG}\""))]), 0),
            None
        );
        assert_eq!(code(&conds(&[("if-match", "*")]), 0), None);
        assert_eq!(
            code(
                &conds(&[("if-match", "\"x\", W/\"d41d8cd98f00b204e9800998ecf8427e\"")]),
                0
            ),
            None
        );
        assert_eq!(
            code(&conds(&[("if-match", "\"other\"")]), 0),
            Some(ErrorCode::PreconditionFailed)
        );
    }

    #[test]
    fn if_none_match() {
        assert_eq!(
            code(&conds(&[("if-none-match", ETAG)]), 0),
            Some(ErrorCode::NotModified)
        );
        assert_eq!(code(&conds(&[("if-none-match", "\"x\"")]), 0), None);
        let copy = conds(&[("if-none-match", ETAG)]);
        assert_eq!(
            copy.check(ETAG, at(0), ConditionSource::CopySource)
                .unwrap_err()
                .code,
            ErrorCode::PreconditionFailed
        );
    }

    #[test]
    fn dates() {
        let c = conds(&[("if-modified-since", T0)]);
        assert_eq!(code(&c, 784111777), Some(ErrorCode::NotModified));
        assert_eq!(code(&c, 784111778), None);
        let c = conds(&[("if-unmodified-since", T0)]);
        assert_eq!(code(&c, 784111777), None);
        assert_eq!(code(&c, 784111778), Some(ErrorCode::PreconditionFailed));
        // A bad date is ignored.
        assert!(conds(&[("if-modified-since", "yesterday")]).is_empty());
    }

    #[test]
    fn s3_precedence() {
        // If-Match true and If-Unmodified-Since false: 200.
        let c = conds(&[("if-match", ETAG), ("if-unmodified-since", T0)]);
        assert_eq!(code(&c, 784111800), None);
        // If-None-Match false and If-Modified-Since true: 304.
        let c = conds(&[("if-none-match", "\"x\""), ("if-modified-since", T0)]);
        assert_eq!(code(&c, 0), None);
        let c = conds(&[("if-none-match", ETAG), ("if-modified-since", T0)]);
        assert_eq!(code(&c, 784111800), Some(ErrorCode::NotModified));
    }

    #[test]
    fn fuzz_body_survives_hostile_input() {
        for input in [
            &b"*\n*\nSun, 06 Nov 1994 08:49:37 GMT\n\xff"[..],
            b"\"\n\"\"\n\n",
            b",,,,\nW/\nMon, 99 Foo 9999 99:99:99 GMT",
        ] {
            fuzz_conditional(input);
        }
    }
}
