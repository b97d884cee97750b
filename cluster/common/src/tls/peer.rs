//! The server side of cluster mutual TLS for tonic: sessions handshaken by
//! [`TlsListener`] with a node's settings, each carrying who the peer is
//! ([`PeerInfo`], in every request's extensions), and the check of a
//! service's callers ([`PeerCheck`]) by role and revocation.

use std::{
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::server::TlsStream;
use tonic::{service::Interceptor, transport::server::Connected, Request, Status};

use super::{
    listener::TlsListener,
    node::NodeTls,
    verify::{cert_id, CertId},
};
use crate::node_cert::{peer_role, Role};

/// Who is at the other end of a session: its address and, when it showed
/// a certificate (every peer but an MDS's joining node does), its role and
/// the certificate's serial, subject and end.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    pub node: Option<(Role, Vec<u8>)>,
    pub cert: Option<CertId>,
}

impl PeerInfo {
    fn of(session: &TlsStream<TcpStream>, addr: SocketAddr, cluster_id: &str) -> PeerInfo {
        let leaf = session
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first());
        let cert = leaf.and_then(|leaf| cert_id(leaf));
        let node = leaf.zip(cert.as_ref()).and_then(|(leaf, id)| {
            let role = peer_role(leaf, cluster_id).ok()?;
            Some((role, id.serial.clone()))
        });
        PeerInfo { addr, node, cert }
    }

    /// The peer of `req`, when it came through [`incoming`].
    pub fn of_request<T>(req: &Request<T>) -> Option<&PeerInfo> {
        req.extensions().get::<PeerInfo>()
    }
}

/// A session of a cluster server.
pub struct PeerIo {
    session: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl Connected for PeerIo {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.session).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.session).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.session).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.session).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.session).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.session.is_write_vectored()
    }
}

/// The sessions of a cluster server on `listener`, for tonic's
/// `serve_with_incoming`: only peers that passed the node's handshake.
pub fn incoming(
    listener: TcpListener,
    tls: &NodeTls,
) -> std::io::Result<impl futures::Stream<Item = std::io::Result<PeerIo>> + Send + 'static> {
    let listener = TlsListener::new(listener, tls.server_config())?;
    let cluster_id = tls.cluster_id().to_string();
    Ok(futures::stream::unfold(
        (listener, cluster_id),
        |(mut listener, cluster_id)| async move {
            let (session, addr) = listener.accept().await;
            let info = PeerInfo::of(&session, addr, &cluster_id);
            Some((Ok(PeerIo { session, info }), (listener, cluster_id)))
        },
    ))
}

/// Checks that the caller of a service is a node of one of `roles` whose
/// certificate is not revoked (a revocation reaches connections opened
/// before it here).
#[derive(Clone, Debug)]
pub struct PeerCheck {
    tls: NodeTls,
    roles: &'static [Role],
}

/// Every role: any node of the cluster.
pub const ANY_NODE: &[Role] = &[Role::Mds, Role::Cs, Role::Client];

impl PeerCheck {
    pub fn new(tls: &NodeTls, roles: &'static [Role]) -> PeerCheck {
        PeerCheck {
            tls: tls.clone(),
            roles,
        }
    }

    /// The caller's role, or why it may not call.
    pub fn check<T>(&self, req: &Request<T>) -> Result<Role, Status> {
        check_peer(&self.tls, req, self.roles)
    }
}

/// The role of `req`'s caller when it is one of `roles` and not revoked.
pub fn check_peer<T>(tls: &NodeTls, req: &Request<T>, roles: &[Role]) -> Result<Role, Status> {
    let Some((role, serial)) = req
        .extensions()
        .get::<PeerInfo>()
        .and_then(|p| p.node.as_ref())
    else {
        return Err(Status::unauthenticated(
            "no node certificate: cluster RPC needs a certificate of this cluster \
             (`cairn auth-node`)",
        ));
    };
    if tls.revoked().contains(serial) {
        return Err(Status::unauthenticated(
            "this node's certificate was revoked: `cairn auth-node` gets a new one",
        ));
    }
    if !roles.contains(role) {
        return Err(Status::permission_denied(format!(
            "a {} node may not make this call",
            role.as_str()
        )));
    }
    Ok(*role)
}

impl Interceptor for PeerCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check(&req)?;
        Ok(req)
    }
}
