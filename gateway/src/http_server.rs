//! The S3 door's HTTP server: accepts connections on a listener (plain or
//! TLS), refuses an address over its connection limit, and serves HTTP/1.1
//! and HTTP/2 (hyper's auto builder) on each connection under the door's
//! limits: header size, idle and header-read timeouts (`conn_timeouts`),
//! body rate (`slow_body`). Each request carries its client's address
//! ([`ClientAddr`]). On shutdown, accepting stops and the requests in
//! flight are drained.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::conn_table::{ConnSlot, ConnTable};
use crate::conn_timeouts::{ConnClock, TimedIo};
use crate::door_limits::DoorLimits;
use crate::slow_body::RateLimitedBody;
use crate::tls::{is_http2, TlsHandshakes};

/// After an accept error that is not about one connection (out of file
/// descriptors), wait this long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What one HTTP/2 stream may send us before we read it (PUT bodies), and
/// all the streams of a connection together.
const H2_STREAM_WINDOW: u32 = 4 << 20;
const H2_CONNECTION_WINDOW: u32 = 16 << 20;
/// What one HTTP/2 stream may hold of an answer before the client's window
/// lets it go (GET bodies).
const H2_SEND_BUFFER: usize = 4 << 20;

/// The address of the client that sent a request (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Whether the request came over TLS (a request extension; the policy
/// condition key `aws:SecureTransport`; SSE-C keys are only taken over
/// a secure connection).
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport(pub bool);

/// What every connection of the door shares.
#[derive(Clone)]
pub struct Door {
    app: axum::Router,
    limits: Arc<DoorLimits>,
    conns: Arc<ConnTable>,
    http: Arc<Builder<TokioExecutor>>,
}

impl Door {
    /// The door of `app` under `limits`; its connection table is shared by
    /// every listener it serves.
    pub fn new(app: axum::Router, limits: DoorLimits) -> Door {
        let mut http = Builder::new(TokioExecutor::new());
        // hyper answers a head larger than its read buffer with 431.
        http.http1().max_buf_size(limits.header_buffer_bytes());
        // HTTP/2 (negotiated by ALPN over HTTPS; Go clients and the AWS
        // SDKs take it) carries a large object on one stream: hyper's
        // defaults (1 MiB windows, a 400 KB send buffer per stream) stall
        // that stream between window updates and halve its throughput.
        http.http2()
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .max_send_buf_size(H2_SEND_BUFFER);
        Door {
            app,
            conns: ConnTable::new(limits.max_connections_per_address),
            limits: Arc::new(limits),
            http: Arc::new(http),
        }
    }

    /// Serves `listener` (with TLS when `tls` is given) until `shutdown`,
    /// then waits for the connections to finish their requests.
    pub async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<TlsHandshakes>,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let connections = TaskTracker::new();
        loop {
            let permit = match &tls {
                Some(tls) => tokio::select! {
                    permit = tls.room() => permit,
                    _ = shutdown.cancelled() => break,
                },
                None => None,
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "S3 accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let Some(slot) = self.conns.enter(peer.ip()) else {
                tracing::debug!(%peer, limit = self.limits.max_connections_per_address, "connection refused: too many from this address");
                continue;
            };
            // Answers are written as a head and a body: without TCP_NODELAY,
            // Nagle holds the body back until the client's delayed ACK.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            let door = self.clone();
            let shutdown = shutdown.clone();
            match (&tls, permit) {
                (Some(tls), Some(permit)) => {
                    let tls = tls.clone();
                    connections.spawn(async move {
                        if let Some(session) = tls.handshake(tcp, peer, permit).await {
                            let http2 = is_http2(&session);
                            door.serve_connection(session, peer, http2, true, slot, shutdown)
                                .await;
                        }
                    });
                }
                _ => {
                    connections.spawn(async move {
                        door.serve_connection(tcp, peer, false, false, slot, shutdown)
                            .await;
                    });
                }
            }
        }
        drop(listener);
        connections.close();
        connections.wait().await;
        Ok(())
    }

    /// Serves HTTP on one connection until it closes, a timeout drops it,
    /// or `shutdown` (then the request in flight is finished first).
    async fn serve_connection<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        http2: bool,
        secure: bool,
        slot: ConnSlot,
        shutdown: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.limits.clone();
        let clock = ConnClock::new(limits.idle_timeout, limits.header_read_timeout, http2);
        let io = TokioIo::new(TimedIo::new(stream, clock.clone()));
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = clock.request_started();
            let mut request = request.map(|body| {
                Body::new(RateLimitedBody::new(
                    body,
                    limits.min_body_rate,
                    limits.body_rate_window,
                ))
            });
            request.extensions_mut().insert(ClientAddr(peer));
            request.extensions_mut().insert(SecureTransport(secure));
            let mut app = app.clone();
            async move {
                let response = app.call(request).await;
                drop(in_flight);
                response
            }
        });
        let conn = self.http.serve_connection_with_upgrades(io, service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::trace!(%peer, error = %e, "S3 connection ended");
                    }
                    break;
                }
                _ = shutdown.cancelled(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        drop(slot);
    }
}

type Request<B> = http::Request<B>;

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
