//! End-to-end tests of the cluster core: real `cairn mds` and `cairn cs`
//! processes on 127.0.0.1, real directories, faults injected by `kill -9`
//! and by overwriting replica bytes on disk.

mod common;

use std::{collections::HashSet, time::Duration};

use bytes::Bytes;
use cairn_client::{ObjectMeta, PutConditions};
use common::*;
use futures::StreamExt;
use md5::{Digest, Md5};

const MIB: usize = 1 << 20;

/// A stream of `len` pattern bytes in 1 MiB pieces, made as it is read.
fn pattern_stream(
    seed: u64,
    len: usize,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let pieces = len.div_ceil(MIB);
    futures::stream::iter(0..pieces).map(move |i| {
        let n = MIB.min(len - i * MIB);
        Ok(Bytes::from(pattern(seed.wrapping_add(i as u64), n)))
    })
}

/// PUTs `len` pattern bytes of `seed` as `bucket/key`.
async fn put_pattern(
    client: &cairn_client::Client,
    bucket: &str,
    key: &str,
    seed: u64,
    len: usize,
) -> Result<cairn_client::Node, cairn_client::Error> {
    client
        .put_object(
            bucket,
            key.as_bytes(),
            pattern_stream(seed, len),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
}

fn pattern_md5(seed: u64, len: usize) -> String {
    let mut h = Md5::new();
    let mut i = 0;
    while i * MIB < len {
        let n = MIB.min(len - i * MIB);
        h.update(pattern(seed.wrapping_add(i as u64), n));
        i += 1;
    }
    hex::encode(h.finalize())
}

async fn read_md5(client: &cairn_client::Client, bucket: &str, key: &str) -> (u64, String) {
    let node = client
        .head_object(bucket, key.as_bytes())
        .await
        .expect("head");
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut h = Md5::new();
    let mut n = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("read");
        n += piece.len() as u64;
        h.update(&piece);
    }
    (n, hex::encode(h.finalize()))
}

fn assert_three_hosts(cluster: &TestCluster, target: &str) -> usize {
    let chunks = cluster.chunks_json(target);
    assert!(!chunks.is_empty(), "{target} has chunks");
    for c in &chunks {
        let hosts: HashSet<&str> = c["replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .map(|r| r["host"].as_str().expect("host"))
            .collect();
        assert_eq!(c["replicas"].as_array().map(Vec::len), Some(3), "chunk {c}");
        assert_eq!(hosts.len(), 3, "replicas of chunk {c} on distinct hosts");
    }
    chunks.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_file_round_trips_with_three_replicas_on_three_hosts() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    assert_success(&cluster.cairn(&["mb", "big"]), "mb");

    // Through `cairn put` / `cairn get`.
    let src = cluster.root.path().join("src.bin");
    let len = 200 * MIB + 12345;
    write_pattern_file(&src, 7, len);
    assert_success(
        &cluster.cairn(&["put", path_str(&src), "big/dir/file.bin"]),
        "put",
    );
    let dst = cluster.root.path().join("dst.bin");
    assert_success(
        &cluster.cairn(&["get", "big/dir/file.bin", path_str(&dst)]),
        "get",
    );
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), len as u64);
    assert_eq!(
        md5_file(&dst),
        md5_file(&src),
        "cairn get returns the bytes put"
    );
    let chunks = assert_three_hosts(&cluster, "big/dir/file.bin");
    assert_eq!(chunks, len.div_ceil(64 * MIB), "64 MiB chunks");

    // Through the client library.
    let client = cluster.client();
    let node = client
        .put_object(
            "big",
            b"lib.bin",
            pattern_stream(11, len),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("put through the library");
    assert_eq!(node.size, len as u64);
    assert_eq!(
        node.etag,
        pattern_md5(11, len),
        "ETag is the MD5 of the bytes"
    );
    assert_eq!(
        read_md5(&client, "big", "lib.bin").await,
        (len as u64, pattern_md5(11, len))
    );
    assert_three_hosts(&cluster, "big/lib.bin");

    // A range in the middle, across a chunk boundary.
    let from = 64 * MIB as u64 - 1000;
    let mut stream = std::pin::pin!(client.read(&node, from, 3000));
    let mut got = Vec::new();
    while let Some(p) = stream.next().await {
        got.extend_from_slice(&p.expect("range read"));
    }
    let whole_piece_63 = pattern(11 + 63, MIB);
    let whole_piece_64 = pattern(11 + 64, MIB);
    let mut want = whole_piece_63[MIB - 1000..].to_vec();
    want.extend_from_slice(&whole_piece_64[..2000]);
    assert_eq!(got, want, "a range across chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_chunk_server_mid_write_loses_nothing() {
    let mut cluster = TestCluster::start(&["h1", "h2", "h3", "h4"]);
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    client
        .put_object(
            "b",
            b"before",
            pattern_stream(1, 10 * MIB),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("first object");

    let len = 300 * MIB;
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .put_object(
                    "b",
                    b"during",
                    pattern_stream(2, len),
                    ObjectMeta::default(),
                    PutConditions::default(),
                )
                .await
        })
    };
    // Kill a chunk server once the write is under way.
    let victim = eventually(
        Duration::from_secs(60),
        "the write to reach the chunk servers",
        || {
            let stat = cluster.stat_json();
            stat["chunk_servers"].as_array()?.iter().find_map(|c| {
                (c["write_bytes"].as_u64().unwrap_or(0) > 40 * MIB as u64)
                    .then(|| c["id"].as_u64())
                    .flatten()
            })
        },
    );
    let idx = (victim - 1) as usize;
    cluster.kill_cs(idx);

    match writer.await.expect("writer task") {
        Ok(node) => {
            assert_eq!(node.size, len as u64);
            assert_eq!(
                read_md5(&client, "b", "during").await,
                (len as u64, pattern_md5(2, len))
            );
            // No chunk lists the dead server as a live replica holder that
            // missed writes: every listed replica reads back (checked above).
        }
        Err(e) => {
            // A clear error, and no half-written object.
            let text = e.to_string();
            assert!(!text.is_empty());
            assert!(
                matches!(
                    client.head_object("b", b"during").await,
                    Err(cairn_common::ClusterError::NotFound(_))
                ),
                "no partial object after {text}"
            );
        }
    }
    assert_eq!(
        read_md5(&client, "b", "before").await,
        (10 * MIB as u64, pattern_md5(1, 10 * MIB))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_replica_is_detected_and_reported() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    let len = 5 * MIB;
    client
        .put_object(
            "b",
            b"obj",
            pattern_stream(3, len),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("put");
    // Overwrite bytes in the data of every replica file on the first host.
    // Reads prefer a replica on the caller's host; none is called h1..h3
    // here, so the MDS's order decides: corrupt the replica of each chunk
    // that the MDS lists first.
    let chunks = cluster.chunks_json("b/obj");
    assert_eq!(chunks.len(), 1);
    let first_cs = chunks[0]["replicas"][0]["cs_id"].as_u64().expect("cs id");
    let dir = &cluster.cs[(first_cs - 1) as usize].dir;
    let files = replica_files(dir);
    assert_eq!(files.len(), 1, "one replica on CS {first_cs}: {files:?}");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&files[0])
            .unwrap();
        f.seek(SeekFrom::Start(8192 + 100_000)).unwrap();
        f.write_all(&[0xAB; 64]).unwrap();
        f.sync_all().unwrap();
    }
    assert_eq!(
        read_md5(&client, "b", "obj").await,
        (len as u64, pattern_md5(3, len)),
        "the read fails over to a good replica"
    );
    // The bad replica was reported: the MDS no longer lists it.
    eventually(
        Duration::from_secs(10),
        "the bad replica to be dropped",
        || {
            let chunks = cluster.chunks_json("b/obj");
            let ids: Vec<u64> = chunks[0]["replicas"]
                .as_array()?
                .iter()
                .filter_map(|r| r["cs_id"].as_u64())
                .collect();
            (!ids.contains(&first_cs)).then_some(())
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_namespace_survives_kill_9_of_the_mds() {
    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let client = cluster.client();
    client.create_bucket("keep", "").await.expect("bucket");
    for i in 0..20u64 {
        let key = format!("dir{}/obj{i}", i % 3);
        client
            .put_object(
                "keep",
                key.as_bytes(),
                pattern_stream(100 + i, 1000 + i as usize * 997),
                ObjectMeta::default(),
                PutConditions::default(),
            )
            .await
            .expect("put");
    }
    cluster.kill_mds();
    cluster.start_mds();
    cluster.wait_active(3);
    let client = cluster.client();
    let (entries, truncated) = client
        .list_objects("keep", b"", b"", 1000)
        .await
        .expect("list");
    assert!(!truncated);
    assert_eq!(entries.len(), 20);
    for i in 0..20u64 {
        let key = format!("dir{}/obj{i}", i % 3);
        let len = 1000 + i as usize * 997;
        assert_eq!(
            read_md5(&client, "keep", &key).await,
            (len as u64, pattern_md5(100 + i, len)),
            "{key}"
        );
    }
}

/// Namespace changes of a client that asks only for the OS (the FUSE
/// door's `Persist::Os`) are answered before their fsync; every one
/// answered still survives a `kill -9` of the MDS in the middle of a stream
/// of them: the restarted MDS replays them from the log's tail file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_answered_before_their_fsync_survive_kill_9_of_the_mds() {
    use cairn_client::{Client, ClientOptions, NodeKind, Persist};
    use std::sync::{Arc, Mutex};

    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let options = ClientOptions {
        persist: Persist::Os,
        ..ClientOptions::default()
    };
    let client = Client::connect(&cluster.config(), options).expect("client");
    let bucket = client.create_bucket("posix", "").await.expect("bucket");
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let creates = {
        let answered = answered.clone();
        tokio::spawn(async move {
            for i in 0..50_000u32 {
                let name = format!("f{i:05}");
                let made = client
                    .create(
                        bucket.ino,
                        name.as_bytes(),
                        NodeKind::File,
                        0o644,
                        0,
                        0,
                        b"",
                        true,
                    )
                    .await;
                match made {
                    Ok(_) => answered.lock().expect("names").push(name),
                    Err(_) => return i,
                }
            }
            50_000
        })
    };
    eventually(Duration::from_secs(60), "500 creates answered", || {
        (answered.lock().expect("names").len() >= 500).then_some(())
    });
    cluster.kill_mds();
    let tried = creates.await.expect("create task");
    let answered = answered.lock().expect("names").clone();
    assert!(
        (tried as usize) < 50_000,
        "the creates did not notice the MDS die"
    );
    cluster.start_mds();
    cluster.wait_active(3);
    let log = cluster.log("mds.log");
    assert!(
        log.contains("replayed from its tail"),
        "the restarted MDS replayed no change from the raft tail:\n{log}"
    );
    let client = cluster.client();
    for name in &answered {
        if let Err(e) = client.lookup(bucket.ino, name.as_bytes()).await {
            panic!(
                "{name} was answered before the kill ({} answered) and is gone: {e}",
                answered.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_writes_go_around_a_dead_chunk_server() {
    // Small pieces go from the client to every replica at once, not down
    // the chain: a replica that fails is dropped and the others keep the
    // bytes, as a chain write would.
    let mut cluster = TestCluster::start(&["h1", "h2", "h3", "h4"]);
    let client = cluster.client();
    client.create_bucket("b", "").await.expect("bucket");
    // Killed at once: for a while the MDS still places chunks on it.
    cluster.kill_cs(0);
    for i in 0..40u64 {
        let key = format!("small{i}");
        put_pattern(&client, "b", &key, i, 4096 + i as usize)
            .await
            .unwrap_or_else(|e| panic!("{key} with a dead chunk server: {e}"));
    }
    // A replica dropped from a write bumps its chunk's version.
    let mut dropped = 0;
    for i in 0..40u64 {
        for c in cluster.chunks_json(&format!("b/small{i}")) {
            let replicas = c["replicas"].as_array().expect("replicas");
            assert!(
                replicas.iter().all(|r| r["host"] != "h1"),
                "chunk {c} lists the dead chunk server as holding it"
            );
            if c["version"].as_u64() > Some(1) {
                dropped += 1;
            }
        }
    }
    assert!(dropped > 0, "no write was placed on the dead chunk server");
    for i in 0..40u64 {
        let len = 4096 + i as usize;
        assert_eq!(
            read_md5(&client, "b", &format!("small{i}")).await,
            (len as u64, pattern_md5(i, len))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_of_small_files() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let client = cluster.client();
    client.create_bucket("small", "").await.expect("bucket");
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                let key = format!("w{w}/f{i}");
                put_pattern(&client, "small", &key, w * 1000 + i, 4096 + i as usize)
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("writer");
    }
    let (entries, _) = client
        .list_objects("small", b"", b"", 1000)
        .await
        .expect("list");
    assert_eq!(entries.len(), 16 * 25);
    for w in 0..16u64 {
        for i in 0..25u64 {
            let key = format!("w{w}/f{i}");
            let len = 4096 + i as usize;
            assert_eq!(
                read_md5(&client, "small", &key).await,
                (len as u64, pattern_md5(w * 1000 + i, len))
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_of_another_ca_is_refused_and_stores_nothing() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    // A host with the right cluster id, but certificates of another CA.
    let bad_etc = cluster.root.path().join("bad-etc");
    let mut bad = cluster.config();
    bad.save_to(&bad_etc).expect("save bad config");
    let bad_dir = bad_etc.join(&bad.name);
    cairn_common::pki::Authority::new_node_dir(&bad_dir, &bad.cluster_id).expect("another CA");
    bad.dir = Some(bad_dir);
    let options = cairn_client::ClientOptions {
        mds_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let intruder = cairn_client::Client::connect(&bad, options).expect("client");
    let err = intruder
        .create_bucket("evil", "")
        .await
        .expect_err("refused");
    // Refused at the handshake: the MDS never answers it.
    assert!(
        matches!(err, cairn_common::ClusterError::Unavailable(_)),
        "{err:?}"
    );
    // A chunk server with such a certificate cannot register.
    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &bad_etc)
        .args([
            "make-cs",
            "-r",
            path_str(&cluster.root.path().join("evil-cs")),
            "--host",
            "h9",
        ])
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "make-cs with another CA's certificate must fail"
    );
    // Nothing was stored.
    let client = cluster.client();
    assert!(client
        .list_buckets()
        .await
        .expect("list")
        .iter()
        .all(|b| b.name != "evil"));
    let stat = cluster.stat_json();
    assert_eq!(stat["chunk_servers"].as_array().map(Vec::len), Some(3));
}
