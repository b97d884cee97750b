//! The idle and header-read timeouts of one connection, kept by a wrapper
//! around its stream that the HTTP server reads and writes through.
//!
//! Between requests a connection is idle until a byte arrives; from that
//! byte on, the request head must be whole within the header-read timeout
//! (a client that trickles a head, slowloris, is dropped). While a request
//! is being served neither applies (the body has its own rate limit,
//! `slow_body`). hyper's own header timeout starts when it waits for a head,
//! so it cannot tell a slow head from an idle keep-alive: hence this one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The start of an HTTP/2 connection (RFC 9113, 3.4): such a connection is
/// not held to the HTTP/1 head timeout.
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

#[derive(Debug)]
struct Activity {
    /// Requests whose head arrived and whose handler has not answered.
    in_flight: usize,
    /// The last byte read or written.
    last_io: Instant,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    /// Whether anything was read yet (to recognise HTTP/2).
    read_any: bool,
    http2: bool,
}

/// What a connection's timeouts know of its requests; shared by the stream
/// wrapper and the service that handles the requests.
#[derive(Debug, Clone)]
pub struct ConnClock {
    activity: Arc<Mutex<Activity>>,
    idle_timeout: Duration,
    header_read_timeout: Duration,
}

/// A request in progress on a connection; the connection may go idle again
/// when it is dropped.
#[derive(Debug)]
pub struct RequestInFlight(ConnClock);

impl ConnClock {
    pub fn new(idle_timeout: Duration, header_read_timeout: Duration, http2: bool) -> ConnClock {
        ConnClock {
            activity: Arc::new(Mutex::new(Activity {
                in_flight: 0,
                last_io: Instant::now(),
                head_started: None,
                read_any: false,
                http2,
            })),
            idle_timeout,
            header_read_timeout,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Activity) -> T) -> T {
        let mut activity = self.activity.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut activity)
    }

    /// A request head arrived whole: no timeout until it is answered.
    pub fn request_started(&self) -> RequestInFlight {
        self.with(|a| {
            a.in_flight += 1;
            a.head_started = None;
        });
        RequestInFlight(self.clone())
    }

    fn on_read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let now = Instant::now();
        self.with(|a| {
            if !a.read_any {
                a.read_any = true;
                a.http2 |= bytes.starts_with(HTTP2_PREFACE_START);
            }
            a.last_io = now;
            if a.in_flight == 0 && a.head_started.is_none() {
                a.head_started = Some(now);
            }
        });
    }

    fn on_write(&self) {
        let now = Instant::now();
        self.with(|a| a.last_io = now);
    }

    /// When the connection is to be dropped if nothing changes, and why.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        self.with(|a| {
            if a.in_flight > 0 {
                return None;
            }
            match a.head_started {
                Some(started) if !a.http2 => {
                    Some((started + self.header_read_timeout, "request head too slow"))
                }
                _ => Some((a.last_io + self.idle_timeout, "idle")),
            }
        })
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        let now = Instant::now();
        self.0.with(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.last_io = now;
        });
    }
}

/// A connection's stream under its [`ConnClock`]: reads and writes fail
/// with `TimedOut` once the connection has been idle, or sending a head,
/// for too long.
pub struct TimedIo<S> {
    inner: S,
    clock: ConnClock,
    timer: Pin<Box<Sleep>>,
}

impl<S> TimedIo<S> {
    pub fn new(inner: S, clock: ConnClock) -> TimedIo<S> {
        TimedIo {
            inner,
            clock,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Called when the stream would wait: arms the timer for the current
    /// deadline, and fails once it has passed.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some((deadline, why)) = self.clock.deadline() else {
            return Ok(());
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            tracing::debug!(why, "S3 connection timed out");
            return Err(io::Error::new(io::ErrorKind::TimedOut, why));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                self.clock.on_read(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.clock.on_write();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                self.clock.on_write();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const IDLE: Duration = Duration::from_secs(60);
    const HEAD: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_times_out_after_the_header_timeout() {
        let (mut client, server) = tokio::io::duplex(1024);
        let clock = ConnClock::new(IDLE, HEAD, false);
        let mut io = TimedIo::new(server, clock);
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"G").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut buf = [0u8; 16];
        let error = loop {
            match io.read(&mut buf).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(
            took >= HEAD && took < HEAD + Duration::from_secs(2),
            "{took:?}"
        );
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_lasts_the_idle_timeout_not_the_header_one() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut io = TimedIo::new(server, ConnClock::new(IDLE, HEAD, false));
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let error = io.read(&mut buf).await.expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= IDLE, "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn no_timeout_while_a_request_is_served() {
        let (_client, server) = tokio::io::duplex(1024);
        let clock = ConnClock::new(IDLE, HEAD, false);
        let mut io = TimedIo::new(server, clock.clone());
        let serving = clock.request_started();
        let mut buf = [0u8; 16];
        let waited = tokio::time::timeout(IDLE * 3, io.read(&mut buf)).await;
        assert!(waited.is_err(), "the read still waits: {waited:?}");
        drop(serving);
        let error = io.read(&mut buf).await.expect_err("idle again");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_is_held_to_the_idle_timeout_only() {
        let (mut client, server) = tokio::io::duplex(1024);
        let clock = ConnClock::new(IDLE, HEAD, false);
        let mut io = TimedIo::new(server, clock);
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        let mut buf = [0u8; 64];
        let read = io.read(&mut buf).await.expect("preface read");
        assert!(read > 0);
        let started = Instant::now();
        let error = io.read(&mut buf).await.expect_err("idle");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= IDLE - HEAD, "{:?}", started.elapsed());
    }
}
