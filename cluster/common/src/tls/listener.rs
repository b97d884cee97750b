//! TLS handshakes, bounded (the S3 door's HTTPS, every cluster server's
//! mutual TLS): each runs on its connection's own task, so a slow or
//! silent client delays nobody but itself; at most [`MAX_HANDSHAKES`] run
//! at once (more connections wait in the kernel's backlog), each for at
//! most [`HANDSHAKE_TIMEOUT`]. A handshake that fails (no certificate where
//! one is required, one of another cluster, a revoked or expired one)
//! yields no session: nothing the peer sent reaches a server.
//!
//! [`TlsHandshakes`] is the bound; [`TlsListener`] the accept loop of a
//! cluster server on it (the S3 door runs its own, with its limits).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
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

/// After an accept error that is not about one connection (out of file
/// descriptors), wait this long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Established TLS sessions of a listener, handshaken in the background.
pub struct TlsListener {
    sessions: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        // A small queue: handshaken sessions are taken as fast as they come.
        let (tx, sessions) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsHandshakes::new(config), tx));
        Ok(TlsListener {
            sessions,
            local,
            acceptor,
        })
    }

    /// The next established session; waits forever once the acceptor
    /// has stopped (only when aborted).
    pub async fn accept(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        match self.sessions.recv().await {
            Some(session) => session,
            None => std::future::pending().await,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn accept_loop(
    listener: TcpListener,
    handshakes: TlsHandshakes,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let Some(permit) = handshakes.room().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Replies are written as a head and a body: without TCP_NODELAY,
        // Nagle holds the body back until the peer's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let handshakes = handshakes.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Some(session) = handshakes.handshake(tcp, peer, permit).await {
                // The server stopped taking sessions: nothing to do.
                let _ = tx.send((session, peer)).await;
            }
        });
    }
}
