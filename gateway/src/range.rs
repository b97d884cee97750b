//! The `Range` header of GetObject: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
//!
//! As S3 does: a header that does not parse as one byte range (another
//! unit, several ranges, `a > b`, garbage) is ignored and the whole object
//! is sent; a range that parses but does not overlap the object answers 416
//! `InvalidRange`. An end past the object is clamped to its last byte.

use crate::error::{ErrorCode, S3Error, S3Result};

/// A byte range as the client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last`, both inclusive.
    FromTo { first: u64, last: u64 },
    /// `bytes=first-`.
    From { first: u64 },
    /// `bytes=-len`: the last `len` bytes.
    Suffix { len: u64 },
}

/// A satisfiable range of an object: `start..end` (end exclusive),
/// `start < end <= size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// `bytes start-last/size` for `Content-Range`.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end - 1, size)
    }
}

/// Longest header we look at; a real one is under 50 bytes.
const MAX_RANGE_HEADER: usize = 256;

/// Parses a `Range` header; `None` when S3 would ignore it.
pub fn parse_range(header: &str) -> Option<RangeSpec> {
    if header.len() > MAX_RANGE_HEADER {
        return None;
    }
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix { len: number(last)? }),
        (false, true) => Some(RangeSpec::From {
            first: number(first)?,
        }),
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some(RangeSpec::FromTo { first, last })
        }
    }
}

impl RangeSpec {
    /// The bytes of an object of `size` bytes this range selects, or
    /// `InvalidRange` when it selects none.
    pub fn resolve(self, size: u64) -> S3Result<ByteRange> {
        let range = match self {
            RangeSpec::FromTo { first, last } if first < size => ByteRange {
                start: first,
                end: last.saturating_add(1).min(size),
            },
            RangeSpec::From { first } if first < size => ByteRange {
                start: first,
                end: size,
            },
            RangeSpec::Suffix { len } if len > 0 && size > 0 => ByteRange {
                start: size - len.min(size),
                end: size,
            },
            _ => {
                return Err(S3Error::new(ErrorCode::InvalidRange)
                    .extra("RangeRequested", self.to_string())
                    .extra("ActualObjectSize", size.to_string()))
            }
        };
        Ok(range)
    }
}

impl std::fmt::Display for RangeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeSpec::FromTo { first, last } => write!(f, "bytes={first}-{last}"),
            RangeSpec::From { first } => write!(f, "bytes={first}-"),
            RangeSpec::Suffix { len } => write!(f, "bytes=-{len}"),
        }
    }
}

/// Parses the `x-amz-copy-source-range` of UploadPartCopy: `bytes=a-b`
/// only, and unlike `Range` a bad one is an error, not ignored.
pub fn parse_copy_source_range(header: &str, source_size: u64) -> S3Result<ByteRange> {
    let bad = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    match parse_range(header) {
        Some(RangeSpec::FromTo { first, last }) => {
            if last >= source_size {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidRange,
                    "The requested range is not satisfiable",
                ));
            }
            Ok(ByteRange {
                start: first,
                end: last + 1,
            })
        }
        _ => Err(bad()),
    }
}

/// The fuzzing entry point: parses and resolves against a few sizes; never
/// panics.
pub fn fuzz_range(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(spec) = parse_range(text) {
            for size in [0, 1, 10, u64::MAX] {
                if let Ok(range) = spec.resolve(size) {
                    assert!(range.start < range.end && range.end <= size);
                    let _ = range.content_range(size);
                }
            }
        }
        let _ = parse_copy_source_range(text, 100);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse_range("bytes=0-9"),
            Some(RangeSpec::FromTo { first: 0, last: 9 })
        );
        assert_eq!(parse_range("bytes=5-"), Some(RangeSpec::From { first: 5 }));
        assert_eq!(parse_range("bytes=-3"), Some(RangeSpec::Suffix { len: 3 }));
        for ignored in [
            "bytes=9-0",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
            "",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        let size = 10;
        let r = |s: &str| parse_range(s).unwrap().resolve(size);
        assert_eq!(r("bytes=0-9").unwrap(), ByteRange { start: 0, end: 10 });
        assert_eq!(r("bytes=2-100").unwrap(), ByteRange { start: 2, end: 10 });
        assert_eq!(r("bytes=7-").unwrap(), ByteRange { start: 7, end: 10 });
        assert_eq!(r("bytes=-3").unwrap(), ByteRange { start: 7, end: 10 });
        assert_eq!(r("bytes=-30").unwrap(), ByteRange { start: 0, end: 10 });
        assert_eq!(r("bytes=10-").unwrap_err().code, ErrorCode::InvalidRange);
        assert_eq!(r("bytes=10-20").unwrap_err().code, ErrorCode::InvalidRange);
        assert_eq!(r("bytes=-0").unwrap_err().code, ErrorCode::InvalidRange);
        let empty = parse_range("bytes=0-").unwrap().resolve(0);
        assert_eq!(empty.unwrap_err().code, ErrorCode::InvalidRange);
        assert_eq!(r("bytes=2-4").unwrap().content_range(size), "bytes 2-4/10");
        let max = parse_range("bytes=0-18446744073709551615").unwrap();
        assert_eq!(max.resolve(5).unwrap(), ByteRange { start: 0, end: 5 });
    }

    #[test]
    fn copy_source_range_is_strict() {
        assert_eq!(
            parse_copy_source_range("bytes=0-4", 10).unwrap(),
            ByteRange { start: 0, end: 5 }
        );
        crate::error::assert_refused(
            parse_copy_source_range("bytes=0-", 10),
            ErrorCode::InvalidArgument,
            "must be of the form bytes=first-last",
        );
        crate::error::assert_refused(
            parse_copy_source_range("bytes=5-10", 10),
            ErrorCode::InvalidRange,
            "not satisfiable",
        );
    }

    #[test]
    fn fuzz_body_survives_hostile_input() {
        for input in [
            &b"bytes=0-18446744073709551615"[..],
            b"bytes=-18446744073709551615",
            b"bytes=18446744073709551615-",
            b"\xff\xfe",
            b"bytes=--",
            b"bytes=0-0-0",
        ] {
            fuzz_range(input);
        }
    }
}
