//! The chunk server's Prometheus figures: its gRPC calls are counted by
//! the layer in [`crate::ChunkServer::serve`]; replicas, space, bytes and
//! flushes are read from the store at every scrape.

use std::sync::{atomic::Ordering, Arc};

use cairn_metrics::{Metrics, PartMetrics};

use crate::{store::Store, ChunkServer};

fn sample(part: &PartMetrics, store: &Store) {
    part.set_replicas(store.replica_count());
    let space = store.space();
    part.set_space("capacity", space.capacity);
    part.set_space("used", space.used);
    part.set_space("free", space.free);
    let s = &store.stats;
    part.set_bytes_totals(
        s.write_bytes.load(Ordering::Relaxed),
        s.read_bytes.load(Ordering::Relaxed),
    );
    part.set_event_total("flushes", store.flushes());
    part.set_event_total("journal_flushes", store.journal_flushes());
}

impl ChunkServer {
    /// Counts this chunk server's calls and figures in `metrics`, as part
    /// `cs<ID>`.
    pub fn attach_metrics(&mut self, metrics: &Metrics) {
        let part = metrics.part(format!("cs{}", self.cs_id()));
        self.metrics = Some(part.clone());
        let store = Arc::clone(&self.store);
        metrics.on_scrape(move || {
            let part = part.clone();
            let store = Arc::clone(&store);
            async move {
                // Free space is a statvfs: off the async workers.
                let _ = tokio::task::spawn_blocking(move || sample(&part, &store)).await;
            }
        });
    }
}
