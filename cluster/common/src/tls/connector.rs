//! The client side of cluster mutual TLS: a connector for tonic channels
//! that opens TCP with every socket setting of [`crate::net`] and then a
//! TLS session with the node's settings, checking the server against the
//! cluster's name whatever address it was reached at.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use hyper_util::{client::legacy::connect::HttpConnector, rt::TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};
use tonic::transport::Uri;
use tonic::codegen::Service;

use super::node::NodeTls;

/// Opens TLS sessions to cluster servers.
#[derive(Clone)]
pub struct NodeConnector {
    tcp: HttpConnector,
    tls: NodeTls,
}

impl NodeConnector {
    pub fn new(tcp: HttpConnector, tls: &NodeTls) -> NodeConnector {
        NodeConnector {
            tcp,
            tls: tls.clone(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for NodeConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tcp = self.tcp.call(uri);
        let connector = TlsConnector::from(self.tls.client_config());
        let name = self.tls.server_name();
        Box::pin(async move {
            let tcp = tcp.await?.into_inner();
            let session = connector.connect(name, tcp).await?;
            Ok(TokioIo::new(session))
        })
    }
}
