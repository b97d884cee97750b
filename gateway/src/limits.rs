//! The limits S3 puts on names and sizes, and the checks that enforce them.
//! Each check answers with the S3 error a client expects.

use crate::error::{ErrorCode, S3Error, S3Result};

/// Longest object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest user metadata: the UTF-8 bytes of every `x-amz-meta-*` name
/// (without the prefix) and value, added up.
pub const MAX_USER_METADATA_BYTES: usize = 2 * 1024;
/// Largest object a single PUT (or a single part) may carry.
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// Smallest part of a multipart upload, except the last one.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Highest part number, and so the most parts an upload may have.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Most keys one DeleteObjects request may name.
pub const MAX_DELETE_KEYS: usize = 1000;
/// Largest XML request body we read. CompleteMultipartUpload with 10,000
/// parts each carrying an ETag and a checksum is about 1.5 MiB; DeleteObjects
/// with 1,000 keys of 1 KiB is about 1.1 MiB.
pub const MAX_XML_BODY: usize = 4 << 20;
/// Most keys a listing answers with at once.
pub const MAX_LIST_KEYS: usize = 1000;

/// Most tags on one object version (S3 user guide, "Categorizing your
/// storage using tags": "You can associate up to 10 tags with an object").
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on one bucket (user guide, "Using cost allocation S3 bucket
/// tags": "A tag set can contain as many as 50 tags, or it can be empty").
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in UTF-16 code units: "A tag key can be up to 128
/// Unicode characters in length ... Amazon S3 object tags are internally
/// represented in UTF-16" (user guide, object tagging).
pub const MAX_TAG_KEY_UNITS: usize = 128;
/// Longest tag value, in UTF-16 code units ("tag values can be up to 256
/// Unicode characters in length").
pub const MAX_TAG_VALUE_UNITS: usize = 256;

// The lifecycle limits live with the lifecycle rule model, in the cluster's
// common crate (the MDS's lifecycle runner uses it too); each carries its S3
// reference there.
pub use cairn_common::lifecycle::{
    MAX_DAYS as MAX_LIFECYCLE_DAYS, MAX_ID_CHARS as MAX_LIFECYCLE_ID_CHARS,
    MAX_NEWER_NONCURRENT_VERSIONS, MAX_OBJECT_SIZE as MAX_LIFECYCLE_OBJECT_SIZE,
    MAX_PREFIX_BYTES as MAX_LIFECYCLE_PREFIX_BYTES, MAX_RULES as MAX_LIFECYCLE_RULES,
};

/// Longest default retention of an Object Lock configuration (user guide,
/// "Object Lock": at most 100 years, 36,500 days).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// The same in years.
pub const MAX_RETENTION_YEARS: u32 = 100;

/// An object key must be 1 to 1024 bytes of UTF-8 (the type guarantees
/// UTF-8). Any byte S3 allows is allowed: the key is never turned into a
/// path by the gateway.
pub fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "An object key must not be empty.",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(ErrorCode::KeyTooLongError));
    }
    Ok(())
}

/// S3's rules for general-purpose bucket names: 3 to 63 characters of
/// lowercase letters, digits, `.` and `-`; starting and ending with a letter
/// or digit; no `..`, no `.-` or `-.`; not shaped like an IPv4 address; not
/// one of the reserved prefixes or suffixes.
pub fn check_bucket_name(name: &str) -> S3Result<()> {
    if is_valid_bucket_name(name) {
        Ok(())
    } else {
        Err(S3Error::new(ErrorCode::InvalidBucketName).resource(name.to_string()))
    }
}

pub fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !looks_like_ipv4(name)
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
}

fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// User metadata must not exceed 2 KiB in total.
pub fn check_user_metadata<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> S3Result<()> {
    let total: usize = entries.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_USER_METADATA_BYTES {
        return Err(S3Error::new(ErrorCode::MetadataTooLarge));
    }
    Ok(())
}

/// A part number must be within 1..=10,000.
pub fn check_part_number(part: u32) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&part) {
        Ok(())
    } else {
        Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}

/// A single PUT or part may carry at most 5 GiB.
pub fn check_put_size(len: u64) -> S3Result<()> {
    if len > MAX_PUT_SIZE {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.1", "a1b", "0ab", &"a".repeat(63)] {
            assert!(is_valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "",
            "a/b",
            "ab\u{e9}",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(1024)).is_ok());
        assert_eq!(
            check_key(&"k".repeat(1025)).unwrap_err().code,
            ErrorCode::KeyTooLongError
        );
        crate::error::assert_refused(
            check_key(""),
            ErrorCode::InvalidArgument,
            "must not be empty",
        );
        assert!(check_key("../../etc/passwd").is_ok());
    }

    #[test]
    fn metadata_and_sizes() {
        let big = "v".repeat(2048);
        assert!(check_user_metadata([("a", "b")]).is_ok());
        assert_eq!(
            check_user_metadata([("k", big.as_str())]).unwrap_err().code,
            ErrorCode::MetadataTooLarge
        );
        assert!(check_put_size(MAX_PUT_SIZE).is_ok());
        assert_eq!(
            check_put_size(MAX_PUT_SIZE + 1).unwrap_err().code,
            ErrorCode::EntityTooLarge
        );
        assert!(check_part_number(10_000).is_ok());
        for bad in [0, 10_001] {
            crate::error::assert_refused(
                check_part_number(bad),
                ErrorCode::InvalidArgument,
                "between 1 and 10000",
            );
        }
    }
}
