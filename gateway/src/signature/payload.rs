//! The modes of `x-amz-content-sha256`: how a SigV4 request's body is
//! covered by its signature.

use crate::error::{ErrorCode, S3Error, S3Result};

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// What `x-amz-content-sha256` says about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSha256 {
    /// The hex SHA-256 of the whole body: checked when the body ends.
    Hash([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered.
    Unsigned,
    /// `aws-chunked` with a signature per chunk (`signed`) or without,
    /// and with trailing headers (`trailer`) or without.
    Streaming { signed: bool, trailer: bool },
}

impl ContentSha256 {
    /// Parses the header's value.
    pub fn parse(value: &str) -> S3Result<ContentSha256> {
        Ok(match value {
            UNSIGNED_PAYLOAD => ContentSha256::Unsigned,
            STREAMING_SIGNED => ContentSha256::Streaming {
                signed: true,
                trailer: false,
            },
            STREAMING_SIGNED_TRAILER => ContentSha256::Streaming {
                signed: true,
                trailer: true,
            },
            STREAMING_UNSIGNED_TRAILER => ContentSha256::Streaming {
                signed: false,
                trailer: true,
            },
            hash => {
                let bytes = hex::decode(hash)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| {
                        S3Error::with_message(
                            ErrorCode::InvalidArgument,
                            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                        )
                    })?;
                ContentSha256::Hash(bytes)
            }
        })
    }

    /// The value that goes into the canonical request.
    pub fn canonical(&self) -> String {
        match self {
            ContentSha256::Hash(h) => hex::encode(h),
            ContentSha256::Unsigned => UNSIGNED_PAYLOAD.to_string(),
            ContentSha256::Streaming {
                signed: true,
                trailer: false,
            } => STREAMING_SIGNED.to_string(),
            ContentSha256::Streaming {
                signed: true,
                trailer: true,
            } => STREAMING_SIGNED_TRAILER.to_string(),
            ContentSha256::Streaming { signed: false, .. } => {
                STREAMING_UNSIGNED_TRAILER.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mode() {
        assert_eq!(
            ContentSha256::parse("UNSIGNED-PAYLOAD").unwrap(),
            ContentSha256::Unsigned
        );
        assert_eq!(
            ContentSha256::parse(STREAMING_UNSIGNED_TRAILER).unwrap(),
            ContentSha256::Streaming {
                signed: false,
                trailer: true
            }
        );
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let parsed = ContentSha256::parse(h).unwrap();
        assert_eq!(parsed.canonical(), h);
        for bad in ["STREAMING-UNSIGNED-PAYLOAD", "abc"] {
            crate::error::assert_refused(
                ContentSha256::parse(bad),
                ErrorCode::InvalidArgument,
                "x-amz-content-sha256 must be",
            );
        }
        for mode in [
            STREAMING_SIGNED,
            STREAMING_SIGNED_TRAILER,
            STREAMING_UNSIGNED_TRAILER,
            UNSIGNED_PAYLOAD,
        ] {
            assert_eq!(ContentSha256::parse(mode).unwrap().canonical(), mode);
        }
    }
}
