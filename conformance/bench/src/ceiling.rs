//! The machine's ceilings, measured in the same run as the system under test.

use std::{
    io::{Read, Write},
    path::Path,
    time::Instant,
};

pub struct Disk {
    /// Sequential write of 1 MiB blocks, then fsync, in MiB/s.
    pub write_fsync_mb_s: f64,
    /// Sequential read of the same file, in MiB/s.
    pub read_mb_s: f64,
}

/// Writes and reads `size` bytes in `dir`, as `dd bs=1M conv=fsync` would.
pub fn disk(dir: &Path, size: u64) -> anyhow::Result<Disk> {
    let path = dir.join("ceiling.bin");
    let block: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut done = 0;
    while done < size {
        f.write_all(&block)?;
        done += block.len() as u64;
    }
    f.sync_all()?;
    let write_s = t.elapsed().as_secs_f64();
    drop(f);
    let t = Instant::now();
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let read_s = t.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(Disk {
        write_fsync_mb_s: super::mb_per_s(done, write_s),
        read_mb_s: super::mb_per_s(read, read_s),
    })
}
