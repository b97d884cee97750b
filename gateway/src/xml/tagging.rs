//! Tag sets of objects and buckets: the `Tagging` body of PutObjectTagging,
//! GetObjectTagging, PutBucketTagging and GetBucketTagging, and the
//! `x-amz-tagging` header of PutObject, CopyObject and
//! CreateMultipartUpload (S3 API reference: PutObjectTagging,
//! PutBucketTagging, Tagging, Tag, PutObject; user guide: "Categorizing your
//! storage using tags", "Using cost allocation S3 bucket tags").
//!
//! Rules, as S3 applies them:
//! - an object holds at most 10 tags, a bucket at most 50; more is
//!   `BadRequest` ("Object tags cannot be greater than 10", "Bucket tag count
//!   cannot be greater than 50": S3's answers, 400, as seen by Terraform and
//!   others, not `InvalidTag`);
//! - a key is 1 to 128 characters and a value 0 to 256, counted in UTF-16
//!   code units as S3 does ("Amazon S3 object tags are internally
//!   represented in UTF-16"): a character outside the Basic Multilingual
//!   Plane counts twice. Bytes are never counted;
//! - keys and values hold Unicode letters, numbers and spaces and
//!   `_ . : / = + - @` only (the pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` of
//!   the API's `Tag` types). S3 checks it for objects as for buckets: it
//!   refused a `,` in an object tag value and `(` in a bucket tag value;
//! - a key starting with `aws:` in any case is reserved for AWS ("Your TagKey
//!   cannot be prefixed with aws:");
//! - keys are unique ("Cannot provide multiple Tags with the same key");
//! - each tag fault is `InvalidTag` and names the tag in `<TagKey>` (and
//!   `<TagValue>` for a bad value), as S3's error does;
//! - the document is `Tagging/TagSet/Tag*/{Key, Value}`, `TagSet`, `Key` and
//!   `Value` required; anything else is `MalformedXML`. An empty `TagSet` is
//!   valid (it clears an object's tags; a bucket's set "can be empty");
//! - the header is URL query encoding, `k1=v1&k2=v2`: `+` is a space, `%XX`
//!   a byte, a pair without `=` a key with the empty value, empty pairs are
//!   skipped. A malformed escape, bytes that are not UTF-8, an empty key, a
//!   second `=` in a pair or a repeated key is `InvalidArgument` ("The header
//!   'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query
//!   parameters without tag name duplicates."); the decoded tags then obey
//!   the rules above.
//!
//! A tag set is kept in key order, which is the order S3 gives them back in.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, MAX_TAG_KEY_UNITS, MAX_TAG_VALUE_UNITS};

use super::tree;

const ROOT: &str = "Tagging";

/// What the tags are put on: the limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagTarget {
    Object,
    Bucket,
}

impl TagTarget {
    /// Most tags the target may carry.
    pub fn max_tags(self) -> usize {
        match self {
            TagTarget::Object => MAX_OBJECT_TAGS,
            TagTarget::Bucket => MAX_BUCKET_TAGS,
        }
    }

    fn too_many(self) -> S3Error {
        let message = match self {
            TagTarget::Object => "Object tags cannot be greater than 10",
            TagTarget::Bucket => "Bucket tag count cannot be greater than 50",
        };
        S3Error::with_message(ErrorCode::BadRequest, message)
    }
}

/// The message of every malformed `x-amz-tagging` header.
pub const HEADER_MESSAGE: &str = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

/// A validated tag set: unique keys, each tag within S3's rules, no more
/// tags than its target allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagSet {
    tags: BTreeMap<String, String>,
}

impl TagSet {
    /// Validates `tags` (in the order given, so the first fault is the one
    /// reported) for `target`.
    pub fn new(
        tags: impl IntoIterator<Item = (String, String)>,
        target: TagTarget,
    ) -> S3Result<TagSet> {
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        if tags.len() > target.max_tags() {
            return Err(target.too_many());
        }
        let mut set = BTreeMap::new();
        for (key, value) in tags {
            check_key(&key)?;
            check_value(&key, &value)?;
            if set.contains_key(&key) {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidTag,
                    "Cannot provide multiple Tags with the same key",
                )
                .extra("TagKey", key));
            }
            set.insert(key, value);
        }
        Ok(TagSet { tags: set })
    }

    /// Parses and validates a PutObjectTagging or PutBucketTagging body.
    pub fn parse(body: &[u8], target: TagTarget) -> S3Result<TagSet> {
        let doc = tree::parse(body, ROOT)?;
        doc.only(&["TagSet"])?;
        let set = doc.required("TagSet")?;
        set.only(&["Tag"])?;
        let mut tags = Vec::with_capacity(set.children.len());
        for tag in &set.children {
            tag.only(&["Key", "Value"])?;
            let key = tag.required("Key")?.leaf()?;
            let value = tag.required("Value")?.leaf()?;
            tags.push((key.to_string(), value.to_string()));
        }
        TagSet::new(tags, target)
    }

    /// Parses and validates an `x-amz-tagging` header value.
    pub fn from_header(value: &[u8], target: TagTarget) -> S3Result<TagSet> {
        let bad = || S3Error::with_message(ErrorCode::InvalidArgument, HEADER_MESSAGE);
        let text = std::str::from_utf8(value).map_err(|_| bad())?;
        let mut tags: Vec<(String, String)> = Vec::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.contains('=') {
                return Err(bad());
            }
            let key = form_decode(key).ok_or_else(bad)?;
            let value = form_decode(value).ok_or_else(bad)?;
            if key.is_empty() || tags.iter().any(|(k, _)| *k == key) {
                return Err(bad());
            }
            tags.push((key, value));
        }
        TagSet::new(tags, target)
    }

    /// The `x-amz-tagging` form of the set (keys and values percent-encoded,
    /// in key order); `from_header` reads it back unchanged.
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.tags {
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(key, QUERY_VALUE));
            out.push('=');
            out.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        out
    }

    /// The GetObjectTagging / GetBucketTagging document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128 + 64 * self.tags.len());
        tree::open_root(&mut out, ROOT);
        out.push_str("<TagSet>");
        for (key, value) in &self.tags {
            out.push_str("<Tag>");
            tree::push_leaf(&mut out, "Key", key);
            tree::push_leaf(&mut out, "Value", value);
            out.push_str("</Tag>");
        }
        out.push_str("</TagSet>");
        tree::push_close(&mut out, ROOT);
        out
    }

    /// Number of tags (the value of `x-amz-tagging-count`).
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The value of the tag `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The tags in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The tags as a map (what lifecycle filters match against).
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.tags
    }
}

/// What `to_header` leaves unescaped: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Decodes one side of a form pair: `+` is a space, `%XX` a byte; `None`
/// for a `%` not followed by two hex digits or bytes that are not UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = hex_digit(input.next()?)?;
                let lo = hex_digit(input.next()?)?;
                bytes.push((hi << 4) | lo);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Length as S3 counts it: UTF-16 code units.
fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// A character S3 allows in tag keys and values: `\p{L}`, `\p{Z}`,
/// `\p{N}` and `_ . : / = + - @`. `char::is_alphabetic` is Unicode's
/// Alphabetic property, a slight superset of the letters (it adds letter
/// numbers and a few combining marks); the space separators are listed.
fn is_tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || matches!(
            c,
            '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        )
}

fn check_key(key: &str) -> S3Result<()> {
    let invalid = |message: &'static str| {
        S3Error::with_message(ErrorCode::InvalidTag, message).extra("TagKey", key)
    };
    let len = utf16_len(key);
    if len == 0 || len > MAX_TAG_KEY_UNITS || !key.chars().all(is_tag_char) {
        return Err(invalid("The TagKey you have provided is invalid"));
    }
    if key
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
    {
        return Err(invalid("Your TagKey cannot be prefixed with aws:"));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> S3Result<()> {
    if utf16_len(value) > MAX_TAG_VALUE_UNITS || !value.chars().all(is_tag_char) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidTag,
            "The TagValue you have provided is invalid",
        )
        .extra("TagKey", key)
        .extra("TagValue", value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(tags: &[(&str, &str)]) -> String {
        let mut out = String::from("<Tagging><TagSet>");
        for (k, v) in tags {
            out.push_str(&format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"));
        }
        out.push_str("</TagSet></Tagging>");
        out
    }

    fn xml_err(tags: &[(&str, &str)], target: TagTarget) -> S3Error {
        TagSet::parse(body(tags).as_bytes(), target).unwrap_err()
    }

    fn header_code(value: &str) -> ErrorCode {
        TagSet::from_header(value.as_bytes(), TagTarget::Object)
            .unwrap_err()
            .code
    }

    #[test]
    fn round_trips_through_xml_and_header() {
        let set = TagSet::new(
            [
                ("project".to_string(), "blue sky".to_string()),
                ("a+-=._:/@ b".to_string(), String::new()),
                ("\u{e9}t\u{e9}".to_string(), "\u{65e5}\u{672c}".to_string()),
                ("n".to_string(), "0123".to_string()),
            ],
            TagTarget::Object,
        )
        .unwrap();
        let xml = set.to_xml();
        assert!(xml.contains(
            "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>a+-=._:/@ b</Key><Value></Value></Tag>"
        ), "{xml}");
        assert_eq!(
            TagSet::parse(xml.as_bytes(), TagTarget::Object).unwrap(),
            set
        );
        let header = set.to_header();
        assert!(header.starts_with("a%2B-%3D._%3A%2F%40%20b=&"), "{header}");
        assert_eq!(
            TagSet::from_header(header.as_bytes(), TagTarget::Object).unwrap(),
            set
        );
        assert_eq!(set.len(), 4);
        assert_eq!(set.get("project"), Some("blue sky"));
        // Key order, whatever the order sent.
        let keys: Vec<&str> = set.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a+-=._:/@ b", "n", "project", "\u{e9}t\u{e9}"]);
    }

    #[test]
    fn namespaced_and_empty_documents() {
        let namespaced = br#"<?xml version="1.0" encoding="UTF-8"?>
<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <TagSet>
    <Tag><Key>k</Key><Value> v </Value></Tag>
  </TagSet>
</Tagging>"#;
        let set = TagSet::parse(namespaced, TagTarget::Bucket).unwrap();
        assert_eq!(set.get("k"), Some(" v "));
        let empty = TagSet::parse(b"<Tagging><TagSet/></Tagging>", TagTarget::Object).unwrap();
        assert!(empty.is_empty());
        assert_eq!(
            TagSet::parse(empty.to_xml().as_bytes(), TagTarget::Object).unwrap(),
            empty
        );
        assert_eq!(empty.to_header(), "");
    }

    #[test]
    fn too_many_tags_is_bad_request() {
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let tags: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
        assert!(TagSet::parse(body(&tags[..10]).as_bytes(), TagTarget::Object).is_ok());
        let err = xml_err(&tags[..11], TagTarget::Object);
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(err.message, "Object tags cannot be greater than 10");
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(TagSet::parse(body(&tags[..50]).as_bytes(), TagTarget::Bucket).is_ok());
        let err = xml_err(&tags, TagTarget::Bucket);
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(err.message, "Bucket tag count cannot be greater than 50");
        let header: Vec<String> = keys[..11].iter().map(|k| format!("{k}=v")).collect();
        assert_eq!(header_code(&header.join("&")), ErrorCode::BadRequest);
    }

    #[test]
    fn lengths_count_utf16_units() {
        let key128 = "k".repeat(128);
        let value256 = "v".repeat(256);
        assert!(TagSet::new([(key128.clone(), value256.clone())], TagTarget::Object).is_ok());
        let err = xml_err(&[(&"k".repeat(129), "v")], TagTarget::Object);
        assert_eq!(err.code, ErrorCode::InvalidTag);
        assert_eq!(err.message, "The TagKey you have provided is invalid");
        let err = xml_err(&[("k", &"v".repeat(257))], TagTarget::Bucket);
        assert_eq!(err.code, ErrorCode::InvalidTag);
        assert_eq!(err.message, "The TagValue you have provided is invalid");
        assert!(err.extra.contains(&("TagKey", "k".to_string())));
        // 128 characters of two bytes each: counted as 128, not 256.
        assert!(TagSet::new([("\u{e9}".repeat(128), String::new())], TagTarget::Object).is_ok());
        // A character outside the BMP is two UTF-16 units.
        let numeral = "\u{1d7ce}"; // MATHEMATICAL BOLD DIGIT ZERO, \p{N}
        assert!(TagSet::new([(numeral.repeat(64), String::new())], TagTarget::Object).is_ok());
        assert_eq!(
            TagSet::new([(numeral.repeat(65), String::new())], TagTarget::Object)
                .unwrap_err()
                .code,
            ErrorCode::InvalidTag
        );
        assert_eq!(
            xml_err(&[("", "v")], TagTarget::Object).code,
            ErrorCode::InvalidTag
        );
    }

    #[test]
    fn characters_outside_the_set_are_invalid() {
        for (key, value) in [
            ("a,b", "v"),
            ("k", "metal,openstack"),
            ("k", "(x)"),
            ("k", "a&amp;b"),
            ("k&lt;", "v"),
            ("k", "tab\there"),
            ("k", "semi;colon"),
            ("k*", "v"),
        ] {
            let err = xml_err(&[(key, value)], TagTarget::Object);
            assert_eq!(err.code, ErrorCode::InvalidTag, "{key}={value}");
        }
        for (key, value) in [
            ("\u{4e2d}\u{6587}", "\u{0660}\u{0661}"),
            ("a b", "c\u{3000}d"),
        ] {
            assert!(
                TagSet::parse(body(&[(key, value)]).as_bytes(), TagTarget::Bucket).is_ok(),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn aws_prefix_and_duplicates_are_invalid() {
        for key in ["aws:cloudformation", "AWS:x", "Aws:"] {
            let err = xml_err(&[(key, "v")], TagTarget::Bucket);
            assert_eq!(err.code, ErrorCode::InvalidTag, "{key}");
            assert_eq!(err.message, "Your TagKey cannot be prefixed with aws:");
        }
        assert!(TagSet::parse(
            body(&[("aws", "v"), ("my:aws:", "v")]).as_bytes(),
            TagTarget::Object
        )
        .is_ok());
        let err = xml_err(&[("k", "1"), ("k", "2")], TagTarget::Object);
        assert_eq!(err.code, ErrorCode::InvalidTag);
        assert_eq!(
            err.message,
            "Cannot provide multiple Tags with the same key"
        );
        assert_eq!(err.extra, vec![("TagKey", "k".to_string())]);
    }

    #[test]
    fn structural_faults_are_malformed() {
        for bad in [
            "<Tagging/>",
            "<Tagging><TagSet/><TagSet/></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Extra/></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Other/></TagSet></Tagging>",
            "<Tagging><TagSet/><Other/></Tagging>",
            "<TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet>",
            "<Tagging><TagSet><Tag><Key><b/></Key><Value>v</Value></Tag></TagSet></Tagging>",
        ] {
            assert_eq!(
                TagSet::parse(bad.as_bytes(), TagTarget::Object)
                    .unwrap_err()
                    .code,
                ErrorCode::MalformedXML,
                "{bad}"
            );
        }
    }

    #[test]
    fn header_form() {
        let set = TagSet::from_header(b"foo=bar&bar", TagTarget::Object).unwrap();
        assert_eq!(set.get("foo"), Some("bar"));
        assert_eq!(set.get("bar"), Some(""));
        for empty in ["", "&", "&&"] {
            assert!(TagSet::from_header(empty.as_bytes(), TagTarget::Object)
                .unwrap()
                .is_empty());
        }
        let set = TagSet::from_header(b"k+1=v%20w&%C3%A9=%2B", TagTarget::Object).unwrap();
        assert_eq!(set.get("k 1"), Some("v w"));
        assert_eq!(set.get("\u{e9}"), Some("+"));
        for bad in [
            "a=1&a=2",
            "=",
            "=v",
            "a=b=c",
            "TagSet=[{Key=string,Value=string}]",
            "k=%zz",
            "k=%4",
            "k=%FF",
        ] {
            assert_eq!(header_code(bad), ErrorCode::InvalidArgument, "{bad}");
        }
        let err = TagSet::from_header(b"a=1&a=2", TagTarget::Object).unwrap_err();
        assert_eq!(err.message, HEADER_MESSAGE);
        // Decoded, a tag obeys the tag rules.
        assert_eq!(header_code("a%2Cb=1"), ErrorCode::InvalidTag);
        assert_eq!(header_code("aws%3Ax=1"), ErrorCode::InvalidTag);
        assert_eq!(
            TagSet::from_header(b"\xff=1", TagTarget::Object)
                .unwrap_err()
                .code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        for input in [
            &b"<Tagging><TagSet><Tag><Key>&#xD800;</Key></Tag>"[..],
            b"%",
            b"%%%%",
            b"=&=&=",
            b"\x00\x01",
        ] {
            let _ = TagSet::parse(input, TagTarget::Object);
            let _ = TagSet::from_header(input, TagTarget::Object);
        }
    }
}
