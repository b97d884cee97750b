//! The query string of a request, decoded once.
//!
//! Names and values are percent-decoded, `+` reads as a space (as in
//! `application/x-www-form-urlencoded`, which is what S3 clients write), and
//! bytes that are not UTF-8 are replaced (U+FFFD): query values the gateway
//! uses (upload ids, prefixes, markers) are UTF-8 in S3. Signature checks do
//! not use this type: they work from the raw query string.

use percent_encoding::percent_decode;

/// Most parameters a query string may carry; more is hostile.
pub const MAX_QUERY_PARAMS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    params: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`). Returns `None` when it
    /// has more than `MAX_QUERY_PARAMS` parameters.
    pub fn parse(raw: &str) -> Option<Query> {
        let mut params = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            if params.len() == MAX_QUERY_PARAMS {
                return None;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((decode_component(name), decode_component(value)));
        }
        Some(Query { params })
    }

    /// The first value of `name`, if present (an empty value is `Some("")`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.params.iter().any(|(n, _)| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Decodes one form-urlencoded component.
pub fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_names_and_values() {
        let q = Query::parse("list-type=2&prefix=a%2Fb+c&uploads&x=").unwrap();
        assert_eq!(q.get("list-type"), Some("2"));
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert_eq!(q.get("uploads"), Some(""));
        assert!(q.has("x"));
        assert!(!q.has("y"));
    }

    #[test]
    fn refuses_too_many_parameters() {
        let raw = vec!["a=1"; MAX_QUERY_PARAMS + 1].join("&");
        assert!(Query::parse(&raw).is_none());
    }

    #[test]
    fn survives_broken_escapes() {
        let q = Query::parse("a=%zz%&b=%ff").unwrap();
        assert_eq!(q.get("a"), Some("%zz%"));
        assert_eq!(q.get("b"), Some("\u{FFFD}"));
    }
}
