//! Mutual TLS between real processes (issue 20): a revoked certificate is
//! refused by the MDS and by every chunk server; a captured call replayed
//! byte for byte is refused; neither an MDS call nor a chain write shows
//! its plaintext to a proxy in between; a certificate near its end is
//! shown by `cairn stat`, the metrics and a warning event.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use cairn_client::{Client, ClientOptions, ObjectMeta, PutConditions};
use cairn_common::{
    node_cert::{cert_file, Role},
    pki::{self, Authority},
    tls::{serial_hex, NodeTls},
    ClusterConfig,
};
use common::tls::{contains, file_serial, refuses, Recorder};
use common::*;

/// A host of the cluster's own: a config directory `name` with a client
/// certificate signed by the cluster CA (as `auth-node` would get it).
fn another_host(cluster: &TestCluster, name: &str) -> ClusterConfig {
    let etc = cluster.root.path().join(name);
    let mut config = cluster.config();
    config.save_to(&etc).expect("save the second host's config");
    let dir = etc.join(&config.name);
    let ca = Authority::load(&cluster.etc.join(CLUSTER)).expect("the cluster CA");
    ca.issue_node_files(&dir, &config.cluster_id, &[Role::Client])
        .expect("a client certificate");
    config.dir = Some(dir);
    config
}

fn quick_client(config: &ClusterConfig) -> Client {
    let options = ClientOptions {
        mds_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    Client::connect(config, options).expect("client")
}

async fn bucket_names(client: &Client) -> Vec<String> {
    client
        .list_buckets()
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.name)
        .collect()
}

fn cs_addrs(cluster: &TestCluster) -> Vec<String> {
    cluster.stat_json()["chunk_servers"]
        .as_array()
        .expect("chunk servers")
        .iter()
        .map(|cs| cs["addr"].as_str().expect("addr").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_certificate_is_refused_by_the_mds_and_every_chunk_server() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let other = another_host(&cluster, "other-etc");
    let other_dir = other.dir.clone().expect("its directory");
    let intruder = quick_client(&other);
    intruder
        .create_bucket("before-revoke", "")
        .await
        .expect("a certificate of the cluster CA is served");
    let tls = NodeTls::load(&other_dir, &other.cluster_id, Role::Client).expect("its identity");
    for addr in cs_addrs(&cluster) {
        assert!(
            !refuses(&addr, &tls).await,
            "{addr} refused a valid certificate"
        );
    }

    let pem = cert_file(&other_dir, Role::Client);
    let out = cluster.cairn(&["cert", "revoke", path_str(&pem)]);
    assert_success(&out, "cert revoke");

    // The MDS refuses its next call on the open connection, and a new one.
    intruder
        .create_bucket("after-revoke", "")
        .await
        .expect_err("a revoked certificate's call on an open connection");
    quick_client(&other)
        .create_bucket("after-revoke-2", "")
        .await
        .expect_err("a revoked certificate's new connection");
    // Every chunk server learns it with its next heartbeat.
    for addr in cs_addrs(&cluster) {
        let mut refused = false;
        for _ in 0..50 {
            if refuses(&addr, &tls).await {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            refused,
            "{addr} still serves a revoked certificate after 10 s"
        );
    }

    // Nothing it sent after the revocation is stored; the cluster's own
    // certificates still work.
    let names = bucket_names(&cluster.client()).await;
    assert!(names.contains(&"before-revoke".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("after-revoke")),
        "{names:?}"
    );

    let out = cluster.cairn(&["cert", "list", "--json"]);
    assert_success(&out, "cert list");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let serial = serial_hex(&file_serial(&pem));
    assert!(
        list["revoked"]
            .as_array()
            .expect("revoked")
            .iter()
            .any(|r| r["serial"] == serial.as_str()),
        "{list}"
    );
    // A name that is no certificate gets a message that says what to give.
    let out = cluster.cairn(&["cert", "revoke", "no-such-node"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cairn cert list"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_captured_call_replayed_is_refused_and_shows_no_plaintext() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let recorder = Recorder::start(cluster.mds_addr.clone()).await;
    let mut proxied = cluster.config();
    proxied.mds_addrs = vec![recorder.addr.to_string()];
    let bucket = "captured-bucket-name";
    quick_client(&proxied)
        .create_bucket(bucket, "")
        .await
        .expect("a call through the proxy");
    let captured = recorder.up();
    assert!(captured.len() > 200, "the call crossed the proxy");
    assert!(
        !contains(&recorder.both(), bucket.as_bytes()),
        "the bucket name crossed the network in the clear"
    );
    let client = cluster.client();
    client.delete_bucket(bucket).await.expect("delete it");

    // The same bytes, sent again on a new connection.
    let mds = cluster.mds_addr.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(&mds).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = tcp.write_all(&captured);
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        answer
    })
    .await
    .expect("replay");
    assert!(!contains(&answered, bucket.as_bytes()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let names = bucket_names(&client).await;
    assert!(
        !names.contains(&bucket.to_string()),
        "the replay made {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_write_shows_no_plaintext_to_a_proxy_in_between() {
    let mut cluster = TestCluster::start(&["h1", "h2"]);
    // The third chunk server listens behind a recording proxy: every chunk
    // has a replica there, so every byte reaches it through the proxy, from
    // the client or from the previous hop of its chain.
    let dir = cluster.root.path().join("cs3");
    let out = cluster.cairn(&["make-cs", "-r", path_str(&dir), "--host", "h3"]);
    assert_success(&out, "make-cs");
    let real = format!("127.0.0.1:{}", reserve_port());
    let recorder = Recorder::start(real.clone()).await;
    let log = std::fs::File::create(cluster.root.path().join("cs3.log")).expect("log");
    let child = cluster
        .command()
        .args(["cs", "-r", path_str(&dir), "--listen", &real])
        .args(["--advertise", &recorder.addr.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cs3");
    cluster.cs.push(ChunkServerProc {
        dir,
        host: "h3".into(),
        child: Some(child),
        extra: Vec::new(),
    });
    cluster.wait_active(3);

    let marker = b"CAIRN-PLAINTEXT-MARKER-0123456789";
    let body: Vec<u8> = marker.iter().copied().cycle().take(3 << 20).collect();
    let client = cluster.client();
    client.create_bucket("sealed", "").await.expect("bucket");
    let stream = futures::stream::iter(
        body.chunks(1 << 20)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    client
        .put_object(
            "sealed",
            b"object",
            stream,
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("put through the chain");
    let seen = recorder.both();
    assert!(
        seen.len() >= body.len(),
        "only {} bytes crossed the proxy: the third replica's data went elsewhere",
        seen.len()
    );
    assert!(
        !contains(&seen, &marker[..16]),
        "object bytes crossed the network in the clear"
    );
    let (len, _) = common::heal::read_md5(&client, "sealed", "object")
        .await
        .expect("read back");
    assert_eq!(len, body.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_near_its_end_is_shown_and_warned_about() {
    let metrics = format!("127.0.0.1:{}", reserve_port());
    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    cluster.restart_mds(&["--metrics-listen", &metrics]);
    // The chunk servers' certificate, renewed with 10 days left; the first
    // one restarts and shows it.
    let config = cluster.config();
    let dir = cluster.etc.join(CLUSTER);
    let ca = Authority::load(&dir).expect("the cluster CA");
    let (key, csr) = cairn_common::node_cert::node_request().expect("request");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let ends = now + 10 * 86_400;
    let pem = ca
        .issue_node_between(
            &config.cluster_id,
            Role::Cs,
            &csr,
            time_at(now - 3600),
            time_at(ends),
        )
        .expect("a short certificate");
    pki::write_pair(
        &cert_file(&dir, Role::Cs),
        &pem,
        &cairn_common::node_cert::key_file(&dir, Role::Cs),
        &key.serialize_pem(),
    )
    .expect("write it");
    cluster.kill_cs(0);
    cluster.start_cs(0);
    let serial = serial_hex(&file_serial(&cert_file(&dir, Role::Cs)));

    let stat = eventually(
        Duration::from_secs(20),
        "the short certificate in stat",
        || {
            let stat = cluster.stat_json();
            let shown = stat["certs"]
                .as_array()?
                .iter()
                .any(|c| c["serial"] == serial.as_str() && c["not_after"].as_i64() == Some(ends));
            shown.then_some(stat)
        },
    );
    assert!(
        stat["certs"]
            .as_array()
            .expect("certs")
            .iter()
            .any(|c| c["role"] == "mds"),
        "the MDS's own certificate is listed: {}",
        stat["certs"]
    );
    let warned = eventually(Duration::from_secs(10), "a warning event", || {
        let stat = cluster.stat_json();
        stat["events"].as_array()?.iter().find_map(|e| {
            let m = e["message"].as_str()?;
            (e["severity"] == "warn" && m.contains(&serial)).then(|| m.to_string())
        })
    });
    assert!(warned.contains("cairn cert rotate"), "{warned}");
    // No warning for a certificate with a year left.
    let events = cluster.stat_json()["events"].to_string();
    assert_eq!(events.matches("certificate of").count(), 1, "{events}");

    let out = cluster.cairn(&["stat"]);
    assert_success(&out, "stat");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&serial) && text.contains("renew"), "{text}");

    let body = http_get(&metrics, "/metrics");
    assert!(
        body.lines()
            .any(|l| l.starts_with("cairn_cert_expiry_timestamp_seconds{")
                && l.contains("role=\"cs\"")
                && l.ends_with(&format!(" {ends}"))),
        "no gauge of the short certificate's end in:\n{body}"
    );
}

fn time_at(unix_s: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix_s).expect("a time")
}

fn http_get(addr: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).expect("connect to the metrics");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut out = String::new();
    tcp.read_to_string(&mut out).expect("response");
    out
}
