//! `cairn-bench images` (issue 19): a virtual machine's disk image on the
//! mount. One image file per target, driven by fio, on three targets one
//! after the other in the same run: the Cairn FUSE mount (`cairn up
//! --mount`), a MooseFS 3 mount with goal 3 (its defaults), and a
//! directory of the local disk that holds both systems' data.
//!
//! 0. layout: the image written sequentially (1 MiB blocks, fsync at the
//!    end), so that every phase rewrites or reads existing data, not holes;
//! 1. 4 KiB random writes, each followed by an fdatasync, one job;
//! 2. 4 KiB random writes, four jobs, one fsync at the end (fio counts it
//!    in the phase's time);
//! 3. 4 KiB random reads, four jobs;
//! 4. 64 KiB random reads and writes, 70/30, four jobs;
//! 5. `tar -xf` of a real source tree (the crate aws-sdk-s3 from the
//!    cargo cache, at the version Cargo.lock pins), then `rm -rf` of it,
//!    each followed by a syncfs(2) of the target's filesystem.
//!
//! fio runs `--ioengine=psync` on buffered files (no O_DIRECT), the same
//! code path on every target: a guest's disk image opened without
//! `cache=none`. Before each phase, as root, the page cache is dropped
//! (`drop_caches`), and fio drops the file's pages when it opens it
//! (`--invalidate=1`), so reads reach the storage system.
//!
//! Ceiling of phase 1: the local disk's rate divided by three (Cairn's
//! three replicas are written to this same disk, each write durable on all
//! three before its fdatasync returns). MooseFS with its defaults never
//! fsyncs on its chunk servers: its fdatasync returns once the bytes are in
//! their page cache.
//!
//! syncfs(2) reaches no FUSE daemon (Linux sends FUSE_SYNCFS to virtiofs
//! only): on the two mounts it writes back the kernel's dirty pages, of
//! which the mounts keep none (no writeback cache); on the local disk it
//! commits the journal and the data.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context};

use crate::{
    cluster::Embedded,
    fio::{self, Rate},
    moosefs, sys,
};

/// The crate unpacked in phase 5: the one with the most files (1,351 at
/// 1.157.0) of those Cargo.lock pins, and a dependency of this benchmark,
/// so `cargo fetch` always puts it in the cargo cache.
const TREE_CRATE: &str = "aws-sdk-s3";

#[derive(Clone, Debug)]
pub struct Sizes {
    /// Bytes of the image file.
    pub image: u64,
    /// Length of each fio phase (`--runtime`, `--time_based`).
    pub runtime: Duration,
    /// Copies of the source tree unpacked in phase 5 (one `tar -xf` each).
    pub tree_copies: usize,
    /// Bound of the layout, of each half of phase 5, and of each fio
    /// phase past its runtime (for its final fsync).
    pub limit: Duration,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                image: 64 << 20,
                // Long enough that a slow first write (the mount's
                // first calls to a fresh cluster) leaves figures to read.
                runtime: Duration::from_secs(8),
                tree_copies: 1,
                limit: Duration::from_secs(120),
            }
        } else {
            Sizes {
                image: 4 << 30,
                runtime: Duration::from_secs(60),
                tree_copies: 4,
                limit: Duration::from_secs(900),
            }
        }
    }
}

/// The figures of one target.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Layout: MiB/s of the sequential write of the image, with its fsync.
    pub layout_mib_s: f64,
    /// Phase 1: its writes (fio's clat), and the fdatasync after each.
    pub sync_writes: Rate,
    pub fdatasyncs: Rate,
    /// Phases 2 and 3.
    pub writes: Rate,
    pub reads: Rate,
    /// Phase 4: its reads and its writes.
    pub mixed_reads: Rate,
    pub mixed_writes: Rate,
    /// Phase 5: seconds of the `tar -xf`s and of the `rm -rf`, each with
    /// the syncfs after it.
    pub untar_s: f64,
    pub rm_s: f64,
    /// The 1-minute load average of the machine when this target's load
    /// started and when it ended (others' builds share the machine).
    pub load: [String; 2],
}

/// The source tree of phase 5.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// NAME-VERSION of the crate.
    pub name: String,
    /// Regular files in one copy.
    pub files: usize,
    /// Bytes of one copy's tar (uncompressed).
    pub bytes: u64,
}

/// One run: a `None` target did not run (why is in `notes`).
#[derive(Clone, Debug)]
pub struct Figures {
    pub sizes: Sizes,
    pub tree: Tree,
    pub cairn: Option<Target>,
    pub moosefs: Option<Target>,
    pub local: Option<Target>,
    pub notes: Vec<String>,
    /// Targets that failed (the run fails at its end).
    pub failed: Vec<String>,
}

/// Runs the load on the local disk, the Cairn mount and the MooseFS
/// mount (when `with_moosefs` and MooseFS is installed), all in `dir`.
pub async fn run(
    cairn: &Path,
    dir: &Path,
    sizes: &Sizes,
    with_moosefs: bool,
) -> anyhow::Result<Figures> {
    ensure!(
        sys::which("fio").is_some(),
        "fio is missing: install the Debian package fio (conformance/install-deps does)"
    );
    let work = dir.join("work");
    std::fs::create_dir_all(&work)?;
    let (tree, tar) = prepare_tree(&work)?;
    let mut f = Figures {
        sizes: sizes.clone(),
        tree,
        cairn: None,
        moosefs: None,
        local: None,
        notes: vec![format!(
            "load average (1 min) at the start: {}",
            sys::load()
        )],
        failed: Vec::new(),
    };
    if !sys::is_root() {
        f.notes
            .push("caches were not dropped between phases (not root)".into());
    }
    let ctx = Ctx {
        sizes,
        work: &work,
        tar: &tar,
        tree: &f.tree,
    };

    let local = dir.join("local");
    let r = async {
        std::fs::create_dir_all(&local)?;
        ctx.load("local disk", &local).await
    }
    .await;
    f.local = outcome("local disk", r, &mut f.failed, &mut f.notes);
    std::fs::remove_dir_all(&local).ok();

    let base = dir.join("cairn");
    let r = async {
        std::fs::create_dir_all(&base)?;
        let mnt = base.join("mnt");
        let up = Embedded::start(&base, Some(cairn.to_path_buf()), Some(mnt.clone())).await?;
        let r = ctx.load("Cairn", &mnt.join("images")).await;
        up.stop().await;
        r
    }
    .await;
    f.cairn = outcome("Cairn", r, &mut f.failed, &mut f.notes);
    std::fs::remove_dir_all(&base).ok();

    match (with_moosefs, moosefs::available()) {
        (false, _) => f.notes.push("MooseFS skipped (--skip)".into()),
        (true, Err(why)) => f.notes.push(format!("MooseFS skipped: {why}")),
        (true, Ok(())) => {
            let base = dir.join("moosefs");
            let r = async {
                std::fs::create_dir_all(&base)?;
                let m = moosefs::MooseFs::start(&base, false).await?;
                let r = ctx.load("MooseFS", &m.mount.join("images")).await;
                m.stop().await;
                r
            }
            .await;
            f.moosefs = outcome("MooseFS", r, &mut f.failed, &mut f.notes);
            std::fs::remove_dir_all(&base).ok();
        }
    }
    f.notes
        .push(format!("load average (1 min) at the end: {}", sys::load()));
    Ok(f)
}

/// A target's result: a failure becomes a note, and the others still run.
fn outcome(
    name: &str,
    r: anyhow::Result<Target>,
    failed: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Option<Target> {
    match r {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("cairn-bench images: {name} FAILED: {e:#}");
            notes.push(format!("{name} failed: {e:#}"));
            failed.push(name.to_string());
            None
        }
    }
}

/// What every target's load shares.
struct Ctx<'a> {
    sizes: &'a Sizes,
    /// A directory of the local disk for fio's reports and the logs.
    work: &'a Path,
    /// The source tree, an uncompressed tar on the local disk.
    tar: &'a Path,
    tree: &'a Tree,
}

/// The arguments of fio phases 1 to 4.
const PHASES: [&[&str]; 4] = [
    &["--rw=randwrite", "--bs=4k", "--fdatasync=1"],
    &["--rw=randwrite", "--bs=4k", "--numjobs=4", "--end_fsync=1"],
    &["--rw=randread", "--bs=4k", "--numjobs=4"],
    &["--rw=randrw", "--rwmixread=70", "--bs=64k", "--numjobs=4"],
];

impl Ctx<'_> {
    /// The whole load in `dir` (made here) of one target.
    async fn load(&self, name: &str, dir: &Path) -> anyhow::Result<Target> {
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let image = dir.join("image.raw");
        let z = self.sizes;
        let mut t = Target {
            load: [sys::load(), String::new()],
            ..Target::default()
        };

        // The layout: fio's own `--runtime` ends it, and the bound kills
        // it half a limit later.
        let limit = format!("--runtime={}", z.limit.as_secs());
        let args = ["--rw=write", "--bs=1M", "--end_fsync=1", &limit];
        let job = fio::run(&image, z.image, &args, z.limit * 3 / 2, self.work)
            .await
            .with_context(|| format!("{name}: the layout of {}", image.display()))?;
        let bytes = job["write"]["io_bytes"].as_u64().unwrap_or(0);
        ensure!(
            bytes == z.image,
            "{name}: the layout wrote {bytes} of {} bytes within {} s",
            z.image,
            z.limit.as_secs()
        );
        t.layout_mib_s = crate::mb_per_s(bytes, fio::runtime_s(&job["write"]));
        eprintln!("  {name}: layout {:.1} MiB/s", t.layout_mib_s);

        let mut jobs = Vec::new();
        for (n, args) in PHASES.iter().enumerate() {
            // Every phase starts with cold caches.
            sys::drop_caches()?;
            let runtime = format!("--runtime={}", z.runtime.as_secs());
            let mut all = vec!["--time_based", &runtime, "--norandommap"];
            all.extend_from_slice(args);
            let job = fio::run(&image, z.image, &all, z.runtime + z.limit, self.work)
                .await
                .with_context(|| format!("{name}: fio phase {} ({})", n + 1, args.join(" ")))?;
            jobs.push(job);
        }
        t.sync_writes = fio::rate(&jobs[0], "write")?;
        t.fdatasyncs = fio::syncs(&jobs[0])?;
        t.writes = fio::rate(&jobs[1], "write")?;
        t.reads = fio::rate(&jobs[2], "read")?;
        t.mixed_reads = fio::rate(&jobs[3], "read")?;
        t.mixed_writes = fio::rate(&jobs[3], "write")?;
        let r = |r: Rate| format!("{:.0} ({:.2})", r.iops, r.p99_ms);
        eprintln!(
            "  {name}: IOPS (p99 ms): 1. {} fdatasync {} 2. {} 3. {} 4. {} + {}",
            r(t.sync_writes),
            r(t.fdatasyncs),
            r(t.writes),
            r(t.reads),
            r(t.mixed_reads),
            r(t.mixed_writes)
        );
        std::fs::remove_file(&image).with_context(|| format!("rm {}", image.display()))?;

        (t.untar_s, t.rm_s) = self
            .tree_phase(&dir.join("tree"))
            .await
            .with_context(|| format!("{name}: phase 5 (tar -xf, rm -rf)"))?;
        let files = (self.tree.files * z.tree_copies) as f64;
        eprintln!(
            "  {name}: tar -xf {:.1} s ({:.0} files/s), rm -rf {:.1} s ({:.0} files/s)",
            t.untar_s,
            files / t.untar_s,
            t.rm_s,
            files / t.rm_s
        );
        t.load[1] = sys::load();
        Ok(t)
    }

    /// Phase 5 in `root` (made here): seconds of the `tar -xf`s with a
    /// syncfs, and of the `rm -rf` with a syncfs.
    async fn tree_phase(&self, root: &Path) -> anyhow::Result<(f64, f64)> {
        let z = self.sizes;
        std::fs::create_dir(root).with_context(|| format!("mkdir {}", root.display()))?;
        let t = Instant::now();
        for i in 0..z.tree_copies {
            let dest = root.join(i.to_string());
            std::fs::create_dir(&dest).with_context(|| format!("mkdir {}", dest.display()))?;
            let mut cmd = tokio::process::Command::new("tar");
            cmd.arg("-xf").arg(self.tar).arg("-C").arg(&dest);
            let left = z.limit.saturating_sub(t.elapsed());
            sys::run_bounded(cmd, left, "tar -xf", &self.work.join("tar.log")).await?;
        }
        sys::syncfs(root)?;
        let untar_s = t.elapsed().as_secs_f64();
        let found = count_files(root)?;
        let want = self.tree.files * z.tree_copies;
        ensure!(
            found == want,
            "{} holds {found} files after tar -xf, not {want}",
            root.display()
        );

        let t = Instant::now();
        let mut cmd = tokio::process::Command::new("rm");
        cmd.arg("-rf").arg(root);
        sys::run_bounded(cmd, z.limit, "rm -rf", &self.work.join("rm.log")).await?;
        let parent = root.parent().context("the tree has a parent")?;
        sys::syncfs(parent)?;
        let rm_s = t.elapsed().as_secs_f64();
        ensure!(
            !root.exists(),
            "{} is still there after rm -rf",
            root.display()
        );
        Ok((untar_s, rm_s))
    }
}

/// Regular files under `dir`.
fn count_files(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("readdir {}", dir.display()))? {
        let e = e?;
        let kind = e.file_type()?;
        if kind.is_dir() {
            n += count_files(&e.path())?;
        } else if kind.is_file() {
            n += 1;
        }
    }
    Ok(n)
}

/// The version of `name` a Cargo.lock pins (the first, if several).
fn pinned_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == want {
            let v = lines.next()?.trim().strip_prefix("version = \"")?;
            return v.strip_suffix('"').map(str::to_string);
        }
    }
    None
}

/// The .crate of `TREE_CRATE` at the version the workspace's Cargo.lock
/// pins, in the cargo cache.
fn find_crate() -> anyhow::Result<(String, PathBuf)> {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let here = std::env::current_dir()?;
    let locks = here
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .chain([built]);
    let version = locks
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|text| pinned_version(&text, TREE_CRATE))
        .with_context(|| {
            format!("no Cargo.lock pinning {TREE_CRATE} here or in the workspace this bench was built from: run it from the Cairn workspace")
        })?;
    let name = format!("{TREE_CRATE}-{version}");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let cache = home.join("registry/cache");
    let found = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join(format!("{name}.crate")))
        .find(|p| p.is_file());
    let path = found.with_context(|| {
        format!(
            "{name}.crate is not in {}/*/: run `cargo fetch` in the Cairn workspace (as the user running this bench)",
            cache.display()
        )
    })?;
    Ok((name, path))
}

/// The source tree as an uncompressed tar in `work` (so that no target's
/// time has gzip in it), and what it holds.
fn prepare_tree(work: &Path) -> anyhow::Result<(Tree, PathBuf)> {
    let (name, krate) = find_crate()?;
    let tar = work.join(format!("{name}.tar"));
    let out = std::fs::File::create(&tar)?;
    sys::run(Command::new("gzip").arg("-dc").arg(&krate).stdout(out))
        .with_context(|| format!("gunzip {}", krate.display()))?;
    let list = sys::run(Command::new("tar").arg("-tvf").arg(&tar))?;
    let files = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .count();
    ensure!(files > 0, "{} holds no files", krate.display());
    let bytes = std::fs::metadata(&tar)?.len();
    Ok((Tree { name, files, bytes }, tar))
}

fn cell(x: Option<f64>) -> String {
    match x {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

type Pick = fn(&Target) -> Rate;
/// A figure of a target given the files of phase 5.
type TreePick = fn(&Target, f64) -> f64;

/// The rows of the fio table: name, figure, and whether local disk / 3 is
/// its ceiling.
fn fio_rows() -> [(&'static str, Pick, bool); 6] {
    [
        (
            "1. 4 KiB random write, fdatasync after each, 1 job: the writes",
            |t| t.sync_writes,
            true,
        ),
        (
            "1. the same: its fdatasyncs (p99 of the fdatasync alone)",
            |t| t.fdatasyncs,
            false,
        ),
        (
            "2. 4 KiB random write, 4 jobs, fsync at the end",
            |t| t.writes,
            false,
        ),
        (
            "3. 4 KiB random read, caches dropped, 4 jobs",
            |t| t.reads,
            false,
        ),
        (
            "4. 64 KiB random 70/30 read/write, 4 jobs: the reads",
            |t| t.mixed_reads,
            false,
        ),
        ("4. the same: the writes", |t| t.mixed_writes, false),
    ]
}

/// The figures as Markdown: the fio table, the other figures, the goals
/// and the notes.
pub fn markdown(f: &Figures) -> String {
    let z = &f.sizes;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "One image file of {} per target, fio {} s per phase (`--ioengine=psync`, buffered, `--time_based`, `--norandommap`; caches dropped before each phase); targets one after the other: the Cairn mount (`cairn up --mount`, 3 replicas), a MooseFS 3 mount (goal 3, its defaults: no fsync on its chunk servers), the local disk that holds both systems' data. p99: of fio's completion latency (clat), in ms.\n",
        cairn_common::units::format_size(z.image),
        z.runtime.as_secs()
    );
    let _ = writeln!(
        s,
        "| phase | Cairn IOPS | Cairn p99 | MooseFS IOPS | MooseFS p99 | local IOPS | local p99 | IOPS Cairn / MooseFS | p99 Cairn / MooseFS | IOPS Cairn / (local / 3) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let pick = |t: &Option<Target>, p: Pick| t.as_ref().map(p);
    for (name, p, ceiling) in fio_rows() {
        let (c, m, l) = (pick(&f.cairn, p), pick(&f.moosefs, p), pick(&f.local, p));
        let iops = |r: Option<Rate>| r.map(|r| r.iops);
        let p99 = |r: Option<Rate>| r.map(|r| r.p99_ms);
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(iops(c)),
            cell(p99(c)),
            cell(iops(m)),
            cell(p99(m)),
            cell(iops(l)),
            cell(p99(l)),
            ratio(iops(c), iops(m)),
            ratio(p99(c), p99(m)),
            if ceiling {
                ratio(iops(c), iops(l).map(|l| l / 3.0))
            } else {
                "–".into()
            }
        );
    }
    let _ = writeln!(s);

    let files = f.tree.files * z.tree_copies;
    let _ = writeln!(
        s,
        "| figure | unit | Cairn | MooseFS | local | Cairn / MooseFS | Cairn / (local / 3) |\n|---|---|---:|---:|---:|---:|---:|"
    );
    let rows: [(String, &str, TreePick, bool); 3] = [
        (
            "layout: sequential write of the image, 1 MiB blocks, fsync at the end".into(),
            "MiB/s",
            |t, _| t.layout_mib_s,
            true,
        ),
        (
            format!(
                "`tar -xf` of {} × the crate {} ({files} files, {} in all), then syncfs",
                z.tree_copies,
                f.tree.name,
                cairn_common::units::format_size(f.tree.bytes * z.tree_copies as u64)
            ),
            "files/s",
            |t, n| n / t.untar_s,
            false,
        ),
        (
            "`rm -rf` of those files, then syncfs".into(),
            "files/s",
            |t, n| n / t.rm_s,
            false,
        ),
    ];
    for (name, unit, pick, ceiling) in rows {
        let get = |t: &Option<Target>| t.as_ref().map(|t| pick(t, files as f64));
        let (c, m, l) = (get(&f.cairn), get(&f.moosefs), get(&f.local));
        let _ = writeln!(
            s,
            "| {name} | {unit} | {} | {} | {} | {} | {} |",
            cell(c),
            cell(m),
            cell(l),
            ratio(c, m),
            if ceiling {
                ratio(c, l.map(|l| l / 3.0))
            } else {
                "–".into()
            }
        );
    }
    let load = |t: &Option<Target>| {
        t.as_ref()
            .map_or("–".into(), |t| format!("{} → {}", t.load[0], t.load[1]))
    };
    let _ = writeln!(
        s,
        "| load average (1 min) of the machine, start → end of the target | | {} | {} | {} | | |",
        load(&f.cairn),
        load(&f.moosefs),
        load(&f.local)
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Goals of issue 19 in this run:\n");
    for g in goals(f) {
        let _ = writeln!(s, "- {g}");
    }
    let _ = writeln!(s);
    if !f.notes.is_empty() {
        let _ = writeln!(s, "Notes of the images run:\n");
        for n in &f.notes {
            let _ = writeln!(s, "- {n}");
        }
        let _ = writeln!(s);
    }
    s
}

/// Each goal of the issue, met or not, in words.
pub fn goals(f: &Figures) -> Vec<String> {
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut out = Vec::new();
    let (Some(c), Some(m)) = (&f.cairn, &f.moosefs) else {
        return vec!["not judged: Cairn or MooseFS did not run".into()];
    };
    for (name, p, _) in &fio_rows()[2..] {
        let (a, b) = (p(c), p(m));
        let ok = a.iops >= 1.5 * b.iops && a.p99_ms <= b.p99_ms;
        out.push(format!(
            "{name}: at least 1.5× MooseFS's IOPS with no worse p99: {} ({:.2}×, p99 {:.2} against {:.2} ms)",
            verdict(ok),
            a.iops / b.iops.max(1e-9),
            a.p99_ms,
            b.p99_ms
        ));
    }
    if let Some(l) = &f.local {
        let ceiling = l.sync_writes.iops / 3.0;
        let r = c.sync_writes.iops / ceiling.max(1e-9);
        out.push(format!(
            "1. fdatasync after each write: at least 0.8 of local disk / 3: {} ({r:.2} of {ceiling:.0} IOPS)",
            verdict(r >= 0.8)
        ));
    }
    for (name, a, b) in [
        ("tar -xf", c.untar_s, m.untar_s),
        ("rm -rf", c.rm_s, m.rm_s),
    ] {
        // Files per second: the inverse of the seconds.
        let r = b / a.max(1e-9);
        out.push(format!(
            "{name}: at least 1.0× MooseFS: {} ({r:.2}×)",
            verdict(r >= 1.0)
        ));
    }
    out
}

/// `cairn-bench images`.
pub async fn main(quick: bool, dir: Option<PathBuf>, cairn: Option<PathBuf>) -> anyhow::Result<()> {
    let sizes = Sizes::new(quick);
    let tmp = tempfile::Builder::new()
        .prefix("cairn-bench-images-")
        .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let bin = crate::cluster::cairn_bin(cairn);
    ensure!(
        bin.is_file(),
        "no cairn binary at {}: build it (cargo build --release -p cairn) or set CAIRN_BIN",
        bin.display()
    );
    let f = run(&bin, tmp.path(), &sizes, true).await?;
    println!(
        "cairn-bench images: run of {} on {}{}\n",
        sys::today(),
        sys::machine(),
        if quick {
            " (quick mode: small sizes, for CI; not figures to quote)"
        } else {
            ""
        }
    );
    print!("{}", markdown(&f));
    ensure!(
        f.failed.is_empty(),
        "targets failed: {}",
        f.failed.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_line_after_the_name() {
        let lock = "[[package]]\nname = \"aws-sdk-s3\"\nversion = \"1.157.0\"\nsource = \"x\"\n\n[[package]]\nname = \"aws-sdk-s3x\"\nversion = \"2.0.0\"\n";
        assert_eq!(
            pinned_version(lock, "aws-sdk-s3").as_deref(),
            Some("1.157.0")
        );
        assert_eq!(
            pinned_version(lock, "aws-sdk-s3x").as_deref(),
            Some("2.0.0")
        );
        assert_eq!(pinned_version(lock, "aws"), None);
    }
}
