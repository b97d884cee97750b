//! Request bodies on their way in: the HTTP body as a stream of `Bytes`,
//! the `aws-chunked` decoder when the payload mode asks for it, and a
//! verifying adaptor that counts, hashes and checks the bytes.
//!
//! Invariant: a body stream ends with `None` only when every declared check
//! passed (length, Content-MD5, signed SHA-256, flexible checksum); any
//! failure is an error item, so a consumer that commits only on a clean end
//! never commits bad data. The first error is also kept in an `ErrorSlot`:
//! the client library reports body errors as plain I/O errors, and the
//! handler recovers the precise S3 error from there.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use http::HeaderMap;

use crate::checksum::{ChecksumAlgorithm, Checksummer, Computed, Expected};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::signature::streaming::{ChunkedDecoder, ChunkedOptions, TrailerSlot};
use crate::signature::PayloadCheck;

/// A body as a stream of byte pieces.
pub type BodyStream = BoxStream<'static, Result<Bytes, S3Error>>;

/// The HTTP body as a stream; transport errors become `IncompleteBody`, a
/// body cut off for its slowness `RequestTimeout`.
pub fn body_stream(body: axum::body::Body) -> BodyStream {
    body.into_data_stream()
        .map(|item| {
            item.map_err(|e| {
                tracing::debug!(error = %e, "request body interrupted");
                let cause = e.into_inner();
                if crate::slow_body::is_body_too_slow(&*cause) {
                    S3Error::new(ErrorCode::RequestTimeout)
                } else {
                    S3Error::new(ErrorCode::IncompleteBody)
                }
            })
        })
        .boxed()
}

/// Reads a whole small body (XML), refusing more than `max` bytes.
pub async fn read_bounded(mut body: BodyStream, max: usize) -> S3Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(piece) = body.next().await {
        let piece = piece?;
        if out.len() + piece.len() > max {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "The request body is too large.",
            ));
        }
        out.extend_from_slice(&piece);
    }
    Ok(out.freeze())
}

/// The first error a body stream met.
#[derive(Debug, Clone, Default)]
pub struct ErrorSlot(Arc<Mutex<Option<S3Error>>>);

impl ErrorSlot {
    pub fn take(&self) -> Option<S3Error> {
        self.0.lock().ok().and_then(|mut e| e.take())
    }

    fn put(&self, error: &S3Error) {
        if let Ok(mut slot) = self.0.lock() {
            if slot.is_none() {
                *slot = Some(error.clone());
            }
        }
    }
}

/// What a verified body computed, available once it ended cleanly.
#[derive(Debug, Clone, Default)]
pub struct ComputedSlot(Arc<Mutex<Option<Computed>>>);

impl ComputedSlot {
    pub fn take(&self) -> Option<Computed> {
        self.0.lock().ok().and_then(|mut c| c.take())
    }
}

/// Counts, hashes and checks a body.
pub struct VerifiedBody {
    inner: BodyStream,
    checksummer: Option<Checksummer>,
    expected: Expected,
    /// Exact length the body must have, when declared.
    exact_len: Option<u64>,
    /// Most bytes accepted.
    max_len: u64,
    /// Fewest bytes accepted (POST policy `content-length-range`).
    min_len: u64,
    len: u64,
    done: bool,
    errors: ErrorSlot,
    computed: ComputedSlot,
}

impl VerifiedBody {
    fn fail(&mut self, error: S3Error) -> Poll<Option<Result<Bytes, S3Error>>> {
        self.done = true;
        self.errors.put(&error);
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for VerifiedBody {
    type Item = Result<Bytes, S3Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                this.len += bytes.len() as u64;
                if this.len > this.max_len {
                    return this.fail(S3Error::new(ErrorCode::EntityTooLarge));
                }
                if let Some(exact) = this.exact_len {
                    if this.len > exact {
                        return this.fail(S3Error::with_message(
                            ErrorCode::InvalidRequest,
                            "The body is longer than its declared length.",
                        ));
                    }
                }
                if let Some(c) = &mut this.checksummer {
                    c.update(&bytes);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(e),
            Poll::Ready(None) => {
                if this.len < this.min_len {
                    return this.fail(S3Error::new(ErrorCode::EntityTooSmall));
                }
                if let Some(exact) = this.exact_len {
                    if this.len != exact {
                        return this.fail(S3Error::new(ErrorCode::IncompleteBody));
                    }
                }
                let computed = this
                    .checksummer
                    .take()
                    .map(Checksummer::finish)
                    .unwrap_or_default();
                if let Err(e) = this.expected.verify(&computed) {
                    return this.fail(e);
                }
                if let Ok(mut slot) = this.computed.0.lock() {
                    *slot = Some(computed);
                }
                this.done = true;
                Poll::Ready(None)
            }
        }
    }
}

/// A request body ready to be consumed, with the slots its checks fill.
pub struct IncomingBody {
    pub stream: VerifiedBody,
    pub errors: ErrorSlot,
    pub computed: ComputedSlot,
    /// The verified trailing checksum of an `aws-chunked` body.
    pub trailer: TrailerSlot,
    /// The object's length, when known before reading.
    pub declared_len: Option<u64>,
}

fn header_u64(headers: &HeaderMap, name: &str) -> S3Result<Option<u64>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                S3Error::with_message(ErrorCode::InvalidArgument, format!("Invalid {name}"))
            }),
    }
}

impl VerifiedBody {
    /// A body of `min..=max` bytes with no other check (POST object files,
    /// whose form carries no digest), MD5 computed.
    pub fn bounded(inner: BodyStream, min_len: u64, max_len: u64) -> (VerifiedBody, ErrorSlot) {
        let errors = ErrorSlot::default();
        let body = VerifiedBody {
            inner,
            checksummer: Some(Checksummer::new().with_md5()),
            expected: Expected::default(),
            exact_len: None,
            max_len,
            min_len,
            len: 0,
            done: false,
            errors: errors.clone(),
            computed: ComputedSlot::default(),
        };
        (body, errors)
    }
}

/// Builds the checked body of an upload: decodes `aws-chunked` when the
/// payload mode says so, and checks length (at most `max_len`), Content-MD5,
/// the signed SHA-256 and the flexible checksum.
pub fn incoming(
    body: BodyStream,
    headers: &HeaderMap,
    payload: &PayloadCheck,
    max_len: u64,
) -> S3Result<IncomingBody> {
    let mut expected = Expected::from_headers(headers)?;
    let content_length = header_u64(headers, "content-length")?;
    let (stream, declared_len, trailer) = match payload {
        PayloadCheck::Chunked { signer, trailer } => {
            let decoded_length = header_u64(headers, "x-amz-decoded-content-length")?;
            let trailer_checksum = if *trailer {
                let name = headers
                    .get("x-amz-trailer")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        S3Error::with_message(
                            ErrorCode::InvalidRequest,
                            "Missing x-amz-trailer header",
                        )
                    })?;
                Some(ChecksumAlgorithm::from_header_name(name).ok_or_else(|| {
                    S3Error::with_message(
                        ErrorCode::InvalidRequest,
                        "The x-amz-trailer header names an unsupported checksum.",
                    )
                })?)
            } else {
                None
            };
            if trailer_checksum.is_some() {
                // The trailer carries the flexible checksum; the decoder
                // checks it.
                expected.flexible = None;
                expected.compute = None;
            }
            let decoder = ChunkedDecoder::new(
                body,
                ChunkedOptions {
                    signer: signer.clone(),
                    trailer: *trailer,
                    trailer_checksum,
                    decoded_length,
                },
            );
            let slot = decoder.trailer_slot();
            (decoder.boxed(), decoded_length, slot)
        }
        PayloadCheck::Sha256(hash) => {
            expected.sha256 = Some(*hash);
            (body, content_length, TrailerSlot::default())
        }
        PayloadCheck::Unsigned => (body, content_length, TrailerSlot::default()),
    };
    if let Some(len) = declared_len {
        if len > max_len {
            return Err(S3Error::new(ErrorCode::EntityTooLarge));
        }
    }
    let errors = ErrorSlot::default();
    let computed = ComputedSlot::default();
    let verified = VerifiedBody {
        inner: stream,
        checksummer: Some(expected.checksummer()),
        expected,
        exact_len: declared_len,
        max_len,
        min_len: 0,
        len: 0,
        done: false,
        errors: errors.clone(),
        computed: computed.clone(),
    };
    Ok(IncomingBody {
        stream: verified,
        errors,
        computed,
        trailer,
        declared_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn stream(pieces: &[&'static [u8]]) -> BodyStream {
        futures::stream::iter(
            pieces
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    async fn drain(mut body: IncomingBody) -> (S3Result<Vec<u8>>, IncomingBody) {
        let mut out = Vec::new();
        while let Some(piece) = body.stream.next().await {
            match piece {
                Ok(p) => out.extend_from_slice(&p),
                Err(e) => return (Err(e), body),
            }
        }
        (Ok(out), body)
    }

    #[tokio::test]
    async fn checks_length_and_md5() {
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("5"));
        headers.insert(
            "content-md5",
            HeaderValue::from_static("XUFAKrxLKna5cZ2REBfFkg=="),
        );
        let body = incoming(
            stream(&[b"he", b"llo"]),
            &headers,
            &PayloadCheck::Unsigned,
            100,
        )
        .unwrap();
        let (result, body) = drain(body).await;
        assert_eq!(result.unwrap(), b"hello");
        let computed = body.computed.take().unwrap();
        assert_eq!(
            hex::encode(computed.md5.unwrap()),
            "5d41402abc4b2a76b9719d911017c592"
        );

        let body = incoming(
            stream(&[b"he", b"llO"]),
            &headers,
            &PayloadCheck::Unsigned,
            100,
        )
        .unwrap();
        let (result, body) = drain(body).await;
        assert_eq!(result.unwrap_err().code, ErrorCode::BadDigest);
        assert_eq!(body.errors.take().unwrap().code, ErrorCode::BadDigest);

        let body = incoming(stream(&[b"he"]), &headers, &PayloadCheck::Unsigned, 100).unwrap();
        assert_eq!(
            drain(body).await.0.unwrap_err().code,
            ErrorCode::IncompleteBody
        );

        assert_eq!(
            incoming(stream(&[]), &headers, &PayloadCheck::Unsigned, 4)
                .err()
                .unwrap()
                .code,
            ErrorCode::EntityTooLarge
        );
    }

    #[tokio::test]
    async fn checks_the_signed_payload_hash() {
        let headers = HeaderMap::new();
        let good: [u8; 32] =
            hex::decode("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
                .unwrap()
                .try_into()
                .unwrap();
        let body = incoming(
            stream(&[b"hello"]),
            &headers,
            &PayloadCheck::Sha256(good),
            100,
        )
        .unwrap();
        assert!(drain(body).await.0.is_ok());
        let body = incoming(
            stream(&[b"hellO"]),
            &headers,
            &PayloadCheck::Sha256(good),
            100,
        )
        .unwrap();
        assert_eq!(
            drain(body).await.0.unwrap_err().code,
            ErrorCode::XAmzContentSHA256Mismatch
        );
    }

    #[tokio::test]
    async fn decodes_unsigned_trailer_bodies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-trailer",
            HeaderValue::from_static("x-amz-checksum-crc32c"),
        );
        headers.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("9"),
        );
        let payload = PayloadCheck::Chunked {
            signer: None,
            trailer: true,
        };
        let body = incoming(
            stream(&[b"9\r\n123456789\r\n0\r\nx-amz-checksum-crc32c:4waSgw==\r\n\r\n"]),
            &headers,
            &payload,
            100,
        )
        .unwrap();
        let (result, body) = drain(body).await;
        assert_eq!(result.unwrap(), b"123456789");
        assert_eq!(body.trailer.take().unwrap().to_base64(), "4waSgw==");
    }
}
