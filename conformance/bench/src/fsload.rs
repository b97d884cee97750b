//! The filesystem load, run the same way on any mounted directory: the
//! Cairn FUSE mount and the MooseFS mount. Plain blocking POSIX calls from
//! one thread, as `dd` and an unpacking `tar` would make them.

use std::{
    io::{Read, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context};

#[derive(Clone, Debug)]
pub struct Sizes {
    /// Bytes of the sequential file (written in 1 MiB blocks).
    pub seq_size: u64,
    /// Small files created, stat'ed and unlinked.
    pub files: usize,
    /// Time limit of each phase.
    pub limit: Duration,
}

/// MiB/s for the sequential phases, operations per second for the others.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub write: f64,
    pub read: f64,
    pub create: f64,
    pub stat: f64,
    pub unlink: f64,
}

/// Runs the load in `dir` (a directory inside the mount, made here).
pub fn run(name: &str, dir: &Path, sizes: &Sizes) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let mut f = Figures::default();
    let blocks: Vec<bytes::Bytes> = (0..16)
        .map(|i| crate::s3load::payload(500 + i, 1 << 20))
        .collect();

    // Sequential write, bs 1 MiB, one fsync at the end (in the time).
    let path = dir.join("seq.bin");
    let t = Instant::now();
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
    let mut written = 0u64;
    let mut i = 0usize;
    while written < sizes.seq_size && t.elapsed() < sizes.limit {
        file.write_all(&blocks[i % blocks.len()])
            .with_context(|| format!("write {}", path.display()))?;
        written += 1 << 20;
        i += 1;
    }
    file.sync_all()
        .with_context(|| format!("fsync {}", path.display()))?;
    drop(file);
    f.write = crate::mb_per_s(written, t.elapsed().as_secs_f64());
    eprintln!(
        "  {name}: sequential write + fsync: {:.1} MiB/s ({} MiB)",
        f.write,
        written >> 20
    );

    // Sequential read of the same file, its cached pages dropped first.
    crate::sys::drop_file_cache(&path);
    let t = Instant::now();
    let mut file = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    while t.elapsed() < sizes.limit {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("read {}", path.display()))?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    f.read = crate::mb_per_s(read, t.elapsed().as_secs_f64());
    eprintln!(
        "  {name}: sequential read: {:.1} MiB/s ({} MiB)",
        f.read,
        read >> 20
    );
    ensure!(read > 0, "read nothing back from {}", path.display());
    drop(file);
    std::fs::remove_file(&path)?;

    // Small files: create (write 4 KiB, close), then stat, then unlink.
    let small = dir.join("small");
    std::fs::create_dir_all(&small)?;
    let body = &blocks[0][..4096];
    let t = Instant::now();
    let mut made = 0usize;
    while made < sizes.files && t.elapsed() < sizes.limit {
        let p = small.join(format!("f{made:06}"));
        let mut file =
            std::fs::File::create(&p).with_context(|| format!("create {}", p.display()))?;
        file.write_all(body)?;
        drop(file);
        made += 1;
    }
    f.create = made as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..made {
        let p = small.join(format!("f{i:06}"));
        let m = std::fs::metadata(&p).with_context(|| format!("stat {}", p.display()))?;
        ensure!(m.len() == 4096, "{} has {} bytes", p.display(), m.len());
    }
    f.stat = made as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..made {
        let p = small.join(format!("f{i:06}"));
        std::fs::remove_file(&p).with_context(|| format!("unlink {}", p.display()))?;
    }
    f.unlink = made as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "  {name}: {made} small files: create {:.0}/s, stat {:.0}/s, unlink {:.0}/s",
        f.create, f.stat, f.unlink
    );
    std::fs::remove_dir(&small).ok();
    Ok(f)
}
