//! The figures of one `cairn-bench all` run as a Markdown section, printed
//! and written into BENCHMARKS.md between two markers (the rest of the
//! file, prose kept by people, is left as it is).

use std::{fmt::Write as _, path::Path};

use crate::{ceiling, fsload, heal, images, lost_host, s3load};

pub const BEGIN: &str = "<!-- cairn-bench all: begin (generated; edit outside the markers) -->";
pub const END: &str = "<!-- cairn-bench all: end -->";

/// One run's results; a `None` is a system that did not run, with why in
/// `notes`.
#[derive(Default)]
pub struct Run {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub quick: bool,
    pub disk: Option<ceiling::Disk>,
    pub tcp: Option<f64>,
    pub md5: Option<f64>,
    pub s3_sizes: Option<s3load::Sizes>,
    pub fs_sizes: Option<fsload::Sizes>,
    pub heal_sizes: Option<heal::Sizes>,
    pub cairn_s3: Option<s3load::Figures>,
    pub garage: Option<s3load::Figures>,
    pub garage_fsync: Option<s3load::Figures>,
    pub cairn_fs: Option<fsload::Figures>,
    pub moosefs: Option<fsload::Figures>,
    pub moosefs_fsync: Option<fsload::Figures>,
    pub heal: Option<heal::Figures>,
    pub lost_host_sizes: Option<lost_host::Sizes>,
    pub lost_host: Option<lost_host::Figures>,
    pub images: Option<images::Figures>,
    pub notes: Vec<String>,
}

fn v(x: Option<f64>) -> String {
    match x {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

fn size(bytes: u64) -> String {
    cairn_common::units::format_size(bytes)
}

/// One row of a comparison table: its name, unit, the figure it shows and
/// the machine's ceiling for it, if there is one.
type Row<F> = (String, &'static str, fn(&F) -> f64, Option<f64>);

/// Writes a table of Cairn's figures against each peer's and the ceilings,
/// with the ratios Cairn / peer and Cairn / ceiling.
fn comparison<F>(
    s: &mut String,
    cairn: Option<&F>,
    peers: &[(&str, Option<&F>)],
    rows: impl IntoIterator<Item = Row<F>>,
) {
    let mut header = String::from("| figure | unit | Cairn |");
    let mut rule = String::from("|---|---|---:|");
    for (peer, _) in peers {
        let _ = write!(header, " {peer} | Cairn / {peer} |");
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(s, "{header} ceiling | Cairn / ceiling |\n{rule}---:|---:|");
    for (name, unit, pick, ceil) in rows {
        let c = cairn.map(pick);
        let _ = write!(s, "| {name} | {unit} | {} |", v(c));
        for (_, figures) in peers {
            let p = figures.map(pick);
            let _ = write!(s, " {} | {} |", v(p), ratio(c, p));
        }
        let _ = writeln!(s, " {} | {} |", v(ceil), ratio(c, ceil));
    }
    let _ = writeln!(s);
}

impl Run {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{BEGIN}");
        let _ = writeln!(
            s,
            "## Cairn against its peers and the machine's ceilings (issues 4, 5, 6, 9, 19, 25)\n"
        );
        let _ = writeln!(
            s,
            "Run of {} on {}{}. Command:\n\n    {}\n",
            self.date,
            self.machine,
            if self.quick {
                " (quick mode: small sizes, for CI; not figures to quote)"
            } else {
                ""
            },
            self.command
        );

        let disk_w = self.disk.as_ref().map(|d| d.write_fsync_mb_s);
        let _ = writeln!(s, "### The machine's ceilings (same run)\n");
        let _ = writeln!(s, "| ceiling | MiB/s |\n|---|---:|");
        let _ = writeln!(
            s,
            "| disk sequential write, 1 MiB blocks + fsync | {} |",
            v(disk_w)
        );
        let _ = writeln!(
            s,
            "| disk sequential read | {} |",
            v(self.disk.as_ref().map(|d| d.read_mb_s))
        );
        let _ = writeln!(s, "| loopback TCP, one connection | {} |", v(self.tcp));
        let _ = writeln!(s, "| MD5, one core | {} |\n", v(self.md5));

        if let Some(z) = &self.s3_sizes {
            let _ = writeln!(
                s,
                "### S3: one neutral client (aws-sdk-s3, default checksums), Cairn's gateway against Garage\n"
            );
            let _ = writeln!(
                s,
                "Garage: three nodes on 127.0.0.1, replication factor 3, once with its defaults (no fsync) and once with `data_fsync = true` and `metadata_fsync = true`. Cairn: `cairn up` (3 chunk servers, 3 replicas, every acknowledged write on stable storage). Write ceiling: disk write / 3 (three replicas on one disk); read ceiling: loopback TCP.\n"
            );
            let put_ceiling = disk_w.map(|d| d / 3.0);
            let rows: [Row<s3load::Figures>; 7] = [
                (
                    format!("PUT {} objects, one at a time", size(z.big_size as u64)),
                    "MiB/s",
                    |f| f.put_big,
                    put_ceiling,
                ),
                (
                    format!("GET {} objects, one at a time", size(z.big_size as u64)),
                    "MiB/s",
                    |f| f.get_big,
                    self.tcp,
                ),
                (
                    format!("PUT 1 MiB objects, concurrency {}", z.concurrency),
                    "MiB/s",
                    |f| f.put_mid,
                    put_ceiling,
                ),
                (
                    format!("GET 1 MiB objects, concurrency {}", z.concurrency),
                    "MiB/s",
                    |f| f.get_mid,
                    self.tcp,
                ),
                (
                    format!("PUT 4 KiB objects, concurrency {}", z.concurrency),
                    "ops/s",
                    |f| f.put_small,
                    None,
                ),
                (
                    format!("GET 4 KiB objects, concurrency {}", z.concurrency),
                    "ops/s",
                    |f| f.get_small,
                    None,
                ),
                (
                    format!("LIST {} keys (ListObjectsV2, pages of 1000)", z.small_count),
                    "keys/s",
                    |f| f.list,
                    None,
                ),
            ];
            comparison(
                &mut s,
                self.cairn_s3.as_ref(),
                &[
                    ("Garage", self.garage.as_ref()),
                    ("Garage fsync", self.garage_fsync.as_ref()),
                ],
                rows,
            );
        }

        if let Some(z) = &self.fs_sizes {
            let _ = writeln!(
                s,
                "### Filesystem: the Cairn FUSE mount against a MooseFS 3 mount\n"
            );
            let _ = writeln!(
                s,
                "MooseFS: Debian packages, one master and three chunk servers in a network namespace of the harness, goal 3, mfsmount from the host over a veth pair; once with its defaults (its chunk servers never fsync: an fsync returns once the bytes are in their page cache) and once with `HDD_FSYNC_BEFORE_CLOSE = 1` (each chunk fsynced when closed). Cairn: `cairn up --mount` (an fsync returns once the bytes are on stable storage on every replica). One thread of plain POSIX calls; the read follows a `posix_fadvise(DONTNEED)` of the file.\n"
            );
            let rows: [Row<fsload::Figures>; 5] = [
                (
                    format!(
                        "sequential write {}, bs 1 MiB, fsync at the end",
                        size(z.seq_size)
                    ),
                    "MiB/s",
                    |f| f.write,
                    disk_w.map(|d| d / 3.0),
                ),
                (
                    format!("sequential read {}, bs 1 MiB", size(z.seq_size)),
                    "MiB/s",
                    |f| f.read,
                    self.tcp,
                ),
                (
                    format!("create (write 4 KiB, close) of {} files", z.files),
                    "files/s",
                    |f| f.create,
                    None,
                ),
                (
                    format!("stat of {} files", z.files),
                    "files/s",
                    |f| f.stat,
                    None,
                ),
                (
                    format!("unlink of {} files", z.files),
                    "files/s",
                    |f| f.unlink,
                    None,
                ),
            ];
            comparison(
                &mut s,
                self.cairn_fs.as_ref(),
                &[
                    ("MooseFS", self.moosefs.as_ref()),
                    ("MooseFS fsync", self.moosefs_fsync.as_ref()),
                ],
                rows,
            );
        }

        if let Some(f) = &self.images {
            let _ = writeln!(s, "### VM images on the mount (issue 19)\n");
            s.push_str(&images::markdown(f));
        }

        if let Some(z) = &self.heal_sizes {
            let _ = writeln!(
                s,
                "### Healing: four chunk servers on hosts h1..h4 (issue 6)\n"
            );
            let _ = writeln!(
                s,
                "{} in objects of {}, 3 replicas, chunk servers of {} capacity. MDS flags `--offline-after 3 --lost-after 5` (the default grace before restoring is 60 s); balancer at its defaults (5 points, 20 MB/s).\n",
                size(z.data), size(z.object), z.capacity
            );
            let _ = writeln!(
                s,
                "| figure | value | ceiling | ratio |\n|---|---:|---:|---:|"
            );
            if let Some(h) = &self.heal {
                let _ = writeln!(
                    s,
                    "| third copy restored after `kill -9` + rm of a CS ({} of replicas), from the kill | {:.1} s | | |",
                    size(h.lost_bytes), h.restore_s
                );
                let _ = writeln!(s, "| of which copying | {:.1} s | | |", h.copy_s);
                let _ = writeln!(
                    s,
                    "| restore rate (lost bytes / copy time) | {:.1} MiB/s | {} MiB/s (disk write) | {} |",
                    h.copy_mb_s, v(disk_w), ratio(Some(h.copy_mb_s), disk_w)
                );
                let _ = writeln!(
                    s,
                    "| an empty CS added to three full ones levels (fill spread < 5 points) | {:.1} s | | |",
                    h.level_s
                );
                let _ = writeln!(
                    s,
                    "| moved into the new CS meanwhile | {} ({:.1} MiB/s) | 20 MB/s (balancer limit) | |",
                    size(h.leveled_bytes),
                    crate::mb_per_s(h.leveled_bytes, h.level_s)
                );
                let fills: Vec<String> = h.fills.iter().map(|f| format!("{f:.1}%")).collect();
                let _ = writeln!(s, "| fills when level | {} | | |", fills.join(", "));
            } else {
                let _ = writeln!(s, "| (did not run) | | | |");
            }
            let _ = writeln!(s);
        }

        if let Some(z) = &self.lost_host_sizes {
            let _ = writeln!(
                s,
                "### Writes while a host is cut off: three hosts h1..h3 (issue 25)\n"
            );
            let _ = writeln!(
                s,
                "Each host an MDS (one raft group of three) and a chunk server; S3 through `cairn gateway`, aws-sdk-s3 with its default retries. A host is cut off by SIGSTOP of its MDS and its chunk server while the load runs; the load goes on until a PUT sent after the cut is acknowledged and {} s more (MiB/s counted from that first acknowledgement), then the host returns (SIGCONT). MDS flag `--offline-after {}`.\n",
                z.phase.as_secs(),
                z.offline_after
            );
            match &self.lost_host {
                Some(f) => {
                    let _ = writeln!(s, "{}", lost_host::table(f, z));
                }
                None => {
                    let _ = writeln!(s, "(did not run)\n");
                }
            }
        }

        if !self.notes.is_empty() {
            let _ = writeln!(s, "Notes of this run:\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "{END}");
        s
    }

    /// Replaces the section between the markers of `path` (or appends it).
    pub fn write_into(&self, path: &Path) -> anyhow::Result<()> {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let section = self.markdown();
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if e > b => {
                format!(
                    "{}{}{}",
                    &old[..b],
                    section.trim_end(),
                    &old[e + END.len()..]
                )
            }
            _ => format!("{}\n{section}", old.trim_end()),
        };
        std::fs::write(path, new)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct F(f64);

    #[test]
    fn a_comparison_has_a_column_pair_per_peer_and_dashes_for_missing_figures() {
        let mut s = String::new();
        let rows: [Row<F>; 1] = [("PUT".into(), "MiB/s", |f| f.0, Some(100.0))];
        comparison(
            &mut s,
            Some(&F(50.0)),
            &[("A", Some(&F(25.0))), ("B", None)],
            rows,
        );
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "| figure | unit | Cairn | A | Cairn / A | B | Cairn / B | ceiling | Cairn / ceiling |"
        );
        assert_eq!(lines[1], "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        assert_eq!(
            lines[2],
            "| PUT | MiB/s | 50.0 | 25.0 | 2.00 | – | – | 100 | 0.50 |"
        );
    }
}
