//! The `multipart/form-data` body of a POST object upload, parsed as a
//! stream: text fields first (bounded), then the `file` field, whose bytes
//! are handed on as a stream without being gathered. Fields after `file`
//! are ignored, as S3 does.
//!
//! Written here rather than with a general multipart crate because memory
//! must stay bounded on hostile input: a part-header block, a text field, a
//! preamble, the number of fields are all capped, and the file is passed
//! through keeping only a delimiter-sized tail.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::error::{ErrorCode, S3Error, S3Result};

/// Longest part-header block.
pub const MAX_PART_HEADERS: usize = 8 * 1024;
/// Longest text field (a policy is the longest, a few KiB).
pub const MAX_FIELD_VALUE: usize = 64 * 1024;
/// All text fields together.
pub const MAX_FIELDS_TOTAL: usize = 256 * 1024;
/// Most text fields.
pub const MAX_FIELDS: usize = 64;
/// Longest preamble before the first boundary.
pub const MAX_PREAMBLE: usize = 64 * 1024;
/// Longest boundary (RFC 2046: 70).
pub const MAX_BOUNDARY: usize = 70;

fn malformed(why: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::MalformedPOSTRequest,
        format!("The body of your POST request is not well-formed multipart/form-data: {why}"),
    )
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> S3Result<String> {
    let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(malformed("the content type is not multipart/form-data"));
    }
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY)
        .ok_or_else(|| malformed("no boundary"))
}

/// The parsed form: text fields (names lowercase) and the file.
pub struct PostForm {
    pub fields: BTreeMap<String, String>,
    pub file_name: Option<String>,
    pub file_content_type: Option<String>,
    /// The file's bytes; ends with an error if the body is truncated.
    pub file: BoxStream<'static, Result<Bytes, S3Error>>,
}

impl std::fmt::Debug for PostForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostForm")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("file_name", &self.file_name)
            .finish()
    }
}

struct Reader<S> {
    inner: S,
    inner_done: bool,
    buf: BytesMut,
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut start = 0;
    while let Some(offset) = haystack.get(start..)?.iter().position(|b| *b == first) {
        let at = start + offset;
        if haystack.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

impl<S> Reader<S>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    /// Reads more input; false at the end of the body.
    async fn fill(&mut self) -> S3Result<bool> {
        if self.inner_done {
            return Ok(false);
        }
        match self.inner.next().await {
            Some(Ok(bytes)) => {
                self.buf.extend_from_slice(&bytes);
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => {
                self.inner_done = true;
                Ok(false)
            }
        }
    }

    /// Skips to just after the next delimiter, keeping at most `limit`
    /// bytes before it; returns them.
    async fn until_delimiter(&mut self, limit: usize) -> S3Result<Vec<u8>> {
        // Where the search resumes after more input: bytes before it hold no
        // delimiter start, so a body that arrives in tiny pieces is scanned
        // once, not once per piece (quadratic up to `limit`).
        let mut from = 0;
        loop {
            let found = self
                .buf
                .get(from..)
                .and_then(|rest| find(rest, &self.delimiter))
                .map(|at| from + at);
            if let Some(at) = found {
                if at > limit {
                    return Err(malformed("a field is too long"));
                }
                let value = self.buf.split_to(at).to_vec();
                self.buf.advance(self.delimiter.len());
                return Ok(value);
            }
            if self.buf.len() > limit + self.delimiter.len() {
                return Err(malformed("a field is too long"));
            }
            from = self.buf.len().saturating_sub(self.delimiter.len() - 1);
            if !self.fill().await? {
                return Err(malformed("the body ends inside a field"));
            }
        }
    }

    /// After a delimiter: `--` ends the body, else the line break before
    /// the next part's headers. Returns false at the end.
    async fn after_delimiter(&mut self) -> S3Result<bool> {
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(malformed("the body ends after a boundary"));
            }
        }
        if self.buf.starts_with(b"--") {
            return Ok(false);
        }
        // Transport padding (spaces, tabs) may precede the line break.
        loop {
            match self.buf.iter().position(|b| *b != b' ' && *b != b'\t') {
                Some(at) => {
                    self.buf.advance(at);
                    break;
                }
                None => {
                    if self.buf.len() > MAX_PART_HEADERS {
                        return Err(malformed("padding too long"));
                    }
                    if !self.fill().await? {
                        return Err(malformed("the body ends after a boundary"));
                    }
                }
            }
        }
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(malformed("the body ends after a boundary"));
            }
        }
        if !self.buf.starts_with(b"\r\n") {
            return Err(malformed("a boundary is not followed by a line break"));
        }
        self.buf.advance(2);
        Ok(true)
    }

    /// Reads a part's header block.
    async fn headers(&mut self) -> S3Result<PartHeaders> {
        loop {
            if self.buf.starts_with(b"\r\n") {
                self.buf.advance(2);
                return Ok(PartHeaders::default());
            }
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                if at > MAX_PART_HEADERS {
                    return Err(malformed("part headers too long"));
                }
                let block = self.buf.split_to(at);
                self.buf.advance(4);
                return PartHeaders::parse(&block);
            }
            if self.buf.len() > MAX_PART_HEADERS {
                return Err(malformed("part headers too long"));
            }
            if !self.fill().await? {
                return Err(malformed("the body ends inside part headers"));
            }
        }
    }

    /// The next piece of the file: data up to where the delimiter could
    /// start; `None` once the delimiter is reached.
    async fn file_chunk(&mut self) -> S3Result<Option<Bytes>> {
        loop {
            if let Some(at) = find(&self.buf, &self.delimiter) {
                if at == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.buf.split_to(at).freeze()));
            }
            // Keep what could be the start of a delimiter.
            let keep = self.delimiter.len() - 1;
            if self.buf.len() > keep {
                let n = self.buf.len() - keep;
                return Ok(Some(self.buf.split_to(n).freeze()));
            }
            if !self.fill().await? {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
        }
    }
}

#[derive(Debug, Default)]
struct PartHeaders {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
}

/// A parameter of `Content-Disposition` (`name="key"`, `filename=x`).
fn disposition_param(value: &str, param: &str) -> Option<String> {
    let mut rest = value;
    while let Some(semi) = rest.find(';') {
        rest = &rest[semi + 1..];
        let trimmed = rest.trim_start();
        let Some((name, after)) = trimmed.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case(param) {
            continue;
        }
        let after = after.trim_start();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => return Some(out),
                    c => out.push(c),
                }
            }
            return None;
        }
        return Some(after.split(';').next().unwrap_or("").trim().to_string());
    }
    None
}

impl PartHeaders {
    fn parse(block: &[u8]) -> S3Result<PartHeaders> {
        let text =
            std::str::from_utf8(block).map_err(|_| malformed("part headers are not UTF-8"))?;
        let mut headers = PartHeaders::default();
        for line in text.split("\r\n") {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed("a part header has no ':'"))?;
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-disposition") {
                headers.name = disposition_param(value, "name");
                headers.file_name = disposition_param(value, "filename");
            } else if name.eq_ignore_ascii_case("content-type") {
                headers.content_type = Some(value.trim().to_string());
            }
        }
        Ok(headers)
    }
}

/// Parses the form up to the start of the file.
pub async fn parse_post_form<S>(body: S, content_type: &str) -> S3Result<PostForm>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin + Send + 'static,
{
    let boundary = boundary(content_type)?;
    let mut reader = Reader {
        inner: body,
        inner_done: false,
        // A leading CRLF makes the first boundary look like the others.
        buf: BytesMut::from(&b"\r\n"[..]),
        delimiter: format!("\r\n--{boundary}").into_bytes(),
    };
    reader.until_delimiter(MAX_PREAMBLE).await?;
    let mut fields = BTreeMap::new();
    let mut total = 0usize;
    loop {
        if !reader.after_delimiter().await? {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "POST requires exactly one file upload per request.",
            ));
        }
        let headers = reader.headers().await?;
        let name = headers
            .name
            .ok_or_else(|| malformed("a part has no name"))?
            .to_ascii_lowercase();
        if name == "file" {
            let file = futures::stream::unfold(Some(reader), |state| async move {
                let mut reader = state?;
                match reader.file_chunk().await {
                    Ok(Some(bytes)) => Some((Ok(bytes), Some(reader))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            });
            return Ok(PostForm {
                fields,
                file_name: headers.file_name,
                file_content_type: headers.content_type,
                file: file.boxed(),
            });
        }
        if fields.len() == MAX_FIELDS {
            return Err(malformed("too many fields"));
        }
        let value = reader.until_delimiter(MAX_FIELD_VALUE).await?;
        total += value.len();
        if total > MAX_FIELDS_TOTAL {
            return Err(malformed("the fields are too long"));
        }
        let value = String::from_utf8(value).map_err(|_| malformed("a field is not UTF-8"))?;
        fields.insert(name, value);
    }
}

/// The fuzzing entry point: parses `data` as a form with boundary `XyZ`
/// and drains the file; never panics, memory bounded by the constants.
pub fn fuzz_post_form(data: &[u8]) {
    let pieces: Vec<Result<Bytes, S3Error>> = data
        .chunks(97)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::executor::block_on(async {
        let stream = futures::stream::iter(pieces);
        if let Ok(mut form) = parse_post_form(stream, "multipart/form-data; boundary=XyZ").await {
            let mut total = 0;
            while let Some(Ok(bytes)) = form.file.next().await {
                total += bytes.len();
            }
            assert!(total <= data.len());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::assert_refused;

    fn form_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuser/${filename}\r\n");
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"Policy\"\r\n\r\neyJhIjoxfQ==\r\n",
        );
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\nContent-Type: text/plain\r\n\r\n");
        body.extend_from_slice(b"line one\r\n--XyQ not a boundary\r\n--Xy");
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--XyZ--\r\n");
        body
    }

    async fn parse(body: &[u8], piece: usize) -> S3Result<(PostForm, Vec<u8>)> {
        let pieces: Vec<Result<Bytes, S3Error>> = body
            .chunks(piece)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut form = parse_post_form(
            futures::stream::iter(pieces),
            "multipart/form-data; boundary=\"XyZ\"",
        )
        .await?;
        let mut file = Vec::new();
        while let Some(bytes) = form.file.next().await {
            file.extend_from_slice(&bytes?);
        }
        Ok((form, file))
    }

    #[tokio::test]
    async fn fields_then_the_file_whatever_the_pieces() {
        let body = form_body();
        for piece in [1, 2, 5, 13, 64, body.len()] {
            let (form, file) = parse(&body, piece).await.unwrap();
            assert_eq!(
                form.fields.get("key").map(String::as_str),
                Some("user/${filename}")
            );
            assert_eq!(
                form.fields.get("policy").map(String::as_str),
                Some("eyJhIjoxfQ==")
            );
            assert_eq!(form.file_name.as_deref(), Some("a \"b\".txt"));
            assert_eq!(form.file_content_type.as_deref(), Some("text/plain"));
            assert_eq!(
                file, b"line one\r\n--XyQ not a boundary\r\n--Xy",
                "piece {piece}"
            );
        }
    }

    #[tokio::test]
    async fn hostile_forms_are_errors() {
        // No file.
        let no_file =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ--\r\n";
        assert_refused(
            parse(no_file, 7).await,
            ErrorCode::InvalidArgument,
            "exactly one file upload",
        );
        // Endless headers.
        let mut endless = b"--XyZ\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'a', MAX_PART_HEADERS * 3));
        assert_refused(
            parse(&endless, 1000).await,
            ErrorCode::MalformedPOSTRequest,
            "part headers too long",
        );
        // An endless field.
        let mut long = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_FIELD_VALUE * 2));
        assert_refused(
            parse(&long, 1000).await,
            ErrorCode::MalformedPOSTRequest,
            "a field is too long",
        );
        // Truncated file.
        let truncated = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc";
        let (mut form, _) = match parse(truncated, 2).await {
            Err(e) => {
                assert_eq!(e.code, ErrorCode::IncompleteBody);
                return;
            }
            Ok(ok) => ok,
        };
        assert!(form.file.next().await.is_none());
    }

    /// A preamble and a field as long as allowed, full of near-delimiters
    /// and arriving a byte at a time: found where they end, in one scan
    /// each (the search resumes where the previous piece left off).
    #[tokio::test]
    async fn long_fields_in_tiny_pieces() {
        let near = b"\r\n--Xy\r\n-";
        let filler = |len: usize| near.iter().copied().cycle().take(len).collect::<Vec<u8>>();
        let mut body = filler(MAX_PREAMBLE - 16);
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n",
        );
        let value = filler(MAX_FIELD_VALUE - 16);
        body.extend_from_slice(&value);
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--",
        );
        let started = std::time::Instant::now();
        let (form, file) = parse(&body, 1).await.unwrap();
        assert_eq!(form.fields["key"].as_bytes(), value);
        assert_eq!(file, b"x");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\"").unwrap(),
            "a b"
        );
        let malformed = ErrorCode::MalformedPOSTRequest;
        assert_refused(
            boundary("text/plain; boundary=abc"),
            malformed,
            "not multipart/form-data",
        );
        assert_refused(boundary("multipart/form-data"), malformed, "no boundary");
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert_refused(boundary(&long), malformed, "no boundary");
    }

    #[test]
    fn fuzz_body_survives_hostile_input() {
        for input in [
            &b""[..],
            b"--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\r\n\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--XyZ--",
            b"--XyZ \t \r\n\r\n\r\n--XyZ",
            b"\xff\xfe--XyZ\r\n\xff: \xff\r\n\r\n",
        ] {
            fuzz_post_form(input);
        }
    }
}
