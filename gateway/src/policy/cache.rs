//! Parsed policies by bucket, keyed by the stored bytes: a request compares
//! the bytes it read (from the client's 2-second settings cache) with the
//! ones parsed last and parses only when they differ, so no request pays
//! for JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Policy;

/// At most this many buckets' policies are kept; past it the map is
/// emptied (a bound, not an LRU: policies are few and cheap to parse
/// again).
const MAX_ENTRIES: usize = 4096;

/// A bucket's stored bytes and their parsed form.
type Parsed = (Vec<u8>, Arc<Policy>);

#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<String, Parsed>>,
}

impl PolicyCache {
    /// The parsed form of `bytes`, the stored policy of `bucket`. A stored
    /// policy that no longer parses (it passed at PUT, so only a stricter
    /// later gateway could see this) denies everything, logged: closed,
    /// never open; the owner may still replace or delete it.
    pub fn get(&self, bucket: &str, bytes: &[u8]) -> Arc<Policy> {
        if let Ok(map) = self.parsed.lock() {
            if let Some((stored, policy)) = map.get(bucket) {
                if stored.as_slice() == bytes {
                    return policy.clone();
                }
            }
        }
        let policy = match super::parse(bytes, bucket) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(bucket, error = %e, "a stored bucket policy does not parse; denying all");
                Arc::new(deny_all())
            }
        };
        if let Ok(mut map) = self.parsed.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(bucket.to_string(), (bytes.to_vec(), policy.clone()));
        }
        policy
    }
}

/// A policy that denies every request.
fn deny_all() -> Policy {
    Policy {
        statements: vec![super::Statement {
            sid: None,
            effect: super::Effect::Deny,
            principal: super::Element {
                not: false,
                items: super::Principals::Anyone,
            },
            action: super::Element {
                not: false,
                items: vec!["*".to_string()],
            },
            resource: super::Element {
                not: true,
                items: Vec::new(),
            },
            conditions: Vec::new(),
        }],
    }
}
