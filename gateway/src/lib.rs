//! Cairn's S3 gateway: the HTTP front door that S3 clients use unchanged.
//!
//! Layers, each in its own module: `router` (request -> `Endpoint`),
//! `signature` (who is asking: SigV4, SigV2, presigned URLs, POST policies,
//! aws-chunked bodies), `checksum`, `range`, `conditional`, `limits`, `xml`
//! (request and response bodies) and `error` (S3 error answers).

pub mod checksum;
pub mod conditional;
pub mod error;
pub mod limits;
pub mod query;
pub mod range;
pub mod router;
pub mod signature;
pub mod xml;
