//! A tower layer for tonic servers: counts and times every gRPC call by
//! method, and counts it as an error when the answer's headers carry a
//! non-zero `grpc-status` (tonic sends a failed unary call as headers only).
//! A streamed answer is timed to its headers, not to its last message.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tower::{Layer, Service};

use crate::PartMetrics;

/// Records into `part`, or does nothing when built with `None` (so that a
/// server can always carry the layer).
#[derive(Clone, Debug, Default)]
pub struct GrpcLayer {
    part: Option<PartMetrics>,
}

impl GrpcLayer {
    pub fn new(part: Option<PartMetrics>) -> GrpcLayer {
        GrpcLayer { part }
    }
}

impl<S> Layer<S> for GrpcLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            part: self.part.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
    part: Option<PartMetrics>,
}

/// `/cairn.v1.Metadata/Lookup` -> `Metadata/Lookup`: short, and the
/// package is the same for every method.
fn method_name(path: &str) -> String {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}/{method}")
}

impl<S, B, R> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let flight = self
            .part
            .as_ref()
            .map(|p| p.start(method_name(request.uri().path())));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            if let Some(flight) = flight {
                let ok = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .is_none_or(|s| s.as_bytes() == b"0"),
                    Err(_) => false,
                };
                flight.done(ok);
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::method_name;

    #[test]
    fn method_names_drop_the_package() {
        assert_eq!(method_name("/cairn.v1.Metadata/Lookup"), "Metadata/Lookup");
        assert_eq!(method_name("/cairn.Metadata/Lookup"), "Metadata/Lookup");
        assert_eq!(method_name("/Health/Check"), "Health/Check");
    }
}
