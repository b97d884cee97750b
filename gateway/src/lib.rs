//! Cairn's S3 gateway: the HTTP front door that S3 clients use unchanged.
//!
//! Layers, each in its own module: `router` (request -> `Endpoint`),
//! `signature` (who is asking: SigV4, SigV2, presigned URLs, POST policies,
//! aws-chunked bodies), `body` (upload checks), `checksum`, `range`,
//! `conditional`, `limits`, `xml` (request and response bodies), `error`
//! (S3 error answers), `access` (who may do what on a bucket: closed by
//! default), `ops` (the operations over the cluster client), `server`
//! (axum, dispatch, authorization), and `tls` (HTTPS: the reloadable
//! certificate and the bounded handshakes, from `cairn-common`).
//!
//! The door's defences, one module each: `door_limits` (the limits and
//! their defaults), `http_server` (accepting and serving connections under
//! them), `conn_table` (connections per client address), `conn_timeouts`
//! (idle and header-read timeouts), `slow_body` (minimum body rate) and
//! `auth_slowdown` (failed authentications slow their address down).
//!
//! Entry point for the `cairn` binary: [`serve`], which reads access keys
//! from the cluster ([`ClusterKeyStore`]); [`serve_with_keys`] takes another
//! [`KeyStore`].

pub mod access;
pub mod auth_slowdown;
pub mod authorization;
pub mod body;
pub mod checksum;
pub mod checksum_type;
pub mod conditional;
pub mod conn_table;
pub mod conn_timeouts;
pub mod door_limits;
pub mod error;
pub mod http_server;
pub mod keys;
pub mod limits;
pub mod ops;
pub mod policy;
pub mod query;
pub mod range;
pub mod router;
pub mod server;
pub mod signature;
pub mod slow_body;
pub mod tls;
pub mod xml;

pub use door_limits::DoorLimits;
pub use keys::ClusterKeyStore;
pub use server::{serve_with_keys, GatewayConfig, GatewayError, Listeners};
pub use signature::{AccessKey, BucketPermission, KeyStore, KeyStoreError, MapKeyStore};
pub use tls::{CertReloader, TlsFiles};

use std::future::Future;

/// Serves S3 for `client` on `listeners` until `shutdown` completes. Access
/// keys and their grants are read from the MDS (`cairn key create`,
/// `cairn bucket allow`), with a short cache.
pub async fn serve(
    client: cairn_client::Client,
    config: GatewayConfig,
    listener: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let keys = ClusterKeyStore::new(client.clone());
    serve_with_keys(client, config, keys, listener, shutdown).await
}
