//! `ServerSideEncryptionConfiguration` (PutBucketEncryption and
//! GetBucketEncryption's body) and the bucket setting it is stored as:
//! `AES256`, or `AES256+bucket-key` when `BucketKeyEnabled` is true.

use super::tree::{self, malformed};
use crate::error::{ErrorCode, S3Error, S3Result};

/// SSE-KMS: Cairn has no key management service.
fn kms_not_implemented() -> S3Error {
    S3Error::with_message(
        ErrorCode::NotImplemented,
        "SSE-KMS is not implemented; use AES256 (SSE-S3) or SSE-C.",
    )
}

pub const BUCKET_KEY_SUFFIX: &str = "+bucket-key";

/// The stored setting of a configuration body.
pub fn parse(body: &[u8]) -> S3Result<Vec<u8>> {
    let doc = tree::parse(body, "ServerSideEncryptionConfiguration")?;
    doc.only(&["Rule"])?;
    let mut rules = doc.children_named("Rule");
    let rule = rules.next().ok_or_else(malformed)?;
    if rules.next().is_some() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Only one server side encryption rule is allowed.",
        ));
    }
    rule.only(&["ApplyServerSideEncryptionByDefault", "BucketKeyEnabled"])?;
    let bucket_key = match rule.child("BucketKeyEnabled")? {
        Some(b) => b.boolean()?,
        None => false,
    };
    let default = rule.required("ApplyServerSideEncryptionByDefault")?;
    default.only(&["SSEAlgorithm", "KMSMasterKeyID"])?;
    match default.required("SSEAlgorithm")?.leaf()? {
        "AES256" if default.child("KMSMasterKeyID")?.is_none() => {}
        "AES256" => {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
            ))
        }
        a if a.starts_with("aws:kms") => return Err(kms_not_implemented()),
        _ => return Err(malformed()),
    }
    let mut stored = b"AES256".to_vec();
    if bucket_key {
        stored.extend_from_slice(BUCKET_KEY_SUFFIX.as_bytes());
    }
    Ok(stored)
}

/// Whether a stored setting asks for SSE-S3.
pub fn is_s3(stored: &[u8]) -> bool {
    stored == b"AES256" || stored == format!("AES256{BUCKET_KEY_SUFFIX}").as_bytes()
}

/// The configuration answered for a bucket whose default is SSE-S3.
pub fn to_xml(bucket_key: bool) -> String {
    let mut out = String::new();
    tree::open_root(&mut out, "ServerSideEncryptionConfiguration");
    out.push_str("<Rule><ApplyServerSideEncryptionByDefault>");
    tree::push_leaf(&mut out, "SSEAlgorithm", "AES256");
    out.push_str("</ApplyServerSideEncryptionByDefault>");
    tree::push_leaf(&mut out, "BucketKeyEnabled", &bucket_key.to_string());
    out.push_str("</Rule>");
    tree::push_close(&mut out, "ServerSideEncryptionConfiguration");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations() {
        let ok = br#"<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"#;
        let stored = parse(ok).expect("AES256");
        assert!(is_s3(&stored));
        assert!(to_xml(true).contains("<BucketKeyEnabled>true</BucketKeyEnabled>"));
        assert_eq!(
            parse(to_xml(false).as_bytes()).expect("own answer"),
            b"AES256"
        );
        let kms = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert_eq!(parse(kms).unwrap_err().code, ErrorCode::NotImplemented);
        let bad = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>DES</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert_eq!(parse(bad).unwrap_err().code, ErrorCode::MalformedXML);
        let none = br#"<ServerSideEncryptionConfiguration></ServerSideEncryptionConfiguration>"#;
        assert_eq!(parse(none).unwrap_err().code, ErrorCode::MalformedXML);
    }
}
