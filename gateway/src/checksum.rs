//! Checksums of object bodies, computed while the body streams through:
//! `Content-MD5`, the SHA-256 of a signed payload, and the flexible
//! checksums `x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256`.
//!
//! Values travel base64-encoded (big-endian for the CRCs), as S3 writes
//! them. A declared value that is not well-formed is refused before any
//! byte is read (`InvalidDigest`, `InvalidRequest`); one that does not match
//! the body is refused at its end (`BadDigest`, `XAmzContentSHA256Mismatch`),
//! before anything is committed.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::HeaderMap;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use crate::error::{ErrorCode, S3Error, S3Result};

/// The flexible-checksum algorithms of S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The header (and trailer) that carries a value of this algorithm.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name in `x-amz-checksum-algorithm` and XML (`CRC32`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Parses an algorithm name, case-insensitively.
    pub fn from_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Parses a header name (`x-amz-checksum-crc32c`), case-insensitively.
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name.trim()))
    }

    /// Length of a raw value.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }
}

/// One checksum value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: Vec<u8>,
}

impl Checksum {
    /// Decodes a base64 value, checking its length for the algorithm.
    pub fn from_base64(algorithm: ChecksumAlgorithm, text: &str) -> Option<Checksum> {
        let value = BASE64.decode(text.trim()).ok()?;
        (value.len() == algorithm.digest_len()).then_some(Checksum { algorithm, value })
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.value)
    }
}

/// The running state of one algorithm.
#[derive(Clone)]
enum Running {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Running {
    fn new(algorithm: ChecksumAlgorithm) -> Running {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Running::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Running::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => Running::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Running::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Running::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Running::Crc32(h) => h.update(data),
            Running::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Running::Crc64Nvme(h) => h.write(data),
            Running::Sha1(h) => h.update(data),
            Running::Sha256(h) => h.update(data),
        }
    }

    fn finish(self) -> Checksum {
        let (algorithm, value) = match self {
            Running::Crc32(h) => (
                ChecksumAlgorithm::Crc32,
                h.finalize().to_be_bytes().to_vec(),
            ),
            Running::Crc32c(c) => (ChecksumAlgorithm::Crc32c, c.to_be_bytes().to_vec()),
            Running::Crc64Nvme(h) => (
                ChecksumAlgorithm::Crc64Nvme,
                h.sum64().to_be_bytes().to_vec(),
            ),
            Running::Sha1(h) => (ChecksumAlgorithm::Sha1, h.finalize().to_vec()),
            Running::Sha256(h) => (ChecksumAlgorithm::Sha256, h.finalize().to_vec()),
        };
        Checksum { algorithm, value }
    }
}

/// Computes a chosen set of checksums over a stream of byte slices.
#[derive(Clone, Default)]
pub struct Checksummer {
    md5: Option<Md5>,
    sha256: Option<Sha256>,
    flexible: Option<Running>,
    len: u64,
}

/// What a `Checksummer` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    pub md5: Option<[u8; 16]>,
    pub sha256: Option<[u8; 32]>,
    pub flexible: Option<Checksum>,
    pub len: u64,
}

impl Checksummer {
    pub fn new() -> Checksummer {
        Checksummer::default()
    }

    pub fn with_md5(mut self) -> Self {
        self.md5 = Some(Md5::new());
        self
    }

    pub fn with_sha256(mut self) -> Self {
        self.sha256 = Some(Sha256::new());
        self
    }

    /// Adds one flexible algorithm (at most one per request, as in S3).
    pub fn with_flexible(mut self, algorithm: Option<ChecksumAlgorithm>) -> Self {
        self.flexible = algorithm.map(Running::new);
        self
    }

    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.flexible {
            h.update(data);
        }
    }

    pub fn finish(self) -> Computed {
        Computed {
            md5: self.md5.map(|h| h.finalize().into()),
            sha256: self.sha256.map(|h| h.finalize().into()),
            flexible: self.flexible.map(Running::finish),
            len: self.len,
        }
    }
}

/// What the request declared about its body, checked against `Computed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// From `Content-MD5`.
    pub md5: Option<[u8; 16]>,
    /// From a hex `x-amz-content-sha256` (a signed payload).
    pub sha256: Option<[u8; 32]>,
    /// From an `x-amz-checksum-*` header, or a trailer once it arrives.
    pub flexible: Option<Checksum>,
    /// An algorithm announced (`x-amz-sdk-checksum-algorithm`,
    /// `x-amz-checksum-algorithm`) without a value: compute and store it.
    pub compute: Option<ChecksumAlgorithm>,
}

impl Expected {
    /// Reads `Content-MD5`, `x-amz-checksum-*` and the checksum-algorithm
    /// headers. The signed payload hash is set by the signature check.
    pub fn from_headers(headers: &HeaderMap) -> S3Result<Expected> {
        let mut expected = Expected::default();
        if let Some(md5) = headers.get("content-md5") {
            let decoded = md5
                .to_str()
                .ok()
                .and_then(|v| BASE64.decode(v.trim()).ok())
                .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
                .ok_or_else(|| S3Error::new(ErrorCode::InvalidDigest))?;
            expected.md5 = Some(decoded);
        }
        for algorithm in ChecksumAlgorithm::ALL {
            let Some(value) = headers.get(algorithm.header_name()) else {
                continue;
            };
            if expected.flexible.is_some() {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let checksum = value
                .to_str()
                .ok()
                .and_then(|v| Checksum::from_base64(algorithm, v))
                .ok_or_else(|| {
                    S3Error::with_message(
                        ErrorCode::InvalidRequest,
                        format!("Value for {} header is invalid.", algorithm.header_name()),
                    )
                })?;
            expected.flexible = Some(checksum);
        }
        let announced = ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"]
            .iter()
            .find_map(|name| headers.get(*name));
        if let Some(name) = announced {
            let algorithm = name
                .to_str()
                .ok()
                .and_then(ChecksumAlgorithm::from_name)
                .ok_or_else(|| {
                    S3Error::with_message(
                        ErrorCode::InvalidRequest,
                        "Checksum algorithm provided is unsupported.",
                    )
                })?;
            if let Some(flexible) = &expected.flexible {
                if flexible.algorithm != algorithm {
                    return Err(S3Error::with_message(
                        ErrorCode::InvalidRequest,
                        "Value for x-amz-sdk-checksum-algorithm header is invalid.",
                    ));
                }
            }
            expected.compute = Some(algorithm);
        }
        Ok(expected)
    }

    /// The flexible algorithm to compute: the declared value's, or the
    /// announced one.
    pub fn flexible_algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.flexible.as_ref().map(|c| c.algorithm).or(self.compute)
    }

    /// A `Checksummer` computing everything this expects, plus MD5 (always
    /// computed: it is the ETag).
    pub fn checksummer(&self) -> Checksummer {
        let mut checksummer = Checksummer::new()
            .with_md5()
            .with_flexible(self.flexible_algorithm());
        if self.sha256.is_some() {
            checksummer = checksummer.with_sha256();
        }
        checksummer
    }

    /// Compares what was declared with what was computed.
    pub fn verify(&self, computed: &Computed) -> S3Result<()> {
        if let (Some(want), Some(got)) = (self.sha256, computed.sha256) {
            if want != got {
                return Err(S3Error::new(ErrorCode::XAmzContentSHA256Mismatch)
                    .extra("ClientComputedContentSHA256", hex::encode(want))
                    .extra("S3ComputedContentSHA256", hex::encode(got)));
            }
        }
        if let (Some(want), Some(got)) = (self.md5, computed.md5) {
            if want != got {
                return Err(S3Error::new(ErrorCode::BadDigest));
            }
        }
        if let (Some(want), Some(got)) = (&self.flexible, &computed.flexible) {
            if want != got {
                return Err(S3Error::with_message(
                    ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        want.algorithm.header_name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn one_shot(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
        let mut c = Checksummer::new().with_flexible(Some(algorithm));
        // Split the input to check that streaming equals one-shot.
        let (a, b) = data.split_at(data.len() / 2);
        c.update(a);
        c.update(b);
        c.finish().flexible.unwrap()
    }

    #[test]
    fn check_values_of_the_standard_vectors() {
        let data = b"123456789";
        assert_eq!(
            one_shot(ChecksumAlgorithm::Crc32, data).value,
            0xCBF4_3926u32.to_be_bytes()
        );
        assert_eq!(
            one_shot(ChecksumAlgorithm::Crc32c, data).value,
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            one_shot(ChecksumAlgorithm::Crc64Nvme, data).value,
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            hex::encode(one_shot(ChecksumAlgorithm::Sha1, b"abc").value),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(one_shot(ChecksumAlgorithm::Sha256, b"").value),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn content_md5_is_checked() {
        let mut headers = HeaderMap::new();
        // MD5("hello") = 5d41402abc4b2a76b9719d911017c592
        headers.insert(
            "content-md5",
            HeaderValue::from_static("XUFAKrxLKna5cZ2REBfFkg=="),
        );
        let expected = Expected::from_headers(&headers).unwrap();
        let mut c = expected.checksummer();
        c.update(b"hello");
        assert!(expected.verify(&c.finish()).is_ok());
        let mut c = expected.checksummer();
        c.update(b"hellO");
        assert_eq!(
            expected.verify(&c.finish()).unwrap_err().code,
            ErrorCode::BadDigest
        );

        headers.insert("content-md5", HeaderValue::from_static("not base64!"));
        assert_eq!(
            Expected::from_headers(&headers).unwrap_err().code,
            ErrorCode::InvalidDigest
        );
    }

    #[test]
    fn flexible_checksum_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-checksum-crc32c",
            HeaderValue::from_static("4waSgw=="),
        );
        let expected = Expected::from_headers(&headers).unwrap();
        assert_eq!(
            expected.flexible_algorithm(),
            Some(ChecksumAlgorithm::Crc32c)
        );
        let mut c = expected.checksummer();
        c.update(b"123456789");
        assert!(expected.verify(&c.finish()).is_ok());
        let mut c = expected.checksummer();
        c.update(b"12345678");
        assert_eq!(
            expected.verify(&c.finish()).unwrap_err().code,
            ErrorCode::BadDigest
        );

        headers.insert("x-amz-checksum-crc32", HeaderValue::from_static("AAAAAA=="));
        assert_eq!(
            Expected::from_headers(&headers).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let mut short = HeaderMap::new();
        short.insert("x-amz-checksum-sha1", HeaderValue::from_static("AAAAAA=="));
        crate::error::assert_refused(
            Expected::from_headers(&short),
            ErrorCode::InvalidRequest,
            "Value for x-amz-checksum-sha1 header is invalid.",
        );
        let mut announced = HeaderMap::new();
        announced.insert(
            "x-amz-sdk-checksum-algorithm",
            HeaderValue::from_static("crc64nvme"),
        );
        assert_eq!(
            Expected::from_headers(&announced)
                .unwrap()
                .flexible_algorithm(),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
    }

    #[test]
    fn names_round_trip() {
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_name(a.as_str()), Some(a));
            assert_eq!(
                ChecksumAlgorithm::from_header_name(a.header_name()),
                Some(a)
            );
        }
    }
}
