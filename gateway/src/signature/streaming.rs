//! The `aws-chunked` body decoder, as a stream adaptor.
//!
//! Wire format (S3 API reference, "sigv4-streaming" and
//! "sigv4-streaming-trailers"):
//!
//! ```text
//! signed:    <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n
//! unsigned:  <hex size>\r\n<data>\r\n ... 0\r\n
//! then, without trailer:  \r\n
//! with a trailer:         x-amz-checksum-crc32c:<base64>\r\n
//!                         [x-amz-trailer-signature:<64 hex>\r\n]   (signed only)
//!                         \r\n
//! ```
//!
//! Invariants:
//! - memory is bounded whatever the input: data is passed through as slices
//!   of the incoming buffers (never gathered into a whole chunk); only a
//!   chunk-header or trailer line is accumulated, at most `MAX_LINE` bytes,
//!   and at most `MAX_TRAILER_LINES` trailer lines;
//! - every chunk signature is checked when its chunk ends, chained from the
//!   request's seed signature; the trailer signature and the declared
//!   trailing checksum are checked at the end;
//! - bytes yielded before an error are not valid: the consumer must discard
//!   them and commit nothing unless the stream ends with `None` (the client
//!   library's `put_object` does exactly that);
//! - hostile input ends in an error, never a panic.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::Stream;
use sha2::{Digest, Sha256};

use super::canonical::EMPTY_SHA256_HEX;
use super::mac_eq;
use super::signing::hmac_sha256;
use crate::checksum::{Checksum, ChecksumAlgorithm, Checksummer};
use crate::error::{ErrorCode, S3Error};

/// Longest chunk-header or trailer line (a signed header is about 90 bytes).
pub const MAX_LINE: usize = 4096;
/// Most trailer lines.
pub const MAX_TRAILER_LINES: usize = 16;
/// Largest chunk size accepted (S3 clients send 64 KiB to 8 MiB chunks; the
/// bound only keeps the arithmetic honest, memory does not depend on it).
pub const MAX_CHUNK_SIZE: u64 = 1 << 40;

/// What chunk signatures are checked with: the request's signing key, date,
/// scope and signature (the seed of the chain).
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigner {
    pub signing_key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    pub seed_signature: [u8; 32],
}

impl std::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("signing_key", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish()
    }
}

impl ChunkSigner {
    /// The signature of a chunk whose data hashes to `data_sha256`.
    pub fn chunk_signature(&self, previous: &[u8; 32], data_sha256: &[u8]) -> [u8; 32] {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(previous),
            EMPTY_SHA256_HEX,
            hex::encode(data_sha256)
        );
        hmac_sha256(&self.signing_key, to_sign.as_bytes())
    }

    /// The signature of the trailer whose canonical form
    /// (`name:value\n` per header, sorted) is `canonical_trailers`.
    pub fn trailer_signature(&self, previous: &[u8; 32], canonical_trailers: &[u8]) -> [u8; 32] {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(previous),
            hex::encode(Sha256::digest(canonical_trailers))
        );
        hmac_sha256(&self.signing_key, to_sign.as_bytes())
    }
}

/// Where the decoder leaves the verified trailing checksum, for the handler
/// to store with the object.
#[derive(Debug, Clone, Default)]
pub struct TrailerSlot(Arc<Mutex<Option<Checksum>>>);

impl TrailerSlot {
    pub fn take(&self) -> Option<Checksum> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }

    fn put(&self, checksum: Checksum) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(checksum);
        }
    }
}

/// Options of a decoder, from the request headers and its authentication.
#[derive(Debug, Clone, Default)]
pub struct ChunkedOptions {
    /// Set for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    pub signer: Option<ChunkSigner>,
    /// Trailing headers follow the last chunk.
    pub trailer: bool,
    /// The checksum the trailer carries (`x-amz-trailer`), verified.
    pub trailer_checksum: Option<ChecksumAlgorithm>,
    /// `x-amz-decoded-content-length`, checked at the end when given.
    pub decoded_length: Option<u64>,
}

#[derive(Debug)]
enum State {
    /// Reading `<hex>[;chunk-signature=<sig>]`.
    Header,
    /// Passing `remaining` data bytes through.
    Data {
        remaining: u64,
    },
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the last chunk without trailer: expecting the final `\r\n`.
    FinalLine,
    /// Reading trailer lines until an empty one.
    Trailer,
    Done,
}

/// Decodes an `aws-chunked` body; yields the object's bytes.
pub struct ChunkedDecoder<S> {
    inner: S,
    inner_done: bool,
    /// Unconsumed input.
    pending: Bytes,
    /// The line being accumulated (header or trailer).
    line: Vec<u8>,
    state: State,
    options: ChunkedOptions,
    /// Signature of the previous chunk (the seed at first).
    previous_signature: [u8; 32],
    /// Signature announced for the chunk being read.
    announced_signature: Option<[u8; 32]>,
    /// SHA-256 of the chunk being read (signed mode only).
    chunk_hash: Option<Sha256>,
    checksummer: Option<Checksummer>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<[u8; 32]>,
    decoded: u64,
    slot: TrailerSlot,
}

fn malformed(why: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidArgument,
        format!("Malformed aws-chunked body: {why}"),
    )
}

fn bad_chunk_signature() -> S3Error {
    S3Error::with_message(
        ErrorCode::SignatureDoesNotMatch,
        "The chunk signature we calculated does not match the signature you provided.",
    )
}

impl<S> ChunkedDecoder<S>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    pub fn new(inner: S, options: ChunkedOptions) -> ChunkedDecoder<S> {
        let previous_signature = options
            .signer
            .as_ref()
            .map(|s| s.seed_signature)
            .unwrap_or_default();
        let checksummer = options
            .trailer_checksum
            .map(|a| Checksummer::new().with_flexible(Some(a)));
        ChunkedDecoder {
            inner,
            inner_done: false,
            pending: Bytes::new(),
            line: Vec::new(),
            state: State::Header,
            options,
            previous_signature,
            announced_signature: None,
            chunk_hash: None,
            checksummer,
            trailers: Vec::new(),
            trailer_signature: None,
            decoded: 0,
            slot: TrailerSlot::default(),
        }
    }

    /// Where the verified trailing checksum will be once the stream ends.
    pub fn trailer_slot(&self) -> TrailerSlot {
        self.slot.clone()
    }

    /// Moves input into `line` up to and including a `\n`. Returns the line
    /// without its line ending once complete.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, S3Error> {
        match self.pending.iter().position(|b| *b == b'\n') {
            Some(at) => {
                if self.line.len() + at > MAX_LINE {
                    return Err(malformed("line too long"));
                }
                self.line.extend_from_slice(&self.pending[..at]);
                self.pending.advance(at + 1);
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            None => {
                if self.line.len() + self.pending.len() > MAX_LINE {
                    return Err(malformed("line too long"));
                }
                self.line.extend_from_slice(&self.pending);
                self.pending.clear();
                Ok(None)
            }
        }
    }

    fn parse_header(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let line = std::str::from_utf8(line).map_err(|_| malformed("chunk header is not text"))?;
        let (size, extension) = match line.split_once(';') {
            Some((s, e)) => (s, Some(e)),
            None => (line, None),
        };
        let size = size.trim();
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("bad chunk size"));
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| malformed("bad chunk size"))?;
        if size > MAX_CHUNK_SIZE {
            return Err(malformed("chunk too large"));
        }
        if self.options.signer.is_some() {
            let signature = extension
                .and_then(|e| e.trim().strip_prefix("chunk-signature="))
                .and_then(|s| hex::decode(s.trim()).ok())
                .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
                .ok_or_else(|| malformed("missing or bad chunk-signature"))?;
            self.announced_signature = Some(signature);
            self.chunk_hash = Some(Sha256::new());
        }
        if size == 0 {
            self.verify_chunk_signature()?;
            self.state = if self.options.trailer {
                State::Trailer
            } else {
                State::FinalLine
            };
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    fn verify_chunk_signature(&mut self) -> Result<(), S3Error> {
        let (Some(signer), Some(announced)) =
            (&self.options.signer, self.announced_signature.take())
        else {
            return Ok(());
        };
        let hash = self.chunk_hash.take().unwrap_or_default().finalize();
        let expected = signer.chunk_signature(&self.previous_signature, &hash);
        if !mac_eq(&expected, &announced) {
            return Err(bad_chunk_signature());
        }
        self.previous_signature = announced;
        Ok(())
    }

    fn add_trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        if self.trailers.len() + usize::from(self.trailer_signature.is_some()) >= MAX_TRAILER_LINES
        {
            return Err(malformed("too many trailer lines"));
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("trailer is not text"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("trailer line without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        if name == "x-amz-trailer-signature" {
            let signature = hex::decode(&value)
                .ok()
                .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
                .ok_or_else(|| malformed("bad x-amz-trailer-signature"))?;
            self.trailer_signature = Some(signature);
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    /// Checks the trailer signature, the trailing checksum and the decoded
    /// length once the body is complete.
    fn finish(&mut self) -> Result<(), S3Error> {
        if let Some(signer) = &self.options.signer {
            if self.options.trailer {
                let announced = self
                    .trailer_signature
                    .ok_or_else(|| malformed("missing x-amz-trailer-signature"))?;
                let mut sorted = self.trailers.clone();
                sorted.sort();
                let mut canonical = Vec::new();
                for (name, value) in &sorted {
                    canonical.extend_from_slice(name.as_bytes());
                    canonical.push(b':');
                    canonical.extend_from_slice(value.as_bytes());
                    canonical.push(b'\n');
                }
                let expected = signer.trailer_signature(&self.previous_signature, &canonical);
                if !mac_eq(&expected, &announced) {
                    return Err(S3Error::with_message(
                        ErrorCode::SignatureDoesNotMatch,
                        "The trailer signature we calculated does not match the signature you provided.",
                    ));
                }
            }
        }
        if let Some(algorithm) = self.options.trailer_checksum {
            let sent = self
                .trailers
                .iter()
                .find(|(name, _)| name == algorithm.header_name())
                .ok_or_else(|| {
                    S3Error::with_message(
                        ErrorCode::InvalidRequest,
                        format!(
                            "The trailer {} was announced but not sent.",
                            algorithm.header_name()
                        ),
                    )
                })?;
            let sent = Checksum::from_base64(algorithm, &sent.1).ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Value for {} trailing header is invalid.",
                        algorithm.header_name()
                    ),
                )
            })?;
            let computed = self
                .checksummer
                .take()
                .and_then(|c| c.finish().flexible)
                .ok_or_else(|| S3Error::new(ErrorCode::InternalError))?;
            if computed != sent {
                return Err(S3Error::with_message(
                    ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        algorithm.header_name()
                    ),
                ));
            }
            self.slot.put(computed);
        }
        if let Some(expected) = self.options.decoded_length {
            if expected != self.decoded {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
        }
        Ok(())
    }

    /// One step of decoding with the input at hand: `Some(item)` to yield,
    /// `None` when more input is needed.
    fn step(&mut self) -> Option<Result<Option<Bytes>, S3Error>> {
        loop {
            match self.state {
                State::Done => return Some(Ok(None)),
                State::Data { remaining } => {
                    if self.pending.is_empty() {
                        return None;
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.pending.len());
                    let data = self.pending.split_to(n);
                    if let Some(h) = &mut self.chunk_hash {
                        h.update(&data);
                    }
                    if let Some(c) = &mut self.checksummer {
                        c.update(&data);
                    }
                    self.decoded += data.len() as u64;
                    if let Some(expected) = self.options.decoded_length {
                        if self.decoded > expected {
                            return Some(Err(malformed(
                                "more data than x-amz-decoded-content-length",
                            )));
                        }
                    }
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd
                    } else {
                        State::Data { remaining }
                    };
                    return Some(Ok(Some(data)));
                }
                State::Header | State::DataEnd | State::FinalLine | State::Trailer => {
                    let line = match self.take_line() {
                        Ok(Some(line)) => line,
                        Ok(None) => return None,
                        Err(e) => return Some(Err(e)),
                    };
                    let result = match self.state {
                        State::Header => self.parse_header(&line),
                        State::DataEnd if line.is_empty() => {
                            self.state = State::Header;
                            self.verify_chunk_signature()
                        }
                        State::DataEnd => Err(malformed("chunk data longer than its size")),
                        State::FinalLine if line.is_empty() => {
                            self.state = State::Done;
                            self.finish()
                        }
                        State::FinalLine => Err(malformed("data after the last chunk")),
                        State::Trailer if line.is_empty() => {
                            self.state = State::Done;
                            self.finish()
                        }
                        State::Trailer => self.add_trailer_line(&line),
                        State::Data { .. } | State::Done => Ok(()),
                    };
                    if let Err(e) = result {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl<S> Stream for ChunkedDecoder<S>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    type Item = Result<Bytes, S3Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Some(Ok(Some(data))) => return Poll::Ready(Some(Ok(data))),
                Some(Ok(None)) => return Poll::Ready(None),
                Some(Err(e)) => {
                    this.state = State::Done;
                    this.inner_done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {}
            }
            if this.inner_done {
                // A body that ends where the final CRLF would be is accepted
                // (some clients omit it); anything else is truncated.
                if matches!(this.state, State::FinalLine) && this.line.is_empty() {
                    this.state = State::Done;
                    return match this.finish() {
                        Ok(()) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
                this.state = State::Done;
                return Poll::Ready(Some(Err(S3Error::new(ErrorCode::IncompleteBody))));
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.pending = bytes,
                Poll::Ready(Some(Err(e))) => {
                    this.state = State::Done;
                    this.inner_done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => this.inner_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The decoder modes the fuzzer drives, in the order of the seeds of
/// `gateway/fuzz/seeds/aws_chunked`: unsigned with a CRC32C trailer, signed,
/// signed with a SHA-256 trailer and a decoded length of 3. The signer is a
/// fixed key and seed, so that seeds can carry valid chunk signatures.
pub fn fuzz_modes() -> [ChunkedOptions; 3] {
    let signer = ChunkSigner {
        signing_key: [7; 32],
        amz_date: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        seed_signature: [1; 32],
    };
    [
        ChunkedOptions {
            trailer: true,
            trailer_checksum: Some(ChecksumAlgorithm::Crc32c),
            ..Default::default()
        },
        ChunkedOptions {
            signer: Some(signer.clone()),
            ..Default::default()
        },
        ChunkedOptions {
            signer: Some(signer),
            trailer: true,
            trailer_checksum: Some(ChecksumAlgorithm::Sha256),
            decoded_length: Some(3),
        },
    ]
}

/// The fuzzing entry point: decodes `data` (split into a few pieces) in
/// each of `fuzz_modes`; never panics, never holds more than the bounds
/// above.
pub fn fuzz_chunked(data: &[u8]) {
    use futures::StreamExt;
    for options in fuzz_modes() {
        let split = data.len() / 3;
        let pieces: Vec<Result<Bytes, S3Error>> = vec![
            Ok(Bytes::copy_from_slice(
                data.get(..split).unwrap_or_default(),
            )),
            Ok(Bytes::copy_from_slice(
                data.get(split..).unwrap_or_default(),
            )),
        ];
        let mut decoder = ChunkedDecoder::new(futures::stream::iter(pieces), options);
        futures::executor::block_on(async {
            let mut total = 0usize;
            while let Some(item) = decoder.next().await {
                match item {
                    Ok(bytes) => total += bytes.len(),
                    Err(_) => break,
                }
            }
            assert!(total <= data.len());
        });
    }
}

#[cfg(test)]
mod tests;
