//! The [`Persist`] each call asked for, known to its handler.
//!
//! A client sets the `cairn-persist` header on every call (the FUSE door
//! asks for [`Persist::Os`]); [`PersistLayer`] reads it and runs the
//! handler inside a task-local scope, where [`State::submit`] finds it
//! without every handler passing it along. Calls made outside a gRPC
//! handler (background work, tests) get [`Persist::Disk`].
//!
//! [`State::submit`]: crate::state::State::submit

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use cairn_common::{persist::PERSIST_HEADER, Persist};
use tower::{Layer, Service};

tokio::task_local! {
    static ASKED: Persist;
}

/// What the call being handled asked for.
pub fn asked() -> Persist {
    ASKED.try_with(|p| *p).unwrap_or_default()
}

/// Runs `work` as the handler of a call that asked for `persist`.
#[cfg(test)]
pub async fn scoped<F: Future>(persist: Persist, work: F) -> F::Output {
    ASKED.scope(persist, work).await
}

/// Puts each call's `cairn-persist` header in scope for its handler.
#[derive(Clone, Copy, Debug, Default)]
pub struct PersistLayer;

impl<S> Layer<S> for PersistLayer {
    type Service = PersistScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PersistScope { inner }
    }
}

#[derive(Clone, Debug)]
pub struct PersistScope<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for PersistScope<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let persist =
            Persist::from_header(request.headers().get(PERSIST_HEADER).map(|v| v.as_bytes()));
        Box::pin(ASKED.scope(persist, self.inner.call(request)))
    }
}
