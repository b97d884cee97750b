//! The whole-object checksum of a multipart upload, of either S3 type:
//!
//! - COMPOSITE: the checksum of the parts' checksums, then `-N` (CRC32,
//!   CRC32C, SHA1, SHA256);
//! - FULL_OBJECT: the CRC of the whole object (CRC32, CRC32C, CRC64NVME),
//!   found without reading a byte by combining the parts' CRCs with their
//!   lengths (`crc_fast::checksum_combine`).
//!
//! An upload keeps its algorithm and type in headers of its node until
//! completion; the object then keeps its checksum, each part's, and the
//! type follows from the value (a composite one ends in `-N`).

use http::HeaderMap;

use crate::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
pub use crate::checksum_type::ChecksumType;
use crate::error::{ErrorCode, S3Error, S3Result};

/// Header of the upload's node naming the checksum algorithm announced at
/// creation (removed at completion).
pub const UPLOAD_CHECKSUM_HEADER: &str = "x-cairn-checksum-algorithm";
/// Header of the upload's node naming the checksum type (removed at
/// completion). An upload made before it existed has none: COMPOSITE,
/// the only type there was.
pub const UPLOAD_CHECKSUM_TYPE_HEADER: &str = "x-cairn-checksum-type";
fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidRequest, message)
}

/// The `x-amz-checksum-type` of a request, if given.
fn requested_type(headers: &HeaderMap) -> S3Result<Option<ChecksumType>> {
    match headers.get("x-amz-checksum-type") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(ChecksumType::from_name)
            .map(Some)
            .ok_or_else(|| invalid("Value for x-amz-checksum-type header is invalid.")),
    }
}

/// The algorithm and type CreateMultipartUpload asks for
/// (`x-amz-checksum-algorithm`, `x-amz-checksum-type`), as S3 checks
/// them: a type needs an algorithm, and the pair must be one S3 has.
pub fn upload_checksum(headers: &HeaderMap) -> S3Result<Option<(ChecksumAlgorithm, ChecksumType)>> {
    let algorithm = match headers.get("x-amz-checksum-algorithm") {
        Some(name) => Some(
            name.to_str()
                .ok()
                .and_then(ChecksumAlgorithm::from_name)
                .ok_or_else(|| invalid("Checksum algorithm provided is unsupported."))?,
        ),
        None => None,
    };
    let kind = requested_type(headers)?;
    match (algorithm, kind) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(invalid(
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        )),
        (Some(a), kind) => {
            let kind = kind.unwrap_or_else(|| ChecksumType::default_for(a));
            if !kind.allows(a) {
                return Err(invalid(format!(
                    "The {} checksum type cannot be used with the {} checksum algorithm.",
                    kind.as_str(),
                    a.as_str().to_ascii_lowercase()
                )));
            }
            Ok(Some((a, kind)))
        }
    }
}

/// The object's checksum from its parts' `(size, base64 checksum)`, in
/// order; `None` when a part has none.
pub fn object_checksum(
    parts: &[(u64, Option<&str>)],
    algorithm: ChecksumAlgorithm,
    kind: ChecksumType,
) -> Option<String> {
    let values = parts
        .iter()
        .map(|(size, value)| Some((*size, Checksum::from_base64(algorithm, (*value)?)?)))
        .collect::<Option<Vec<_>>>()?;
    match kind {
        ChecksumType::Composite => {
            let mut c = Checksummer::new().with_flexible(Some(algorithm));
            for (_, part) in &values {
                c.update(&part.value);
            }
            let whole = c.finish().flexible?;
            Some(format!("{}-{}", whole.to_base64(), values.len()))
        }
        ChecksumType::FullObject => {
            let crc = combined_crc(algorithm, &values)?;
            Some(crc.to_base64())
        }
    }
}

/// The CRC of the concatenated parts. A CRC of no bytes is the CRC's
/// initial value after its final XOR, which is zero for all three.
fn combined_crc(algorithm: ChecksumAlgorithm, parts: &[(u64, Checksum)]) -> Option<Checksum> {
    let crc = match algorithm {
        ChecksumAlgorithm::Crc32 => crc_fast::CrcAlgorithm::Crc32IsoHdlc,
        ChecksumAlgorithm::Crc32c => crc_fast::CrcAlgorithm::Crc32Iscsi,
        ChecksumAlgorithm::Crc64Nvme => crc_fast::CrcAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
    };
    let mut whole = 0u64;
    for (size, part) in parts {
        let mut raw = [0u8; 8];
        let at = raw.len().checked_sub(part.value.len())?;
        raw.get_mut(at..)?.copy_from_slice(&part.value);
        whole = crc_fast::checksum_combine(crc, whole, u64::from_be_bytes(raw), *size);
    }
    let bytes = whole.to_be_bytes();
    let value = bytes.get(bytes.len() - algorithm.digest_len()..)?.to_vec();
    Some(Checksum { algorithm, value })
}

/// Checks what CompleteMultipartUpload says of the whole object against
/// the upload: `x-amz-checksum-type` must be the upload's, a whole-object
/// `x-amz-checksum-*` must be of the upload's algorithm (InvalidRequest)
/// and equal `computed` (BadDigest; a composite value may be sent with or
/// without its `-N`).
pub fn check_claimed(
    headers: &HeaderMap,
    upload: Option<(ChecksumAlgorithm, ChecksumType)>,
    computed: Option<&str>,
) -> S3Result<()> {
    if let Some(kind) = requested_type(headers)? {
        if upload.map(|(_, k)| k) != Some(kind) {
            return Err(invalid(format!(
                "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                upload.map_or("null", |(_, k)| k.as_str())
            )));
        }
    }
    for algorithm in ChecksumAlgorithm::ALL {
        let Some(claimed) = headers.get(algorithm.header_name()) else {
            continue;
        };
        let claimed = claimed.to_str().map_err(|_| {
            invalid(format!(
                "Value for {} header is invalid.",
                algorithm.header_name()
            ))
        })?;
        if upload.map(|(a, _)| a) != Some(algorithm) {
            return Err(invalid(format!(
                "The upload was created using the {} checksum algorithm; the complete request gives {}.",
                upload.map_or("null", |(a, _)| a.as_str()).to_ascii_lowercase(),
                algorithm.as_str().to_ascii_lowercase()
            )));
        }
        let bare = |v: &str| match ChecksumType::of_value(v) {
            ChecksumType::Composite => v.rsplit_once('-').map_or(v, |(b, _)| b).to_string(),
            ChecksumType::FullObject => v.to_string(),
        };
        if computed.map(bare) != Some(bare(claimed.trim())) {
            return Err(S3Error::with_message(
                ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.as_str().to_ascii_lowercase()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn b64(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = Checksummer::new().with_flexible(Some(algorithm));
        c.update(data);
        c.finish()
            .flexible
            .map(|c| c.to_base64())
            .unwrap_or_default()
    }

    #[test]
    fn full_object_crcs_combine_to_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let cuts = [(0, 4096), (4096, 4097), (4097, 10_000)];
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts: Vec<(u64, String)> = cuts
                .iter()
                .map(|(a, b)| ((b - a) as u64, b64(algorithm, &data[*a..*b])))
                .collect();
            let refs: Vec<(u64, Option<&str>)> =
                parts.iter().map(|(s, v)| (*s, Some(v.as_str()))).collect();
            assert_eq!(
                object_checksum(&refs, algorithm, ChecksumType::FullObject),
                Some(b64(algorithm, &data)),
                "{algorithm:?}"
            );
        }
        let missing = [(3, Some("AAAAAA==")), (3, None)];
        assert_eq!(
            object_checksum(&missing, ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
            None
        );
    }

    #[test]
    fn composite_is_the_checksum_of_the_checksums() {
        let (a, b) = (b"first part".as_slice(), b"second".as_slice());
        let algorithm = ChecksumAlgorithm::Sha256;
        let mut raw = Checksum::from_base64(algorithm, &b64(algorithm, a))
            .unwrap()
            .value;
        raw.extend(
            Checksum::from_base64(algorithm, &b64(algorithm, b))
                .unwrap()
                .value,
        );
        let (pa, pb) = (b64(algorithm, a), b64(algorithm, b));
        let parts = [(10, Some(pa.as_str())), (6, Some(pb.as_str()))];
        let got = object_checksum(&parts, algorithm, ChecksumType::Composite).unwrap();
        assert_eq!(got, format!("{}-2", b64(algorithm, &raw)));
        assert_eq!(ChecksumType::of_value(&got), ChecksumType::Composite);
        assert_eq!(ChecksumType::of_value(&pa), ChecksumType::FullObject);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn creation_checks_the_pair() {
        use ChecksumAlgorithm::*;
        let ok = |pairs| upload_checksum(&headers(pairs)).unwrap();
        assert_eq!(ok(&[]), None);
        assert_eq!(
            ok(&[("x-amz-checksum-algorithm", "CRC32")]),
            Some((Crc32, ChecksumType::Composite))
        );
        assert_eq!(
            ok(&[("x-amz-checksum-algorithm", "crc64nvme")]),
            Some((Crc64Nvme, ChecksumType::FullObject))
        );
        assert_eq!(
            ok(&[
                ("x-amz-checksum-algorithm", "CRC32C"),
                ("x-amz-checksum-type", "FULL_OBJECT")
            ]),
            Some((Crc32c, ChecksumType::FullObject))
        );
        for bad in [
            &[("x-amz-checksum-type", "FULL_OBJECT")][..],
            &[
                ("x-amz-checksum-algorithm", "SHA256"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ],
            &[
                ("x-amz-checksum-algorithm", "CRC64NVME"),
                ("x-amz-checksum-type", "COMPOSITE"),
            ],
            &[
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "PARTIAL"),
            ],
        ] {
            assert_eq!(
                upload_checksum(&headers(bad)).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_claim_on_completion_is_checked() {
        use ChecksumAlgorithm::*;
        let full = Some((Crc32, ChecksumType::FullObject));
        let value = "NSRBwg==";
        assert!(check_claimed(
            &headers(&[("x-amz-checksum-crc32", "NSRBwg==")]),
            full,
            Some(value)
        )
        .is_ok());
        let wrong = check_claimed(
            &headers(&[("x-amz-checksum-crc32", "AAAAAA==")]),
            full,
            Some(value),
        );
        assert_eq!(wrong.unwrap_err().code, ErrorCode::BadDigest);
        let other = check_claimed(
            &headers(&[("x-amz-checksum-crc32c", "AAAAAA==")]),
            full,
            Some(value),
        );
        assert_eq!(other.unwrap_err().code, ErrorCode::InvalidRequest);
        let mode = check_claimed(
            &headers(&[("x-amz-checksum-type", "COMPOSITE")]),
            full,
            Some(value),
        );
        assert_eq!(mode.unwrap_err().code, ErrorCode::InvalidRequest);
        let none = check_claimed(
            &headers(&[("x-amz-checksum-crc32", "NSRBwg==")]),
            None,
            None,
        );
        assert_eq!(none.unwrap_err().code, ErrorCode::InvalidRequest);
        // A composite value is matched with or without its part count.
        let composite = Some((Sha256, ChecksumType::Composite));
        let c = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-2";
        for claimed in [
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-2",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-amz-checksum-sha256", HeaderValue::from_static(claimed));
            assert!(check_claimed(&h, composite, Some(c)).is_ok(), "{claimed}");
        }
    }
}
