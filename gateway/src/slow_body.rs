//! A request body that must keep a minimum rate: one that trickles in under
//! `min_rate` bytes per second, over a window of time spent waiting for the
//! client, fails with [`BodyTooSlow`], which the door answers with S3's
//! `RequestTimeout`. Only the time the door waits for the client counts: a
//! handler that stops reading (the cluster is slow) never makes the client
//! look slow.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a body too slow ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived at under {min_rate} bytes/s over {window:?}")]
pub struct BodyTooSlow {
    pub min_rate: u64,
    pub window: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `inner` held to a minimum rate.
pub struct RateLimitedBody<B> {
    inner: B,
    min_rate: u64,
    window: Duration,
    /// Time waited for the client in this window, not counting the wait in
    /// progress.
    waited: Duration,
    /// Bytes that came in this window.
    received: u64,
    /// Since when the body has been waiting for the client, if it is.
    waiting_since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
}

impl<B> RateLimitedBody<B> {
    /// `inner` that must bring `min_rate` bytes per second over `window`
    /// of waiting; `min_rate` 0 checks nothing.
    pub fn new(inner: B, min_rate: u64, window: Duration) -> RateLimitedBody<B> {
        RateLimitedBody {
            inner,
            min_rate,
            window,
            waited: Duration::ZERO,
            received: 0,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    fn needed(&self) -> u64 {
        (self.min_rate as f64 * self.window.as_secs_f64()) as u64
    }

    /// A frame came: the wait (if any) ends, and a full window is judged.
    fn on_ready(&mut self, bytes: u64) -> Result<(), BodyTooSlow> {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
        self.received += bytes;
        self.close_window()
    }

    /// Once a window of waiting has passed: too few bytes fail, enough
    /// start the next window.
    fn close_window(&mut self) -> Result<(), BodyTooSlow> {
        if self.waited < self.window {
            return Ok(());
        }
        if self.received < self.needed() {
            return Err(BodyTooSlow {
                min_rate: self.min_rate,
                window: self.window,
            });
        }
        self.waited = Duration::ZERO;
        self.received = 0;
        Ok(())
    }

    /// The body waits for the client: arms the timer for the end of the
    /// window, and judges the window when it ends.
    fn on_pending(&mut self, cx: &mut Context<'_>) -> Result<(), BodyTooSlow> {
        let now = Instant::now();
        let since = *self.waiting_since.get_or_insert(now);
        let deadline = since + self.window.saturating_sub(self.waited);
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.waited += now.saturating_duration_since(since);
            self.waiting_since = Some(now);
            self.close_window()?;
            // The window was good: wait on for the next one.
            let deadline = now + self.window;
            self.timer.as_mut().reset(deadline);
            let _ = self.timer.as_mut().poll(cx);
        }
        Ok(())
    }
}

impl<B> Body for RateLimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if this.min_rate == 0 {
            return polled.map_err(Into::into);
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, |d| d.len() as u64);
                match this.on_ready(bytes) {
                    Ok(()) => Poll::Ready(Some(Ok(frame))),
                    Err(slow) => Poll::Ready(Some(Err(slow.into()))),
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.on_pending(cx) {
                Ok(()) => Poll::Pending,
                Err(slow) => Poll::Ready(Some(Err(slow.into()))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (from a request body) is a body cut off for slowness.
pub fn is_body_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTooSlow>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    const WINDOW: Duration = Duration::from_secs(5);

    /// A body that sends `piece` bytes every `every`, `count` times.
    fn trickle(
        piece: usize,
        every: Duration,
        count: usize,
    ) -> impl Body<Data = Bytes, Error = std::io::Error> + Unpin {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tokio::spawn(async move {
            for _ in 0..count {
                tokio::time::sleep(every).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from(vec![b'x'; piece]))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        StreamBody::new(tokio_stream_from(rx))
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Unpin {
        Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_under_the_rate_is_cut_off_after_a_window() {
        // 10 bytes/s against a minimum of 100 bytes/s.
        let body = RateLimitedBody::new(trickle(10, Duration::from_secs(1), 100), 100, WINDOW);
        let started = Instant::now();
        let Err(error) = body.collect().await else {
            panic!("the body was not cut off");
        };
        assert!(is_body_too_slow(&*error), "{error}");
        let took = started.elapsed();
        assert!(
            took >= WINDOW && took <= WINDOW + Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_rate_arrives_whole() {
        // 200 bytes/s for 20 s against a minimum of 100 bytes/s.
        let body = RateLimitedBody::new(trickle(20, Duration::from_millis(100), 200), 100, WINDOW);
        let all = body.collect().await.expect("whole").to_bytes();
        assert_eq!(all.len(), 20 * 200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_cut_off_too() {
        let body = RateLimitedBody::new(trickle(1, Duration::from_secs(3600), 1), 100, WINDOW);
        let Err(error) = body.collect().await else {
            panic!("the body was not cut off");
        };
        assert!(is_body_too_slow(&*error), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_does_not_read_does_not_count() {
        let mut body = RateLimitedBody::new(trickle(1000, Duration::ZERO, 3), 100, WINDOW);
        let first = body.frame().await.expect("a frame").expect("ok");
        assert!(first.is_data());
        // The reader is away for longer than a window.
        tokio::time::sleep(WINDOW * 3).await;
        let rest = body.collect().await.expect("the rest").to_bytes();
        assert_eq!(rest.len(), 2000);
    }
}
