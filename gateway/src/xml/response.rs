//! Response bodies. Each type serialises to the element S3 answers with;
//! `to_xml` adds the declaration and the S3 namespace. Timestamps are
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` strings, ETags carry their quotes.

use serde::Serialize;

use super::{DECLARATION, S3_NAMESPACE};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{ErrorCode, S3Error, S3Result};

/// Serialises a response body with the XML declaration.
pub fn to_xml<T: Serialize>(value: &T) -> S3Result<String> {
    with_declaration(quick_xml::se::to_string(value))
}

/// As [`to_xml`] for an answer whose root element is named here: one with
/// a flattened field (`ChecksumElements`) is written as a map, which
/// carries no name of its own.
pub fn to_xml_named<T: Serialize>(root: &str, value: &T) -> S3Result<String> {
    with_declaration(quick_xml::se::to_string_with_root(root, value))
}

fn with_declaration(body: Result<String, quick_xml::SeError>) -> S3Result<String> {
    let body = body.map_err(|e| {
        tracing::error!(error = %e, "cannot serialise an XML answer");
        S3Error::new(ErrorCode::InternalError)
    })?;
    Ok(format!("{DECLARATION}{body}"))
}

fn ns() -> &'static str {
    S3_NAMESPACE
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    pub name: String,
    pub creation_date: String,
    pub bucket_region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Buckets {
    #[serde(rename = "Bucket", default)]
    pub buckets: Vec<BucketEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "ListAllMyBucketsResult", rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub owner: Owner,
    pub buckets: Buckets,
    /// The token of the next page, when the answer is cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

fn ser_ns<S: serde::Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(ns())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    pub prefix: String,
}

/// ListObjects (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResultV1 {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub name: String,
    pub prefix: String,
    pub marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ObjectEntry>,
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// ListObjectsV2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResultV2 {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub name: String,
    pub prefix: String,
    pub key_count: usize,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ObjectEntry>,
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    pub initiated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub max_uploads: usize,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Upload", default)]
    pub uploads: Vec<UploadEntry>,
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// The checksum elements of an answer (`ChecksumCRC32`, ...): at most one
/// is set, the algorithm's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChecksumElements {
    #[serde(rename = "ChecksumCRC32", skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl ChecksumElements {
    /// The element of `algorithm` holding `value`.
    pub fn of(algorithm: ChecksumAlgorithm, value: String) -> ChecksumElements {
        let mut out = ChecksumElements::default();
        let slot = match algorithm {
            ChecksumAlgorithm::Crc32 => &mut out.crc32,
            ChecksumAlgorithm::Crc32c => &mut out.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut out.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut out.sha1,
            ChecksumAlgorithm::Sha256 => &mut out.sha256,
        };
        *slot = Some(value);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    #[serde(flatten)]
    pub checksum: ChecksumElements,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: usize,
    pub is_truncated: bool,
    #[serde(rename = "Part", default)]
    pub parts: Vec<PartEntry>,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "CopyObjectResult", rename_all = "PascalCase")]
pub struct CopyObjectResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "CopyPartResult", rename_all = "PascalCase")]
pub struct CopyPartResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// Flattened: written with [`to_xml_named`].
    #[serde(flatten)]
    pub checksum: ChecksumElements,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// Flattened: written with [`to_xml_named`].
    #[serde(flatten)]
    pub checksum: ChecksumElements,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedEntry {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker_version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteErrorEntry {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "DeleteResult")]
pub struct DeleteResult {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    #[serde(rename = "Deleted", default)]
    pub deleted: Vec<DeletedEntry>,
    #[serde(rename = "Error", default)]
    pub errors: Vec<DeleteErrorEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "LocationConstraint")]
pub struct LocationConstraint {
    #[serde(rename = "@xmlns", serialize_with = "ser_ns")]
    pub xmlns: (),
    /// Empty for us-east-1, as S3 answers.
    #[serde(rename = "$text")]
    pub region: String,
}

/// The answer to a POST object with `success_action_status=201`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "PostResponse", rename_all = "PascalCase")]
pub struct PostResponse {
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// The `<Error>` body, for completeness (errors are normally written by
/// `S3Error::to_xml`, which also carries the extra elements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename = "Error", rename_all = "PascalCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub resource: String,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            id: "AK".into(),
            display_name: "me".into(),
        }
    }

    #[test]
    fn flattened_checksums_under_a_named_root() {
        let xml = to_xml_named(
            "CompleteMultipartUploadResult",
            &CompleteMultipartUploadResult {
                xmlns: (),
                location: "l".into(),
                bucket: "b".into(),
                key: "k".into(),
                etag: "e-2".into(),
                checksum: ChecksumElements::of(ChecksumAlgorithm::Crc64Nvme, "AAAAAAAAAAA=".into()),
                checksum_type: Some("FULL_OBJECT".into()),
            },
        )
        .unwrap();
        assert!(
            xml.contains("<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>l</Location>"),
            "{xml}"
        );
        assert!(
            xml.ends_with("<ETag>e-2</ETag><ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType></CompleteMultipartUploadResult>"),
            "{xml}"
        );
        let xml = to_xml_named(
            "CopyPartResult",
            &CopyPartResult {
                xmlns: (),
                last_modified: "t".into(),
                etag: "e".into(),
                checksum: ChecksumElements::default(),
            },
        )
        .unwrap();
        assert!(xml.ends_with("<ETag>e</ETag></CopyPartResult>"), "{xml}");
    }

    #[test]
    fn part_checksums_flatten_into_their_part() {
        let part = |checksum| PartEntry {
            part_number: 1,
            last_modified: "t".into(),
            etag: "e".into(),
            size: 3,
            checksum,
        };
        let xml = to_xml(&ListPartsResult {
            xmlns: (),
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            part_number_marker: 0,
            next_part_number_marker: 2,
            max_parts: 1000,
            is_truncated: false,
            parts: vec![
                part(ChecksumElements::of(
                    ChecksumAlgorithm::Crc64Nvme,
                    "AAAAAAAAAAA=".into(),
                )),
                part(ChecksumElements::default()),
            ],
            initiator: owner(),
            owner: owner(),
            storage_class: "STANDARD",
            checksum_algorithm: Some("CRC64NVME"),
            checksum_type: Some("FULL_OBJECT"),
        })
        .unwrap();
        assert!(
            xml.contains(
                "<Size>3</Size><ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME></Part><Part>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<Size>3</Size></Part><Initiator>"), "{xml}");
        assert!(
            xml.contains("<ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType></ListPartsResult>"),
            "{xml}"
        );
    }

    #[test]
    fn list_buckets() {
        let xml = to_xml(&ListAllMyBucketsResult {
            xmlns: (),
            owner: owner(),
            buckets: Buckets {
                buckets: vec![
                    BucketEntry {
                        name: "a".into(),
                        creation_date: "2013-05-24T00:00:00.000Z".into(),
                        bucket_region: "us-east-1".into(),
                    },
                    BucketEntry {
                        name: "b".into(),
                        creation_date: "2013-05-24T00:00:00.000Z".into(),
                        bucket_region: "us-east-1".into(),
                    },
                ],
            },
            continuation_token: Some("Yg".into()),
            prefix: Some("".into()),
        })
        .unwrap();
        assert!(
            xml.contains("</Buckets><ContinuationToken>Yg</ContinuationToken><Prefix/>"),
            "{xml}"
        );
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"), "{xml}");
        assert!(xml.contains("<Owner><ID>AK</ID><DisplayName>me</DisplayName></Owner>"));
        assert!(xml.contains("<Buckets><Bucket><Name>a</Name><CreationDate>2013-05-24T00:00:00.000Z</CreationDate><BucketRegion>us-east-1</BucketRegion></Bucket><Bucket><Name>b</Name>"));
    }

    #[test]
    fn list_objects_v2_escapes_and_repeats() {
        let xml = to_xml(&ListBucketResultV2 {
            xmlns: (),
            name: "b".into(),
            prefix: "".into(),
            key_count: 1,
            max_keys: 1000,
            delimiter: Some("/".into()),
            is_truncated: false,
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            encoding_type: None,
            contents: vec![ObjectEntry {
                key: "a<&>\"".into(),
                last_modified: "2013-05-24T00:00:00.000Z".into(),
                etag: "\"abc\"".into(),
                size: 3,
                storage_class: "STANDARD",
                owner: None,
            }],
            common_prefixes: vec![
                CommonPrefix {
                    prefix: "d/".into(),
                },
                CommonPrefix {
                    prefix: "e/".into(),
                },
            ],
        })
        .unwrap();
        assert!(xml.contains("<Key>a&lt;&amp;&gt;\"</Key>"), "{xml}");
        assert!(xml.contains("<KeyCount>1</KeyCount>"));
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"));
        assert!(xml.contains("<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>e/</Prefix></CommonPrefixes>"));
        assert!(!xml.contains("ContinuationToken"));
    }

    #[test]
    fn small_documents() {
        let xml = to_xml(&LocationConstraint {
            xmlns: (),
            region: String::new(),
        })
        .unwrap();
        assert!(
            xml.contains("<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""),
            "{xml}"
        );
        let xml = to_xml(&LocationConstraint {
            xmlns: (),
            region: "eu".into(),
        })
        .unwrap();
        assert!(xml.ends_with(">eu</LocationConstraint>"), "{xml}");
        let xml = to_xml(&DeleteResult {
            xmlns: (),
            deleted: vec![DeletedEntry {
                key: "k".into(),
                version_id: None,
                delete_marker: None,
                delete_marker_version_id: None,
            }],
            errors: vec![DeleteErrorEntry {
                key: "e".into(),
                version_id: None,
                code: "AccessDenied".into(),
                message: "no".into(),
            }],
        })
        .unwrap();
        assert!(
            xml.contains(
                "<Deleted><Key>k</Key></Deleted><Error><Key>e</Key><Code>AccessDenied</Code>"
            ),
            "{xml}"
        );
        let xml = to_xml(&InitiateMultipartUploadResult {
            xmlns: (),
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
        })
        .unwrap();
        assert!(xml.contains("<UploadId>u</UploadId>"));
        let xml = to_xml(&CopyObjectResult {
            xmlns: (),
            last_modified: "t".into(),
            etag: "\"e\"".into(),
        })
        .unwrap();
        assert!(xml.contains("<ETag>\"e\"</ETag>"), "{xml}");
    }
}
