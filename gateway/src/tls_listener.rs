//! TLS handshakes of the S3 listener, bounded: each runs on its
//! connection's own task, so a slow or silent client delays nobody but
//! itself; at most [`MAX_HANDSHAKES`] run at once (more connections wait in
//! the kernel's backlog), each for at most [`HANDSHAKE_TIMEOUT`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::ServerConfig;
use tokio::{
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// Handshakes in progress at once. Enough for bursts of clients opening
/// their pools together.
pub const MAX_HANDSHAKES: usize = 256;

/// A client that has not finished its handshake by then is dropped: a
/// LAN handshake takes milliseconds, a distant one well under a second.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS side of a listener: its configuration and the handshakes
/// allowed at once.
#[derive(Clone)]
pub struct TlsHandshakes {
    acceptor: TlsAcceptor,
    permits: Arc<Semaphore>,
}

impl TlsHandshakes {
    pub fn new(config: Arc<ServerConfig>) -> TlsHandshakes {
        TlsHandshakes {
            acceptor: TlsAcceptor::from(config),
            permits: Arc::new(Semaphore::new(MAX_HANDSHAKES)),
        }
    }

    /// Waits for room for one more handshake: taken before the connection
    /// is accepted, so that the kernel's backlog holds the rest.
    pub async fn room(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// The session of `tcp`, or None when the client failed or took too
    /// long (logged at debug: a client's mistake, not the gateway's). The
    /// permit is released when the handshake ends.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) -> Option<TlsStream<TcpStream>> {
        let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await;
        drop(permit);
        match outcome {
            Ok(Ok(session)) => Some(session),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    }
}

/// Whether a TLS session agreed on HTTP/2 by ALPN.
pub fn is_http2(session: &TlsStream<TcpStream>) -> bool {
    session.get_ref().1.alpn_protocol() == Some(b"h2".as_slice())
}
