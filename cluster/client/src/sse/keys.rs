//! Keys of encryption at rest: the cluster master key (SSE-S3), and the
//! per-object data key both modes derive with HKDF-SHA256 (ring).
//!
//! Master key = HKDF-SHA256(ikm: the body of the cluster CA's private key
//! PEM, its base64 lines without whitespace; salt: `cairn sse master v1`;
//! info: the cluster id). Data key = HKDF-SHA256(ikm: the master key or
//! the customer's key; salt: the object's 32 random bytes; info:
//! `cairn sse-s3 v1` or `cairn sse-c v1`), used as an AES-256-GCM key.
//! Neither key is ever logged, stored or sent: their `Debug` says
//! nothing of them.

use std::path::Path;

use ring::{aead, hkdf};

use super::SseMode;

/// Errors of encryption at rest. Messages never carry key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// A stored block failed its tag: a wrong key, or changed bytes.
    #[error("an encrypted block of the object does not authenticate (wrong key or damaged data)")]
    Authentication,
    /// The stored bytes end before the size the object's headers give.
    #[error("the encrypted object is shorter than its recorded size")]
    Truncated,
    /// The object's encryption headers are missing or malformed.
    #[error("the object's encryption headers are not valid: {0}")]
    BadHeaders(&'static str),
    /// This host has no cluster master key (no CA key beside its config).
    #[error(
        "this host has no cluster master key (the cluster CA key is not in its config directory)"
    )]
    NoMasterKey,
    /// Key derivation failed (never for the lengths used here).
    #[error("key derivation failed")]
    Derive,
}

const MASTER_SALT: &[u8] = b"cairn sse master v1";
const S3_INFO: &[u8] = b"cairn sse-s3 v1";
const CUSTOMER_INFO: &[u8] = b"cairn sse-c v1";

/// The cluster master key of SSE-S3.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Derives the master key from the text of the CA key's PEM file and
    /// the cluster id.
    pub fn from_ca_key_pem(pem: &str, cluster_id: &str) -> Result<MasterKey, SseError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect();
        if body.is_empty() {
            return Err(SseError::NoMasterKey);
        }
        let mut out = [0u8; 32];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, MASTER_SALT).extract(body.as_bytes());
        let info = [cluster_id.as_bytes()];
        prk.expand(&info, hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| SseError::Derive)?;
        Ok(MasterKey(out))
    }

    /// The master key of the cluster whose config directory is `dir`
    /// (`ca.key` beside `cluster.toml`), if this host holds the CA key.
    pub fn load(dir: &Path, cluster_id: &str) -> Option<MasterKey> {
        let pem = std::fs::read_to_string(dir.join("ca.key")).ok()?;
        MasterKey::from_ca_key_pem(&pem, cluster_id).ok()
    }
}

/// An object's AES-256-GCM data key.
pub struct DataKey(aead::LessSafeKey);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// The data key of an SSE-S3 object with `salt`.
    pub fn for_s3(master: &MasterKey, salt: &[u8; 32]) -> Result<DataKey, SseError> {
        DataKey::derive(&master.0, salt, SseMode::S3)
    }

    /// The data key of an SSE-C object with `salt`, from the customer's key.
    pub fn for_customer(customer_key: &[u8; 32], salt: &[u8; 32]) -> Result<DataKey, SseError> {
        DataKey::derive(customer_key, salt, SseMode::Customer)
    }

    fn derive(secret: &[u8; 32], salt: &[u8; 32], mode: SseMode) -> Result<DataKey, SseError> {
        let info = match mode {
            SseMode::S3 => S3_INFO,
            SseMode::Customer => CUSTOMER_INFO,
        };
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret);
        let info = [info];
        let okm = prk
            .expand(&info, &aead::AES_256_GCM)
            .map_err(|_| SseError::Derive)?;
        Ok(DataKey(aead::LessSafeKey::new(aead::UnboundKey::from(okm))))
    }

    fn nonce(part: u32, block: u64) -> aead::Nonce {
        let mut n = [0u8; aead::NONCE_LEN];
        n[..4].copy_from_slice(&part.to_be_bytes());
        n[4..].copy_from_slice(&block.to_be_bytes());
        aead::Nonce::assume_unique_for_key(n)
    }

    /// Seals block `block` of part `part` in place; appends its tag.
    pub(super) fn seal(&self, part: u32, block: u64, data: &mut Vec<u8>) -> Result<(), SseError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Self::nonce(part, block), aead::Aad::empty(), data)
            .map_err(|_| SseError::Derive)?;
        data.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens sealed block `block` of part `part` (ciphertext then tag) in
    /// place; returns the plaintext's length.
    pub(super) fn open(&self, part: u32, block: u64, sealed: &mut [u8]) -> Result<usize, SseError> {
        self.0
            .open_in_place(Self::nonce(part, block), aead::Aad::empty(), sealed)
            .map(|plain| plain.len())
            .map_err(|_| SseError::Authentication)
    }
}

impl From<SseError> for cairn_common::ClusterError {
    fn from(e: SseError) -> Self {
        cairn_common::ClusterError::Io(e.to_string())
    }
}
