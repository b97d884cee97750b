//! S3's XML bodies: what clients send (`request`) and what the gateway
//! answers (`response`). Serialised with quick-xml's serde support.

pub mod request;
pub mod response;

/// The S3 namespace on every answer's root element.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The XML declaration that starts every answer.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
