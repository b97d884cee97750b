//! The canonical request of SigV4, rebuilt on the server side from what
//! arrived: method, path, query, the headers the client says it signed, and
//! the payload hash.
//!
//! The server never re-derives the client's choices: it uses the client's
//! `SignedHeaders` list as it is, and canonicalises the path and query the
//! way S3 clients do (decode, then URI-encode every byte but the unreserved
//! ones; `/` kept in the path; no path normalisation for S3).

use http::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but `A-Z a-z 0-9 - _ . ~` is encoded (RFC 3986 unreserved).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As `STRICT`, keeping `/` (for paths).
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// SigV4's `UriEncode(text, encodeSlash = true)`.
pub fn uri_encode(text: &str) -> String {
    utf8_percent_encode(text, STRICT).to_string()
}

fn encode_bytes(bytes: &[u8], set: &'static AsciiSet) -> String {
    percent_encoding::percent_encode(bytes, set).to_string()
}

/// The canonical URI of an S3 request from its raw (as sent) path.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(raw_path).collect();
    if decoded.is_empty() {
        return "/".to_string();
    }
    encode_bytes(&decoded, PATH)
}

/// The canonical query string from the raw query, leaving out `exclude`
/// (the signature itself, for presigned URLs).
pub fn canonical_query(raw_query: &str, exclude: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name: Vec<u8> = percent_decode_str(name).collect();
            let value: Vec<u8> = percent_decode_str(value).collect();
            (encode_bytes(&name, STRICT), encode_bytes(&value, STRICT))
        })
        .filter(|(name, _)| Some(name.as_str()) != exclude)
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Why the signed headers cannot be canonicalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A header in `SignedHeaders` is absent from the request.
    Missing(String),
    /// A signed header value is not visible ASCII.
    Unreadable(String),
}

/// `name:value\n` for each signed header, values of repeated headers joined
/// by `,`, each trimmed with inner runs of spaces collapsed. `host` falls
/// back to `authority` (HTTP/2 requests carry no Host header).
pub fn canonical_headers(
    headers: &HeaderMap,
    signed: &[&str],
    authority: Option<&str>,
) -> Result<String, HeaderProblem> {
    let mut out = String::new();
    for name in signed {
        let mut values = headers.get_all(*name).iter().peekable();
        let joined = if values.peek().is_none() {
            match (*name, authority) {
                ("host", Some(authority)) => authority.to_string(),
                _ => return Err(HeaderProblem::Missing(name.to_string())),
            }
        } else {
            let mut parts = Vec::new();
            for value in values {
                let text = value
                    .to_str()
                    .map_err(|_| HeaderProblem::Unreadable(name.to_string()))?;
                parts.push(collapse_spaces(text));
            }
            parts.join(",")
        };
        out.push_str(name);
        out.push(':');
        out.push_str(&joined);
        out.push('\n');
    }
    Ok(out)
}

fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.trim_matches(|c| c == '\t').to_string()
}

/// The canonical request.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    )
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SHA-256 of the empty string, in hex.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn uri_and_query() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/b/a%20b/c+d"), "/b/a%20b/c%2Bd");
        assert_eq!(canonical_uri("/b/%E2%82%AC~x"), "/b/%E2%82%AC~x");
        assert_eq!(canonical_uri("/b/a!'()*"), "/b/a%21%27%28%29%2A");
        assert_eq!(
            canonical_query("prefix=a/b&list-type=2&uploads", None),
            "list-type=2&prefix=a%2Fb&uploads="
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&a=1", Some("X-Amz-Signature")),
            "a=1"
        );
        assert_eq!(canonical_query("a=%20&a=%00", None), "a=%00&a=%20");
        assert_eq!(sha256_hex(b""), EMPTY_SHA256_HEX);
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com"));
        h.append("x-amz-meta-a", HeaderValue::from_static("  one   two "));
        h.append("x-amz-meta-a", HeaderValue::from_static("three"));
        assert_eq!(
            canonical_headers(&h, &["host", "x-amz-meta-a"], None).unwrap(),
            "host:example.com\nx-amz-meta-a:one two,three\n"
        );
        assert_eq!(
            canonical_headers(&h, &["range"], None),
            Err(HeaderProblem::Missing("range".into()))
        );
        let empty = HeaderMap::new();
        assert_eq!(
            canonical_headers(&empty, &["host"], Some("h:1")).unwrap(),
            "host:h:1\n"
        );
    }
}
