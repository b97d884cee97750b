//! The S3 operations, one module per family, each a function of a
//! [`Request`] that answers an HTTP response or an [`S3Error`].
//!
//! Handlers go through `cairn_client::Client` only; objects are files of the
//! shared namespace. Bodies stream both ways: uploads through
//! `body::incoming` into `Client::put_object`, downloads from
//! `Client::read` into the response.

pub mod acl;
pub mod attributes;
pub mod bucket;
pub mod bucket_encryption;
pub mod bucket_policy;
pub mod cluster_error;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod get;
pub mod layout;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod meta;
pub mod multipart;
pub mod ownership;
pub mod post;
pub mod protection;
pub mod public_access;
pub mod put;
pub mod setting;
pub mod sse;
pub mod sse_copy;
pub mod tagging;
pub mod versioning;

use axum::body::Body;
use cairn_client::Client;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::BodyStream;
use crate::error::{S3Error, S3Result};
use crate::query::Query;
use crate::signature::{AccessKey, PayloadCheck};

/// Everything a handler needs about one request.
pub struct Request {
    pub client: Client,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    /// The bucket named by the request (validated by the router's caller).
    pub bucket: String,
    /// The object key, when the request names one.
    pub key: Option<String>,
    /// The authenticated key (POST object authenticates in its handler).
    pub access_key: Option<AccessKey>,
    pub payload: PayloadCheck,
    /// The request body, taken once by the handler that reads it (behind a
    /// mutex so that `&Request` can be held across awaits).
    pub body: std::sync::Mutex<Option<BodyStream>>,
    /// The configured region.
    pub region: String,
    /// The request's bucket as authorization read it (None where no read
    /// was needed): handlers use it rather than reading it again.
    pub target: Option<cairn_client::Bucket>,
    /// The request came over TLS (SSE-C needs it).
    pub secure: bool,
}

impl Request {
    /// The key, for handlers of object operations (the router guarantees it).
    pub fn object_key(&self) -> S3Result<&str> {
        self.key.as_deref().ok_or_else(|| {
            S3Error::with_message(
                crate::error::ErrorCode::InvalidRequest,
                "This operation needs an object key.",
            )
        })
    }

    /// Takes the body (an empty stream if already taken).
    pub fn take_body(&self) -> BodyStream {
        self.body
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .unwrap_or_else(|| Box::pin(futures::stream::empty()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `/bucket/key` for error resources.
    pub fn resource(&self) -> String {
        match &self.key {
            Some(k) => format!("/{}/{}", self.bucket, k),
            None => format!("/{}", self.bucket),
        }
    }
}

/// A response with a status and no body.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// A 200 response with an XML body.
pub fn xml(body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// `"etag"` as a header value.
pub fn quoted_etag(etag: &str) -> String {
    format!("\"{etag}\"")
}
