//! Node certificates after joining, for the CLI: revoking one (the whole
//! cluster refuses it from then on), the list of revoked ones, and renewing
//! this host's own (`cairn cert rotate`).

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{retry::Retry, Client};

/// Which certificate to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// The certificate itself (PEM, leaf first).
    Pem(String),
    /// Its serial number's bytes.
    Serial(Vec<u8>),
    /// The one chunk server `id` showed the MDS.
    ChunkServer(u32),
}

/// A certificate the cluster refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCert {
    pub serial: Vec<u8>,
    pub subject: String,
    /// Unix seconds; the row goes after that.
    pub not_after: i64,
    pub revoked_ns: i64,
}

/// A renewed certificate: the chain (leaf first) and the cluster CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    pub cert_pem: String,
    pub ca_pem: String,
}

impl Client {
    /// Adds a certificate to the cluster's revocation list.
    pub async fn revoke_cert(&self, target: RevokeTarget) -> Result<(), ClusterError> {
        let mut req = pb::RevokeCertRequest::default();
        match target {
            RevokeTarget::Pem(pem) => req.cert_pem = pem,
            RevokeTarget::Serial(serial) => req.serial = serial,
            RevokeTarget::ChunkServer(id) => req.cs_id = id,
        }
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.revoke_cert(r).await
            })
            .await?;
        Ok(())
    }

    /// The cluster's revocation list.
    pub async fn revoked_certs(&self) -> Result<Vec<RevokedCert>, ClusterError> {
        let reply = self
            .inner
            .mds
            .metadata(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.revoked_certs(r).await
            })
            .await?;
        Ok(reply
            .certs
            .into_iter()
            .map(|c| RevokedCert {
                serial: c.serial,
                subject: c.subject,
                not_after: c.not_after,
                revoked_ns: c.revoked_ns,
            })
            .collect())
    }

    /// A certificate for the public key of `csr_pem`, of the role of the
    /// certificate this client connects with.
    pub async fn renew_cert(&self, csr_pem: String) -> Result<Renewed, ClusterError> {
        let req = pb::RenewCertRequest { csr_pem };
        let reply = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.renew_cert(r).await
            })
            .await?;
        Ok(Renewed {
            cert_pem: reply.cert_pem,
            ca_pem: reply.ca_pem,
        })
    }
}
