//! `cairn top`: a live view of the cluster, refreshed every second, in the
//! manner of `vstorage top`. Everything shown comes from the MDS's stat
//! reply; rates (B/s, ops/s, commits/s) are differences between two
//! replies divided by the time between them.
//!
//! Keys: `c` chunk servers only, `m` MDS only, `i` clients, `e` events,
//! `a` all, `v` verbose columns, `s` next sort column, `q` (or Esc) quits.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use cairn_client::{ClientStat, ClusterStat, CsStat};
use cairn_common::{
    summary::{self, cs_status_name},
    units::format_size,
};
use clap::Args;
use ratatui::{
    crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Table},
    Frame,
};
use tokio::sync::watch;

use super::client_for;

#[derive(Args)]
pub struct TopArgs {
    /// Seconds between two refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

/// Which panes show.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pane {
    All,
    ChunkServers,
    Mds,
    Clients,
    Events,
}

/// Sort columns of the chunk-server table, in the order `s` cycles them.
const SORTS: [&str; 6] = ["id", "fill", "replicas", "write", "read", "latency"];

/// The latest reply and what the one before it lets us derive.
#[derive(Clone, Default)]
struct Snapshot {
    stat: Option<ClusterStat>,
    /// Per CS id: (read B/s, write B/s, read ops/s, write ops/s).
    rates: BTreeMap<u32, [f64; 4]>,
    /// Per MDS address: (commits/s, share of the time spent committing).
    commits: BTreeMap<String, (f64, f64)>,
    /// Per door id: (read B/s, write B/s, read ops/s, write ops/s, fsyncs/s).
    doors: BTreeMap<String, [f64; 5]>,
    /// Why the last refresh failed, if it did.
    error: Option<String>,
}

fn per_sec(now: u64, before: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    now.saturating_sub(before) as f64 / secs
}

fn derive(prev: Option<&(ClusterStat, Instant)>, stat: &ClusterStat, now: Instant) -> Snapshot {
    let mut snap = Snapshot {
        stat: Some(stat.clone()),
        ..Snapshot::default()
    };
    let Some((old, then)) = prev else {
        return snap;
    };
    let secs = now.duration_since(*then).as_secs_f64();
    let old_cs: BTreeMap<u32, &CsStat> = old.chunk_servers.iter().map(|c| (c.id, c)).collect();
    for cs in &stat.chunk_servers {
        if let Some(o) = old_cs.get(&cs.id) {
            snap.rates.insert(
                cs.id,
                [
                    per_sec(cs.read_bytes, o.read_bytes, secs),
                    per_sec(cs.write_bytes, o.write_bytes, secs),
                    per_sec(cs.read_ops, o.read_ops, secs),
                    per_sec(cs.write_ops, o.write_ops, secs),
                ],
            );
        }
    }
    let old_doors: BTreeMap<&str, &ClientStat> =
        old.clients.iter().map(|c| (c.id.as_str(), c)).collect();
    for d in &stat.clients {
        if let Some(o) = old_doors.get(d.id.as_str()) {
            snap.doors.insert(
                d.id.clone(),
                [
                    per_sec(d.totals.read_bytes, o.totals.read_bytes, secs),
                    per_sec(d.totals.write_bytes, o.totals.write_bytes, secs),
                    per_sec(d.totals.read_ops, o.totals.read_ops, secs),
                    per_sec(d.totals.write_ops, o.totals.write_ops, secs),
                    per_sec(d.totals.fsyncs, o.totals.fsyncs, secs),
                ],
            );
        }
    }
    for m in &stat.mds {
        if let Some(o) = old.mds.iter().find(|o| o.addr == m.addr) {
            let busy = if secs > 0.0 {
                ((m.commit_secs - o.commit_secs) / secs).clamp(0.0, 1.0)
            } else {
                0.0
            };
            snap.commits.insert(
                m.addr.clone(),
                (per_sec(m.durable_commits, o.durable_commits, secs), busy),
            );
        }
    }
    snap
}

/// Asks the MDS every `interval` and publishes what it derives.
async fn poll(
    client: cairn_client::Client,
    interval: Duration,
    mds: String,
    tx: watch::Sender<Snapshot>,
) {
    let mut prev: Option<(ClusterStat, Instant)> = None;
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        let answer =
            tokio::time::timeout(interval.max(Duration::from_secs(2)), client.stat()).await;
        let now = Instant::now();
        let snap = match answer {
            Ok(Ok(stat)) => {
                let snap = derive(prev.as_ref(), &stat, now);
                prev = Some((stat, now));
                snap
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer".to_string(),
                };
                let mut snap = tx.borrow().clone();
                snap.error = Some(format!(
                    "MDS at {mds} does not answer ({why}): is `cairn mds` running? check -c CLUSTER"
                ));
                snap
            }
        };
        if tx.send(snap).is_err() {
            return;
        }
    }
}

pub async fn top(cluster: Option<&str>, args: TopArgs) -> anyhow::Result<()> {
    if !(args.interval >= 0.1 && args.interval.is_finite()) {
        anyhow::bail!("--interval is a number of seconds, at least 0.1");
    }
    let name = crate::cluster_name(cluster)?;
    let config = cairn_common::ClusterConfig::load_from(&crate::config_dir(), &name)?;
    let mds = config.mds_addrs.join(",");
    let client = client_for(cluster).await?;
    let (tx, rx) = watch::channel(Snapshot::default());
    let poller = tokio::spawn(poll(
        client,
        Duration::from_secs_f64(args.interval),
        mds,
        tx,
    ));
    // The terminal is driven from a blocking thread: key reads block.
    let ui = tokio::task::spawn_blocking(move || run_ui(rx)).await;
    poller.abort();
    match ui {
        Ok(r) => r,
        Err(e) => anyhow::bail!("the terminal view panicked: {e}"),
    }
}

struct Ui {
    pane: Pane,
    verbose: bool,
    sort: usize,
}

fn run_ui(rx: watch::Receiver<Snapshot>) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let mut ui = Ui {
        pane: Pane::All,
        verbose: false,
        sort: 0,
    };
    let result = (|| -> anyhow::Result<()> {
        loop {
            let snap = rx.borrow().clone();
            terminal.draw(|f| draw(f, &snap, &ui))?;
            // Redraw at least every 250 ms so new replies show promptly.
            if !event::poll(Duration::from_millis(250))? {
                continue;
            }
            let Event::Key(key) = event::read()? else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(())
                }
                KeyCode::Char('c') => ui.pane = Pane::ChunkServers,
                KeyCode::Char('m') => ui.pane = Pane::Mds,
                KeyCode::Char('i') => ui.pane = Pane::Clients,
                KeyCode::Char('e') => ui.pane = Pane::Events,
                KeyCode::Char('a') => ui.pane = Pane::All,
                KeyCode::Char('v') => ui.verbose = !ui.verbose,
                KeyCode::Char('s') => ui.sort = (ui.sort + 1) % SORTS.len(),
                _ => {}
            }
        }
    })();
    ratatui::restore();
    result
}

/// Column sums of per-part rates.
fn sum_rates<'a, const N: usize>(rates: impl Iterator<Item = &'a [f64; N]>) -> [f64; N] {
    rates.fold([0.0; N], |mut acc, r| {
        for (a, v) in acc.iter_mut().zip(r) {
            *a += v;
        }
        acc
    })
}

fn rate(bytes_per_sec: f64) -> String {
    format!("{}/s", format_size(bytes_per_sec as u64))
}

fn status_color(s: &str) -> Color {
    match s {
        "healthy" | "active" | "info" => Color::Green,
        "degraded" | "draining" | "warn" => Color::Yellow,
        _ => Color::Red,
    }
}

fn draw(f: &mut Frame, snap: &Snapshot, ui: &Ui) {
    let area = f.area();
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, head, snap);
    f.render_widget(
        Paragraph::new(format!(
            "c:chunk servers  m:MDS  i:clients  e:events  a:all  v:verbose{}  s:sort by {}  q:quit",
            if ui.verbose { "(on)" } else { "" },
            SORTS[ui.sort]
        ))
        .style(Style::new().add_modifier(Modifier::REVERSED)),
        foot,
    );
    let Some(stat) = &snap.stat else {
        f.render_widget(Paragraph::new("waiting for the MDS..."), body);
        return;
    };
    match ui.pane {
        Pane::ChunkServers => draw_cs(f, body, stat, snap, ui),
        Pane::Mds => draw_mds(f, body, stat, snap),
        Pane::Clients => draw_clients(f, body, stat, snap),
        Pane::Events => draw_events(f, body, stat),
        Pane::All => {
            let mds_rows = stat.mds.len() as u16 + 3;
            let cs_rows = stat.chunk_servers.len() as u16 + 3;
            let client_rows = stat.clients.len().max(1) as u16 + 3;
            let [m, c, i, e] = Layout::vertical([
                Constraint::Length(mds_rows),
                Constraint::Length(cs_rows),
                Constraint::Length(client_rows),
                Constraint::Min(3),
            ])
            .areas(body);
            draw_mds(f, m, stat, snap);
            draw_cs(f, c, stat, snap, ui);
            draw_clients(f, i, stat, snap);
            draw_events(f, e, stat);
        }
    }
}

fn draw_header(f: &mut Frame, area: Rect, snap: &Snapshot) {
    let mut lines = Vec::new();
    if let Some(stat) = &snap.stat {
        let st = stat.status();
        let io = sum_rates(snap.rates.values());
        let doors = sum_rates(snap.doors.values());
        lines.push(Line::from(vec![
            Span::raw(format!("Cluster '{}': ", stat.cluster_name)),
            Span::styled(
                st,
                Style::new()
                    .fg(status_color(st))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "   space: {} allocatable, {} free on disks   {} buckets, {} inodes, {} of data",
                format_size(stat.space.allocatable),
                format_size(stat.space.raw_free),
                stat.buckets,
                stat.inodes,
                format_size(stat.logical_bytes)
            )),
        ]));
        let states = stat.chunk_summary();
        let mut chunks = vec![Span::raw(format!(
            "chunks: {} total{}{states}",
            stat.chunks,
            if states.is_empty() { "" } else { ": " },
        ))];
        if !stat.writing_degraded.is_empty() {
            chunks.push(Span::styled(
                format!("   writing degraded: {}", stat.writing_degraded),
                Style::new().fg(Color::Yellow),
            ));
        }
        lines.push(Line::from(chunks));
        lines.push(Line::from(format!(
            "client I/O: read {} ({:.0} ops/s), write {} ({:.0} ops/s)   replication: {} copies, {} moves, {}   chunk servers: read {}, write {}",
            rate(doors[0]),
            doors[2],
            rate(doors[1]),
            doors[3],
            stat.copies_in_flight,
            stat.moves_in_flight,
            rate(stat.copy_bytes_per_sec),
            rate(io[0]),
            rate(io[1]),
        )));
    }
    if let Some(e) = &snap.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" cairn top ")),
        area,
    );
}

fn draw_mds(f: &mut Frame, area: Rect, stat: &ClusterStat, snap: &Snapshot) {
    let header = Row::new([
        "ID",
        "ADDR",
        "ROLE",
        "TERM",
        "APPLIED",
        "LAG",
        "COMMIT%",
        "COMMITS/s",
        "CPU s",
        "MEMORY",
        "UPTIME",
        "HOST",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    // Process figures come from the MDS that answered only.
    let own = |m: &cairn_client::MdsStat, text: String| {
        if m.uptime_secs > 0 {
            text
        } else {
            "-".to_string()
        }
    };
    let rows = stat.mds.iter().map(|m| {
        let commits = snap.commits.get(&m.addr).copied().unwrap_or((0.0, 0.0));
        Row::new(vec![
            format!("{}{}", if m.is_leader() { "M " } else { "  " }, m.id),
            m.addr.clone(),
            m.role.clone(),
            m.term.to_string(),
            m.applied_index.to_string(),
            m.lag.to_string(),
            own(m, format!("{:.0}%", commits.1 * 100.0)),
            own(m, format!("{:.1}", commits.0)),
            own(m, format!("{:.1}", m.cpu_secs)),
            own(m, format_size(m.rss_bytes)),
            own(m, summary::uptime(m.uptime_secs)),
            own(m, m.host.clone()),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(22),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Min(8),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" Metadata servers ")),
        area,
    );
}

fn draw_cs(f: &mut Frame, area: Rect, stat: &ClusterStat, snap: &Snapshot, ui: &Ui) {
    let zero = [0.0; 4];
    let mut servers: Vec<&CsStat> = stat.chunk_servers.iter().collect();
    let r = |c: &CsStat| snap.rates.get(&c.id).copied().unwrap_or(zero);
    match SORTS[ui.sort] {
        "fill" => servers.sort_by(|a, b| b.fill.total_cmp(&a.fill)),
        "replicas" => servers.sort_by_key(|s| std::cmp::Reverse(s.replicas)),
        "write" => servers.sort_by(|a, b| r(b)[1].total_cmp(&r(a)[1])),
        "read" => servers.sort_by(|a, b| r(b)[0].total_cmp(&r(a)[0])),
        "latency" => servers.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms)),
        _ => servers.sort_by_key(|c| c.id),
    }
    let mut names = vec![
        "ID", "STATUS", "HOST", "TIER", "SPACE", "AVAIL", "FILL", "COST", "REPLICAS", "RD/s",
        "WR/s", "RD ops", "WR ops", "LAT ms", "MAX ms", "QDEPTH", "FLAGS",
    ];
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
    ];
    if ui.verbose {
        names.extend(["ADDR", "USED", "COPIES in/out", "HEARTBEAT ms"]);
        widths.extend([
            Constraint::Length(21),
            Constraint::Length(9),
            Constraint::Length(13),
            Constraint::Length(12),
        ]);
    }
    let header = Row::new(names).style(Style::new().add_modifier(Modifier::BOLD));
    let rows = servers.iter().map(|c| {
        let rt = r(c);
        let mut cells = vec![
            Span::raw(c.id.to_string()),
            Span::styled(
                cs_status_name(c.status),
                Style::new().fg(status_color(cs_status_name(c.status))),
            ),
            Span::raw(c.host.clone()),
            Span::raw(c.tier.to_string()),
            Span::raw(format_size(c.capacity)),
            Span::raw(format_size(c.free)),
            Span::raw(format!("{:.0}%", c.fill * 100.0)),
            Span::raw(format!("{:.2}", c.cost)),
            Span::raw(c.replicas.to_string()),
            Span::raw(rate(rt[0])),
            Span::raw(rate(rt[1])),
            Span::raw(format!("{:.0}", rt[2])),
            Span::raw(format!("{:.0}", rt[3])),
            Span::raw(format!("{:.1}", c.latency_ms)),
            Span::raw(format!("{:.1}", c.latency_max_ms)),
            Span::raw(c.queue_depth.to_string()),
            // Every replica is checksummed (C); J: writes go to a journal.
            Span::raw(if c.journal { "JC" } else { "C" }),
        ];
        if ui.verbose {
            cells.extend([
                Span::raw(c.addr.clone()),
                Span::raw(format_size(c.used)),
                Span::raw(format!("{}/{}", c.copies_in, c.copies_out)),
                Span::raw(c.heartbeat_age_ms.to_string()),
            ]);
        }
        Row::new(cells)
    });
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(format!(
                " Chunk servers ({}, sorted by {}) ",
                stat.chunk_servers.len(),
                SORTS[ui.sort]
            ))),
        area,
    );
}

fn draw_clients(f: &mut Frame, area: Rect, stat: &ClusterStat, snap: &Snapshot) {
    let header = Row::new([
        "KIND", "NAME", "HOST", "RD/s", "WR/s", "RD ops", "WR ops", "FSYNC/s", "LAT ms", "MAX ms",
        "ERRORS", "UPTIME",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = stat.clients.iter().map(|d| {
        let r = snap.doors.get(&d.id).copied().unwrap_or([0.0; 5]);
        Row::new(vec![
            d.kind.clone(),
            d.name.clone(),
            d.host.clone(),
            rate(r[0]),
            rate(r[1]),
            format!("{:.0}", r[2]),
            format!("{:.0}", r[3]),
            format!("{:.1}", r[4]),
            format!("{:.1}", d.latency_ms),
            format!("{:.1}", d.latency_max_ms),
            d.totals.errors.to_string(),
            summary::uptime(d.uptime_secs),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(24),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(8),
    ];
    let title = if stat.clients.is_empty() {
        " Clients (no gateway or mount has reported) ".to_string()
    } else {
        format!(" Clients ({}) ", stat.clients.len())
    };
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        area,
    );
}

fn draw_events(f: &mut Frame, area: Rect, stat: &ClusterStat) {
    let shown = area.height.saturating_sub(3) as usize;
    let rows = stat.events.iter().rev().take(shown).map(|e| {
        let secs = e.unix_ms / 1000;
        Row::new(vec![
            Span::raw(format!(
                "{:02}:{:02}:{:02}",
                secs / 3600 % 24,
                secs / 60 % 60,
                secs % 60
            )),
            Span::raw(e.part.clone()),
            Span::styled(
                e.severity.clone(),
                Style::new().fg(status_color(&e.severity)),
            ),
            Span::raw(e.message.clone()),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Min(20),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new(["TIME", "PART", "SEV", "MESSAGE"])
                    .style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .block(Block::bordered().title(" Events (UTC, newest first) ")),
        area,
    );
}
