//! The cluster CA that `make-mds -I` and `cairn up` make beside the
//! cluster's config (`ca.pem`, `ca.key`), and the S3 gateway certificate
//! for 127.0.0.1, ::1 and localhost that `cairn up --tls` gets from it
//! (`s3.pem`, `s3.key` under `DIR/etc/local/`). Keys are written with
//! mode 0600.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cairn_common::pki::{self, Authority};

/// The gateway certificate's file names beside the CA.
pub const S3_CERT: &str = "s3.pem";
pub const S3_KEY: &str = "s3.key";

/// The names a local gateway certificate serves.
const LOCAL_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// The cluster CA in `dir`, made now when there is none.
pub fn ensure_ca(dir: &Path, cluster_id: &str) -> anyhow::Result<Authority> {
    if Authority::exists_in(dir) {
        return Authority::load(dir).context("cannot read the cluster CA");
    }
    let ca = Authority::generate(cluster_id)?;
    ca.save(dir)
        .with_context(|| format!("cannot write the cluster CA in {}", dir.display()))?;
    Ok(ca)
}

/// The local gateway certificate in `dir`, made now (with the CA if
/// needed) when there is none or it expires within 30 days. Returns the
/// CA's path and the files.
pub fn ensure_local_s3_cert(
    dir: &Path,
    cluster_id: &str,
) -> anyhow::Result<(PathBuf, cairn_gateway::TlsFiles)> {
    let files = cairn_gateway::TlsFiles {
        cert: dir.join(S3_CERT),
        key: dir.join(S3_KEY),
    };
    if !files.key.is_file() || pki::needs_renewal(&files.cert) {
        let ca = ensure_ca(dir, cluster_id)?;
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
        let (ca, files) = ensure_local_s3_cert(dir.path(), "c1").expect("made");
        assert!(ca.is_file());
        let first = std::fs::read_to_string(&files.cert).expect("s3.pem");
        let (_, again) = ensure_local_s3_cert(dir.path(), "c1").expect("kept");
        assert_eq!(std::fs::read_to_string(&again.cert).expect("s3.pem"), first);

        std::fs::write(&files.cert, "-----BEGIN CERT").expect("break it");
        ensure_local_s3_cert(dir.path(), "c1").expect("renewed");
        let renewed = std::fs::read_to_string(&files.cert).expect("s3.pem");
        assert_ne!(renewed, first);
        assert!(pki::not_after(&renewed).is_some());
        // The same CA signed both.
        let ca_pem = std::fs::read_to_string(&ca).expect("ca.pem");
        assert!(renewed.ends_with(&ca_pem) && first.ends_with(&ca_pem));
    }
}
