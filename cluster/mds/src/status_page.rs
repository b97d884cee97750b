//! The MDS's operator surfaces besides gRPC: its Prometheus figures
//! (sampled from the stat reply at scrape time) and a read-only status page
//! at `/` (server-rendered HTML, no external assets, refreshing itself),
//! served on the metrics listener. Both show what `cairn top` shows.

use std::{fmt::Write as _, sync::Arc};

use axum::{extract::State as AxState, http::header, response::IntoResponse, routing::get};
use cairn_common::{summary, units::format_size, ClusterError};
use cairn_metrics::{Metrics, PartMetrics};
use cairn_proto as pb;

use crate::{state::State, Mds};

/// Seconds between two refreshes of the status page.
const REFRESH_SECS: u32 = 2;

/// Where the status page and the metrics sampler read the cluster's
/// figures: the MDSs of this process (`cairn up --mds-count 3` runs a whole
/// group in one). The leader among them answers; a lone follower answers
/// with the error that names the leader.
#[derive(Clone, Default)]
pub struct StatusSource {
    states: Vec<Arc<State>>,
}

impl StatusSource {
    /// Adds an MDS of this process.
    pub fn add(&mut self, mds: &Mds) {
        self.states.push(mds.state.clone());
    }

    /// The stat reply of the first MDS here that leads, else the first
    /// one's error.
    async fn stat(&self) -> Result<pb::ClusterStat, ClusterError> {
        let leader = self
            .states
            .iter()
            .find(|s| s.is_leader())
            .or_else(|| self.states.first())
            .ok_or_else(|| ClusterError::Unavailable("no MDS in this process".into()))?;
        crate::stat::cluster_stat(leader).await
    }

    /// Samples the cluster's figures (chunks by state, chunk servers by
    /// state, space, replication queue) into `metrics` (part `mds`) at
    /// every scrape.
    pub fn sample_into(&self, metrics: &Metrics) {
        let part = metrics.part("mds");
        let source = self.clone();
        metrics.on_scrape(move || {
            let source = source.clone();
            let part = part.clone();
            async move {
                match source.stat().await {
                    Ok(stat) => sample(&part, &stat),
                    Err(e) => tracing::debug!(error = %e, "cannot sample the MDS figures"),
                }
            }
        });
    }

    /// The status page (`/`), to serve beside `/metrics`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/", get(page))
            .with_state(self.clone())
    }
}

/// Sets the MDS's sampled figures from one stat reply.
fn sample(part: &PartMetrics, stat: &pb::ClusterStat) {
    for (state, n) in &stat.chunk_states {
        part.set_chunks(state, *n);
    }
    let mut by_state: std::collections::BTreeMap<&str, u64> = summary::CS_STATUSES
        .into_iter()
        .map(|s| (summary::cs_status_name(s), 0))
        .collect();
    let (mut capacity, mut used, mut free, mut replicas) = (0, 0, 0, 0);
    for cs in &stat.chunk_servers {
        *by_state
            .entry(summary::cs_status_name(cs.status()))
            .or_default() += 1;
        capacity += cs.capacity;
        used += cs.used;
        free += cs.free;
        replicas += cs.replicas;
    }
    for (state, n) in by_state {
        part.set_chunk_servers(state, n);
    }
    part.set_space("capacity", capacity);
    part.set_space("used", used);
    part.set_space("free", free);
    part.set_replicas(replicas);
    part.set_replication_queue("copies", stat.copies_in_flight);
    part.set_replication_queue("moves", stat.moves_in_flight);
    part.set_event_total("copied_bytes", stat.copied_bytes);
    part.set_event_total("chunks_placed_short", stat.chunks_placed_short);
    part.set_event_total("allocations_refused", stat.allocations_refused);
    part.set_event_total("lifecycle_current_deleted", stat.lifecycle_current_deleted);
    part.set_event_total("lifecycle_markers_added", stat.lifecycle_markers_added);
    part.set_event_total(
        "lifecycle_noncurrent_removed",
        stat.lifecycle_noncurrent_removed,
    );
    part.set_event_total("lifecycle_markers_removed", stat.lifecycle_markers_removed);
    part.set_event_total("lifecycle_uploads_aborted", stat.lifecycle_uploads_aborted);
    if let Some(m) = stat.mds.iter().find(|m| m.uptime_secs > 0) {
        part.set_event_total("durable_commits", m.durable_commits);
    }
    for cert in &stat.certs {
        part.set_cert_expiry(&cert.node, &cert.role, cert.not_after);
    }
}

impl Mds {
    /// Counts this MDS's gRPC calls in `metrics` (part `mds`).
    pub fn attach_metrics(&mut self, metrics: &Metrics) {
        self.metrics = Some(metrics.part("mds"));
    }

    /// This MDS alone as a [`StatusSource`].
    pub fn status_source(&self) -> StatusSource {
        let mut source = StatusSource::default();
        source.add(self);
        source
    }
}

async fn page(AxState(source): AxState<StatusSource>) -> impl IntoResponse {
    let body = match source.stat().await {
        Ok(stat) => render(&stat),
        Err(e) => format!(
            "<!doctype html><title>cairn</title><p>cannot read the cluster's state: {}</p>",
            escape(&e.to_string())
        ),
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// HTML-escapes text for element content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em;background:#fafafa;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}\
th{background:#eee}td.l,th.l{text-align:left}\
.healthy{color:#070}.degraded{color:#a60}.failure{color:#b00}\
.offline,.lost{color:#b00;font-weight:bold}.warn{color:#a60}.error{color:#b00}";

/// The whole page. Every figure comes from one stat reply.
fn render(stat: &pb::ClusterStat) -> String {
    let status = summary::cluster_status(
        |s| stat.chunk_states.get(s).copied().unwrap_or(0),
        stat.healthy,
    );
    // What can still be written, as `df` and `cairn stat` say it.
    let (_, raw_free) = summary::raw_space(
        stat.chunk_servers
            .iter()
            .map(|c| (c.status(), c.capacity, c.used, c.free)),
    );
    let replicas = u64::from(stat.default_replicas.max(1));
    let (allocatable, free) = (raw_free / replicas, raw_free);
    let (mut rb, mut wb, mut ro, mut wo) = (0u64, 0u64, 0u64, 0u64);
    for d in &stat.clients {
        rb += d.read_bytes;
        wb += d.write_bytes;
        ro += d.read_ops;
        wo += d.write_ops;
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta http-equiv=refresh content={REFRESH_SECS}>\
         <title>cairn {name}: {status}</title><style>{STYLE}</style></head><body>\
         <h1>cluster {name} <span id=status class={status}>{status}</span></h1>",
        name = escape(&stat.cluster_name),
    );
    let states = escape(&summary::chunk_states(&stat.chunk_states));
    let _ = write!(
        h,
        "<p id=summary>space: {} allocatable, {} free on disks &middot; {} chunks ({}) &middot; \
         {} buckets, {} inodes, {} of data<br>replication: {} copies, {} moves, {}/s \
         &middot; client I/O of the doors shown: read {} in {} ops, written {} in {} ops</p>",
        format_size(allocatable),
        format_size(free),
        stat.chunks,
        if states.is_empty() { "none" } else { &states },
        stat.buckets,
        stat.inodes,
        format_size(stat.logical_bytes),
        stat.copies_in_flight,
        stat.moves_in_flight,
        format_size(stat.copy_bytes_per_sec as u64),
        format_size(rb),
        ro,
        format_size(wb),
        wo,
    );
    if !stat.writing_degraded.is_empty() {
        let _ = write!(
            h,
            "<p id=writing-degraded class=degraded>writing degraded: {}</p>",
            escape(&stat.writing_degraded)
        );
    }
    h.push_str(
        "<h2>Metadata servers</h2><table id=mds><tr><th>ID</th><th class=l>ADDR</th>\
         <th class=l>ROLE</th><th>TERM</th><th>APPLIED</th><th>LAG</th><th>COMMIT%</th><th>COMMITS</th>\
         <th>CPU s</th><th>MEMORY</th><th>UPTIME</th><th class=l>HOST</th></tr>",
    );
    for m in &stat.mds {
        // Process figures come from the MDS that answered only.
        // The share of time spent committing, since it started.
        let (busy, commits, cpu, memory, up) = if m.uptime_secs > 0 {
            (
                format!("{:.1}%", m.commit_secs * 100.0 / m.uptime_secs as f64),
                m.durable_commits.to_string(),
                format!("{:.1}", m.cpu_secs),
                format_size(m.rss_bytes),
                summary::uptime(m.uptime_secs),
            )
        } else {
            Default::default()
        };
        let _ = write!(
            h,
            "<tr><td>{}{}</td><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{busy}</td><td>{commits}</td><td>{cpu}</td><td>{memory}</td><td>{up}</td>\
             <td class=l>{}</td></tr>",
            if m.role == "leader" { "M " } else { "" },
            m.id,
            escape(&m.addr),
            escape(&m.role),
            m.term,
            m.applied_index,
            m.lag,
            escape(&m.host),
        );
    }
    h.push_str(
        "</table><h2>Chunk servers</h2><table id=cs><tr><th>ID</th><th class=l>STATUS</th>\
         <th class=l>HOST</th><th class=l>ADDR</th><th>TIER</th><th>SPACE</th><th>AVAIL</th>\
         <th>FILL</th><th>COST</th><th>REPLICAS</th><th>READ</th><th>WRITTEN</th>\
         <th>RD OPS</th><th>WR OPS</th><th>LAT ms</th><th>MAX ms</th><th>QDEPTH</th><th>COPIES</th>\
         <th class=l>FLAGS</th></tr>",
    );
    for cs in &stat.chunk_servers {
        let _ = write!(
            h,
            "<tr id=cs{id} class=cs><td>{id}</td><td class=\"l {st}\">{st}</td><td class=l>{}</td>\
             <td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td><td>{:.2}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td>\
             <td>{}</td><td>{}/{}</td><td class=l>{}</td></tr>",
            escape(&cs.host),
            escape(&cs.addr),
            cs.tier,
            format_size(cs.capacity),
            format_size(cs.free),
            cs.fill * 100.0,
            cs.cost,
            cs.replicas,
            format_size(cs.read_bytes),
            format_size(cs.write_bytes),
            cs.read_ops,
            cs.write_ops,
            cs.latency_ms,
            cs.latency_max_ms,
            cs.queue_depth,
            cs.copies_in,
            cs.copies_out,
            if cs.journal { "JC" } else { "C" },
            id = cs.cs_id,
            st = summary::cs_status_name(cs.status()),
        );
    }
    h.push_str(
        "</table><h2>Clients</h2><table id=clients><tr><th class=l>KIND</th><th class=l>NAME</th>\
         <th class=l>HOST</th><th>READ</th><th>WRITTEN</th><th>RD OPS</th><th>WR OPS</th>\
         <th>FSYNCS</th><th>LAT ms</th><th>MAX ms</th><th>ERRORS</th><th>UPTIME</th></tr>",
    );
    for d in &stat.clients {
        let _ = write!(
            h,
            "<tr class=client><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape(&d.kind),
            escape(&d.name),
            escape(&d.host),
            format_size(d.read_bytes),
            format_size(d.write_bytes),
            d.read_ops,
            d.write_ops,
            d.fsyncs,
            d.latency_ms,
            d.latency_max_ms,
            d.errors,
            summary::uptime(d.uptime_secs),
        );
    }
    h.push_str("</table><h2>Events</h2><table id=events><tr><th class=l>TIME (UTC)</th><th class=l>PART</th><th class=l>SEVERITY</th><th class=l>MESSAGE</th></tr>");
    for e in stat.events.iter().rev().take(50) {
        let secs = e.unix_ms / 1000;
        let _ = write!(
            h,
            "<tr><td class=l>{:02}:{:02}:{:02}</td><td class=l>{}</td><td class=\"l {sev}\">{sev}</td><td class=l>{}</td></tr>",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            escape(&e.part),
            escape(&e.message),
            sev = escape(&e.severity),
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_it_shows() {
        let stat = pb::ClusterStat {
            cluster_name: "<x>".into(),
            chunk_servers: vec![pb::CsStat {
                cs_id: 7,
                host: "h&1".into(),
                status: pb::CsStatus::Offline.into(),
                ..Default::default()
            }],
            clients: vec![pb::ClientStat {
                kind: "mount".into(),
                name: "/mnt/<m>".into(),
                read_ops: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let page = render(&stat);
        assert!(page.contains("cluster &lt;x&gt;"));
        assert!(page.contains("<tr id=cs7 class=cs>"));
        assert!(page.contains("h&amp;1"));
        assert!(
            page.contains("<tr class=client><td class=l>mount</td><td class=l>/mnt/&lt;m&gt;</td>")
        );
        assert!(!page.contains("<x>"));
    }
}
