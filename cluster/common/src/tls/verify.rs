//! The certificate checks of cluster mutual TLS: webpki's chain, validity
//! and name checks against the cluster CA, then what webpki does not know,
//! the cluster's revocation list and the cluster id a node certificate
//! names. Signatures of the handshake are webpki's.

use std::sync::Arc;

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme,
};

use super::revoked::Revoked;
use crate::node_cert::{peer_role, Role};

/// The serial number of `cert` (its DER bytes), for revocation lists.
pub fn serial_of(cert: &[u8]) -> Option<Vec<u8>> {
    cert_id(cert).map(|id| id.serial)
}

/// What identifies a certificate to an operator and to the revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// The serial number's DER bytes.
    pub serial: Vec<u8>,
    /// The subject, as `CN=...`.
    pub subject: String,
    /// The end of its validity, in Unix seconds.
    pub not_after: i64,
}

/// The serial, subject and end of `cert` (DER).
pub fn cert_id(cert: &[u8]) -> Option<CertId> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(CertId {
        serial: parsed.raw_serial().to_vec(),
        subject: parsed.subject().to_string(),
        not_after: parsed.validity().not_after.timestamp(),
    })
}

/// A serial as `cairn cert` prints and reads it: lowercase hex.
pub fn serial_hex(serial: &[u8]) -> String {
    serial.iter().map(|b| format!("{b:02x}")).collect()
}

/// The serial `hex` names (colons allowed, as openssl prints them).
pub fn parse_serial_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: String = hex.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > 40 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Refuses a certificate the cluster revoked or that names another
/// cluster, after webpki accepted it.
fn check_node(
    cert: &CertificateDer<'_>,
    revoked: &Revoked,
    cluster_id: &str,
) -> Result<Role, Error> {
    let serial = serial_of(cert).ok_or(Error::InvalidCertificate(CertificateError::BadEncoding))?;
    if revoked.contains(&serial) {
        return Err(Error::InvalidCertificate(CertificateError::Revoked));
    }
    peer_role(cert, cluster_id).map_err(|e| {
        Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(e))))
    })
}

/// A server's check of its clients.
#[derive(Debug)]
pub(crate) struct ClusterClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub revoked: Arc<Revoked>,
    pub cluster_id: String,
    pub mandatory: bool,
}

impl ClientCertVerifier for ClusterClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_node(end_entity, &self.revoked, &self.cluster_id)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client's check of the servers it reaches.
#[derive(Debug)]
pub(crate) struct ClusterServerVerifier {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub revoked: Arc<Revoked>,
    pub cluster_id: String,
}

impl ServerCertVerifier for ClusterServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        // A client's certificate cannot serve: only an MDS or a chunk server
        // answers cluster calls.
        if check_node(end_entity, &self.revoked, &self.cluster_id)? == Role::Client {
            return Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
