//! The serials of the node certificates the cluster revoked, as one
//! process holds them: shared by its TLS checks (handshakes of both sides,
//! role checks of each call) and replaced whole from the MDS group's list.

use std::{collections::HashSet, sync::RwLock};

/// The serial numbers (DER bytes) of certificates the cluster revoked.
#[derive(Debug, Default)]
pub struct Revoked(RwLock<HashSet<Vec<u8>>>);

impl Revoked {
    pub fn contains(&self, serial: &[u8]) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(serial)
    }

    /// Replaces the list with `serials` (the whole list, as the MDS group
    /// keeps it); returns whether it changed.
    pub fn replace(&self, serials: impl IntoIterator<Item = Vec<u8>>) -> bool {
        let new: HashSet<Vec<u8>> = serials.into_iter().collect();
        let mut list = self.0.write().unwrap_or_else(|e| e.into_inner());
        let changed = *list != new;
        *list = new;
        changed
    }

    /// The serials, in no particular order.
    pub fn serials(&self) -> Vec<Vec<u8>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
