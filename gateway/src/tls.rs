//! The gateway's HTTPS: its certificate, loaded from PEM files (the chain,
//! leaf first, and its key) and replaced without a restart by
//! [`CertReloader`] (shared with cluster mutual TLS, in `cairn-common`),
//! offered by ALPN for HTTP/2 and HTTP/1.1.

use std::sync::Arc;

pub use cairn_common::tls::{
    listener::{is_http2, TlsHandshakes},
    CertReloader, TlsError, TlsFiles,
};
use rustls::ServerConfig;

/// The TLS settings of the S3 listener: the reloader's certificate,
/// HTTP/2 then HTTP/1.1 by ALPN, TLS 1.3 and 1.2, no client certificates
/// (S3 clients sign requests instead).
pub fn server_config(reloader: &Arc<CertReloader>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(reloader.crypto())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(reloader.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
