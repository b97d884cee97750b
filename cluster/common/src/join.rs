//! The TLS of `auth-node`, made before the node has the cluster CA: the
//! password must not cross in the clear, and should reach only an MDS of
//! the cluster meant.
//!
//! The server's chain must be a node certificate signed by the CA that
//! follows it in the chain. When the operator gives the CA's SHA-256
//! fingerprint (`make-mds -I` prints it), the CA must be that one, and a
//! machine in the middle cannot pose as the MDS; without it the CA is
//! trusted on first use and its fingerprint shown, as SSH does with host
//! keys. The CA seen is kept so that the caller can check that the CA the
//! MDS then sends is the one it proved itself with.

use std::sync::{Arc, Mutex};

use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

use crate::node_cert::{cluster_dns_name, peer_node, Role};
use crate::tls::{connector::NodeConnector, reload::provider};

/// The SHA-256 of a certificate (DER), as hex: the CA's fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Checks the joining MDS's chain; see the module doc.
#[derive(Debug)]
pub struct JoinVerifier {
    pin: Option<String>,
    provider: Arc<CryptoProvider>,
    seen_ca: Mutex<Option<Vec<u8>>>,
}

impl JoinVerifier {
    /// The CA the server proved itself with, once a handshake succeeded.
    pub fn seen_ca(&self) -> Option<Vec<u8>> {
        self.seen_ca
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn refused(why: &str) -> Error {
    Error::General(why.to_string())
}

impl ServerCertVerifier for JoinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let ca = intermediates
            .last()
            .ok_or_else(|| refused("the MDS sent no CA with its certificate"))?;
        if let Some(pin) = &self.pin {
            if !fingerprint(ca).eq_ignore_ascii_case(pin) {
                return Err(refused(
                    "the MDS's CA is not the one whose fingerprint was given (--ca-sha256)",
                ));
            }
        }
        let (cluster_id, role) = peer_node(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::NotValidForName))?;
        if role != Role::Mds {
            return Err(refused("the server's certificate is not an MDS's"));
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let name = ServerName::try_from(cluster_dns_name(&cluster_id))
            .map_err(|_| Error::InvalidCertificate(CertificateError::NotValidForName))?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], &name, ocsp_response, now)?;
        *self.seen_ca.lock().unwrap_or_else(|e| e.into_inner()) = Some(ca.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A channel to the MDS at `endpoint` for `Join`, with no certificate of
/// its own, and the verifier that tells which CA the MDS showed.
pub fn join_channel(
    endpoint: &tonic::transport::Endpoint,
    pin: Option<String>,
) -> Result<(Channel, Arc<JoinVerifier>), Error> {
    let provider = provider();
    let verifier = Arc::new(JoinVerifier {
        pin,
        provider: provider.clone(),
        seen_ca: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    // The name is the verifier's business: the node does not know the
    // cluster id yet.
    let name = ServerName::try_from("join.cairn")
        .map_err(|e| Error::General(e.to_string()))?
        .to_owned();
    let connector = NodeConnector::with(crate::net::connector(), Arc::new(config), name);
    Ok((endpoint.connect_with_connector_lazy(connector), verifier))
}
