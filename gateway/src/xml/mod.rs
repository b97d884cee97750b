//! S3's XML bodies: what clients send (`request`) and what the gateway
//! answers (`response`), serialised with quick-xml's serde support; and the
//! data-protection configurations (`versioning`, `tagging`, `lock`,
//! `lifecycle`), each a plain type with `parse` and `to_xml`, read through
//! a small element tree (`tree`) so that every fault gets S3's own code.

pub mod lifecycle;
pub mod lock;
pub mod request;
pub mod response;
pub mod tagging;
mod tree;
pub mod versioning;

/// The S3 namespace on every answer's root element.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The XML declaration that starts every answer.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
