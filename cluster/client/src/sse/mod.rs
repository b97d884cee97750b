//! Encryption at rest: objects the S3 door stores encrypted (SSE-S3 and
//! SSE-C), sealed and opened here so that both doors use one codec and
//! chunk servers never see their plaintext.
//!
//! Format (also in docs/design.md, "Encryption at rest"). The plaintext is
//! cut into blocks of [`BLOCK`] bytes (the last one shorter, never empty;
//! an empty object has no block). Block `i` is stored as its AES-256-GCM
//! ciphertext (the same length) followed by its 16-byte tag, at offset
//! `i * (BLOCK + TAG)` of the stored bytes; so the stored size is
//! [`sealed_size`] of the plaintext size, and a byte range of the
//! plaintext maps to whole stored blocks ([`stored_span`]). The nonce of
//! block `i` of part `p` (0 for a single PUT) is `p` (4 bytes, big
//! endian) then `i` (8 bytes, big endian); there is no additional data.
//!
//! Keys (`keys.rs`): every object (or multipart upload) has its own
//! random 32-byte salt, and its data key is HKDF-SHA256 of a secret with
//! that salt, so no two objects share a key and a counter nonce is never
//! reused under one key. The secret is the cluster master key for SSE-S3
//! (itself HKDF of the cluster CA's private key, which only hosts holding
//! it can derive) and the customer's key for SSE-C, which is never stored:
//! only its MD5 is, beside the salt, and neither opens anything.
//!
//! What an encrypted object stores in its headers (internal, never
//! answered as such): [`MODE_HEADER`] (`AES256` or `SSE-C`),
//! [`SALT_HEADER`] (hex), [`SIZE_HEADER`] (the plaintext size: the node's
//! own size is the stored size) and, for SSE-C, [`KEY_MD5_HEADER`]
//! (base64, as the customer sends it).

mod codec;
mod keys;
#[cfg(test)]
mod tests;

pub use codec::{open_blocks, seal_stream, sealed_size, stored_span, SealedDigest, StoredSpan};
pub use keys::{DataKey, MasterKey, SseError};

/// Plaintext bytes per sealed block.
pub const BLOCK: usize = 64 * 1024;
/// Bytes of the GCM tag after each block.
pub const TAG: usize = 16;
/// Bytes of one full sealed block.
pub const SEALED_BLOCK: usize = BLOCK + TAG;

/// Stored header: how the object is encrypted (`AES256`: SSE-S3, `SSE-C`).
pub const MODE_HEADER: &str = "x-cairn-sse";
/// Stored header: the object's random salt, hex.
pub const SALT_HEADER: &str = "x-cairn-sse-salt";
/// Stored header: the plaintext size.
pub const SIZE_HEADER: &str = "x-cairn-sse-size";
/// Stored header: base64 MD5 of the customer's key (SSE-C).
pub const KEY_MD5_HEADER: &str = "x-cairn-sse-key-md5";

/// How an object is encrypted at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseMode {
    /// SSE-S3: a key derived from the cluster master key.
    S3,
    /// SSE-C: a key derived from the customer's, given with each request.
    Customer,
}

impl SseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SseMode::S3 => "AES256",
            SseMode::Customer => "SSE-C",
        }
    }
}

/// What an encrypted object's headers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSse {
    pub mode: SseMode,
    pub salt: [u8; 32],
    /// Size of the plaintext.
    pub plain_size: u64,
    /// SSE-C: base64 MD5 of the customer's key.
    pub key_md5: Option<String>,
}

impl ObjectSse {
    /// Reads an object's encryption from its stored headers: `Ok(None)`
    /// for a plain object, an error for headers that do not make sense.
    pub fn from_headers(
        headers: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<ObjectSse>, SseError> {
        let Some(mode) = headers.get(MODE_HEADER) else {
            return Ok(None);
        };
        let mode = match mode.as_str() {
            "AES256" => SseMode::S3,
            "SSE-C" => SseMode::Customer,
            _ => return Err(SseError::BadHeaders("unknown encryption mode")),
        };
        let salt = headers
            .get(SALT_HEADER)
            .and_then(|s| hex::decode(s).ok())
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .ok_or(SseError::BadHeaders("no salt"))?;
        let plain_size = headers
            .get(SIZE_HEADER)
            .and_then(|s| s.parse().ok())
            .ok_or(SseError::BadHeaders("no plaintext size"))?;
        let key_md5 = headers.get(KEY_MD5_HEADER).cloned();
        if mode == SseMode::Customer && key_md5.is_none() {
            return Err(SseError::BadHeaders("no key MD5"));
        }
        Ok(Some(ObjectSse {
            mode,
            salt,
            plain_size,
            key_md5,
        }))
    }

    /// Writes these facts into stored headers.
    pub fn to_headers(&self, headers: &mut std::collections::BTreeMap<String, String>) {
        headers.insert(MODE_HEADER.into(), self.mode.as_str().into());
        headers.insert(SALT_HEADER.into(), hex::encode(self.salt));
        headers.insert(SIZE_HEADER.into(), self.plain_size.to_string());
        match &self.key_md5 {
            Some(md5) => headers.insert(KEY_MD5_HEADER.into(), md5.clone()),
            None => headers.remove(KEY_MD5_HEADER),
        };
    }

    /// A new random salt.
    pub fn new_salt() -> [u8; 32] {
        rand::random()
    }
}

/// The plaintext size of `node`: its own size, or the size its encryption
/// headers give.
pub fn plain_size(node: &crate::Node) -> u64 {
    match ObjectSse::from_headers(&node.headers) {
        Ok(Some(sse)) => sse.plain_size,
        _ => node.size,
    }
}

impl crate::Client {
    /// The cluster master key, when this host holds the CA key.
    pub fn master_key(&self) -> Option<&MasterKey> {
        self.inner.master_key.as_ref()
    }

    /// The data key of an SSE-S3 object (or upload) with `salt`.
    pub fn s3_data_key(&self, salt: &[u8; 32]) -> Result<DataKey, SseError> {
        let master = self.master_key().ok_or(SseError::NoMasterKey)?;
        DataKey::for_s3(master, salt)
    }

    /// Streams plaintext bytes `[offset, offset + len)` (clamped to the
    /// plaintext size) of encrypted object `node`, opened with `key`:
    /// only the stored blocks that cover the range are read.
    pub fn read_decrypted(
        &self,
        node: &crate::Node,
        sse: &ObjectSse,
        key: DataKey,
        offset: u64,
        len: u64,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, cairn_common::ClusterError>> + Send + 'static
    {
        let span = stored_span(offset, len, sse.plain_size);
        let stored = self.read(node, span.stored_offset, span.stored_len);
        open_blocks(stored, key, 0, span)
    }
}
