//! Rough throughput of the mount over an in-process cluster (64 MiB
//! chunks): sequential write of 512 MiB in 1 MiB writes with fsync at the
//! end, then sequential read. Ignored by default (it measures, it does not
//! check); run with `cargo test -p cairn-fs --test throughput -- --ignored
//! --nocapture`.

mod common;

use std::{
    fs::File,
    io::{Read, Write},
    time::Instant,
};

use common::{blocking, can_mount, cluster::Cluster, scenarios, Mounted};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "measures throughput; run by hand"]
async fn sequential_write_and_read() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let total: usize = std::env::var("CAIRN_FS_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let cluster = Cluster::start_with(64 << 20).await;
    let m = Mounted::start(cluster.client()).await;
    let root = m.path();
    blocking(move || {
        let b = scenarios::bucket(&root, "bench");
        let block = scenarios::pattern(5, MIB);
        let path = b.join("big");
        let start = Instant::now();
        let mut f = File::create(&path).unwrap();
        for _ in 0..total {
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
        drop(f);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "write {total} MiB + fsync: {:.0} MiB/s",
            total as f64 / secs
        );
        let start = Instant::now();
        let mut f = File::open(&path).unwrap();
        let mut buf = vec![0u8; MIB];
        let mut n = 0usize;
        loop {
            let r = f.read(&mut buf).unwrap();
            if r == 0 {
                break;
            }
            n += r;
        }
        assert_eq!(n, total * MIB);
        let secs = start.elapsed().as_secs_f64();
        println!("read {total} MiB: {:.0} MiB/s", total as f64 / secs);
        let small = b.join("small");
        std::fs::create_dir(&small).unwrap();
        let data = vec![7u8; 4096];
        let n = 300;
        let t = Instant::now();
        for i in 0..n {
            File::create(small.join(format!("e{i}"))).unwrap();
        }
        println!(
            "create empty: {:.2} ms/file",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let t = Instant::now();
        for i in 0..n {
            std::fs::write(small.join(format!("f{i}")), &data).unwrap();
        }
        println!(
            "create+write 4 KiB+close: {:.2} ms/file",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let t = Instant::now();
        for i in 0..n {
            assert_eq!(
                std::fs::metadata(small.join(format!("f{i}")))
                    .unwrap()
                    .len(),
                4096
            );
        }
        println!(
            "stat: {:.2} ms/file",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let t = Instant::now();
        for i in 0..n {
            std::fs::remove_file(small.join(format!("f{i}"))).unwrap();
        }
        println!(
            "unlink: {:.2} ms/file",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let start = Instant::now();
        for i in 0..n {
            let p = small.join(format!("g{i}"));
            std::fs::write(&p, &data).unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), 4096);
            std::fs::remove_file(&p).unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!("create+stat+unlink 4 KiB: {:.0} files/s", n as f64 / secs);
    })
    .await;
    // The client library alone, for comparison: the same bytes as one
    // object, streamed in 1 MiB pieces.
    let client = cluster.client();
    let block = bytes::Bytes::from(scenarios::pattern(5, MIB));
    let pieces = (0..total).map(move |_| Ok::<_, std::io::Error>(block.clone()));
    let start = Instant::now();
    client
        .put_object(
            "bench",
            b"direct",
            futures::stream::iter(pieces),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    println!(
        "client put_object {total} MiB (synced): {:.0} MiB/s",
        total as f64 / start.elapsed().as_secs_f64()
    );
    let node = client.head_object("bench", b"direct").await.unwrap();
    let start = Instant::now();
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut n = 0u64;
    while let Some(piece) = futures::StreamExt::next(&mut stream).await {
        n += piece.unwrap().len() as u64;
    }
    assert_eq!(n, node.size);
    println!(
        "client read {total} MiB: {:.0} MiB/s",
        total as f64 / start.elapsed().as_secs_f64()
    );
    m.unmount().await;
    cluster.stop().await;
}
