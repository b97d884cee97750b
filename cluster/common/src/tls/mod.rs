//! TLS: the S3 door's HTTPS and the mutual TLS of every connection between
//! Cairn processes, with node certificates of the cluster CA
//! ([`crate::node_cert`]).
//!
//! * [`reload`]: a certificate loaded from files and swapped whole when
//!   they change (rotation without a restart), for both sides;
//! * [`listener`]: handshakes on their own tasks, bounded in number and
//!   time;
//! * [`node`]: a node's identity and the rustls settings of its clients
//!   and servers; [`verify`](self) adds the revocation list and the
//!   cluster id to webpki's checks;
//! * [`peer`]: who called (role, certificate serial) and the check of a
//!   service's callers; [`connector`]: TLS under tonic channels.

pub mod connector;
pub mod listener;
pub mod node;
pub mod peer;
pub mod reload;
mod revoked;
mod verify;

pub use node::{NodeTls, NodeTlsError, Revoked};
pub use reload::{CertReloader, TlsError, TlsFiles};
pub use verify::{cert_id, parse_serial_hex, serial_hex, serial_of, CertId};
