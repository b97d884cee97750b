//! Bucket CORS rules: the `CORSConfiguration` body of PutBucketCors and
//! GetBucketCors, and what a rule allows (S3 API reference: PutBucketCors,
//! CORSConfiguration, CORSRule; user guide: "Using cross-origin resource
//! sharing (CORS)", "Elements of a CORS configuration").
//!
//! The document: `CORSConfiguration` holding 1 to 100 `CORSRule`s, each
//! with, in the order GetBucketCors writes them, an optional `ID` (at most
//! 255 characters), `AllowedHeader`*, `AllowedMethod`+, `AllowedOrigin`+,
//! `ExposeHeader`* and an optional `MaxAgeSeconds`. Faults, with S3's codes:
//! - not well-formed, an unknown or repeated single element, no rule, a rule
//!   without an origin or a method, a `MaxAgeSeconds` that is not an XML
//!   `int`: `MalformedXML`;
//! - a method other than `GET`, `PUT`, `POST`, `DELETE`, `HEAD` (exactly so
//!   written; the empty one too): `InvalidRequest` "Found unsupported HTTP
//!   method in CORS config. Unsupported method is X";
//! - an origin or an allowed header with two `*` or more, an exposed header
//!   with any `*`: `InvalidRequest`;
//! - more than 100 rules: `InvalidRequest`; an `ID` over 255 characters or
//!   a negative `MaxAgeSeconds`: `InvalidArgument`.
//!
//! What a rule allows ([`CorsRule::allows`]): the request's origin matches
//! one `AllowedOrigin`, where one `*` stands for any run of characters, the
//! empty one included, and the pattern is anchored at both ends (`*`
//! alone: every origin); the method is one of `AllowedMethod`, compared
//! exactly; every requested header matches one `AllowedHeader` the same
//! way as origins. Origins and header names compare without regard to
//! ASCII case (a browser writes scheme, host and header names in lower
//! case; a rule written `http://Example.com` still means that host).
//! The first rule that allows a request is the one applied.
//!
//! The stored form is the document as [`to_xml`] writes it: self-describing,
//! and read back through [`parse`], so a stored configuration obeys the
//! same rules as one sent.

use crate::error::{ErrorCode, S3Error, S3Result};

use super::tree::{self, malformed, Element};

const ROOT: &str = "CORSConfiguration";

/// Most rules a configuration holds.
pub const MAX_RULES: usize = 100;
/// Longest rule `ID`, in characters.
pub const MAX_ID_CHARS: usize = 255;
/// Largest document S3 takes (64 KB).
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// One `CORSRule`, its lists in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_headers: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i64>,
}

/// A validated configuration: 1 to [`MAX_RULES`] rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfiguration {
    pub rules: Vec<CorsRule>,
}

/// Parses and validates a PutBucketCors body (or a stored configuration).
pub fn parse(body: &[u8]) -> S3Result<CorsConfiguration> {
    let doc = tree::parse(body, ROOT)?;
    doc.only(&["CORSRule"])?;
    if doc.children.is_empty() {
        return Err(malformed());
    }
    if doc.children.len() > MAX_RULES {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            format!(
                "The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules."
            ),
        ));
    }
    let rules = doc
        .children
        .iter()
        .map(parse_rule)
        .collect::<S3Result<Vec<CorsRule>>>()?;
    Ok(CorsConfiguration { rules })
}

fn texts(el: &Element, name: &'static str) -> S3Result<Vec<String>> {
    el.children_named(name)
        .map(|c| c.leaf().map(str::to_string))
        .collect()
}

fn invalid_request(message: String) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidRequest, message)
}

fn parse_rule(el: &Element) -> S3Result<CorsRule> {
    el.only(&[
        "ID",
        "AllowedHeader",
        "AllowedMethod",
        "AllowedOrigin",
        "ExposeHeader",
        "MaxAgeSeconds",
    ])?;
    let id = el
        .child("ID")?
        .map(|c| c.leaf().map(str::to_string))
        .transpose()?;
    let max_age_seconds = match el.child("MaxAgeSeconds")? {
        Some(c) => {
            let age = c.integer()?;
            if age > i64::from(i32::MAX) {
                return Err(malformed());
            }
            Some(age)
        }
        None => None,
    };
    let rule = CorsRule {
        id,
        allowed_headers: texts(el, "AllowedHeader")?,
        allowed_methods: texts(el, "AllowedMethod")?,
        allowed_origins: texts(el, "AllowedOrigin")?,
        expose_headers: texts(el, "ExposeHeader")?,
        max_age_seconds,
    };
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(malformed());
    }
    for method in &rule.allowed_methods {
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid_request(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )));
        }
    }
    for origin in &rule.allowed_origins {
        if origin.matches('*').count() > 1 {
            return Err(invalid_request(format!(
                "AllowedOrigin \"{origin}\" can not have more than one wildcard."
            )));
        }
    }
    for header in &rule.allowed_headers {
        if header.matches('*').count() > 1 {
            return Err(invalid_request(format!(
                "AllowedHeader \"{header}\" can not have more than one wildcard."
            )));
        }
    }
    for header in &rule.expose_headers {
        if header.contains('*') {
            return Err(invalid_request(format!(
                "ExposeHeader \"{header}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
            )));
        }
    }
    if rule
        .id
        .as_ref()
        .is_some_and(|id| id.chars().count() > MAX_ID_CHARS)
    {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The ID of a CORS rule can be up to 255 characters long.",
        ));
    }
    if rule.max_age_seconds.is_some_and(|age| age < 0) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "MaxAgeSeconds must not be negative.",
        ));
    }
    Ok(rule)
}

/// The GetBucketCors answer, and the stored form.
pub fn to_xml(config: &CorsConfiguration) -> String {
    let mut out = String::new();
    tree::open_root(&mut out, ROOT);
    for rule in &config.rules {
        out.push_str("<CORSRule>");
        if let Some(id) = &rule.id {
            tree::push_leaf(&mut out, "ID", id);
        }
        for (name, values) in [
            ("AllowedHeader", &rule.allowed_headers),
            ("AllowedMethod", &rule.allowed_methods),
            ("AllowedOrigin", &rule.allowed_origins),
            ("ExposeHeader", &rule.expose_headers),
        ] {
            for value in values {
                tree::push_leaf(&mut out, name, value);
            }
        }
        if let Some(age) = rule.max_age_seconds {
            tree::push_leaf(&mut out, "MaxAgeSeconds", &age.to_string());
        }
        tree::push_close(&mut out, "CORSRule");
    }
    tree::push_close(&mut out, ROOT);
    out
}

/// Whether `value` matches `pattern`, in which one `*` (the first) stands
/// for any run of characters, the empty one included; ASCII case is
/// ignored. Anchored at both ends.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let (pattern, value) = (pattern.as_bytes(), value.as_bytes());
    match pattern.iter().position(|&b| b == b'*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some(star) => {
            let (prefix, suffix) = (&pattern[..star], &pattern[star + 1..]);
            value.len() >= prefix.len() + suffix.len()
                && value[..prefix.len()].eq_ignore_ascii_case(prefix)
                && value[value.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    }
}

impl CorsRule {
    /// Whether the rule allows a request from `origin` with `method`,
    /// sending `headers` (a preflight's `Access-Control-Request-Headers`;
    /// none for an actual request, whose headers are not checked).
    pub fn allows(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                self.allowed_headers
                    .iter()
                    .any(|allowed| wildcard_match(allowed, h))
            })
    }

    /// Whether the origin matched through `*` alone (the answer's
    /// `Access-Control-Allow-Origin` is then `*`, without credentials).
    pub fn any_origin(&self, origin: &str) -> bool {
        !self
            .allowed_origins
            .iter()
            .any(|o| o != "*" && wildcard_match(o, origin))
    }
}

impl CorsConfiguration {
    /// The first rule that allows the request ([`CorsRule::allows`]).
    pub fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&CorsRule> {
        self.rules
            .iter()
            .find(|r| r.allows(origin, method, headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_xml(inner: &str) -> String {
        format!("<CORSConfiguration><CORSRule>{inner}</CORSRule></CORSConfiguration>")
    }

    fn code(body: &str) -> ErrorCode {
        parse(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn a_full_rule_reads_and_writes_back() {
        let body = r#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule><ID>r1</ID><AllowedOrigin>http://a.example</AllowedOrigin>
    <AllowedOrigin>https://*.b.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>
  <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>
</CORSConfiguration>"#;
        let config = parse(body.as_bytes()).unwrap();
        assert_eq!(config.rules.len(), 2);
        let first = &config.rules[0];
        assert_eq!(first.id.as_deref(), Some("r1"));
        assert_eq!(
            first.allowed_origins,
            ["http://a.example", "https://*.b.example"]
        );
        assert_eq!(first.allowed_methods, ["GET", "PUT"]);
        assert_eq!(first.allowed_headers, ["x-amz-*"]);
        assert_eq!(first.expose_headers, ["ETag"]);
        assert_eq!(first.max_age_seconds, Some(3000));
        assert_eq!(config.rules[1].id, None);
        let written = to_xml(&config);
        assert!(written.contains("<CORSRule><ID>r1</ID><AllowedHeader>x-amz-*</AllowedHeader>"));
        assert_eq!(parse(written.as_bytes()).unwrap(), config);
    }

    #[test]
    fn faults_get_s3_codes() {
        let ok = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";
        assert_eq!(code("<CORSConfiguration/>"), ErrorCode::MalformedXML);
        assert_eq!(
            code("<CORSConfiguration><CORSRule/></CORSConfiguration>"),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml("<AllowedOrigin>*</AllowedOrigin>")),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml("<AllowedMethod>GET</AllowedMethod>")),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<Bogus/>"))),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<ID>a</ID><ID>b</ID>"))),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<MaxAgeSeconds>x</MaxAgeSeconds>"))),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml(&format!(
                "{ok}<MaxAgeSeconds>9999999999</MaxAgeSeconds>"
            ))),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<MaxAgeSeconds>-1</MaxAgeSeconds>"))),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<ID>{}</ID>", "i".repeat(256)))),
            ErrorCode::InvalidArgument
        );
        assert!(parse(rule_xml(&format!("{ok}<ID>{}</ID>", "i".repeat(255))).as_bytes()).is_ok());
        let bad_method = parse(
            rule_xml("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>")
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(bad_method.code, ErrorCode::InvalidRequest);
        assert_eq!(
            bad_method.message,
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"
        );
        for method in ["get", "OPTIONS", ""] {
            let body = rule_xml(&format!(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>{method}</AllowedMethod>"
            ));
            assert_eq!(code(&body), ErrorCode::InvalidRequest, "{method}");
        }
        assert_eq!(
            code(&rule_xml(
                "<AllowedOrigin>*a*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            )),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<AllowedHeader>**</AllowedHeader>"))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&rule_xml(&format!("{ok}<ExposeHeader>x-*</ExposeHeader>"))),
            ErrorCode::InvalidRequest
        );
        let many = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            format!("<CORSRule>{ok}</CORSRule>").repeat(MAX_RULES + 1)
        );
        assert_eq!(code(&many), ErrorCode::InvalidRequest);
        let most = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            format!("<CORSRule>{ok}</CORSRule>").repeat(MAX_RULES)
        );
        assert_eq!(parse(most.as_bytes()).unwrap().rules.len(), MAX_RULES);
    }

    #[test]
    fn wildcards_match_any_run_anchored() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "http://x"));
        assert!(wildcard_match("*suffix", "foo.suffix"));
        assert!(!wildcard_match("*suffix", "foo.suffix.get"));
        assert!(wildcard_match("start*end", "startend"));
        assert!(wildcard_match("start*end", "start12end"));
        assert!(!wildcard_match("start*end", "0start12end"));
        assert!(!wildcard_match("start*end", "starend"));
        assert!(wildcard_match("prefix*", "prefix"));
        assert!(!wildcard_match("prefix*", "bla.prefix"));
        assert!(wildcard_match(
            "http://*.Origin.com",
            "http://test.origin.com"
        ));
        assert!(!wildcard_match(
            "http://*.origin.com",
            "http://test.origin.com/"
        ));
        assert!(wildcard_match("http://a.example", "HTTP://A.EXAMPLE"));
        assert!(!wildcard_match("http://a.example", "https://a.example"));
        assert!(wildcard_match("é*", "é"));
    }

    #[test]
    fn the_first_rule_that_allows_is_found() {
        let config = parse(
            rule_xml("<AllowedOrigin>http://a</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>")
                .replace(
                    "</CORSConfiguration>",
                    "<CORSRule><ID>any</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>",
                )
                .as_bytes(),
        )
        .unwrap();
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let first = config
            .find("http://a", "GET", &h(&["x-amz-date", "content-type"]))
            .unwrap();
        assert_eq!(first.id, None);
        assert!(!first.any_origin("http://a"));
        // A header the first rule does not allow: the second has none at all.
        assert!(config
            .find("http://a", "GET", &h(&["authorization"]))
            .is_none());
        let second = config.find("http://a", "PUT", &[]).unwrap();
        assert_eq!(second.id.as_deref(), Some("any"));
        assert!(second.any_origin("http://a"));
        assert!(config.find("http://b", "DELETE", &[]).is_none());
        assert!(config.find("http://b", "get", &[]).is_none());
    }
}
