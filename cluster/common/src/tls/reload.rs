//! A certificate and its key loaded from PEM files (the chain, leaf first,
//! and its key) and replaced without a restart: the S3 door's HTTPS
//! certificate and every node's certificate for cluster mutual TLS, on
//! both sides of a handshake.
//!
//! Invariants:
//! * Every handshake gets a whole, consistent certificate: the resolver
//!   hands out one `Arc<CertifiedKey>` that a reload swaps as a unit, and
//!   a reload only swaps in a chain whose key matches its leaf.
//! * A reload that fails (a file half written, a key that does not match)
//!   keeps the certificate in use and says why; the next change of either
//!   file, or the next SIGHUP, tries again.
//! * Connections already open keep their session: a reload only changes
//!   what new handshakes are offered.

use std::{
    fmt,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use rustls::{
    client::ResolvesClientCert,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// How often the files are checked for a change. A rotation tool that
/// cannot send SIGHUP waits at most this long.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected the chain, leaf first)")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("the key in {key} does not serve the certificate in {cert}: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("TLS setup failed: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto every TLS context of Cairn uses: ring, which builds with no
/// C toolchain beyond cc; its lack of post-quantum key exchange is why
/// rustls marks it deprecated, and a known trade for now.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the chain and key of `files`.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let cert_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: files.key.clone(),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message: e.to_string(),
    })
}

/// What identifies a version of both files: a rename or a rewrite changes
/// the inode, the size or the modification time.
type Stamp = Option<[(u64, u64, i64, i64); 2]>;

fn stamp(files: &TlsFiles) -> Stamp {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
    };
    Some([one(&files.cert)?, one(&files.key)?])
}

/// The certificate new handshakes get, swapped whole by a reload.
pub struct CertReloader {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamp at the last attempt, loaded or not.
    seen: Mutex<Stamp>,
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertReloader")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    /// Loads `files` now: a server must not start with a certificate it
    /// cannot serve.
    pub fn new(files: TlsFiles) -> Result<Arc<CertReloader>, TlsError> {
        let provider = provider();
        let seen = stamp(&files);
        let key = load(&files, &provider)?;
        Ok(Arc::new(CertReloader {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(seen),
        }))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The crypto provider the certificate was loaded with.
    pub fn crypto(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// The certificate and key new handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again and swaps the certificate in; on error the
    /// certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let seen = stamp(&self.files);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        let key = Arc::new(load(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// Reloads when either file changed since the last attempt.
    fn reload_if_changed(&self) {
        let now = stamp(&self.files);
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now != seen {
            self.reload_logged("the files changed");
        }
    }

    fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => {
                tracing::info!(cert = %self.files.cert.display(), why, "TLS certificate reloaded")
            }
            Err(e) => {
                tracing::warn!(error = %e, why, "TLS certificate not reloaded; the one in use stays")
            }
        }
    }

    /// Reloads on SIGHUP and when the files change, until dropped (abort
    /// the task that runs it).
    pub async fn watch(self: Arc<Self>) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler; certificate files are still watched");
                None
            }
        };
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hup_received = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = hup_received => self.reload_logged("SIGHUP"),
                _ = tick.tick() => self.reload_if_changed(),
            }
        }
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A node is the client of other nodes with the same certificate.
impl ResolvesClientCert for CertReloader {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{write_pair, Authority};

    fn issue(dir: &Path, ca: &Authority) -> (TlsFiles, Vec<u8>) {
        let files = TlsFiles {
            cert: dir.join("s3.pem"),
            key: dir.join("s3.key"),
        };
        let issued = ca.issue_server("s3", &["127.0.0.1"]).unwrap();
        write_pair(&files.cert, &issued.cert_pem, &files.key, &issued.key_pem).unwrap();
        let leaf = CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        (files, leaf)
    }

    fn served(reloader: &CertReloader) -> Vec<u8> {
        let current = reloader.current.read().unwrap().clone();
        current.cert[0].to_vec()
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::generate("c").unwrap();
        let (files, first) = issue(dir.path(), &ca);
        let reloader = CertReloader::new(files.clone()).unwrap();
        assert_eq!(served(&reloader), first);
        // The chain carries the CA after the leaf.
        assert_eq!(reloader.current.read().unwrap().cert.len(), 2);

        // A key of another certificate: refused, the old one stays.
        let other = ca.issue_server("other", &["127.0.0.1"]).unwrap();
        std::fs::write(&files.key, &other.key_pem).unwrap();
        let err = reloader.reload().unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        assert_eq!(served(&reloader), first);

        // A half-written certificate: refused, the old one stays.
        std::fs::write(&files.cert, "-----BEGIN CERT").unwrap();
        assert!(matches!(
            reloader.reload(),
            Err(TlsError::NoCertificate { .. })
        ));
        assert_eq!(served(&reloader), first);

        // A whole new pair: swapped in.
        let (_, second) = issue(dir.path(), &ca);
        reloader.reload().unwrap();
        assert_eq!(served(&reloader), second);
        assert_ne!(first, second);
    }

    #[test]
    fn a_server_does_not_start_with_a_certificate_it_cannot_serve() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("missing.key"),
        };
        let err = CertReloader::new(files).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
