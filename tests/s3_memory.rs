//! The gateway streams: it never holds a whole object in memory. Sixteen
//! concurrent uploads of 64 MiB (1 GiB in flight together, twice the bound)
//! through a lone `cairn gateway` process leave its peak resident memory
//! (VmHWM) under 512 MiB, and every object reads back whole.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::TestCluster;

const OBJECTS: usize = 16;
const SIZE: usize = 64 << 20;
const BOUND: u64 = 512 << 20;

/// The peak resident memory of process `pid`, from /proc.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_concurrent_uploads_keep_the_gateway_under_its_memory_bound() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let gateway = cluster.start_gateway("memory");
    let s3 = gateway.client.clone();
    s3.create_bucket()
        .bucket("memory")
        .send()
        .await
        .expect("create bucket");
    // One source file, streamed from disk by every upload.
    let src = cluster.root.path().join("object.bin");
    common::write_pattern_file(&src, 16, SIZE);
    let md5 = common::md5_file(&src);
    let before = peak_rss(gateway.child.id());

    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..OBJECTS {
        let (s3, src) = (s3.clone(), src.clone());
        uploads.spawn(async move {
            let body = ByteStream::from_path(&src).await.expect("open the source");
            tokio::time::timeout(
                Duration::from_secs(600),
                s3.put_object()
                    .bucket("memory")
                    .key(format!("object-{i:02}"))
                    .body(body)
                    .send(),
            )
            .await
            .expect("the upload ends within its bound")
            .expect("put object")
        });
    }
    while let Some(done) = uploads.join_next().await {
        let put = done.expect("an upload task");
        assert_eq!(put.e_tag(), Some(format!("\"{md5}\"").as_str()));
    }
    let peak = peak_rss(gateway.child.id());
    eprintln!(
        "gateway peak resident memory: {} MiB (before the uploads: {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < BOUND,
        "the gateway's peak resident memory was {} MiB (before the uploads: {} MiB)",
        peak >> 20,
        before >> 20
    );

    // Every object is whole.
    for i in 0..OBJECTS {
        let head = s3
            .head_object()
            .bucket("memory")
            .key(format!("object-{i:02}"))
            .send()
            .await
            .expect("head object");
        assert_eq!(head.content_length(), Some(SIZE as i64));
    }
    let back = common::s3::body_bytes(
        s3.get_object()
            .bucket("memory")
            .key("object-07")
            .send()
            .await
            .expect("get object"),
    )
    .await;
    assert_eq!(back.len(), SIZE);
    assert_eq!(
        hex::encode(<md5::Md5 as md5::Digest>::digest(&back)),
        md5,
        "object-07 reads back with the source's bytes"
    );
}
