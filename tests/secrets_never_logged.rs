//! Secrets never reach a log: a cluster (MDS and chunk servers, a host
//! joined with the cluster password, a `cairn gateway`) and a `cairn up
//! --tls` run a representative workload at the most verbose log level for
//! Cairn's crates (S3 with access keys, a presigned URL, a wrong signature,
//! the admin commands), then every log and every output captured is
//! searched for every secret used: secret access keys, the cluster
//! password, the bodies of every private key's PEM (the CA's, the node
//! certificates', the gateway's). Signatures may appear: they prove a request, they reveal no key.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::s3::{bucket_name, raw_request, S3Cluster};
use common::*;

/// Cairn's crates at trace, everything else at debug.
const VERBOSE: &str = "debug,cairn=trace,cairn_gateway=trace,cairn_client=trace,cairn_mds=trace,cairn_cs=trace,cairn_common=trace,cairn_meta=trace,cairn_fs=trace";

/// What a test captured and where it came from.
struct Captured {
    name: String,
    text: String,
}

/// Every log file (`*.log`, `*.out`) under `root`.
fn logs_under(root: &Path) -> Vec<Captured> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log" || e == "out") {
                found.push(Captured {
                    name: path.display().to_string(),
                    text: String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default())
                        .into_owned(),
                });
            }
        }
    }
    found
}

/// The base64 lines of every PEM private key under `dir`.
fn private_key_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text =
                String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
            let mut inside = false;
            for line in text.lines() {
                if line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY") {
                    inside = true;
                } else if line.starts_with("-----END") {
                    inside = false;
                } else if inside && line.len() >= 40 {
                    lines.push(line.to_string());
                }
            }
        }
    }
    lines
}

fn output(name: &str, out: &std::process::Output, with_stdout: bool) -> Vec<Captured> {
    let mut captured = vec![Captured {
        name: format!("{name} (stderr)"),
        text: String::from_utf8_lossy(&out.stderr).into_owned(),
    }];
    if with_stdout {
        captured.push(Captured {
            name: format!("{name} (stdout)"),
            text: String::from_utf8_lossy(&out.stdout).into_owned(),
        });
    }
    captured
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_used_by_a_workload_appears_in_any_log() {
    // The harness gives every process it starts this filter.
    std::env::set_var("CAIRN_TEST_LOG", VERBOSE);
    let mut captured = Vec::new();

    // A cluster made with the password, a host joined with it.
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    let joined_etc = cluster.root.path().join("joined-etc");
    let out = cluster
        .command()
        .env("CAIRN_CONFIG_DIR", &joined_etc)
        .args([
            "auth-node",
            "--mds",
            &cluster.mds_addr,
            "--password",
            PASSWORD,
        ])
        .output()
        .expect("auth-node");
    assert_success(&out, "auth-node");
    captured.extend(output("auth-node", &out, true));
    let out = cluster.cairn(&["stat"]);
    assert_success(&out, "stat");
    captured.extend(output("stat", &out, true));

    // A gateway and its key; `key create` prints the secret on purpose
    // (stdout): only its log (stderr) is searched.
    let out = cluster.cairn(&["key", "create", "worker", "--json"]);
    assert_success(&out, "key create");
    captured.extend(output("key create", &out, false));
    let created: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("key create --json prints JSON");
    let worker_secret = created["secret_key"]
        .as_str()
        .expect("secret_key")
        .to_string();
    let gateway = cluster.start_gateway("door");
    let worker_id = created["access_key"]
        .as_str()
        .expect("access_key")
        .to_string();
    let worker = common::s3::sdk_client(
        &format!("http://{}", gateway.addr),
        &worker_id,
        &worker_secret,
    );
    worker.list_buckets().send().await.expect("list buckets");
    let out = cluster.cairn(&["key", "list"]);
    assert_success(&out, "key list");
    captured.extend(output("key list", &out, true));
    let bucket = bucket_name("secrets");
    gateway
        .client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    gateway
        .client
        .put_object()
        .bucket(&bucket)
        .key("a")
        .body(ByteStream::from(vec![7u8; 100_000]))
        .send()
        .await
        .expect("put");
    gateway
        .client
        .get_object()
        .bucket(&bucket)
        .key("a")
        .send()
        .await
        .expect("get");

    // `cairn up --tls` with its first key, a presigned URL and a wrong
    // signature.
    let plain = format!("127.0.0.1:{}", reserve_port());
    let up = S3Cluster::start_with(&["--tls", "--plain-listen", &plain]);
    let s3 = up.client();
    let up_bucket = bucket_name("secrets-up");
    s3.create_bucket()
        .bucket(&up_bucket)
        .send()
        .await
        .expect("create bucket");
    s3.put_object()
        .bucket(&up_bucket)
        .key("b")
        .body(ByteStream::from(vec![9u8; 50_000]))
        .send()
        .await
        .expect("put");
    let presigned = s3
        .get_object()
        .bucket(&up_bucket)
        .key("b")
        .presigned(
            PresigningConfig::expires_in(Duration::from_secs(300)).expect("presigning config"),
        )
        .await
        .expect("presign");
    assert!(presigned.uri().contains("X-Amz-Signature="));
    // Sent on the plain listener, with the Host it was signed for.
    let target = presigned
        .uri()
        .strip_prefix(&up.endpoint())
        .expect("a URL of the gateway")
        .to_string();
    let mut headers: Vec<(String, String)> = presigned
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    headers.push(("host".into(), up.addr.to_string()));
    let plain_addr = plain.parse().expect("plain address");
    let got = raw_request(plain_addr, "GET", &target, &headers, b"").await;
    assert_eq!(got.status, 200, "the presigned GET: {}", got.text());
    let wrong = up.client_with(&up.access_key, "not-the-secret-at-all-0123456789abcdefghij");
    let refused = wrong.list_buckets().send().await;
    assert!(refused.is_err(), "a wrong secret is refused");
    let out = up.cairn(&["key", "list"]);
    captured.extend(output("up key list", &out, true));

    // Every secret used.
    let mut secrets: Vec<(String, String)> = vec![
        ("the cluster password".into(), PASSWORD.into()),
        ("a secret access key".into(), worker_secret),
        ("cairn up's secret access key".into(), up.secret_key.clone()),
    ];
    // Every private key: the CA's and the node certificates' (in the
    // MDS directories and beside each host's config) and the gateway's.
    let mut key_lines = private_key_lines(up.root.path());
    key_lines.extend(private_key_lines(cluster.root.path()));
    assert!(
        key_lines.len() >= 8,
        "the clusters keep their private keys under their roots"
    );
    for line in key_lines {
        secrets.push(("a private key's PEM".into(), line));
    }

    drop(gateway);
    captured.extend(logs_under(cluster.root.path()));
    captured.extend(logs_under(up.root.path()));
    let logged: usize = captured.iter().map(|c| c.text.len()).sum();
    assert!(
        logged > 100_000,
        "the verbose logs were captured ({logged} bytes)"
    );
    // The search reaches the requests' own log lines (the gateways log
    // each request's path at debug): a secret logged with them is found.
    for name in [&bucket, &up_bucket] {
        assert!(
            captured.iter().any(|c| c.text.contains(name.as_str())),
            "no log names the bucket {name}: the verbose logs were not captured"
        );
    }
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is long enough to be searched");
        for c in &captured {
            if c.text.contains(secret.as_str()) {
                leaks.push(format!("{what} in {}", c.name));
            }
        }
    }
    eprintln!(
        "searched {logged} bytes of {} logs and outputs for {} secrets",
        captured.len(),
        secrets.len()
    );
    assert!(leaks.is_empty(), "secrets logged: {leaks:#?}");
}
