//! A node's identity in cluster mutual TLS: its certificate of the cluster
//! CA (reloaded when its files change), the CA it trusts, the serials the
//! cluster has revoked, and the rustls settings built from them for both
//! sides of a connection.
//!
//! Files, in one directory (a host's cluster config directory, or an MDS's
//! data directory): `ca.pem`, the cluster CA; `<role>.pem` and
//! `<role>.key`, the node's chain and key for role `mds`, `cs` or
//! `client` (see [`crate::node_cert`]).
//!
//! Invariants:
//! * A server built here completes a handshake only with a peer whose
//!   certificate chains to the cluster CA, is within its validity, names
//!   this cluster and is not revoked; a chunk server requires one, an MDS
//!   accepts a peer without one only for `Join` (see
//!   [`super::peer::PeerCheck`]).
//! * A client built here completes a handshake only with a server whose
//!   certificate chains to the cluster CA and carries the cluster's DNS
//!   name, whatever address it was reached at.
//! * A revocation takes effect for new handshakes at once and for calls on
//!   open connections at their next call (the check of `PeerCheck`).
//! * No session is resumed, either way: each handshake verifies the
//!   peer's certificate as it is now (a resumed session would carry the
//!   verdict of an earlier one past a revocation or a rotation).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    client::{danger::ServerCertVerifier, WebPkiServerVerifier},
    server::{danger::ClientCertVerifier, WebPkiClientVerifier},
    ClientConfig, RootCertStore, ServerConfig,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};

pub use super::revoked::Revoked;
use super::{
    reload::{CertReloader, TlsError, TlsFiles},
    verify::{ClusterClientVerifier, ClusterServerVerifier},
};
use crate::{
    node_cert::{cert_file, cluster_dns_name, key_file, Role},
    pki::CA_CERT,
};

/// Where a role's certificate and key live in `dir`.
pub fn role_files(dir: &Path, role: Role) -> TlsFiles {
    TlsFiles {
        cert: cert_file(dir, role),
        key: key_file(dir, role),
    }
}

/// A node's TLS identity; cheap to clone.
#[derive(Clone)]
pub struct NodeTls(Arc<Inner>);

struct Inner {
    cluster_id: String,
    role: Role,
    cert: Arc<CertReloader>,
    revoked: Arc<Revoked>,
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("cluster_id", &self.0.cluster_id)
            .field("role", &self.0.role)
            .field("cert", &self.0.cert.files().cert)
            .finish_non_exhaustive()
    }
}

/// Why a node's identity cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NodeTlsError {
    #[error(
        "no {role} certificate in {dir}: run `cairn -c CLUSTER auth-node` on this host to get \
         one"
    )]
    Missing {
        role: &'static str,
        dir: PathBuf,
        source: TlsError,
    },
    #[error("{path} holds no CA certificate")]
    NoCa { path: PathBuf },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("TLS setup failed: {0}")]
    Config(String),
}

impl NodeTls {
    /// The identity of a `role` node of `cluster_id` from the files in
    /// `dir` (see the module doc).
    pub fn load(dir: &Path, cluster_id: &str, role: Role) -> Result<NodeTls, NodeTlsError> {
        let files = role_files(dir, role);
        let cert = CertReloader::new(files).map_err(|source| NodeTlsError::Missing {
            role: role.as_str(),
            dir: dir.to_path_buf(),
            source,
        })?;
        let ca_path = dir.join(CA_CERT);
        let ca_pem = std::fs::read(&ca_path).map_err(|source| {
            NodeTlsError::Tls(TlsError::Read {
                path: ca_path.clone(),
                source,
            })
        })?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&ca_pem).filter_map(Result::ok) {
            roots
                .add(ca)
                .map_err(|e| NodeTlsError::Config(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(NodeTlsError::NoCa { path: ca_path });
        }
        NodeTls::build(cluster_id, role, cert, Arc::new(roots))
    }

    fn build(
        cluster_id: &str,
        role: Role,
        cert: Arc<CertReloader>,
        roots: Arc<RootCertStore>,
    ) -> Result<NodeTls, NodeTlsError> {
        let provider = cert.crypto();
        let revoked = Arc::new(Revoked::default());
        let config_err = |e: &dyn std::fmt::Display| NodeTlsError::Config(e.to_string());

        let webpki_server =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| config_err(&e))?;
        let server_verifier: Arc<dyn ServerCertVerifier> = Arc::new(ClusterServerVerifier {
            inner: webpki_server,
            revoked: revoked.clone(),
            cluster_id: cluster_id.to_string(),
        });
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err(&e))?
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_cert_resolver(cert.clone());
        client.alpn_protocols = vec![b"h2".to_vec()];
        // Every connection shows its certificates in full: a resumed
        // session would skip the checks, revocation among them.
        client.resumption = rustls::client::Resumption::disabled();

        let webpki_client = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| config_err(&e))?;
        let client_verifier: Arc<dyn ClientCertVerifier> = Arc::new(ClusterClientVerifier {
            inner: webpki_client,
            revoked: revoked.clone(),
            cluster_id: cluster_id.to_string(),
            // Only an MDS serves a peer without a certificate (Join).
            mandatory: role != Role::Mds,
        });
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err(&e))?
            .with_client_cert_verifier(client_verifier)
            .with_cert_resolver(cert.clone());
        server.alpn_protocols = vec![b"h2".to_vec()];
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;

        let server_name = ServerName::try_from(cluster_dns_name(cluster_id))
            .map_err(|e| config_err(&e))?
            .to_owned();
        Ok(NodeTls(Arc::new(Inner {
            cluster_id: cluster_id.to_string(),
            role,
            cert,
            revoked,
            client: Arc::new(client),
            server: Arc::new(server),
            server_name,
        })))
    }

    pub fn cluster_id(&self) -> &str {
        &self.0.cluster_id
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    /// The settings of this node's connections to other nodes.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.0.client.clone()
    }

    /// The settings of this node's server.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.0.server.clone()
    }

    /// The name every server of the cluster is checked against.
    pub fn server_name(&self) -> ServerName<'static> {
        self.0.server_name.clone()
    }

    /// The serials this node refuses.
    pub fn revoked(&self) -> &Arc<Revoked> {
        &self.0.revoked
    }

    /// The certificate's files and reloader (rotation watches them).
    pub fn cert(&self) -> &Arc<CertReloader> {
        &self.0.cert
    }

    /// When this node's certificate expires, in Unix seconds.
    pub fn not_after(&self) -> Option<i64> {
        let current = self.0.cert.current();
        let leaf = current.cert.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        Some(cert.validity().not_after.timestamp())
    }

    /// Watches the certificate's files (and SIGHUP) for a rotation until
    /// the returned task is aborted.
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.0.cert.clone().watch())
    }
}
