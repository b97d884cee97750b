//! Certificates on a host that holds the cluster CA (an MDS host: the one
//! of `make-mds -I`, `cairn up`): the CA beside the cluster's config
//! (`ca.pem`, `ca.key`), this host's node certificates for roles cs and
//! client (`cs.pem`, `client.pem` and their keys), and the S3 gateway
//! certificate for 127.0.0.1, ::1 and localhost that `cairn up --tls` gets
//! (`s3.pem`, `s3.key` under `DIR/etc/local/`). Keys are written with mode
//! 0600.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cairn_common::{
    node_cert::{cert_file, key_file, Role},
    pki::{self, Authority},
};

/// The gateway certificate's file names beside the CA.
pub const S3_CERT: &str = "s3.pem";
pub const S3_KEY: &str = "s3.key";

/// The names a local gateway certificate serves.
const LOCAL_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// Puts the cluster CA of the MDS in `mds_dir` into the config directory
/// `dir` of this (MDS) host, and gives this host certificates for roles
/// cs, client and mds (the last for membership changes: `make-mds -a`,
/// `rm-mds`), each renewed when within 30 days of its end.
pub fn node_dir_from_mds(mds_dir: &Path, dir: &Path, cluster_id: &str) -> anyhow::Result<()> {
    let ca = Authority::load(mds_dir).context("cannot read the cluster CA of the MDS")?;
    ca.save(dir)
        .with_context(|| format!("cannot write the cluster CA in {}", dir.display()))?;
    let due: Vec<Role> = [Role::Cs, Role::Client, Role::Mds]
        .into_iter()
        .filter(|r| !key_file(dir, *r).is_file() || pki::needs_renewal(&cert_file(dir, *r)))
        .collect();
    ca.issue_node_files(dir, cluster_id, &due)
        .with_context(|| format!("cannot write node certificates in {}", dir.display()))
}

/// The local gateway certificate in `dir`, made now by the cluster CA
/// there when there is none or it expires within 30 days. Returns the
/// CA's path and the files.
pub fn ensure_local_s3_cert(dir: &Path) -> anyhow::Result<(PathBuf, cairn_gateway::TlsFiles)> {
    let files = cairn_gateway::TlsFiles {
        cert: dir.join(S3_CERT),
        key: dir.join(S3_KEY),
    };
    if !files.key.is_file() || pki::needs_renewal(&files.cert) {
        let ca = Authority::load(dir).context("cannot read the cluster CA")?;
        let issued = ca.issue_server("Cairn S3 gateway", &LOCAL_NAMES)?;
        pki::write_pair(&files.cert, &issued.cert_pem, &files.key, &issued.key_pem)?;
    }
    Ok((dir.join(pki::CA_CERT), files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_certificate_is_kept_and_a_broken_one_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        Authority::generate("c1")
            .expect("CA")
            .save(dir.path())
            .expect("saved");
        let (ca, files) = ensure_local_s3_cert(dir.path()).expect("made");
        assert!(ca.is_file());
        let first = std::fs::read_to_string(&files.cert).expect("s3.pem");
        let (_, again) = ensure_local_s3_cert(dir.path()).expect("kept");
        assert_eq!(std::fs::read_to_string(&again.cert).expect("s3.pem"), first);

        std::fs::write(&files.cert, "-----BEGIN CERT").expect("break it");
        ensure_local_s3_cert(dir.path()).expect("renewed");
        let renewed = std::fs::read_to_string(&files.cert).expect("s3.pem");
        assert_ne!(renewed, first);
        assert!(pki::not_after(&renewed).is_some());
        // The same CA signed both.
        let ca_pem = std::fs::read_to_string(&ca).expect("ca.pem");
        assert!(renewed.ends_with(&ca_pem) && first.ends_with(&ca_pem));
    }
}
