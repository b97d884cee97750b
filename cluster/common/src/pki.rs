//! The cluster's own certificate authority and the certificates it signs.
//!
//! A cluster has one CA (ECDSA P-256, made by `make-mds -I` or `cairn up`),
//! kept beside `cluster.toml` as `ca.pem` (public: every node trusts it)
//! and `ca.key` (mode 0600: whoever holds it can mint certificates). The
//! CA signs server certificates for the S3 gateway's HTTPS (`cairn up
//! --tls`) and, for cluster RPC, node certificates.
//!
//! Invariants:
//! * A private key is only ever written with mode 0600, through a temporary
//!   file renamed into place, so a reader sees the old key or the new one.
//! * A certificate written with its key is written after the key: a reader
//!   that finds a new certificate finds its key (see [`write_pair`]).

use std::{
    fs,
    io::Write,
    net::IpAddr,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use thiserror::Error;

/// The CA certificate's file name in a cluster's config directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA key's file name (mode 0600; only on the hosts that sign).
pub const CA_KEY: &str = "ca.key";

/// How long the CA is valid: long, since replacing it means re-issuing
/// every certificate of the cluster.
const CA_DAYS: i64 = 3650;
/// How long a leaf certificate is valid; `cairn up` renews its own.
pub const LEAF_DAYS: i64 = 365;
/// Back-dating of `not_before`, for hosts whose clocks lag a little.
const CLOCK_SLACK_HOURS: i64 = 1;

#[derive(Debug, Error)]
pub enum PkiError {
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM {what}")]
    Parse { path: PathBuf, what: &'static str },
}

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The cluster CA: its certificate and signing key.
pub struct Authority {
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("key", &"<redacted>")
            .finish()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(CLOCK_SLACK_HOURS);
    params.not_after = now + time::Duration::days(days);
}

impl Authority {
    /// A new CA for cluster `cluster_id`.
    pub fn generate(cluster_id: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::generate()?;
        let cert = ca_params(cluster_id)?.self_signed(&key)?;
        Ok(Authority {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// The CA from its certificate and key (PEM), as another MDS sends it.
    pub fn from_pems(cert_pem: &str, key_pem: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|_| PkiError::Parse {
            path: PathBuf::from(CA_KEY),
            what: "private key",
        })?;
        Ok(Authority {
            cert_pem: cert_pem.to_string(),
            key,
        })
    }

    /// The CA in `dir` (`ca.pem`, `ca.key`).
    pub fn load(dir: &Path) -> Result<Authority, PkiError> {
        let cert_pem = read(&dir.join(CA_CERT))?;
        let key_path = dir.join(CA_KEY);
        let key = KeyPair::from_pem(&read(&key_path)?).map_err(|_| PkiError::Parse {
            path: key_path,
            what: "private key",
        })?;
        Ok(Authority { cert_pem, key })
    }

    /// Whether `dir` holds a CA certificate.
    pub fn exists_in(dir: &Path) -> bool {
        dir.join(CA_CERT).is_file()
    }

    /// Writes `ca.key` (0600) then `ca.pem` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        write_pair(
            &dir.join(CA_CERT),
            &self.cert_pem,
            &dir.join(CA_KEY),
            &self.key.serialize_pem(),
        )
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The signing key (PEM), for another MDS of the cluster.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    pub(crate) fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Ok(Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?)
    }

    /// A server certificate for `names` (DNS names or IP addresses) with a
    /// fresh key; the certificate PEM holds the chain (leaf, then CA).
    pub fn issue_server(&self, common_name: &str, names: &[&str]) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName((*n).try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, LEAF_DAYS);
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(Issued {
            cert_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A certificate this close to its end is replaced by whoever renews it
/// (an MDS its own at start and daily, `cairn up` the gateway's), so that
/// none is ever served expired; also when the warning about one starts.
pub const RENEW_BEFORE_SECS: i64 = 30 * 86_400;

/// Whether the certificate at `path` is missing, unreadable or expires
/// within [`RENEW_BEFORE_SECS`].
pub fn needs_renewal(path: &Path) -> bool {
    let now = crate::time::now_secs() as i64;
    fs::read_to_string(path)
        .ok()
        .and_then(|pem| not_after(&pem))
        .is_none_or(|end| end - now < RENEW_BEFORE_SECS)
}

/// `unix_s` as a UTC date and time, `2027-01-31 12:00 UTC`.
pub fn utc_date(unix_s: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix_s) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => format!("{unix_s} (Unix seconds)"),
    }
}

/// The first certificate of `cert_pem` (DER); None when there is none.
pub fn first_cert_der(cert_pem: &str) -> Option<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    Some(pem.contents)
}

/// When the first certificate of `cert_pem` expires, in Unix seconds;
/// None when it is not a PEM certificate.
pub fn not_after(cert_pem: &str) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn ca_params(cluster_id: &str) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Cairn");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Cairn cluster {cluster_id} CA"));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_DAYS);
    Ok(params)
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `text` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

/// Writes a key (0600) and then its certificate (0644).
pub fn write_pair(cert: &Path, cert_pem: &str, key: &Path, key_pem: &str) -> Result<(), PkiError> {
    write_atomic(key, key_pem, 0o600)?;
    write_atomic(cert, cert_pem, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_saved_ca_loads_back_and_keeps_its_key_private() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::generate("abc123").unwrap();
        ca.save(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = Authority::load(dir.path()).unwrap();
        assert_eq!(back.cert_pem(), ca.cert_pem());
        assert!(!format!("{back:?}").contains("PRIVATE"));
        let leaf = back
            .issue_server("s3", &["127.0.0.1", "localhost"])
            .unwrap();
        // The chain: the leaf, then the CA.
        assert_eq!(leaf.cert_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(leaf.cert_pem.ends_with(ca.cert_pem()));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        let now = crate::time::now_secs() as i64;
        let expires = not_after(&leaf.cert_pem).unwrap();
        assert!((expires - now - LEAF_DAYS * 86_400).abs() < 60, "{expires}");
        assert_eq!(not_after("not a certificate"), None);
    }

    #[test]
    fn a_missing_ca_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Authority::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(CA_CERT), "{err}");
    }
}
