//! S3 errors as a client sees them: a code from the S3 API reference, the
//! HTTP status that goes with it, a message for people, and the resource the
//! request named.
//!
//! Invariants:
//! - every code maps to exactly one status (`ErrorCode::status`);
//! - an error answer always carries `x-amz-request-id`, and a body (the S3
//!   `<Error>` XML) unless the request was a HEAD;
//! - messages never contain a secret: they are built from request data that
//!   the client sent itself, or from fixed text.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// The S3 error codes the gateway answers with (names as in the S3 API
/// reference, "List of error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AccessDenied,
    /// A CORS preflight no rule allows (S3 answers this code, which its
    /// error table does not list).
    AccessForbidden,
    /// ACLs asked of a bucket whose Object Ownership is BucketOwnerEnforced.
    AccessControlListNotSupported,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    /// S3's generic 400, used for too many tags on an object or a bucket.
    BadRequest,
    BadDigest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    IllegalLocationConstraintException,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidEncryptionAlgorithmError,
    /// The bucket's state forbids the request (e.g. Object Lock asked of a
    /// bucket without versioning).
    InvalidBucketState,
    InvalidDigest,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidPolicyDocument,
    InvalidRange,
    InvalidRequest,
    InvalidRetentionPeriod,
    InvalidTag,
    InvalidURI,
    KeyTooLongError,
    MalformedPOSTRequest,
    /// A bucket policy that does not parse or validate.
    MalformedPolicy,
    MalformedXML,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    /// A bucket without CORS configuration (GetBucketCors).
    NoSuchCORSConfiguration,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchLifecycleConfiguration,
    /// An object version without retention or legal hold (GetObjectRetention,
    /// GetObjectLegalHold).
    NoSuchObjectLockConfiguration,
    NoSuchPublicAccessBlockConfiguration,
    NoSuchTagSet,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    /// Not an error to S3 but a 304 answer; carried as an error so that the
    /// conditional-request check can stop a handler early.
    NotModified,
    /// A bucket without Object Lock configuration (GetObjectLockConfiguration).
    ObjectLockConfigurationNotFoundError,
    OwnershipControlsNotFoundError,
    ServerSideEncryptionConfigurationNotFoundError,
    PreconditionFailed,
    /// The request body came too slowly (the door's minimum body rate).
    RequestTimeout,
    RequestTimeTooSkewed,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
}

impl ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AccessForbidden => "AccessForbidden",
            AccessControlListNotSupported => "AccessControlListNotSupported",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadRequest => "BadRequest",
            BadDigest => "BadDigest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IllegalLocationConstraintException => "IllegalLocationConstraintException",
            IncompleteBody => "IncompleteBody",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidEncryptionAlgorithmError => "InvalidEncryptionAlgorithmError",
            InvalidBucketState => "InvalidBucketState",
            InvalidDigest => "InvalidDigest",
            InvalidPart => "InvalidPart",
            InvalidPartNumber => "InvalidPartNumber",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidPolicyDocument => "InvalidPolicyDocument",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidRetentionPeriod => "InvalidRetentionPeriod",
            InvalidTag => "InvalidTag",
            InvalidURI => "InvalidURI",
            KeyTooLongError => "KeyTooLongError",
            MalformedPOSTRequest => "MalformedPOSTRequest",
            MalformedPolicy => "MalformedPolicy",
            MalformedXML => "MalformedXML",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            NoSuchKey => "NoSuchKey",
            NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            NoSuchObjectLockConfiguration => "NoSuchObjectLockConfiguration",
            NoSuchPublicAccessBlockConfiguration => "NoSuchPublicAccessBlockConfiguration",
            NoSuchTagSet => "NoSuchTagSet",
            NoSuchUpload => "NoSuchUpload",
            NoSuchVersion => "NoSuchVersion",
            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            ObjectLockConfigurationNotFoundError => "ObjectLockConfigurationNotFoundError",
            OwnershipControlsNotFoundError => "OwnershipControlsNotFoundError",
            ServerSideEncryptionConfigurationNotFoundError => {
                "ServerSideEncryptionConfigurationNotFoundError"
            }
            PreconditionFailed => "PreconditionFailed",
            RequestTimeout => "RequestTimeout",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SlowDown => "SlowDown",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 answers this code with.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            AccessDenied
            | AccessForbidden
            | InvalidAccessKeyId
            | RequestTimeTooSkewed
            | SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            BucketAlreadyExists | BucketAlreadyOwnedByYou | BucketNotEmpty | InvalidBucketState => {
                StatusCode::CONFLICT
            }
            NoSuchBucket
            | NoSuchCORSConfiguration
            | NoSuchBucketPolicy
            | NoSuchPublicAccessBlockConfiguration
            | OwnershipControlsNotFoundError
            | NoSuchKey
            | NoSuchLifecycleConfiguration
            | NoSuchObjectLockConfiguration
            | NoSuchTagSet
            | NoSuchUpload
            | NoSuchVersion
            | ObjectLockConfigurationNotFoundError
            | ServerSideEncryptionConfigurationNotFoundError => StatusCode::NOT_FOUND,
            InvalidRange | InvalidPartNumber => StatusCode::RANGE_NOT_SATISFIABLE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            NotModified => StatusCode::NOT_MODIFIED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceUnavailable | SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            AuthorizationHeaderMalformed
            | AccessControlListNotSupported
            | MalformedPolicy
            | AuthorizationQueryParametersError
            | BadRequest
            | BadDigest
            | EntityTooLarge
            | EntityTooSmall
            | IllegalLocationConstraintException
            | IncompleteBody
            | RequestTimeout
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidEncryptionAlgorithmError
            | InvalidPart
            | InvalidPartOrder
            | InvalidPolicyDocument
            | InvalidRequest
            | InvalidRetentionPeriod
            | InvalidTag
            | InvalidURI
            | KeyTooLongError
            | MalformedPOSTRequest
            | MalformedXML
            | MetadataTooLarge
            | MissingSecurityHeader
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
        }
    }

    /// The message S3 gives when there is nothing more specific to say.
    pub fn default_message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "Access Denied",
            AccessForbidden => "CORSResponse: This CORS request is not allowed.",
            AccessControlListNotSupported => "The bucket does not allow ACLs",
            AuthorizationHeaderMalformed => "The authorization header is malformed.",
            AuthorizationQueryParametersError => "The authorization query parameters are malformed.",
            BadRequest => "Bad Request",
            BadDigest => "The Content-MD5 you specified did not match what we received.",
            BucketAlreadyExists => "The requested bucket name is not available.",
            BucketAlreadyOwnedByYou => {
                "Your previous request to create the named bucket succeeded and you already own it."
            }
            BucketNotEmpty => "The bucket you tried to delete is not empty.",
            EntityTooLarge => "Your proposed upload exceeds the maximum allowed object size.",
            EntityTooSmall => "Your proposed upload is smaller than the minimum allowed object size.",
            IllegalLocationConstraintException => {
                "The specified location constraint is not valid for this endpoint."
            }
            IncompleteBody => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            InternalError => "We encountered an internal error. Please try again.",
            InvalidAccessKeyId => {
                "The AWS Access Key Id you provided does not exist in our records."
            }
            InvalidArgument => "Invalid Argument",
            InvalidBucketName => "The specified bucket is not valid.",
            InvalidBucketState => "The request is not valid with the current state of the bucket.",
            InvalidDigest => "The Content-MD5 you specified is not valid.",
            InvalidPart => "One or more of the specified parts could not be found.",
            InvalidPartNumber => "The requested partnumber is not satisfiable",
            InvalidPartOrder => "The list of parts was not in ascending order.",
            InvalidPolicyDocument => "The content of the form does not meet the conditions specified in the policy document.",
            InvalidRange => "The requested range is not satisfiable",
            InvalidRequest => "Invalid Request",
            InvalidRetentionPeriod => "The retention period is not valid.",
            InvalidTag => "The tag provided was not a valid tag.",
            InvalidURI => "Couldn't parse the specified URI.",
            KeyTooLongError => "Your key is too long",
            MalformedPOSTRequest => "The body of your POST request is not well-formed multipart/form-data.",
            MalformedPolicy => "Policies must be valid JSON and the first byte must be '{'",
            MalformedXML => "The XML you provided was not well-formed or did not validate against our published schema.",
            MetadataTooLarge => "Your metadata headers exceed the maximum allowed metadata size.",
            MethodNotAllowed => "The specified method is not allowed against this resource.",
            MissingContentLength => "You must provide the Content-Length HTTP header.",
            MissingSecurityHeader => "Your request is missing a required header.",
            NoSuchBucket => "The specified bucket does not exist",
            NoSuchCORSConfiguration => "The CORS configuration does not exist",
            NoSuchBucketPolicy => "The bucket policy does not exist",
            NoSuchKey => "The specified key does not exist.",
            NoSuchLifecycleConfiguration => "The lifecycle configuration does not exist",
            NoSuchObjectLockConfiguration => {
                "The specified object does not have a ObjectLock configuration"
            }
            NoSuchPublicAccessBlockConfiguration => {
                "The public access block configuration was not found"
            }
            NoSuchTagSet => "The TagSet does not exist",
            NoSuchUpload => "The specified multipart upload does not exist.",
            NoSuchVersion => "The version ID specified in the request does not match an existing version.",
            NotImplemented => "A header or operation you provided implies functionality that is not implemented.",
            NotModified => "Not Modified",
            ObjectLockConfigurationNotFoundError => {
                "Object Lock configuration does not exist for this bucket"
            }
            OwnershipControlsNotFoundError => "The bucket ownership controls were not found",
            ServerSideEncryptionConfigurationNotFoundError => {
                "The server side encryption configuration was not found"
            }
            InvalidEncryptionAlgorithmError => {
                "The encryption request you specified is not valid. The valid value is AES256."
            }
            PreconditionFailed => "At least one of the preconditions you specified did not hold.",
            RequestTimeout => "Your socket connection to the server was not read from or written to within the timeout period.",
            RequestTimeTooSkewed => "The difference between the request time and the server's time is too large.",
            ServiceUnavailable => "Please reduce your request rate.",
            SignatureDoesNotMatch => "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            SlowDown => "Please reduce your request rate.",
            XAmzContentSHA256Mismatch => "The provided 'x-amz-content-sha256' header does not match what was computed.",
        }
    }
}

/// One S3 error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct S3Error {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    /// The bucket or object the request named, if known.
    pub resource: Option<String>,
    /// Extra elements some codes carry (`<Region>`, `<ServerTime>`, ...),
    /// written after `<RequestId>` in this order.
    pub extra: Vec<(&'static str, String)>,
    /// Headers that go with this error (e.g. `Last-Modified` and `ETag` on a
    /// 304).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Result of a gateway step that may end in an S3 error.
pub type S3Result<T> = Result<T, S3Error>;

impl From<ErrorCode> for S3Error {
    fn from(code: ErrorCode) -> Self {
        S3Error::new(code)
    }
}

impl S3Error {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        S3Error {
            code,
            message: Cow::Borrowed(code.default_message()),
            resource: None,
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// An error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            message: message.into(),
            ..S3Error::new(code)
        }
    }

    /// Names the resource the error is about (`/bucket/key`).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds an element to the XML body after `<RequestId>`.
    pub fn extra(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Adds a header to the error answer.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The `<Error>` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.push_str(self.code.as_str());
        out.push_str("</Code><Message>");
        push_escaped(&mut out, &self.message);
        out.push_str("</Message>");
        if let Some(resource) = &self.resource {
            out.push_str("<Resource>");
            push_escaped(&mut out, resource);
            out.push_str("</Resource>");
        }
        out.push_str("<RequestId>");
        push_escaped(&mut out, request_id);
        out.push_str("</RequestId>");
        for (name, value) in &self.extra {
            out.push('<');
            out.push_str(name);
            out.push('>');
            push_escaped(&mut out, value);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        out.push_str("</Error>");
        out
    }

    /// The whole HTTP answer. HEAD requests and 304 answers get no body (a
    /// HEAD response body would be a protocol error).
    pub fn into_response(self, method: &Method, request_id: &str) -> http::Response<String> {
        let with_body = method != Method::HEAD && self.code != ErrorCode::NotModified;
        let body = if with_body {
            self.to_xml(request_id)
        } else {
            String::new()
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = self.status();
        let headers: &mut HeaderMap = response.headers_mut();
        if with_body {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
        }
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert(HeaderName::from_static("x-amz-request-id"), value);
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        if self.code.status() == StatusCode::SERVICE_UNAVAILABLE {
            // When to try again: a host or a leader comes back within
            // seconds, and clients that honour it spread their retries.
            headers
                .entry(http::header::RETRY_AFTER)
                .or_insert(HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Seconds a 503 asks the client to wait before retrying.
const RETRY_AFTER_SECS: &str = "2";

/// Appends `text` with the five XML special characters escaped, and the
/// characters XML 1.0 cannot carry at all replaced by U+FFFD.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Asserts that `result` is the error `code` with a message naming
/// `cause`: a test of a refusal names why, so that a refusal for another
/// reason fails it.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: S3Result<T>,
    code: ErrorCode,
    cause: &str,
) {
    match result {
        Ok(v) => panic!("expected {code:?} ({cause}), got {v:?}"),
        Err(e) => assert!(
            e.code == code && e.message.contains(cause),
            "expected {code:?} naming `{cause}`, got {e:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_says_when_to_retry_and_other_errors_do_not() {
        let busy = S3Error::new(ErrorCode::ServiceUnavailable).into_response(&Method::PUT, "R");
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers()
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(RETRY_AFTER_SECS.as_bytes())
        );
        let missing = S3Error::new(ErrorCode::NoSuchKey).into_response(&Method::GET, "R");
        assert!(missing.headers().get(http::header::RETRY_AFTER).is_none());
    }

    #[test]
    fn xml_body_has_code_message_resource_request_id() {
        let err = S3Error::new(ErrorCode::NoSuchKey).resource("/b/a<b");
        let xml = err.to_xml("REQ1");
        assert!(xml.contains("<Code>NoSuchKey</Code>"));
        assert!(xml.contains("<Resource>/b/a&lt;b</Resource>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
    }

    #[test]
    fn head_errors_have_no_body_but_a_request_id() {
        let resp = S3Error::new(ErrorCode::NoSuchKey).into_response(&Method::HEAD, "R");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(resp.body().is_empty());
        assert_eq!(resp.headers()["x-amz-request-id"], "R");
        let resp = S3Error::new(ErrorCode::InvalidRange).into_response(&Method::GET, "R");
        assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(resp.body().contains("InvalidRange"));
    }

    #[test]
    fn statuses_follow_the_reference() {
        assert_eq!(ErrorCode::BucketNotEmpty.status(), StatusCode::CONFLICT);
        assert_eq!(
            ErrorCode::RequestTimeTooSkewed.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ErrorCode::NotImplemented.status(),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            ErrorCode::MissingContentLength.status(),
            StatusCode::LENGTH_REQUIRED
        );
    }

    #[test]
    fn data_protection_codes_follow_the_reference() {
        for (code, status) in [
            (ErrorCode::BadRequest, StatusCode::BAD_REQUEST),
            (ErrorCode::InvalidTag, StatusCode::BAD_REQUEST),
            (ErrorCode::InvalidRetentionPeriod, StatusCode::BAD_REQUEST),
            (ErrorCode::InvalidBucketState, StatusCode::CONFLICT),
            (ErrorCode::NoSuchTagSet, StatusCode::NOT_FOUND),
            (
                ErrorCode::NoSuchLifecycleConfiguration,
                StatusCode::NOT_FOUND,
            ),
            (
                ErrorCode::NoSuchObjectLockConfiguration,
                StatusCode::NOT_FOUND,
            ),
            (
                ErrorCode::ObjectLockConfigurationNotFoundError,
                StatusCode::NOT_FOUND,
            ),
        ] {
            assert_eq!(code.status(), status, "{code:?}");
            assert_eq!(code.as_str(), format!("{code:?}"));
        }
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        let mut out = String::new();
        push_escaped(&mut out, "a\u{1}b");
        assert_eq!(out, "a\u{FFFD}b");
    }
}
