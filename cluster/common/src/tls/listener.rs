//! A TCP listener whose connections come out as TLS sessions (the S3
//! door's HTTPS, every cluster server's mutual TLS): handshakes run on
//! their own tasks, so a slow or silent client delays nobody but itself,
//! and at most [`MAX_HANDSHAKES`] run at once, each for at most
//! [`HANDSHAKE_TIMEOUT`]. A handshake that fails (no certificate where one
//! is required, one of another cluster, a revoked or expired one) never
//! yields a session: nothing the peer sent reaches a server.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, Semaphore},
    task::JoinHandle,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// Handshakes in progress at once; more connections wait in the kernel's
/// backlog. Enough for bursts of clients opening their pools together.
pub const MAX_HANDSHAKES: usize = 256;

/// A client that has not finished its handshake by then is dropped: a
/// LAN handshake takes milliseconds, a distant one well under a second.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After an accept error that is not about one connection (out of file
/// descriptors), wait this long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Established TLS sessions, handshaken in the background.
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
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            sessions,
            local,
            acceptor,
        })
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
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
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
        // Answers are written as a head and a body: without TCP_NODELAY,
        // Nagle holds the body back until the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(session)) => {
                    drop(permit);
                    // The server stopped taking sessions: nothing to do.
                    let _ = tx.send((session, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl TlsListener {
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
