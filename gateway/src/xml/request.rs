//! Request bodies: CompleteMultipartUpload, DeleteObjects (`Delete`) and
//! CreateBucketConfiguration.
//!
//! Untrusted input: the body is read with a size bound
//! (`limits::MAX_XML_BODY`) before parsing; quick-xml expands no external
//! entity and no DTD, so parsing is linear in the input; any parse error is
//! `MalformedXML`.

use serde::Deserialize;

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::{MAX_DELETE_KEYS, MAX_PART_NUMBER};

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    quick_xml::de::from_str(text).map_err(|_| malformed())
}

/// One part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "ChecksumCRC32", default)]
    pub checksum_crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", default)]
    pub checksum_crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", default)]
    pub checksum_crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", default)]
    pub checksum_sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", default)]
    pub checksum_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletedPart>,
}

impl CompleteMultipartUpload {
    /// Parses the body; at least one part, at most 10,000.
    pub fn parse(body: &[u8]) -> S3Result<CompleteMultipartUpload> {
        let parsed: CompleteMultipartUpload = parse(body)?;
        if parsed.parts.is_empty() {
            return Err(S3Error::with_message(
                ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema: no Part.",
            ));
        }
        if parsed.parts.len() > MAX_PART_NUMBER as usize {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        Ok(parsed)
    }
}

/// One key named in DeleteObjects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectIdentifier {
    pub key: String,
    #[serde(default)]
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delete {
    #[serde(rename = "Object", default)]
    pub objects: Vec<ObjectIdentifier>,
    #[serde(default)]
    pub quiet: Option<bool>,
}

impl Delete {
    /// Parses the body; 1 to 1,000 keys.
    pub fn parse(body: &[u8]) -> S3Result<Delete> {
        let parsed: Delete = parse(body)?;
        if parsed.objects.is_empty() || parsed.objects.len() > MAX_DELETE_KEYS {
            return Err(malformed());
        }
        Ok(parsed)
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    #[serde(default)]
    pub location_constraint: Option<String>,
}

impl CreateBucketConfiguration {
    /// Parses the optional body of CreateBucket (empty: no constraint).
    pub fn parse(body: &[u8]) -> S3Result<CreateBucketConfiguration> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(CreateBucketConfiguration::default());
        }
        parse(body)
    }
}

/// The fuzzing entry point for the XML request bodies; never panics.
pub fn fuzz_xml_bodies(data: &[u8]) {
    let _ = CompleteMultipartUpload::parse(data);
    let _ = Delete::parse(data);
    let _ = CreateBucketConfiguration::parse(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_multipart_upload() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part>
  <Part><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag><PartNumber>2</PartNumber><ChecksumCRC32C>4waSgw==</ChecksumCRC32C></Part>
</CompleteMultipartUpload>"#;
        let parsed = CompleteMultipartUpload::parse(body).unwrap();
        assert_eq!(parsed.parts.len(), 2);
        assert_eq!(parsed.parts[1].part_number, 2);
        assert_eq!(parsed.parts[0].etag, "\"a54357aff0632cce46d942af68356b38\"");
        assert_eq!(parsed.parts[1].checksum_crc32c.as_deref(), Some("4waSgw=="));
        crate::error::assert_refused(
            CompleteMultipartUpload::parse(b"<CompleteMultipartUpload/>"),
            ErrorCode::MalformedXML,
            "no Part.",
        );
        // Not a number: the XML does not fit the schema (MalformedXML), which
        // a number out of range would not be (InvalidArgument).
        let not_a_number = CompleteMultipartUpload::parse(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>");
        assert_eq!(
            not_a_number.unwrap_err(),
            S3Error::new(ErrorCode::MalformedXML)
        );
    }

    #[test]
    fn delete_objects() {
        let body = br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
            <Object><Key>a &amp; b</Key></Object><Object><Key>c</Key><VersionId>null</VersionId></Object></Delete>"#;
        let parsed = Delete::parse(body).unwrap();
        assert!(parsed.is_quiet());
        assert_eq!(parsed.objects[0].key, "a & b");
        assert_eq!(parsed.objects[1].version_id.as_deref(), Some("null"));
        let verbose = Delete::parse(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!verbose.is_quiet());
        assert_eq!(
            Delete::parse(b"<Delete></Delete>").unwrap_err(),
            S3Error::new(ErrorCode::MalformedXML)
        );
        let many = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(1001)
        );
        assert_eq!(
            Delete::parse(many.as_bytes()).unwrap_err(),
            S3Error::new(ErrorCode::MalformedXML)
        );
    }

    #[test]
    fn create_bucket_configuration() {
        assert_eq!(
            CreateBucketConfiguration::parse(b"")
                .unwrap()
                .location_constraint,
            None
        );
        let parsed = CreateBucketConfiguration::parse(
            b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
        )
        .unwrap();
        assert_eq!(parsed.location_constraint.as_deref(), Some("eu-west-1"));
        assert_eq!(
            CreateBucketConfiguration::parse(b"<nope").unwrap_err().code,
            ErrorCode::MalformedXML
        );
    }

    #[test]
    fn fuzz_body_survives_hostile_input() {
        for input in [
            &b"<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><Delete><Object><Key>&b;</Key></Object></Delete>"[..],
            b"<Delete><Object><Key>",
            b"<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber></Part></CompleteMultipartUpload>",
            b"\xff\xfe<",
            b"<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a></a>",
        ] {
            fuzz_xml_bodies(input);
        }
    }
}
