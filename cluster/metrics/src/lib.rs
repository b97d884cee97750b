//! Prometheus metrics for every Cairn daemon.
//!
//! One [`Metrics`] registry per process; each daemon in it (the MDS, a chunk
//! server, the gateway, a mount) records through a [`PartMetrics`] handle
//! that stamps a `part` label (`mds`, `cs3`, `gateway`, `mount`). So a
//! lone `cairn cs` and the whole of `cairn up` are scraped the same way, on
//! one `--metrics-listen` address.
//!
//! Families (OpenMetrics names; counters get `_total` on the wire):
//! * `cairn_requests{part,op,result}`: requests per operation (gRPC
//!   method, S3 operation, FUSE call), `result` is `ok` or `error`;
//! * `cairn_request_duration_seconds{part,op}`: their latency;
//! * `cairn_requests_in_flight{part}`: requests being served (queue length);
//! * `cairn_bytes{part,direction}`: payload bytes `in` and `out`;
//! * gauges sampled at scrape time by the daemons' samplers
//!   ([`Metrics::on_scrape`]): `cairn_chunks{part,state}`,
//!   `cairn_chunk_servers{part,state}`, `cairn_replicas{part}`,
//!   `cairn_space_bytes{part,kind}`, `cairn_replication_queue{part,kind}`;
//! * `cairn_events{part,kind}`: sampled monotone totals (commits, bytes
//!   copied, checksum failures) kept as counters.

pub mod grpc;
pub mod http;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

pub use grpc::GrpcLayer;
pub use http::{serve, MetricsServerError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpResult {
    part: String,
    op: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    part: String,
    op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Part {
    part: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    part: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    part: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Node {
    part: String,
    node: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    part: String,
    state: String,
}

/// A sampler: run before every scrape to refresh the sampled figures.
type Sampler = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Inner {
    registry: Registry,
    requests: Family<OpResult, Counter>,
    duration: Family<Op, Histogram>,
    in_flight: Family<Part, Gauge>,
    bytes: Family<Direction, Counter>,
    chunks: Family<State, Gauge>,
    chunk_servers: Family<State, Gauge>,
    replicas: Family<Part, Gauge>,
    space: Family<Kind, Gauge>,
    replication_queue: Family<Kind, Gauge>,
    events: Family<Kind, Counter>,
    cert_expiry: Family<Node, Gauge>,
    samplers: Mutex<Vec<Sampler>>,
}

/// The process's registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<OpResult, Counter>::default();
        registry.register(
            "cairn_requests",
            "Requests served, per part, operation and result",
            requests.clone(),
        );
        // 100 µs to about 13 s: a cached lookup to a 64 MiB chunk on a slow
        // disk.
        let duration = Family::<Op, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "cairn_request_duration_seconds",
            "Time to answer a request (to the first byte of a streamed answer)",
            duration.clone(),
        );
        let in_flight = Family::<Part, Gauge>::default();
        registry.register(
            "cairn_requests_in_flight",
            "Requests being served now",
            in_flight.clone(),
        );
        let bytes = Family::<Direction, Counter>::default();
        registry.register(
            "cairn_bytes",
            "Payload bytes received (in) and sent (out)",
            bytes.clone(),
        );
        let chunks = Family::<State, Gauge>::default();
        registry.register("cairn_chunks", "Chunks by state", chunks.clone());
        let chunk_servers = Family::<State, Gauge>::default();
        registry.register(
            "cairn_chunk_servers",
            "Chunk servers by state",
            chunk_servers.clone(),
        );
        let replicas = Family::<Part, Gauge>::default();
        registry.register(
            "cairn_replicas",
            "Replicas held (chunk server) or placed (MDS)",
            replicas.clone(),
        );
        let space = Family::<Kind, Gauge>::default();
        registry.register(
            "cairn_space_bytes",
            "Space: capacity, used, free",
            space.clone(),
        );
        let replication_queue = Family::<Kind, Gauge>::default();
        registry.register(
            "cairn_replication_queue",
            "Replica copies and balancing moves in flight",
            replication_queue.clone(),
        );
        let events = Family::<Kind, Counter>::default();
        registry.register(
            "cairn_events",
            "Things that happened, by kind (commits, copied bytes, checksum failures)",
            events.clone(),
        );
        let cert_expiry = Family::<Node, Gauge>::default();
        registry.register(
            "cairn_cert_expiry_timestamp_seconds",
            "When each node certificate the MDS saw ends (Unix seconds)",
            cert_expiry.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                duration,
                in_flight,
                bytes,
                chunks,
                chunk_servers,
                replicas,
                space,
                replication_queue,
                events,
                cert_expiry,
                samplers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The handle one daemon records through.
    pub fn part(&self, name: impl Into<String>) -> PartMetrics {
        PartMetrics {
            metrics: self.clone(),
            part: name.into(),
        }
    }

    /// Runs `sampler` before every scrape (to read figures that are cheaper
    /// to look at when asked than to push on every change).
    pub fn on_scrape<F, Fut>(&self, sampler: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let boxed: Sampler = Arc::new(move || Box::pin(sampler()));
        if let Ok(mut s) = self.inner.samplers.lock() {
            s.push(boxed);
        }
    }

    /// The registry in the OpenMetrics text format, samplers run first.
    pub async fn render(&self) -> String {
        let samplers: Vec<Sampler> = self
            .inner
            .samplers
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        for s in samplers {
            s().await;
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// One daemon's view of the registry: every figure it records carries its
/// `part` label.
#[derive(Clone)]
pub struct PartMetrics {
    metrics: Metrics,
    part: String,
}

impl std::fmt::Debug for PartMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartMetrics")
            .field("part", &self.part)
            .finish()
    }
}

/// A request being served: counted in flight until [`InFlight::done`] (or
/// drop, which counts it as an error: the request was abandoned).
pub struct InFlight {
    part: PartMetrics,
    op: String,
    started: Instant,
    finished: bool,
}

impl InFlight {
    pub fn done(mut self, ok: bool) {
        self.finish(ok);
    }

    /// As [`InFlight::done`], naming the operation now (an S3 request's
    /// operation is known once it is routed).
    pub fn done_as(mut self, op: &str, ok: bool) {
        self.op = op.to_string();
        self.finish(ok);
    }

    fn finish(&mut self, ok: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.part.gauge_in_flight().dec();
        self.part.record(&self.op, ok, self.started.elapsed());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl PartMetrics {
    pub fn name(&self) -> &str {
        &self.part
    }

    /// The registry this part records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn gauge_in_flight(&self) -> Gauge {
        self.metrics
            .inner
            .in_flight
            .get_or_create(&Part {
                part: self.part.clone(),
            })
            .clone()
    }

    /// Starts timing a request of operation `op`.
    pub fn start(&self, op: impl Into<String>) -> InFlight {
        self.gauge_in_flight().inc();
        InFlight {
            part: self.clone(),
            op: op.into(),
            started: Instant::now(),
            finished: false,
        }
    }

    /// Counts one finished request of `op` that took `took`.
    pub fn record(&self, op: &str, ok: bool, took: Duration) {
        let inner = &self.metrics.inner;
        inner
            .requests
            .get_or_create(&OpResult {
                part: self.part.clone(),
                op: op.to_string(),
                result: if ok { "ok" } else { "error" },
            })
            .inc();
        inner
            .duration
            .get_or_create(&Op {
                part: self.part.clone(),
                op: op.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Adds payload bytes received.
    pub fn bytes_in(&self, n: u64) {
        self.bytes("in").inc_by(n);
    }

    /// Adds payload bytes sent.
    pub fn bytes_out(&self, n: u64) {
        self.bytes("out").inc_by(n);
    }

    fn bytes(&self, direction: &'static str) -> Counter {
        self.metrics
            .inner
            .bytes
            .get_or_create(&Direction {
                part: self.part.clone(),
                direction,
            })
            .clone()
    }

    /// Sets the byte counters from totals kept elsewhere (a sampler).
    pub fn set_bytes_totals(&self, bytes_in: u64, bytes_out: u64) {
        catch_up(&self.bytes("in"), bytes_in);
        catch_up(&self.bytes("out"), bytes_out);
    }

    /// Sets the count of chunks in `state`.
    pub fn set_chunks(&self, state: &str, n: u64) {
        self.metrics
            .inner
            .chunks
            .get_or_create(&State {
                part: self.part.clone(),
                state: state.to_string(),
            })
            .set(clamp(n));
    }

    /// Sets the count of chunk servers in `state`.
    pub fn set_chunk_servers(&self, state: &str, n: u64) {
        self.metrics
            .inner
            .chunk_servers
            .get_or_create(&State {
                part: self.part.clone(),
                state: state.to_string(),
            })
            .set(clamp(n));
    }

    pub fn set_replicas(&self, n: u64) {
        self.metrics
            .inner
            .replicas
            .get_or_create(&Part {
                part: self.part.clone(),
            })
            .set(clamp(n));
    }

    /// Sets a space figure (`capacity`, `used`, `free`).
    pub fn set_space(&self, kind: &str, bytes: u64) {
        self.metrics
            .inner
            .space
            .get_or_create(&Kind {
                part: self.part.clone(),
                kind: kind.to_string(),
            })
            .set(clamp(bytes));
    }

    /// Sets a replication queue length (`copies`, `moves`).
    pub fn set_replication_queue(&self, kind: &str, n: u64) {
        self.metrics
            .inner
            .replication_queue
            .get_or_create(&Kind {
                part: self.part.clone(),
                kind: kind.to_string(),
            })
            .set(clamp(n));
    }

    /// Sets when the certificate of `node` (role `role`) ends, in Unix
    /// seconds.
    pub fn set_cert_expiry(&self, node: &str, role: &str, not_after: i64) {
        self.metrics
            .inner
            .cert_expiry
            .get_or_create(&Node {
                part: self.part.clone(),
                node: node.to_string(),
                role: role.to_string(),
            })
            .set(not_after);
    }

    /// Sets the monotone total of event `kind` (it only ever grows).
    pub fn set_event_total(&self, kind: &str, total: u64) {
        let c = self
            .metrics
            .inner
            .events
            .get_or_create(&Kind {
                part: self.part.clone(),
                kind: kind.to_string(),
            })
            .clone();
        catch_up(&c, total);
    }
}

/// Raises `counter` to `total` (counters never go down: a smaller total,
/// from a restarted source, is ignored).
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_share_one_registry_with_their_labels() {
        let m = Metrics::new();
        let mds = m.part("mds");
        let cs = m.part("cs1");
        mds.record("Metadata/Lookup", true, Duration::from_millis(2));
        cs.start("ChunkService/Read").done(false);
        drop(cs.start("ChunkService/Write"));
        cs.set_bytes_totals(10, 20);
        cs.set_bytes_totals(5, 30);
        let text = m.render().await;
        assert!(
            text.contains(r#"cairn_requests_total{part="mds",op="Metadata/Lookup",result="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cairn_requests_total{part="cs1",op="ChunkService/Read",result="error"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cairn_requests_total{part="cs1",op="ChunkService/Write",result="error"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"cairn_requests_in_flight{part="cs1"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cairn_bytes_total{part="cs1",direction="in"} 10"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cairn_bytes_total{part="cs1",direction="out"} 30"#),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[tokio::test]
    async fn samplers_run_before_each_scrape() {
        let m = Metrics::new();
        let part = m.part("mds");
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = n.clone();
        m.on_scrape(move || {
            let part = part.clone();
            let v = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            async move { part.set_chunks("healthy", v) }
        });
        assert!(m
            .render()
            .await
            .contains(r#"cairn_chunks{part="mds",state="healthy"} 1"#));
        assert!(m
            .render()
            .await
            .contains(r#"cairn_chunks{part="mds",state="healthy"} 2"#));
    }
}
