//! `cairn cert rotate` under load (issue 20): while 8 writers PUT through
//! S3, every node certificate of a `cairn up` cluster is renewed; no
//! request fails, and the MDS and the chunk servers serve the new
//! certificates to new connections within seconds, without a restart.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aws_sdk_s3::primitives::ByteStream;
use cairn_common::{
    node_cert::{cert_file, Role},
    tls::NodeTls,
    ClusterConfig,
};
use common::assert_success;
use common::s3::*;
use common::tls::{file_serial, served_serial};

const WRITERS: usize = 8;
/// Each writer's PUTs at most, and the time they may take in all.
const MAX_PUTS: usize = 400;
const MAX_TIME: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_rotate_under_eight_s3_writers_and_no_request_fails() {
    let cluster = S3Cluster::start();
    let s3 = cluster.client();
    let bucket = bucket_name("rotate");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let etc = cluster.etc().join(LOCAL_CLUSTER);
    let mds_dir = cluster.data_dir().join("mds");
    let config = ClusterConfig::load_from(&cluster.etc(), LOCAL_CLUSTER).expect("config");
    let old_cs = file_serial(&cert_file(&etc, Role::Cs));
    let old_client = file_serial(&cert_file(&etc, Role::Client));
    let old_mds = file_serial(&cert_file(&mds_dir, Role::Mds));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..MAX_PUTS {
                if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_TIME {
                    break;
                }
                let body = vec![(w * 31 + i) as u8; 64 << 10];
                match s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("w{w}/{i}"))
                    .body(ByteStream::from(body))
                    .send()
                    .await
                {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures
                        .lock()
                        .expect("failures")
                        .push(format!("w{w}/{i}: {e:?}")),
                }
            }
        }));
    }
    // Writes under way, then every certificate renewed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = done.load(Ordering::Relaxed);
    let out = tokio::task::spawn_blocking({
        let cluster_etc = cluster.etc();
        let mds_dir = mds_dir.clone();
        move || {
            std::process::Command::new(common::cairn_bin())
                .args(["cert", "rotate", "--mds-dir"])
                .arg(&mds_dir)
                .env("CAIRN_CONFIG_DIR", cluster_etc)
                .env("CAIRN_CLUSTER", LOCAL_CLUSTER)
                .output()
                .expect("run cairn cert rotate")
        }
    })
    .await
    .expect("rotate");
    assert_success(&out, "cert rotate");
    let printed = String::from_utf8_lossy(&out.stdout);
    for role in ["cs", "client", "mds"] {
        assert!(
            printed.contains(&format!("renewed the {role} certificate")),
            "{printed}"
        );
    }
    let new_cs = file_serial(&cert_file(&etc, Role::Cs));
    let new_mds = file_serial(&cert_file(&mds_dir, Role::Mds));
    assert_ne!(new_cs, old_cs);
    assert_ne!(file_serial(&cert_file(&etc, Role::Client)), old_client);
    assert_ne!(new_mds, old_mds);

    // New connections get the new certificates, with no restart.
    let tls = NodeTls::load(&etc, &config.cluster_id, Role::Client).expect("renewed identity");
    let mds_addr = config.mds_addrs[0].clone();
    let stat = cluster.cluster_client().stat().await.expect("stat");
    let cs_addrs: Vec<String> = stat.chunk_servers.iter().map(|c| c.addr.clone()).collect();
    assert!(!cs_addrs.is_empty());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut all_new = served_serial(&mds_addr, &tls).await == new_mds;
        for addr in &cs_addrs {
            all_new &= served_serial(addr, &tls).await == new_cs;
        }
        if all_new {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the processes still serve their old certificates 15 s after the rotation"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Writes go on after the rotation, then stop.
    let after = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let failures = failures.lock().expect("failures").clone();
    assert!(failures.is_empty(), "failed PUTs: {failures:#?}");
    let total = done.load(Ordering::Relaxed);
    assert!(before > 0, "no PUT finished before the rotation");
    assert!(total > after, "no PUT finished after the rotation");
    // A new connection with the renewed client certificate is served.
    cluster
        .cluster_client()
        .list_buckets()
        .await
        .expect("a client with the renewed certificate");
}
