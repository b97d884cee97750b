//! Node certificates for mutual TLS between the cluster's processes: what
//! the cluster CA signs for a node and how a peer's certificate is read.
//! (Issue 20: the servers and channels do not use them yet.)
//!
//! A node makes its own key and sends a certificate request; the CA takes
//! only the public key from it and writes every name itself:
//! * DNS name `<cluster-id>.cluster.cairn`, which every node of the cluster
//!   carries, so that a client checks any server of its cluster against one
//!   name whatever the server's address;
//! * URI `cairn://<cluster-id>/<role>`, the node's role (mds, cs, client),
//!   which servers read for their role checks (only an MDS speaks raft).
//!
//! Both extended key usages (server and client): a chunk server is the
//! server of a chain write and the client of the next hop.

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};
use thiserror::Error;

use std::path::{Path, PathBuf};

use crate::pki::{write_atomic, write_pair, Authority, Issued, PkiError, CA_CERT, LEAF_DAYS};

/// What a node is to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Mds,
    Cs,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mds => "mds",
            Role::Cs => "cs",
            Role::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "mds" => Some(Role::Mds),
            "cs" => Some(Role::Cs),
            "client" => Some(Role::Client),
            _ => None,
        }
    }
}

/// Where a `role` node's certificate chain is kept in `dir`.
pub fn cert_file(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.pem", role.as_str()))
}

/// Where a `role` node's private key is kept in `dir` (mode 0600).
pub fn key_file(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.key", role.as_str()))
}

/// The DNS name every node certificate of cluster `cluster_id` carries.
pub fn cluster_dns_name(cluster_id: &str) -> String {
    format!("{cluster_id}.cluster.cairn")
}

fn role_uri(cluster_id: &str, role: Role) -> String {
    format!("cairn://{cluster_id}/{}", role.as_str())
}

/// Why a peer's certificate does not name a node of this cluster.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PeerError {
    #[error("the peer's certificate does not parse")]
    Unparsable,
    #[error("the peer's certificate names no Cairn node")]
    NotANode,
    #[error("the peer's certificate is of cluster {0}, not this one")]
    AnotherCluster(String),
}

/// A node's new key and its certificate request (PEM), to send to the CA.
pub fn node_request() -> Result<(KeyPair, String), PkiError> {
    let key = KeyPair::generate()?;
    let csr = CertificateParams::default().serialize_request(&key)?;
    Ok((key, csr.pem()?))
}

impl Authority {
    /// Signs the public key of `csr_pem` as a `role` node of `cluster_id`.
    /// Whatever names the request asks for are ignored.
    pub fn issue_node(
        &self,
        cluster_id: &str,
        role: Role,
        csr_pem: &str,
    ) -> Result<String, PkiError> {
        let now = time::OffsetDateTime::now_utc();
        self.issue_node_between(
            cluster_id,
            role,
            csr_pem,
            now - time::Duration::hours(1),
            now + time::Duration::days(LEAF_DAYS),
        )
    }

    /// As [`Authority::issue_node`], valid from `not_before` to
    /// `not_after` (a test's expired certificate, a short-lived one).
    pub fn issue_node_between(
        &self,
        cluster_id: &str,
        role: Role,
        csr_pem: &str,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Result<String, PkiError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("cairn {}", role.as_str()));
        params.subject_alt_names = vec![
            SanType::DnsName(cluster_dns_name(cluster_id).try_into()?),
            SanType::URI(role_uri(cluster_id, role).try_into()?),
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        csr.params = params;
        let cert = csr.signed_by(&self.issuer()?)?;
        Ok(format!("{}{}", cert.pem(), self.cert_pem()))
    }

    /// A node certificate with a fresh key, for a node on a host that
    /// holds the CA (the first MDS, `cairn up`).
    pub fn issue_node_here(&self, cluster_id: &str, role: Role) -> Result<Issued, PkiError> {
        let (key, csr) = node_request()?;
        Ok(Issued {
            cert_pem: self.issue_node(cluster_id, role, &csr)?,
            key_pem: key.serialize_pem(),
        })
    }

    /// A new CA for `cluster_id`, saved in `dir` with its key, and a
    /// certificate for every role there: the node directory of a cluster
    /// made on one host (tests, a demo).
    pub fn new_node_dir(dir: &Path, cluster_id: &str) -> Result<Authority, PkiError> {
        let ca = Authority::generate(cluster_id)?;
        ca.save(dir)?;
        ca.issue_node_files(dir, cluster_id, &[Role::Mds, Role::Cs, Role::Client])?;
        Ok(ca)
    }

    /// Writes the CA certificate (not its key) and a fresh certificate
    /// for each of `roles` into `dir`: a node directory for a host that
    /// holds the CA.
    pub fn issue_node_files(
        &self,
        dir: &Path,
        cluster_id: &str,
        roles: &[Role],
    ) -> Result<(), PkiError> {
        write_atomic(&dir.join(CA_CERT), self.cert_pem(), 0o644)?;
        for role in roles {
            let issued = self.issue_node_here(cluster_id, *role)?;
            write_pair(
                &cert_file(dir, *role),
                &issued.cert_pem,
                &key_file(dir, *role),
                &issued.key_pem,
            )?;
        }
        Ok(())
    }
}

/// The role a peer's certificate (DER, already verified against the
/// cluster CA by the handshake) gives it in cluster `cluster_id`.
pub fn peer_role(cert_der: &[u8], cluster_id: &str) -> Result<Role, PeerError> {
    let (id, role) = peer_node(cert_der)?;
    if id != cluster_id {
        return Err(PeerError::AnotherCluster(id));
    }
    Ok(role)
}

/// The cluster id and role a node certificate (DER) names.
pub fn peer_node(cert_der: &[u8]) -> Result<(String, Role), PeerError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|_| PeerError::Unparsable)?;
    let names = cert
        .subject_alternative_name()
        .map_err(|_| PeerError::Unparsable)?
        .ok_or(PeerError::NotANode)?;
    for name in &names.value.general_names {
        let x509_parser::extensions::GeneralName::URI(uri) = name else {
            continue;
        };
        let Some(rest) = uri.strip_prefix("cairn://") else {
            continue;
        };
        let Some((id, role)) = rest.split_once('/') else {
            continue;
        };
        let role = Role::parse(role).ok_or(PeerError::NotANode)?;
        return Ok((id.to_string(), role));
    }
    Err(PeerError::NotANode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::{pem::PemObject, CertificateDer};

    fn leaf_der(pem: &str) -> Vec<u8> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_ca_names_the_role_and_cluster_and_ignores_what_is_asked() {
        let ca = Authority::generate("c1").unwrap();
        // A request that asks to be an MDS of another cluster.
        let key = KeyPair::generate().unwrap();
        let mut asked = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        asked
            .subject_alt_names
            .push(SanType::URI("cairn://c2/mds".try_into().unwrap()));
        let csr = asked.serialize_request(&key).unwrap().pem().unwrap();
        let cert = ca.issue_node("c1", Role::Cs, &csr).unwrap();
        assert!(cert.ends_with(ca.cert_pem()));
        let der = leaf_der(&cert);
        assert_eq!(peer_role(&der, "c1"), Ok(Role::Cs));
        assert_eq!(
            peer_role(&der, "c9"),
            Err(PeerError::AnotherCluster("c1".into()))
        );
        assert!(!String::from_utf8_lossy(&der).contains("evil.example"));
    }

    #[test]
    fn a_certificate_that_is_not_a_node_has_no_role() {
        let ca = Authority::generate("c1").unwrap();
        let s3 = ca.issue_server("s3", &["127.0.0.1"]).unwrap();
        assert_eq!(
            peer_role(&leaf_der(&s3.cert_pem), "c1"),
            Err(PeerError::NotANode)
        );
        assert_eq!(peer_role(b"junk", "c1"), Err(PeerError::Unparsable));
        let here = ca.issue_node_here("c1", Role::Mds).unwrap();
        assert_eq!(peer_role(&leaf_der(&here.cert_pem), "c1"), Ok(Role::Mds));
        for role in [Role::Mds, Role::Cs, Role::Client] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
