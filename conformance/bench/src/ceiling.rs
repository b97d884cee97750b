//! The machine's ceilings, measured in the same run as the systems under
//! test: what no storage system on this machine can beat.

use std::{
    io::{Read, Write},
    path::Path,
    time::{Duration, Instant},
};

use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Loopback TCP bandwidth in MiB/s: one connection on 127.0.0.1 moving
/// `size` bytes in 1 MiB writes (or for at most `limit`).
pub async fn loopback_tcp(size: u64, limit: Duration) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sink = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        loop {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok::<u64, std::io::Error>(got);
            }
            got += n as u64;
        }
    });
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    let block = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut sent = 0u64;
    while sent < size && t.elapsed() < limit {
        sock.write_all(&block).await?;
        sent += block.len() as u64;
    }
    sock.shutdown().await?;
    drop(sock);
    let got = sink.await??;
    anyhow::ensure!(got == sent, "loopback sink got {got} of {sent} bytes");
    Ok(super::mb_per_s(got, t.elapsed().as_secs_f64()))
}

/// MD5 on one core in MiB/s (an S3 ETag costs one MD5 pass of the body).
pub fn md5_one_core(size: u64) -> f64 {
    let block: Vec<u8> = (0..(1u32 << 20)).map(|i| (i ^ (i >> 9)) as u8).collect();
    let mut h = Md5::new();
    let t = Instant::now();
    let mut done = 0u64;
    while done < size {
        h.update(&block);
        done += block.len() as u64;
    }
    std::hint::black_box(h.finalize());
    super::mb_per_s(done, t.elapsed().as_secs_f64())
}
