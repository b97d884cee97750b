//! Access keys from the cluster: a [`KeyStore`] over the MDS's S3Meta
//! service (`Client::get_access_key`), with a short cache so that a busy
//! gateway does not ask the MDS once per request.
//!
//! Freshness: a key found is trusted for [`KEY_TTL`], a key not found for
//! [`MISSING_TTL`]; so a deleted key or a revoked grant stops working
//! within `KEY_TTL`, and a new key works within `MISSING_TTL` of a failed
//! attempt. A grant added with `cairn bucket allow` takes effect at once:
//! the gateway asks again (`KeyStore::fresh`) before refusing a request for
//! want of a grant.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_client::Client;
use cairn_common::ClusterError;

use crate::signature::{AccessKey, BucketPermission, KeyStore, KeyStoreError};

/// How long a key read from the MDS is trusted.
pub const KEY_TTL: Duration = Duration::from_secs(5);
/// How long "no such key" is trusted: short, so that a key created a moment
/// ago starts to work quickly, long enough to spare the MDS a client that
/// retries with a bad key.
pub const MISSING_TTL: Duration = Duration::from_secs(1);
/// Most entries kept: beyond that, expired ones go, and if the cache is
/// still full (a flood of made-up key ids), all of it.
const MAX_CACHED: usize = 10_000;
/// Longest key id the MDS accepts (letters and digits only).
const MAX_KEY_ID: usize = 128;

struct Cached {
    at: Instant,
    key: Option<AccessKey>,
}

/// A [`KeyStore`] reading the cluster's access keys.
pub struct ClusterKeyStore {
    client: Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl ClusterKeyStore {
    pub fn new(client: Client) -> ClusterKeyStore {
        ClusterKeyStore {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<Option<AccessKey>> {
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(id)?;
        let ttl = if hit.key.is_some() {
            KEY_TTL
        } else {
            MISSING_TTL
        };
        (hit.at.elapsed() < ttl).then(|| hit.key.clone())
    }

    fn remember(&self, id: &str, key: Option<AccessKey>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, c| c.at.elapsed() < KEY_TTL);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            id.to_string(),
            Cached {
                at: Instant::now(),
                key,
            },
        );
    }

    async fn fetch(&self, id: &str) -> Result<Option<AccessKey>, KeyStoreError> {
        if !plausible_key_id(id) {
            // The MDS refuses such ids at creation: no need to ask.
            return Ok(None);
        }
        let key = match self.client.get_access_key(id).await {
            Ok(k) => Some(from_cluster(k)),
            Err(ClusterError::NotFound(_)) => None,
            Err(e) => return Err(KeyStoreError(e.to_string())),
        };
        self.remember(id, key.clone());
        Ok(key)
    }
}

impl KeyStore for ClusterKeyStore {
    async fn secret(&self, access_key_id: &str) -> Result<Option<AccessKey>, KeyStoreError> {
        if let Some(hit) = self.cached(access_key_id) {
            return Ok(hit);
        }
        self.fetch(access_key_id).await
    }

    async fn fresh(&self, access_key_id: &str) -> Result<Option<AccessKey>, KeyStoreError> {
        self.fetch(access_key_id).await
    }
}

/// Whether `id` could name a key: 1 to 128 ASCII letters and digits.
fn plausible_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_KEY_ID && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The client library's key as the gateway's.
pub fn from_cluster(key: cairn_client::AccessKey) -> AccessKey {
    let mut out = AccessKey::new(key.key_id, key.secret);
    out.name = key.name;
    out.admin = key.admin;
    for p in key.permissions {
        out.buckets.insert(
            p.bucket,
            BucketPermission {
                read: p.read,
                write: p.write,
                owner: p.owner,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_grants() {
        let key = from_cluster(cairn_client::AccessKey {
            key_id: "CKID".into(),
            secret: "s".repeat(40),
            name: "n".into(),
            created_ns: 1,
            admin: true,
            permissions: vec![
                cairn_client::BucketPermission {
                    bucket: "r".into(),
                    read: true,
                    write: false,
                    owner: false,
                },
                cairn_client::BucketPermission {
                    bucket: "o".into(),
                    read: false,
                    write: false,
                    owner: true,
                },
            ],
        });
        assert_eq!(key.id, "CKID");
        assert!(key.admin);
        assert_eq!(key.secret(), "s".repeat(40));
        assert!(key.permission("r").may_read());
        assert!(!key.permission("r").may_write());
        assert!(key.permission("o").may_write());
        assert!(!key.permission("x").may_read());
    }

    #[test]
    fn implausible_ids_are_not_asked_for() {
        assert!(plausible_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!plausible_key_id(""));
        assert!(!plausible_key_id("a/b"));
        assert!(!plausible_key_id(&"a".repeat(129)));
    }

    #[tokio::test]
    async fn caches_answers_and_refuses_garbage_without_the_cluster() {
        let config = cairn_common::ClusterConfig {
            name: "t".into(),
            cluster_id: "t".into(),
            mds_addrs: vec!["127.0.0.1:9".into()],
            chunk_size: 1 << 20,
            dir: Some(cairn_testkit::node::node_dir("t")),
        };
        let client = Client::connect(
            &config,
            cairn_client::ClientOptions {
                host: Some("t".into()),
                mds_timeout: Duration::from_millis(100),
                ..cairn_client::ClientOptions::default()
            },
        )
        .unwrap();
        let store = ClusterKeyStore::new(client);
        assert_eq!(store.secret("bad id").await.unwrap(), None);
        store.remember("CKCACHED", Some(AccessKey::new("CKCACHED", "x")));
        store.remember("CKGONE", None);
        assert_eq!(
            store.secret("CKCACHED").await.unwrap().unwrap().id,
            "CKCACHED"
        );
        assert_eq!(store.secret("CKGONE").await.unwrap(), None);
        // Not cached, and the MDS is unreachable: an error that says so,
        // not "unknown".
        for err in [
            store.secret("CKOTHER").await.unwrap_err(),
            store.fresh("CKCACHED").await.unwrap_err(),
        ] {
            assert!(err.0.starts_with("cluster unavailable"), "{err:?}");
        }
    }
}
