//! The client side of cluster TLS: a connector for tonic channels that
//! opens TCP with every socket setting of [`crate::net`] and then a TLS
//! session with the given settings (a node's, checking the server against
//! the cluster's name whatever address it was reached at; or `auth-node`'s,
//! see [`super::join`]).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use hyper_util::{client::legacy::connect::HttpConnector, rt::TokioIo};
use rustls::{pki_types::ServerName, ClientConfig};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};
use tonic::codegen::Service;
use tonic::transport::Uri;

use super::node::NodeTls;

/// Opens TLS sessions to cluster servers.
#[derive(Clone)]
pub struct NodeConnector {
    tcp: HttpConnector,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl NodeConnector {
    /// Sessions as node `tls`.
    pub fn new(tcp: HttpConnector, tls: &NodeTls) -> NodeConnector {
        NodeConnector::with(tcp, tls.client_config(), tls.server_name())
    }

    /// Sessions with `config`, naming the server `name`.
    pub fn with(
        tcp: HttpConnector,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> NodeConnector {
        NodeConnector { tcp, config, name }
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
        let connector = TlsConnector::from(self.config.clone());
        let name = self.name.clone();
        Box::pin(async move {
            let tcp = tcp.await?.into_inner();
            let session = connector.connect(name, tcp).await?;
            Ok(TokioIo::new(session))
        })
    }
}
